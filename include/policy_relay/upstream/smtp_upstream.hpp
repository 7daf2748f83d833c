#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/ssl/context.hpp>

#include "policy_relay/config/config.hpp"
#include "policy_relay/upstream/token_source.hpp"
#include "policy_relay/upstream/upstream.hpp"

namespace policy_relay::upstream {

// Relays messages to one SMTP server (the smarthost, [upstream] mode = "smtp") over a pool of
// at most `connections` TCP connections, reused across messages (RSET between transactions)
// and closed with QUIT after `idle_timeout` unused. Every connect, read and write has a
// deadline. The message is streamed from its spool file, dot-stuffed, in 64 KiB writes with
// the end of data in the same write as the last octets, TCP_NODELAY set (DESIGN.md
// "Performance facts"). With TLS configured nothing is sent before the handshake verified the
// upstream's certificate and name; with AUTH nothing before its 235 (POLICY VII.3).
//
// Threading: every call (deliver, shutdown, destruction) on the thread of `executor`, which
// must outlive this object. deliver() keeps `message` referenced until it completes.
class SmtpUpstream final : public Upstream {
 public:
  struct Config {
    std::string host = "127.0.0.1";
    std::uint16_t port = 25;
    std::string helo_hostname = "localhost";
    std::uint32_t connections = 4;
    config::Duration connect_timeout = std::chrono::seconds(30);  // resolve, connect, each
    config::Duration command_timeout = std::chrono::minutes(5);   // RFC 5321 4.5.3.2
    config::Duration data_timeout = std::chrono::minutes(10);     // body writes, final reply
    config::Duration idle_timeout = std::chrono::seconds(30);
    // RFC 5321 4.5.3.1.5 caps a reply line at 512 octets; a longer one is a protocol error.
    std::size_t max_reply_line = 512;
    // upstream.tls: a client context (verifying peers) when starttls or implicit; null = none.
    std::shared_ptr<boost::asio::ssl::context> tls_context;
    bool implicit_tls = false;
    // upstream.auth: "PLAIN", "LOGIN", "XOAUTH2" or "" (none), as the user `auth_username`.
    std::string auth_mechanism;
    std::string auth_username;
    // PLAIN / LOGIN: the password from upstream.password_file (never logged).
    std::string auth_password;
    // XOAUTH2: where access tokens come from (refreshed once on a 535).
    std::shared_ptr<TokenSource> tokens;

    // From [upstream]; `helo_hostname` is [server] hostname.
    static Config from(const config::UpstreamConfig& upstream, std::string helo_hostname);
  };

  SmtpUpstream(boost::asio::any_io_executor executor, Config config);
  ~SmtpUpstream() override;
  SmtpUpstream(const SmtpUpstream&) = delete;
  SmtpUpstream& operator=(const SmtpUpstream&) = delete;

  // One transaction for `recipients` (see Upstream::deliver). Failures before the upstream
  // took the message come back as 4xx for every recipient: "451 4.4.1 ..." for network,
  // timeout and protocol errors (the connection is then dropped), "451 4.3.0 ..." when the
  // spool file cannot be read. A reused connection found dead before the server answered any
  // command of this message is replaced once, transparently.
  boost::asio::awaitable<DeliveryResult> deliver(const spool::StoredMessage& message,
                                                 std::vector<std::string> recipients) override;

  void shutdown() override;

  // Connections that exist (busy, idle or closing) and those idle in the pool.
  std::size_t open_connections() const;
  std::size_t idle_connections() const;

  struct Pool;  // shared with the coroutines that outlive a call (idle watch, QUIT)

 private:
  std::shared_ptr<Pool> pool_;
};

// The first line of a secret file (password_file, client_secret_file), trimmed. Throws
// std::runtime_error naming `key` and the path (never the content) when it is unreadable or
// empty.
std::string read_secret_file(const std::string& path, std::string_view key);

}  // namespace policy_relay::upstream
