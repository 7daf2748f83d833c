#include "policy_relay/upstream/smtp_upstream.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cctype>
#include <cerrno>
#include <exception>
#include <system_error>

#include "policy_relay/smtp/reply_parser.hpp"
#include "policy_relay/util/file_descriptor.hpp"
#include "smtp_connection.hpp"

#include <stdexcept>

namespace policy_relay::upstream {

namespace asio = boost::asio;
using namespace boost::asio::experimental::awaitable_operators;

// The pool's state lives apart from SmtpUpstream so that the coroutines that outlive one
// deliver() (idle watches, QUITs) can hold it. Touched on the executor's thread only.
struct SmtpUpstream::Pool {
  Pool(asio::any_io_executor executor_in, Config config_in)
      : executor(std::move(executor_in)), config(std::move(config_in)), slot_released(executor) {
    slot_released.expires_at(asio::steady_timer::time_point::max());
  }

  asio::any_io_executor executor;
  Config config;
  std::vector<std::shared_ptr<SmtpConnection>> idle;  // most recently used at the back
  std::size_t open = 0;  // connections in existence: busy, idle or closing (<= connections)
  bool shutting_down = false;
  asio::steady_timer slot_released;  // never expires; cancelled to wake acquire() waiters
};

namespace {

using Pool = SmtpUpstream::Pool;
using ConnectionPtr = std::shared_ptr<SmtpConnection>;
constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

// Detached coroutines must not hide bugs (STYLE.md: don't swallow exceptions).
void rethrow(std::exception_ptr error) {
  if (error) {
    std::rethrow_exception(error);
  }
}

using util::FileDescriptor;

// The upstream's id for the message: Postfix and most MTAs say "queued as ID"; Microsoft 365
// starts its reply text with the <message-id> it assigned.
std::string upstream_id(const smtp::Reply& reply) {
  const std::string& text = reply.text;
  std::string lower(text);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (const std::size_t at = lower.find("queued as "); at != std::string::npos) {
    const std::size_t start = at + 10;
    const std::size_t end = text.find_first_of(" ;,)\n", start);
    return text.substr(start, end == std::string::npos ? end : end - start);
  }
  if (text.starts_with('<')) {
    if (const std::size_t end = text.find('>'); end != std::string::npos) {
      return text.substr(0, end + 1);
    }
  }
  return "";
}

bool is_ascii(std::string_view text) {
  return std::all_of(text.begin(), text.end(),
                     [](char c) { return static_cast<unsigned char>(c) < 0x80; });
}

void notify_slot(Pool& pool) {
  pool.slot_released.cancel();
}

asio::awaitable<void> close_gracefully(std::shared_ptr<Pool> pool, ConnectionPtr connection) {
  co_await connection->quit();
  --pool->open;
  notify_slot(*pool);
}

void discard(Pool& pool, const ConnectionPtr& connection) {
  connection->close();
  --pool.open;
  notify_slot(pool);
}

asio::awaitable<void> watch_idle(std::shared_ptr<Pool> pool, ConnectionPtr connection,
                                 std::uint64_t epoch) {
  connection->idle_timer.expires_after(pool->config.idle_timeout);
  co_await connection->idle_timer.async_wait(kTuple);
  if (connection->idle_epoch != epoch) {
    co_return;  // taken for a message, or closed at shutdown, meanwhile
  }
  ++connection->idle_epoch;
  std::erase(pool->idle, connection);
  co_await close_gracefully(pool, connection);
}

void release(const std::shared_ptr<Pool>& pool, const ConnectionPtr& connection) {
  if (connection->protocol().closed()) {
    discard(*pool, connection);
    return;
  }
  if (pool->shutting_down || connection->protocol().next().kind != SmtpConnection::Kind::ready) {
    asio::co_spawn(pool->executor, close_gracefully(pool, connection), rethrow);
    return;
  }
  pool->idle.push_back(connection);
  asio::co_spawn(pool->executor, watch_idle(pool, connection, connection->idle_epoch), rethrow);
  notify_slot(*pool);
}

struct Acquired {
  ConnectionPtr connection;
  std::string failure;
  bool auth_rejected = false;  // the upstream answered AUTH with a 5xx
  std::string auth_token;      // XOAUTH2: the token it refused
};

// An idle connection (most recently used first), else a new one while fewer than
// `connections` exist, else waits for one to free up, until connect_timeout.
asio::awaitable<Acquired> acquire(std::shared_ptr<Pool> pool) {
  const auto deadline = asio::steady_timer::clock_type::now() + pool->config.connect_timeout;
  for (;;) {
    if (pool->shutting_down) {
      co_return Acquired{nullptr, "Upstream delivery is shutting down"};
    }
    if (!pool->idle.empty()) {
      ConnectionPtr connection = std::move(pool->idle.back());
      pool->idle.pop_back();
      ++connection->idle_epoch;
      connection->idle_timer.cancel();
      connection->reused = true;
      co_return Acquired{std::move(connection), ""};
    }
    if (pool->open < std::max<std::uint32_t>(1, pool->config.connections)) {
      ++pool->open;
      auto connection = std::make_shared<SmtpConnection>(pool->executor, pool->config);
      if (pool->config.tokens) {
        std::string error;
        const std::optional<std::string> token = co_await pool->config.tokens->token(error);
        if (!token) {
          discard(*pool, connection);
          co_return Acquired{nullptr, "Cannot get an OAuth 2.0 token for XOAUTH2: " + error};
        }
        connection->auth_token = *token;
        connection->protocol().set_auth_secret(*token);
      } else if (!pool->config.auth_password.empty()) {
        connection->protocol().set_auth_secret(pool->config.auth_password);
      }
      const bool opened = co_await connection->open();
      if (!opened) {
        Acquired failed{nullptr, connection->protocol().failure()};
        failed.auth_rejected = connection->protocol().auth_rejected();
        failed.auth_token = connection->auth_token;
        discard(*pool, connection);
        co_return failed;
      }
      co_return Acquired{std::move(connection), ""};
    }
    if (asio::steady_timer::clock_type::now() >= deadline) {
      co_return Acquired{nullptr, "No upstream connection became free in time"};
    }
    asio::steady_timer timeout(pool->executor, deadline);
    co_await (pool->slot_released.async_wait(kTuple) || timeout.async_wait(kTuple));
  }
}

}  // namespace

SmtpUpstream::Config SmtpUpstream::Config::from(const config::UpstreamConfig& upstream,
                                                std::string helo_hostname) {
  Config config;
  config.host = upstream.host;
  config.port = upstream.port;
  config.helo_hostname = std::move(helo_hostname);
  config.connections = upstream.connections;
  config.connect_timeout = upstream.connect_timeout;
  config.command_timeout = upstream.command_timeout;
  config.data_timeout = upstream.data_timeout;
  config.idle_timeout = upstream.idle_timeout;
  return config;
}

// Secrets come from files (POLICY VII.3: never in the config, never in a log): the first line,
// without its line end and trailing blanks.
std::string read_secret_file(const std::string& path, std::string_view key) {
  const FileDescriptor file(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (file.get() < 0) {
    throw std::runtime_error(std::string(key) + " " + path + ": " +
                             std::system_category().message(errno));
  }
  std::string text(4096, '\0');
  const ssize_t n = ::read(file.get(), text.data(), text.size());
  if (n < 0) {
    throw std::runtime_error(std::string(key) + " " + path + ": " +
                             std::system_category().message(errno));
  }
  text.resize(static_cast<std::size_t>(n));
  text = text.substr(0, text.find('\n'));
  while (!text.empty() && (text.back() == '\r' || text.back() == ' ' || text.back() == '\t')) {
    text.pop_back();
  }
  if (text.empty()) {
    throw std::runtime_error(std::string(key) + " " + path + ": empty");
  }
  return text;
}

SmtpUpstream::SmtpUpstream(asio::any_io_executor executor, Config config)
    : pool_(std::make_shared<Pool>(std::move(executor), std::move(config))) {}

SmtpUpstream::~SmtpUpstream() {
  pool_->shutting_down = true;
  for (const ConnectionPtr& connection : pool_->idle) {
    ++connection->idle_epoch;
    connection->idle_timer.cancel();
    connection->close();
  }
  pool_->idle.clear();
  notify_slot(*pool_);
}

void SmtpUpstream::shutdown() {
  pool_->shutting_down = true;
  for (const ConnectionPtr& connection : pool_->idle) {
    ++connection->idle_epoch;
    connection->idle_timer.cancel();
    asio::co_spawn(pool_->executor, close_gracefully(pool_, connection), rethrow);
  }
  pool_->idle.clear();
  notify_slot(*pool_);
}

std::size_t SmtpUpstream::open_connections() const {
  return pool_->open;
}
std::size_t SmtpUpstream::idle_connections() const {
  return pool_->idle.size();
}

asio::awaitable<DeliveryResult> SmtpUpstream::deliver(const spool::StoredMessage& message,
                                                      std::vector<std::string> recipients) {
  const std::shared_ptr<Pool> pool = pool_;
  DeliveryResult result;
  auto fail_all = [&](const smtp::Reply& reply) {
    result.recipients.clear();
    for (const std::string& recipient : recipients) {
      result.recipients.push_back(RecipientResult{recipient, reply});
    }
    result.summary = smtp::describe(reply);
  };
  if (recipients.empty()) {
    result.summary = "No recipients";
    co_return result;
  }
  if (pool->shutting_down) {
    fail_all(smtp::Reply{451, "4.3.2", "Upstream delivery is shutting down"});
    co_return result;
  }
  const spool::MessageFile file(message);
  if (file.get() < 0) {
    fail_all(smtp::Reply{451, "4.3.0",
                         "Cannot open the spool file: " + std::system_category().message(errno)});
    co_return result;
  }

  const Envelope& envelope = message.envelope;
  const std::string added_headers = envelope.added_header_block();
  smtp::ClientProtocol::Message transaction{
      .sender = envelope.sender,
      .recipients = recipients,
      .size = message.body_size + added_headers.size(),
      .eightbitmime = envelope.body_type == "8BITMIME",
      .smtputf8 = envelope.smtputf8,
      .requires_smtputf8 =
          envelope.smtputf8 && (!is_ascii(envelope.sender) ||
                                !std::all_of(recipients.begin(), recipients.end(),
                                             [](const std::string& r) { return is_ascii(r); })),
  };

  bool token_refreshed = false;
  for (int attempt = 0;; ++attempt) {
    Acquired acquired = co_await acquire(pool);
    if (!acquired.connection && acquired.auth_rejected && pool->config.tokens && !token_refreshed) {
      // A 535 to XOAUTH2: the token may have been revoked or expired early. Once per message,
      // fetch a new one and try again.
      token_refreshed = true;
      pool->config.tokens->invalidate(acquired.auth_token);
      --attempt;
      continue;
    }
    if (!acquired.connection) {
      fail_all(smtp::Reply{451, acquired.auth_rejected ? "4.7.0" : "4.4.1", acquired.failure});
      co_return result;
    }
    const ConnectionPtr connection = std::move(acquired.connection);
    smtp::ClientProtocol& protocol = connection->protocol();
    protocol.start_message(transaction);
    for (;;) {
      const auto kind = co_await connection->run();
      if (kind != SmtpConnection::Kind::send_body) {
        break;
      }
      co_await connection->send_body(file.get(), message.body_offset, message.body_size,
                                     added_headers);
    }
    if (protocol.closed() && connection->reused && attempt == 0 &&
        protocol.message_replies() == 0) {
      discard(*pool, connection);  // a stale pooled connection: once more on a fresh one
      continue;
    }
    for (std::size_t i = 0; i < recipients.size(); ++i) {
      result.recipients.push_back(RecipientResult{recipients[i], protocol.results().at(i)});
    }
    if (protocol.final_reply().code != 0) {
      result.summary = smtp::describe(protocol.final_reply());
      result.upstream_reply = upstream_id(protocol.final_reply());
    } else if (!protocol.failure().empty()) {
      result.summary = protocol.failure();
    } else {
      result.summary = smtp::describe(protocol.results().front());
    }
    release(pool, connection);
    co_return result;
  }
}

}  // namespace policy_relay::upstream
