#pragma once

// Private to the session: the client connection, plain TCP until a TLS handshake (STARTTLS or
// implicit TLS) and TLS after it. Every operation completes with an error code (as_tuple) and
// takes part in cancellation, so the session can race it against its deadline timer.

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <optional>
#include <tuple>

namespace policy_relay::server {

class SessionStream {
 public:
  using Result = std::tuple<boost::system::error_code, std::size_t>;

  explicit SessionStream(boost::asio::ip::tcp::socket socket) : socket_(std::move(socket)) {}

  boost::asio::awaitable<Result> read_some(boost::asio::mutable_buffer buffer) {
    if (tls_) {
      co_return co_await tls_->async_read_some(buffer, kTuple);
    }
    co_return co_await socket_.async_read_some(buffer, kTuple);
  }

  boost::asio::awaitable<Result> write(boost::asio::const_buffer buffer) {
    if (tls_) {
      co_return co_await boost::asio::async_write(*tls_, buffer, kTuple);
    }
    co_return co_await boost::asio::async_write(socket_, buffer, kTuple);
  }

  // The server side of the handshake over the socket; on failure the stream stays unusable
  // for TLS and the caller closes it.
  boost::asio::awaitable<boost::system::error_code> handshake(boost::asio::ssl::context& context) {
    tls_.emplace(socket_, context);
    auto [error] = co_await tls_->async_handshake(boost::asio::ssl::stream_base::server, kTuple);
    co_return error;
  }

  // TLS close_notify (RFC 8446 6.1); the caller bounds it with a deadline.
  boost::asio::awaitable<void> shutdown_tls() {
    if (tls_) {
      co_await tls_->async_shutdown(kTuple);
    }
  }

  bool tls_active() const { return tls_.has_value(); }
  SSL* ssl() { return tls_ ? tls_->native_handle() : nullptr; }
  boost::asio::ip::tcp::socket& socket() { return socket_; }

 private:
  static constexpr auto kTuple = boost::asio::as_tuple(boost::asio::use_awaitable);

  boost::asio::ip::tcp::socket socket_;
  std::optional<boost::asio::ssl::stream<boost::asio::ip::tcp::socket&>> tls_;
};

}  // namespace policy_relay::server
