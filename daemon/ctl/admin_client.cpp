#include "admin_client.hpp"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "policy_relay/util/file_descriptor.hpp"
#include "policy_relay/util/posix_io.hpp"

namespace json = boost::json;

namespace policy_relay::ctl {
namespace {

constexpr std::size_t kMaxResponse = 16 * 1024 * 1024;
constexpr int kTimeoutSeconds = 60;

}  // namespace

json::value ask_daemon(const std::string& socket_path, const std::string& command,
                       const json::object& args) {
  util::FileDescriptor fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd.valid()) {
    throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
  }
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (socket_path.size() >= sizeof address.sun_path) {
    throw std::runtime_error(socket_path + ": path too long for a Unix socket");
  }
  std::memcpy(address.sun_path, socket_path.c_str(), socket_path.size() + 1);
  timeval timeout{kTimeoutSeconds, 0};
  ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  ::setsockopt(fd.get(), SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
    throw std::runtime_error("cannot reach policy-relayd at " + socket_path + ": " +
                             std::strerror(errno) + " (is it running? see [admin] socket)");
  }
  const std::string request =
      json::serialize(json::object{{"command", command}, {"args", args}}) + "\n";
  if (auto ec = util::write_all(fd.get(), request)) {
    throw std::runtime_error("sending the request: " + ec.message());
  }
  std::string response;
  char buffer[8192];
  while (response.find('\n') == std::string::npos) {
    const ssize_t n = ::read(fd.get(), buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0) {
      throw std::runtime_error(std::string("waiting for the answer: ") +
                               (errno == EAGAIN ? "timed out" : std::strerror(errno)));
    }
    if (n == 0) {
      throw std::runtime_error("policy-relayd closed the connection without an answer");
    }
    response.append(buffer, static_cast<std::size_t>(n));
    if (response.size() > kMaxResponse) {
      throw std::runtime_error("answer larger than 16 MiB");
    }
  }
  response.resize(response.find('\n'));
  boost::system::error_code ec;
  json::value parsed = json::parse(response, ec);
  if (ec || !parsed.is_object()) {
    throw std::runtime_error("malformed answer from policy-relayd");
  }
  return parsed;
}

}  // namespace policy_relay::ctl
