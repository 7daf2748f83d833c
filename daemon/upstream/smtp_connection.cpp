#include "smtp_connection.hpp"

#include <unistd.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <cerrno>
#include <memory>
#include <system_error>

#include "policy_relay/smtp/dot_stuffer.hpp"
#include "policy_relay/tls/contexts.hpp"

namespace policy_relay::upstream {

namespace asio = boost::asio;
using namespace boost::asio::experimental::awaitable_operators;
using asio::ip::tcp;

namespace {

constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t kBodyChunk = 64 * 1024;
constexpr config::Duration kQuitTimeout = std::chrono::seconds(5);

std::string describe(config::Duration duration) {
  const auto ms = duration.count();
  return ms % 1000 == 0 ? std::to_string(ms / 1000) + "s" : std::to_string(ms) + "ms";
}

// The resolver runs getaddrinfo() on a helper thread and ignores cancellation, so racing it
// with `||` would still wait for it. Instead the result lands in shared state that outlives
// an abandoned lookup, and the caller waits on a timer that the lookup cancels when done.
struct Lookup {
  explicit Lookup(const asio::any_io_executor& executor) : resolver(executor), done(executor) {}
  tcp::resolver resolver;
  asio::steady_timer done;
  boost::system::error_code error;
  tcp::resolver::results_type endpoints;
  bool finished = false;
};

}  // namespace

SmtpConnection::SmtpConnection(asio::any_io_executor executor, const SmtpUpstream::Config& config)
    : idle_timer(executor),
      config_(config),
      socket_(executor),
      deadline_(executor),
      protocol_(smtp::ClientProtocol::Config{
          .helo_hostname = config.helo_hostname,
          .replies = {.max_line = config.max_reply_line, .max_lines = 100},
          .require_starttls = config.tls_context != nullptr && !config.implicit_tls,
          .tls_active = config.tls_context != nullptr && config.implicit_tls,
          .auth_mechanism = config.auth_mechanism,
          .auth_username = config.auth_username,
      }),
      command_timeout_(config.command_timeout) {}

std::string SmtpConnection::peer() const {
  return config_.host + ":" + std::to_string(config_.port);
}

asio::awaitable<bool> SmtpConnection::connect() {
  auto lookup = std::make_shared<Lookup>(socket_.get_executor());
  lookup->done.expires_after(config_.connect_timeout);
  lookup->resolver.async_resolve(
      config_.host, std::to_string(config_.port), tcp::resolver::numeric_service,
      [lookup](const boost::system::error_code& error, tcp::resolver::results_type endpoints) {
        lookup->error = error;
        lookup->endpoints = std::move(endpoints);
        lookup->finished = true;
        lookup->done.cancel();
      });
  co_await lookup->done.async_wait(kTuple);
  if (!lookup->finished) {
    lookup->resolver.cancel();
    protocol_.fail("Cannot resolve " + config_.host + ": timed out after " +
                   describe(config_.connect_timeout));
    co_return false;
  }
  if (lookup->error) {
    protocol_.fail("Cannot resolve " + config_.host + ": " + lookup->error.message());
    co_return false;
  }

  deadline_.expires_after(config_.connect_timeout);
  auto outcome = co_await (asio::async_connect(socket_, lookup->endpoints, kTuple) ||
                           deadline_.async_wait(kTuple));
  if (outcome.index() == 1) {
    protocol_.fail("Cannot connect to " + peer() + ": timed out after " +
                   describe(config_.connect_timeout));
    co_return false;
  }
  if (const auto error = std::get<0>(std::get<0>(outcome)); error) {
    protocol_.fail("Cannot connect to " + peer() + ": " + error.message());
    co_return false;
  }
  boost::system::error_code ignored;
  socket_.set_option(tcp::no_delay(true), ignored);  // the final ".\r\n" must not wait (Nagle)
  co_return true;
}

// The client handshake with the command timeout; the certificate must chain to ca_file (or the
// system store) and name config_.host. A failure fails the session: never a plaintext retry.
asio::awaitable<bool> SmtpConnection::handshake() {
  tls_.emplace(socket_, *config_.tls_context);
  if (!tls::expect_peer_name(tls_->native_handle(), config_.host)) {
    protocol_.fail(smtp::Reply{451, "4.7.0", "Cannot check the name " + config_.host});
    co_return false;
  }
  deadline_.expires_after(command_timeout_);
  auto outcome = co_await (tls_->async_handshake(asio::ssl::stream_base::client, kTuple) ||
                           deadline_.async_wait(kTuple));
  if (outcome.index() == 1) {
    protocol_.fail(smtp::Reply{451, "4.7.0", "TLS handshake with " + peer() + " timed out"});
    co_return false;
  }
  if (const auto [error] = std::get<0>(outcome); error) {
    protocol_.fail(smtp::Reply{
        451, "4.7.0",
        "TLS with " + peer() + " failed: " + tls::describe_failure(tls_->native_handle(), error)});
    co_return false;
  }
  co_return true;
}

asio::awaitable<bool> SmtpConnection::open() {
  const bool connected = co_await connect();
  if (!connected) {
    co_return false;
  }
  if (config_.tls_context && config_.implicit_tls) {
    const bool secured = co_await handshake();
    if (!secured) {
      co_return false;
    }
  }
  const Kind kind = co_await run();
  co_return kind == Kind::ready;
}

asio::awaitable<SmtpConnection::Kind> SmtpConnection::run() {
  for (;;) {
    const auto action = protocol_.next();
    if (const std::string output = protocol_.take_output();
        !output.empty() && action.kind != Kind::closed) {
      const bool written = co_await write(output, command_timeout_);
      if (!written) {
        continue;  // the protocol now reports closed
      }
    }
    if (action.kind == Kind::start_tls) {
      const bool secured = co_await handshake();
      if (secured) {
        protocol_.tls_started();
      }
      continue;
    }
    if (action.kind != Kind::need_input) {
      co_return action.kind;
    }
    const config::Duration timeout =
        protocol_.awaiting_final_reply() ? config_.data_timeout : command_timeout_;
    co_await read(timeout);
  }
}

asio::awaitable<bool> SmtpConnection::write(std::string_view octets, config::Duration timeout) {
  deadline_.expires_after(timeout);
  auto outcome = co_await (write_some_stream(asio::buffer(octets)) || deadline_.async_wait(kTuple));
  if (outcome.index() == 1) {
    protocol_.fail("Timed out after " + describe(timeout) + " sending to " + peer());
    co_return false;
  }
  if (const auto error = std::get<0>(std::get<0>(outcome)); error) {
    protocol_.fail("Lost the connection to " + peer() + ": " + error.message());
    co_return false;
  }
  co_return true;
}

asio::awaitable<void> SmtpConnection::read(config::Duration timeout) {
  deadline_.expires_after(timeout);
  auto outcome =
      co_await (read_some_stream(asio::buffer(read_buffer_)) || deadline_.async_wait(kTuple));
  if (outcome.index() == 1) {
    protocol_.fail("Timed out after " + describe(timeout) + " waiting for the reply to " +
                   std::string(protocol_.awaiting()) + " from " + peer());
    co_return;
  }
  const auto [error, size] = std::get<0>(outcome);
  if (error == asio::error::eof) {
    protocol_.end_of_input();
  } else if (error) {
    protocol_.fail("Lost the connection to " + peer() + ": " + error.message());
  } else {
    protocol_.feed(std::string_view(read_buffer_.data(), size));
  }
}

asio::awaitable<void> SmtpConnection::send_body(int fd, std::uint64_t offset, std::uint64_t size,
                                                std::string_view prefix) {
  smtp::DotStuffer stuffer;
  if (!body_chunk_) {
    body_chunk_ = std::make_unique_for_overwrite<char[]>(kBodyChunk);
    body_out_.reserve(2 * kBodyChunk + 8);
  }
  char* const chunk = body_chunk_.get();
  std::string& out = body_out_;
  out.clear();
  stuffer.encode(prefix, out);
  std::uint64_t done = 0;
  for (;;) {
    const std::size_t want =
        static_cast<std::size_t>(std::min<std::uint64_t>(kBodyChunk, size - done));
    if (want > 0) {
      const ssize_t n = ::pread(fd, chunk, want, static_cast<off_t>(offset + done));
      if (n < 0 && errno == EINTR) {
        continue;
      }
      if (n <= 0) {
        // Mid-DATA there is no way to abandon the message but dropping the connection: the
        // server then discards the transaction (RFC 5321 4.1.1.4).
        const std::string why =
            n < 0 ? std::system_category().message(errno) : "shorter than its envelope says";
        protocol_.fail(smtp::Reply{451, "4.3.0", "Cannot read the spool file: " + why});
        close();
        co_return;
      }
      stuffer.encode(std::string_view(chunk, static_cast<std::size_t>(n)), out);
      done += static_cast<std::uint64_t>(n);
    }
    const bool last = done == size;
    if (last) {
      stuffer.finish(out);
    }
    if (out.size() >= kBodyChunk || last) {
      const bool written = co_await write(out, config_.data_timeout);
      if (!written) {
        co_return;
      }
      out.clear();
    }
    if (last) {
      break;
    }
  }
  protocol_.body_sent();
}

asio::awaitable<void> SmtpConnection::quit() {
  if (protocol_.next().kind == Kind::ready) {
    protocol_.quit();
    command_timeout_ = std::min(command_timeout_, kQuitTimeout);
    co_await run();
  }
  close();
}

asio::awaitable<std::tuple<boost::system::error_code, std::size_t>>
SmtpConnection::write_some_stream(asio::const_buffer buffer) {
  if (tls_) {
    co_return co_await asio::async_write(*tls_, buffer, kTuple);
  }
  co_return co_await asio::async_write(socket_, buffer, kTuple);
}

asio::awaitable<std::tuple<boost::system::error_code, std::size_t>>
SmtpConnection::read_some_stream(asio::mutable_buffer buffer) {
  if (tls_) {
    co_return co_await tls_->async_read_some(buffer, kTuple);
  }
  co_return co_await socket_.async_read_some(buffer, kTuple);
}

void SmtpConnection::close() {
  boost::system::error_code ignored;
  socket_.shutdown(tcp::socket::shutdown_both, ignored);
  socket_.close(ignored);
  deadline_.cancel();
}

}  // namespace policy_relay::upstream
