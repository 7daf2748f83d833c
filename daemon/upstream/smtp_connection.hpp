#pragma once

#include <array>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>

#include "policy_relay/smtp/client_protocol.hpp"
#include "policy_relay/upstream/smtp_upstream.hpp"

namespace policy_relay::upstream {

// One connection to the upstream: the socket, its deadline timer and the ClientProtocol that
// it drives. The I/O adapter only: what to send and what replies mean is the protocol's job.
// Every failure (resolve, connect, read, write, timeout, spool read) is handed to the protocol
// with fail(), so the recipients' results and failure() are the one place to look afterwards.
// TLS: with Config::tls_context the connection handshakes at once (implicit) or when the
// protocol asks (STARTTLS), verifying the certificate and that it names Config::host.
class SmtpConnection {
 public:
  using Kind = smtp::ClientProtocol::Action::Kind;

  SmtpConnection(boost::asio::any_io_executor executor, const SmtpUpstream::Config& config);

  // Resolves the host, connects (TCP_NODELAY), reads the greeting and says EHLO/HELO.
  // True when the session is ready for a message; else protocol().failure() says why.
  boost::asio::awaitable<bool> open();

  // Runs the conversation (writes, reads with deadlines) until the protocol needs something
  // other than I/O, and returns that: ready, send_body, message_done or closed.
  boost::asio::awaitable<Kind> run();

  // After send_body: streams `size` octets of `fd` from `offset` through the dot-stuffer in
  // writes of about 64 KiB, the last one ending with ".\r\n", then tells the protocol. Never
  // holds more than two chunks in memory.
  // `prefix` (header fields the relay adds, CRLF-terminated) goes first.
  boost::asio::awaitable<void> send_body(int fd, std::uint64_t offset, std::uint64_t size,
                                         std::string_view prefix = {});

  // QUIT (a short deadline: nothing depends on the answer), then close().
  boost::asio::awaitable<void> quit();
  void close();

  smtp::ClientProtocol& protocol() { return protocol_; }

  std::string auth_token;        // XOAUTH2: the token this connection authenticated with
  bool reused = false;           // taken from the pool (RSET precedes the next MAIL)
  std::uint64_t idle_epoch = 0;  // bumped whenever the connection leaves the idle list
  boost::asio::steady_timer idle_timer;

 private:
  boost::asio::awaitable<bool> connect();
  boost::asio::awaitable<bool> handshake();
  boost::asio::awaitable<std::tuple<boost::system::error_code, std::size_t>> write_some_stream(
      boost::asio::const_buffer buffer);
  boost::asio::awaitable<std::tuple<boost::system::error_code, std::size_t>> read_some_stream(
      boost::asio::mutable_buffer buffer);
  boost::asio::awaitable<bool> write(std::string_view octets, config::Duration timeout);
  boost::asio::awaitable<void> read(config::Duration timeout);
  std::string peer() const;

  const SmtpUpstream::Config config_;
  boost::asio::ip::tcp::socket socket_;
  std::optional<boost::asio::ssl::stream<boost::asio::ip::tcp::socket&>> tls_;
  boost::asio::steady_timer deadline_;
  smtp::ClientProtocol protocol_;
  config::Duration command_timeout_;
  std::array<char, 8192> read_buffer_{};
  // send_body's buffers, kept for the connection's next messages: a 64 KiB read chunk and its
  // dot-stuffed copy (at most twice as long). Allocated per message, they cost a zero-fill
  // and page faults for every message (util/buffer_pool.hpp says why).
  std::unique_ptr<char[]> body_chunk_;
  std::string body_out_;
};

}  // namespace policy_relay::upstream
