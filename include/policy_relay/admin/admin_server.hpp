#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <chrono>
#include <memory>
#include <string>

#include "policy_relay/admin/protocol.hpp"

namespace policy_relay::admin {

// The admin socket ([admin] socket): a Unix stream socket, mode 0660 (owner and the service's
// group, e.g. operators added to group policy-relay), speaking admin/protocol.hpp. Each request
// line must arrive, and its response leave, within `timeout`; at most kMaxConnections clients
// at once (the rest wait in the listen backlog).
class AdminServer {
 public:
  static constexpr std::size_t kMaxConnections = 16;

  AdminServer(boost::asio::io_context& io, std::string path, std::chrono::milliseconds timeout,
              const Dispatcher& dispatcher);
  ~AdminServer();

  // Binds (a stale socket file of a dead daemon is replaced; a live one is an error) and starts
  // accepting. Throws std::runtime_error naming the path.
  void start();
  // Stops accepting and removes the socket file; connections in progress finish.
  void stop();
  const std::string& path() const { return path_; }

 private:
  boost::asio::awaitable<void> accept_loop();
  boost::asio::awaitable<void> serve(boost::asio::local::stream_protocol::socket socket);

  boost::asio::io_context& io_;
  std::string path_;
  std::chrono::milliseconds timeout_;
  const Dispatcher& dispatcher_;
  std::unique_ptr<boost::asio::local::stream_protocol::acceptor> acceptor_;
  std::size_t connections_ = 0;
  bool stopping_ = false;
};

}  // namespace policy_relay::admin
