#include "policy_relay/admin/admin_server.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <stdexcept>

#include "policy_relay/log/log.hpp"

namespace asio = boost::asio;
using namespace boost::asio::experimental::awaitable_operators;
using asio::local::stream_protocol;

namespace policy_relay::admin {
namespace {

constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

// Whether a daemon answers on `path` (then it must not be replaced).
bool socket_is_live(asio::io_context& io, const std::string& path) {
  stream_protocol::socket probe(io);
  boost::system::error_code ec;
  probe.connect(stream_protocol::endpoint(path), ec);
  return !ec;
}

}  // namespace

AdminServer::AdminServer(asio::io_context& io, std::string path, std::chrono::milliseconds timeout,
                         const Dispatcher& dispatcher)
    : io_(io), path_(std::move(path)), timeout_(timeout), dispatcher_(dispatcher) {}

AdminServer::~AdminServer() {
  stop();
}

void AdminServer::start() {
  struct ::stat existing {};
  if (::lstat(path_.c_str(), &existing) == 0) {
    if (!S_ISSOCK(existing.st_mode)) {
      throw std::runtime_error("admin.socket '" + path_ + "' exists and is not a socket");
    }
    if (socket_is_live(io_, path_)) {
      throw std::runtime_error("admin.socket '" + path_ + "' is in use by a running daemon");
    }
    ::unlink(path_.c_str());
  }
  // Created 0660 from the start: no moment where others could connect.
  const mode_t previous = ::umask(0117);
  try {
    acceptor_ = std::make_unique<stream_protocol::acceptor>(io_, stream_protocol::endpoint(path_));
  } catch (const boost::system::system_error& error) {
    ::umask(previous);
    throw std::runtime_error("admin.socket '" + path_ + "': " + error.code().message());
  }
  ::umask(previous);
  ::chmod(path_.c_str(), 0660);
  log::Event("listening").add("admin", path_);
  asio::co_spawn(io_, accept_loop(), [](std::exception_ptr) {});
}

void AdminServer::stop() {
  if (!acceptor_ || stopping_) {
    return;
  }
  stopping_ = true;
  boost::system::error_code ignored;
  acceptor_->close(ignored);
  ::unlink(path_.c_str());
}

asio::awaitable<void> AdminServer::accept_loop() {
  asio::steady_timer backoff(io_);
  while (!stopping_) {
    auto [ec, socket] = co_await acceptor_->async_accept(kTuple);
    if (stopping_ || ec == asio::error::operation_aborted) {
      break;
    }
    if (ec) {
      backoff.expires_after(std::chrono::milliseconds(100));
      co_await backoff.async_wait(kTuple);
      continue;
    }
    while (connections_ >= kMaxConnections && !stopping_) {
      backoff.expires_after(std::chrono::milliseconds(20));
      co_await backoff.async_wait(kTuple);
    }
    ++connections_;
    asio::co_spawn(io_, serve(std::move(socket)), [this](std::exception_ptr) { --connections_; });
  }
}

// One client: request lines answered in order, each with the deadline; an oversized or
// malformed line gets its error response and the connection is closed.
asio::awaitable<void> AdminServer::serve(stream_protocol::socket socket) {
  asio::steady_timer timer(io_);
  std::string buffer;
  for (std::size_t served = 0; served < kMaxRequestsPerConnection; ++served) {
    timer.expires_after(timeout_);
    auto read =
        co_await (asio::async_read_until(socket, asio::dynamic_buffer(buffer, kMaxRequestSize + 1),
                                         '\n', kTuple) ||
                  timer.async_wait(kTuple));
    if (read.index() == 1) {
      log::Event("admin_timeout", log::Level::warn).add("while", "read");
      break;
    }
    auto [ec, length] = std::get<0>(read);
    std::string response;
    bool close_after = false;
    if (ec == asio::error::not_found || (ec && buffer.size() > kMaxRequestSize)) {
      response =
          error_response("request larger than " + std::to_string(kMaxRequestSize) + " octets");
      close_after = true;
    } else if (ec) {
      break;  // the client closed (or the read failed): nothing to answer
    } else {
      const std::string line = buffer.substr(0, length - 1);
      buffer.erase(0, length);
      response = co_await dispatcher_.handle(line);
    }
    timer.expires_after(timeout_);
    auto written = co_await (asio::async_write(socket, asio::buffer(response), kTuple) ||
                             timer.async_wait(kTuple));
    if (written.index() == 1 || std::get<0>(std::get<0>(written)) || close_after) {
      break;
    }
  }
  boost::system::error_code ignored;
  socket.close(ignored);
}

}  // namespace policy_relay::admin
