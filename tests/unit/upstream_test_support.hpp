#pragma once

#include <doctest/doctest.h>
#include <stdlib.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "policy_relay/spool/spool.hpp"
#include "temp_dir.hpp"

// Helpers for session-level upstream tests: a temporary directory, a hand-written spool-format
// file, and a tiny SMTP server coroutine on 127.0.0.1 (port 0) that records what it received.
namespace upstream_test {

namespace asio = boost::asio;
using asio::ip::tcp;
constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

using test_support::TempDir;

// A file shaped like a spool entry: an envelope header block that delivery must skip, then
// the message octets at body_offset.
inline policy_relay::spool::StoredMessage write_spool_file(const std::string& directory,
                                                           const std::string& id,
                                                           const std::string& message) {
  policy_relay::spool::StoredMessage stored;
  stored.path = directory + "/" + id;
  const std::string header = "X-Test-Envelope: not part of the message\r\nId: " + id + "\r\n\r\n";
  std::ofstream(stored.path, std::ios::binary) << header << message;
  stored.body_offset = header.size();
  stored.body_size = message.size();
  stored.envelope.id = id;
  stored.envelope.sender = "sender@edomex.test";
  stored.envelope.received_at = 1795926035;
  return stored;
}

// Runs `test` as a coroutine on a fresh io_context (bounded in time) and rethrows its failure.
template <typename Test>
void run_coroutine(asio::io_context& io, Test test) {
  bool finished = false;
  asio::co_spawn(io, test(), [&](std::exception_ptr error) {
    finished = true;
    if (error) {
      std::rethrow_exception(error);
    }
  });
  io.run_for(std::chrono::seconds(20));
  REQUIRE(finished);
}

inline asio::awaitable<void> sleep_for(std::chrono::milliseconds duration) {
  asio::steady_timer timer(co_await asio::this_coro::executor, duration);
  co_await timer.async_wait(kTuple);
}

class FakeSmtpServer {
 public:
  enum class Mode { normal, silent, garbage };
  struct Options {
    bool pipelining = true;
    std::set<std::string> refuse;  // RCPT addresses answered with 550 5.1.1
    Mode mode = Mode::normal;
    int close_after_messages = 0;  // > 0: drop the connection after that many messages
  };

  FakeSmtpServer(asio::io_context& io, Options options)
      : acceptor_(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)),
        options_(std::move(options)) {
    asio::co_spawn(io, accept_loop(), asio::detached);
  }

  std::uint16_t port() const { return acceptor_.local_endpoint().port(); }
  void stop() {
    boost::system::error_code ignored;
    acceptor_.close(ignored);
    for (const auto& socket : sockets_) {
      socket->close(ignored);
    }
  }

  int connections = 0;
  int quits = 0;
  std::vector<std::string> transcripts;  // every octet received, per connection
  std::vector<std::string> messages;     // the DATA octets up to and including ".\r\n"

 private:
  asio::awaitable<void> accept_loop() {
    for (;;) {
      auto socket = std::make_shared<tcp::socket>(acceptor_.get_executor());
      auto [error] = co_await acceptor_.async_accept(*socket, kTuple);
      if (error) {
        co_return;
      }
      sockets_.push_back(socket);
      transcripts.emplace_back();
      asio::co_spawn(acceptor_.get_executor(), session(socket, connections++), asio::detached);
    }
  }

  asio::awaitable<void> reply(tcp::socket& socket, std::string_view text) {
    co_await asio::async_write(socket, asio::buffer(text), kTuple);
  }

  asio::awaitable<void> session(std::shared_ptr<tcp::socket> socket, int index) {
    if (options_.mode == Mode::silent) {
      std::string sink;
      co_await asio::async_read_until(*socket, asio::dynamic_buffer(sink), "\n", kTuple);
      co_return;
    }
    co_await reply(*socket, "220 fake.test ESMTP\r\n");
    std::string buffer;
    int delivered = 0;
    for (;;) {
      auto [error, n] =
          co_await asio::async_read_until(*socket, asio::dynamic_buffer(buffer), "\r\n", kTuple);
      if (error) {
        co_return;
      }
      const std::string line = buffer.substr(0, n);
      buffer.erase(0, n);
      transcripts[index] += line;
      const std::string verb = line.substr(0, 4);
      // Answers go through a local: g++ 12 mishandles temporaries of a ?: inside co_await.
      std::string answer;
      if (verb == "EHLO") {
        answer = options_.pipelining ? "250-fake.test\r\n250-PIPELINING\r\n250-8BITMIME\r\n"
                                       "250-ENHANCEDSTATUSCODES\r\n250 SIZE 10000000\r\n"
                                     : "250-fake.test\r\n250 SIZE 10000000\r\n";
      } else if (options_.mode == Mode::garbage && verb == "MAIL") {
        answer = "this is not SMTP\r\n";
      } else if (verb == "MAIL") {
        answer = "250 2.1.0 Ok\r\n";
      } else if (verb == "RCPT") {
        const std::string address = line.substr(9, line.find('>') - 9);
        answer = "250 2.1.5 Ok\r\n";
        if (options_.refuse.contains(address)) {
          answer = "550 5.1.1 <" + address + ">: Recipient address rejected\r\n";
        }
      } else if (verb == "DATA") {
        co_await reply(*socket, "354 End data with <CR><LF>.<CR><LF>\r\n");
        auto [data_error, end] = co_await asio::async_read_until(
            *socket, asio::dynamic_buffer(buffer), "\r\n.\r\n", kTuple);
        if (data_error) {
          co_return;
        }
        messages.push_back(buffer.substr(0, end));
        transcripts[index] += buffer.substr(0, end);
        buffer.erase(0, end);
        answer = "250 2.0.0 Ok: queued as FAKE" + std::to_string(messages.size()) + "\r\n";
        if (++delivered == options_.close_after_messages) {
          co_await reply(*socket, answer);
          boost::system::error_code ignored;
          socket->close(ignored);
          co_return;
        }
      } else if (verb == "RSET") {
        answer = "250 2.0.0 Ok\r\n";
      } else if (verb == "QUIT") {
        ++quits;
        co_await reply(*socket, "221 2.0.0 Bye\r\n");
        co_return;
      } else {
        answer = "502 5.5.2 Error: command not recognized\r\n";
      }
      co_await reply(*socket, answer);
    }
  }

  tcp::acceptor acceptor_;
  Options options_;
  std::vector<std::shared_ptr<tcp::socket>> sockets_;
};

}  // namespace upstream_test
