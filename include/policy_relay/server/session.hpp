#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <variant>

#include "policy_relay/config/config.hpp"
#include "policy_relay/policy/engine.hpp"
#include "policy_relay/server/policy_gate.hpp"
#include "policy_relay/smtp/server_protocol.hpp"
#include "policy_relay/spool/spool.hpp"
#include "policy_relay/util/buffer_pool.hpp"

namespace policy_relay::delivery {
class Scheduler;
}
namespace policy_relay::auth {
class Authenticator;
class NetworkList;
}  // namespace policy_relay::auth

namespace policy_relay::server {

// What every session uses; owned by the daemon, outlives all sessions.
class AdviceNotifier;

struct SessionServices {
  spool::Spool& spool;
  delivery::Scheduler& scheduler;
  policy::Engine& policy;
  boost::asio::ssl::context* tls = nullptr;             // null: no STARTTLS, no implicit TLS
  auth::Authenticator* authenticator = nullptr;         // null: AUTH not offered
  const auth::NetworkList* trusted_networks = nullptr;  // null: nobody is trusted
  AdviceNotifier* notifier = nullptr;  // null: advice action "notify" sends nothing (tests)
  const policy::SenderStanding* standing = nullptr;  // null: no directory, no suspensions
  policy::SenderActivity* activity = nullptr;        // null: no abuse detector
  // Where sessions take their read buffer; the Server sets it. Null: each session allocates.
  std::shared_ptr<util::BufferPool> read_buffers;
};

class SessionStream;

// Who is on the other end: the socket's peer, or the client a PROXY header named.
struct ClientEndpoint {
  std::string address;   // "192.0.2.7", "2001:db8::7"
  std::string endpoint;  // "192.0.2.7:51000", "[2001:db8::7]:51000"
  std::string via;       // the proxy's own endpoint when a PROXY header named the client
};

// One SMTP connection: a thin adapter between the socket and smtp::ServerProtocol. It reads
// only when the protocol asks for input and every read and write has a deadline
// (server.command_timeout, server.data_timeout). The message body streams to the spool as it
// arrives: at most one read buffer and one protocol chunk are held in memory.
class Session : public std::enable_shared_from_this<Session> {
 public:
  // The most a session reads from its socket at once (SessionServices::read_buffers holds
  // buffers of this size).
  static constexpr std::size_t kReadBufferSize = 64 * 1024;

  // `client`: who the limits, trusted networks, login throttling and logs see: the peer as
  // accept() reported it, or the client a PROXY header named (server.proxy_protocol).
  // `implicit_tls`: the connection came to server.listen_tls (RFC 8314): the TLS handshake
  // comes before the greeting.
  // `owner` keeps `config` and what `services` points to alive while the session runs (a
  // reload swaps them for new sessions only).
  Session(boost::asio::ip::tcp::socket socket, ClientEndpoint client, config::ConfigPtr config,
          SessionServices& services, std::uint64_t number, bool implicit_tls = false,
          std::shared_ptr<const void> owner = {});
  ~Session();

  boost::asio::awaitable<void> run();

  // SIGTERM: an idle session (not in DATA) gets "421 4.3.2" at once; a session in DATA
  // finishes its transaction first, then gets the 421.
  void request_shutdown();
  // The shutdown deadline passed: close now (an unfinished message is dropped, never acked).
  void force_close();

  const std::string& client_address() const { return client_address_; }

 private:
  boost::asio::awaitable<bool> flush();
  boost::asio::awaitable<void> read_more();
  boost::asio::awaitable<void> handle_mail(const smtp::ServerProtocol::Action& action);
  boost::asio::awaitable<void> handle_data_end(const smtp::ServerProtocol::Action& action);
  boost::asio::awaitable<bool> commit_message();
  boost::asio::awaitable<std::optional<smtp::Reply>> analyse_message();
  // Message octets scanned by analyse_message() before other sessions get a turn.
  static constexpr std::uint64_t kAnalysisSlice = 1024 * 1024;
  void after_accept();
  smtp::Reply handle_data_start();
  // session_security.cpp: TLS handshakes, AUTH, the authentication requirement (POLICY VII.1).
  boost::asio::awaitable<bool> start_tls();
  boost::asio::awaitable<void> handle_auth();
  boost::asio::awaitable<void> close_tls();
  std::optional<smtp::Reply> authentication_refusal(const std::string& sender);
  std::chrono::milliseconds current_timeout() const;
  void log_refusal(const smtp::Reply& reply, std::string_view rule, std::string_view clause);

  std::shared_ptr<const void> owner_;  // first: destroyed last
  std::unique_ptr<SessionStream> stream_;
  boost::asio::steady_timer timer_;
  config::ConfigPtr config_;
  SessionServices& services_;
  std::uint64_t number_;
  std::string client_address_;
  std::string client_endpoint_;
  std::string via_;
  smtp::ServerProtocol protocol_;
  PolicyGate policy_;
  spool::MessageWriter writer_;
  Envelope envelope_;
  util::BufferPool::Lease read_buffer_;  // taken at the first read, held until the session ends
  bool reading_ = false;
  bool shutting_down_ = false;
  std::uint32_t messages_ = 0;
  std::chrono::steady_clock::time_point started_;
  bool implicit_tls_ = false;
  bool trusted_ = false;  // the client is in server.trusted_networks
};

}  // namespace policy_relay::server
