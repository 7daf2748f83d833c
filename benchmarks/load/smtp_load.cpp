// smtp-load: smtp-source's load pattern (one message per connection, no pipelining, the same
// generated message), plus what smtp-source cannot do:
//   - a distinct envelope sender per message, bench<N>@DOMAIN (-d DOMAIN), so that no
//     per-sender limit bites (the policy benchmark of issue 3); or one sender (-f FROM);
//   - the submission latency of every message: from connect() to the 250 after the final dot.
//
//   smtp-load -s SESSIONS -m MESSAGES -l LENGTH (-d DOMAIN | -f FROM) -t RCPT HOST:PORT
//
// Prints one line: messages acknowledged with 250, failures, seconds, and the p50/p99/max
// latency in ms of the acknowledged ones. Exit status 1 when any message failed. Loopback benchmark
// tool: blocking sockets, one thread per session, 30 s socket timeouts.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

namespace {

struct Options {
  int sessions = 20;
  long messages = 5000;
  std::size_t length = 5120;
  std::string domain = "edomex.gob.mx";
  std::string sender;  // -f: every message from this sender; else bench<N>@domain
  std::string recipient = "rcpt@example.org";
  std::string host = "127.0.0.1";
  int port = 25;
};

std::atomic<long> next_message{0};
std::atomic<long> acknowledged{0};
std::atomic<long> failed{0};

// Reads one whole reply (all its lines); returns its code, or 0 on a broken connection.
int read_reply(int fd, std::string& buffer) {
  for (;;) {
    std::size_t start = 0;
    for (std::size_t end; (end = buffer.find("\r\n", start)) != std::string::npos;
         start = end + 2) {
      if (end - start >= 4 && buffer[start + 3] == ' ') {
        const int code = std::atoi(buffer.substr(start, 3).c_str());
        buffer.erase(0, end + 2);
        return code;
      }
    }
    char chunk[4096];
    const ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
    if (n <= 0) {
      return 0;
    }
    buffer.append(chunk, static_cast<std::size_t>(n));
  }
}

bool send_all(int fd, const std::string& data) {
  std::size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::send(fd, data.data() + done, data.size() - done, MSG_NOSIGNAL);
    if (n <= 0) {
      return false;
    }
    done += static_cast<std::size_t>(n);
  }
  return true;
}

// Sends message `number`; on success stores its latency (connect to the final 250) in `ms`.
bool one_message(const Options& options, const std::string& body, long number, double& ms) {
  const auto started = std::chrono::steady_clock::now();
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) {
    return false;
  }
  const timeval timeout{30, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<std::uint16_t>(options.port));
  ::inet_pton(AF_INET, options.host.c_str(), &address.sin_addr);
  std::string buffer;
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0 &&
            read_reply(fd, buffer) == 220;
  const auto step = [&](const std::string& line, int expected) {
    ok = ok && send_all(fd, line) && read_reply(fd, buffer) == expected;
  };
  step("HELO load.example\r\n", 250);
  const std::string sender = options.sender.empty()
                                 ? "bench" + std::to_string(number) + "@" + options.domain
                                 : options.sender;
  step("MAIL FROM:<" + sender + ">\r\n", 250);
  step("RCPT TO:<" + options.recipient + ">\r\n", 250);
  step("DATA\r\n", 354);
  // The header From is the envelope sender, as a mail client writes it (POLICY VII.1: the relay's
  // From alignment rule has nothing to say about it).
  step("From: <" + sender + ">\r\n" + body, 250);
  const bool acknowledged_message = ok;
  ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count();
  step("QUIT\r\n", 221);
  ::close(fd);
  return acknowledged_message;
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  int option;
  while ((option = ::getopt(argc, argv, "s:m:l:d:f:t:")) != -1) {
    switch (option) {
      case 's':
        options.sessions = std::atoi(optarg);
        break;
      case 'm':
        options.messages = std::atol(optarg);
        break;
      case 'l':
        options.length = static_cast<std::size_t>(std::atol(optarg));
        break;
      case 'd':
        options.domain = optarg;
        break;
      case 'f':
        options.sender = optarg;
        break;
      case 't':
        options.recipient = optarg;
        break;
      default:
        std::fprintf(
            stderr,
            "usage: smtp-load -s N -m N -l BYTES (-d DOMAIN | -f FROM) -t RCPT HOST:PORT\n");
        return 2;
    }
  }
  if (optind != argc - 1) {
    std::fprintf(stderr,
                 "usage: smtp-load -s N -m N -l BYTES (-d DOMAIN | -f FROM) -t RCPT HOST:PORT\n");
    return 2;
  }
  const std::string target = argv[optind];
  const auto colon = target.rfind(':');
  if (colon == std::string::npos) {
    std::fprintf(stderr, "smtp-load: HOST:PORT expected\n");
    return 2;
  }
  options.host = target.substr(0, colon);
  options.port = std::atoi(target.c_str() + colon + 1);

  // Like smtp-source: a few headers (From is added per message), then lines of 'x' up to the
  // length, then the end of data.
  std::string body = "To: <" + options.recipient + ">\r\nSubject: smtp-load\r\n\r\n";
  while (body.size() < options.length) {
    body += std::string(78, 'x') + "\r\n";
  }
  body += ".\r\n";

  const auto started = std::chrono::steady_clock::now();
  std::vector<std::thread> sessions;
  std::vector<std::vector<double>> latencies(static_cast<std::size_t>(options.sessions));
  for (int i = 0; i < options.sessions; ++i) {
    sessions.emplace_back([&, i] {
      for (long n; (n = next_message.fetch_add(1)) < options.messages;) {
        double ms = 0;
        if (one_message(options, body, n, ms)) {
          acknowledged.fetch_add(1);
          latencies[static_cast<std::size_t>(i)].push_back(ms);
        } else {
          failed.fetch_add(1);
        }
      }
    });
  }
  for (auto& session : sessions) {
    session.join();
  }
  std::vector<double> all;
  for (const auto& some : latencies) {
    all.insert(all.end(), some.begin(), some.end());
  }
  std::sort(all.begin(), all.end());
  const auto percentile = [&](double p) {
    return all.empty() ? 0.0
                       : all[std::min(all.size() - 1, static_cast<std::size_t>(p * all.size()))];
  };
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::printf("acknowledged=%ld failed=%ld seconds=%.3f p50_ms=%.2f p99_ms=%.2f max_ms=%.2f\n",
              acknowledged.load(), failed.load(), seconds, percentile(0.50), percentile(0.99),
              all.empty() ? 0.0 : all.back());
  return failed.load() == 0 ? 0 : 1;
}
