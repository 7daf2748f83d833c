#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <cstdint>
#include <list>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "policy_relay/auth/network_list.hpp"
#include "policy_relay/config/config.hpp"
#include "policy_relay/server/session.hpp"
#include "policy_relay/util/buffer_pool.hpp"

namespace policy_relay::server {

// What a reload replaces: the configuration and the per-configuration services built from it
// (policy engine, TLS context, authenticator, account directory). A session keeps the
// generation it started with until it ends; new sessions get the newest.
struct Generation {
  config::ConfigPtr config;
  SessionServices services;
  std::shared_ptr<const void> resources;  // owns what `services` points to, when not shared
};
using GenerationPtr = std::shared_ptr<Generation>;

// The listeners and the set of live sessions. Enforces server.max_connections and
// server.max_connections_per_ip ("421 4.7.0" to the connection over a limit) and runs the
// graceful stop (SIGTERM). With server.proxy_protocol, every connection must come from
// server.proxy_networks and begin with a PROXY v1/v2 header (read within proxy_timeout, before
// the greeting); the client it names is the one the limits and the session see.
class Server {
 public:
  Server(boost::asio::io_context& io, config::ConfigPtr config, SessionServices services);
  Server(boost::asio::io_context& io, GenerationPtr generation);

  // Reload: new connections get `generation`; sessions in flight keep theirs. Listen addresses
  // are not re-bound (that needs a restart).
  void replace(GenerationPtr generation);
  const GenerationPtr& generation() const { return generation_; }

  // Binds every address of server.listen and server.listen_tls (throws std::system_error at
  // start-up when one cannot be bound) and starts accepting. Logs `listening` with the bound
  // address.
  void start();

  // Stops accepting and asks every session to end (see Session::request_shutdown).
  void begin_shutdown();
  // Closes the sessions still running (shutdown deadline).
  void close_all();
  std::size_t session_count() const { return sessions_.size(); }

 private:
  boost::asio::awaitable<void> accept_loop(boost::asio::ip::tcp::acceptor& acceptor,
                                           bool implicit_tls);
  void bind(const config::ListenAddress& listen, bool implicit_tls);
  // Turns a connection away over a limit: logs `reject rule=...`, sends "421 4.7.0 ..." with a
  // short deadline, closes.
  void refuse(boost::asio::ip::tcp::socket socket, const std::string& client, std::string_view rule,
              std::string_view text);
  boost::asio::awaitable<void> send_and_close(boost::asio::ip::tcp::socket socket,
                                              std::string reply);
  void launch(boost::asio::ip::tcp::socket socket, const boost::asio::ip::tcp::endpoint& remote,
              bool implicit_tls);
  // Reads the PROXY header (never a byte past it: a TLS ClientHello may follow), then admit()s
  // the client it names; closes the connection (with a log line) on a bad, oversized or late
  // header.
  boost::asio::awaitable<void> accept_proxied(boost::asio::ip::tcp::socket socket,
                                              boost::asio::ip::tcp::endpoint remote,
                                              bool implicit_tls);
  // Applies max_connections / max_connections_per_ip to `client`, then runs its session.
  void admit(boost::asio::ip::tcp::socket socket, ClientEndpoint client, bool implicit_tls);
  // server.proxy_networks of the generation in force (parsed again after a reload changed it).
  const auth::NetworkList& proxy_networks();

  // Sessions' read buffers, shared by every generation (see util::BufferPool): enough spares
  // for the busiest moments of a few dozen concurrent clients, 4 MiB at most.
  static constexpr std::size_t kSpareReadBuffers = 64;
  // Installs `generation` and points its sessions at read_buffers_.
  void install(GenerationPtr generation);

  boost::asio::io_context& io_;
  std::shared_ptr<util::BufferPool> read_buffers_ =
      util::BufferPool::create(Session::kReadBufferSize, kSpareReadBuffers);
  GenerationPtr generation_;
  auth::NetworkList proxy_networks_;
  const config::Config* proxy_networks_from_ = nullptr;
  // With whether each listens for implicit TLS (server.listen_tls).
  std::vector<std::pair<std::unique_ptr<boost::asio::ip::tcp::acceptor>, bool>> acceptors_;
  std::list<std::shared_ptr<Session>> sessions_;
  std::unordered_map<std::string, std::uint32_t> sessions_per_ip_;
  std::uint64_t next_session_number_ = 1;
  bool stopping_ = false;
};

}  // namespace policy_relay::server
