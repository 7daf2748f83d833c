#include "policy_relay/server/session.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <ctime>

#include "policy_relay/delivery/scheduler.hpp"
#include "policy_relay/log/log.hpp"
#include "policy_relay/server/received_header.hpp"
#include "policy_relay/version.hpp"

namespace asio = boost::asio;
using namespace boost::asio::experimental::awaitable_operators;

namespace policy_relay::server {

namespace {

constexpr auto as_tuple_awaitable = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t read_buffer_size = 64 * 1024;
constexpr std::size_t max_pending_output = 16 * 1024;  // flush before processing more input

smtp::ServerProtocol::Config protocol_config(const config::Config& config) {
  smtp::ServerProtocol::Config protocol;
  protocol.hostname = config.server.hostname;
  protocol.max_message_size = config.limits.max_message_size;
  protocol.max_errors = config.server.max_errors;
  return protocol;
}

std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

Session::Session(asio::ip::tcp::socket socket, config::ConfigPtr config, SessionServices& services,
                 std::uint64_t number)
    : socket_(std::move(socket)),
      timer_(socket_.get_executor()),
      config_(std::move(config)),
      services_(services),
      number_(number),
      protocol_(protocol_config(*config_)),
      started_(std::chrono::steady_clock::now()) {
  boost::system::error_code ec;
  const auto remote = socket_.remote_endpoint(ec);
  if (!ec) {
    client_address_ = remote.address().to_string();
    client_endpoint_ = client_address_ + ":" + std::to_string(remote.port());
  }
  socket_.set_option(asio::ip::tcp::no_delay(true), ec);
}

std::chrono::milliseconds Session::current_timeout() const {
  return protocol_.in_data() ? config_->server.data_timeout : config_->server.command_timeout;
}

void Session::request_shutdown() {
  shutting_down_ = true;
  if (reading_ && !protocol_.in_data()) {
    boost::system::error_code ignored;
    socket_.cancel(ignored);  // the read ends with operation_aborted; run() sends the 421
  }
}

void Session::force_close() {
  boost::system::error_code ignored;
  socket_.close(ignored);
}

asio::awaitable<bool> Session::flush() {
  std::string output = protocol_.take_output();
  if (output.empty()) {
    co_return true;
  }
  timer_.expires_after(config_->server.command_timeout);
  auto result = co_await (asio::async_write(socket_, asio::buffer(output), as_tuple_awaitable) ||
                          timer_.async_wait(as_tuple_awaitable));
  if (result.index() == 1) {
    log::Event("timeout", log::Level::warn)
        .add("session", number_)
        .add("client", client_endpoint_)
        .add("while", "write");
    co_return false;
  }
  co_return !std::get<0>(std::get<0>(result));
}

// Reads once with the deadline of the current state. When the session must end (peer gone,
// timeout, shutdown) the protocol is told, so its next() returns close after the final reply.
asio::awaitable<void> Session::read_more() {
  if (read_buffer_.size() != read_buffer_size) {
    read_buffer_.resize(read_buffer_size);
  }
  timer_.expires_after(current_timeout());
  reading_ = true;
  auto result = co_await (socket_.async_read_some(asio::buffer(read_buffer_), as_tuple_awaitable) ||
                          timer_.async_wait(as_tuple_awaitable));
  reading_ = false;
  if (result.index() == 1) {
    log::Event("timeout", log::Level::warn)
        .add("session", number_)
        .add("client", client_endpoint_)
        .add("while", protocol_.in_data() ? "data" : "command");
    protocol_.terminate({421, "4.4.2", config_->server.hostname + " Error: timeout exceeded"});
    co_return;
  }
  auto [ec, bytes] = std::get<0>(result);
  if (ec == asio::error::operation_aborted && shutting_down_) {
    protocol_.terminate({421, "4.3.2", config_->server.hostname + " Service shutting down"});
    co_return;
  }
  if (ec) {
    protocol_.end_of_input();
    co_return;
  }
  protocol_.feed(std::string_view(read_buffer_.data(), bytes));
}

void Session::log_refusal(const smtp::Reply& reply, std::string_view rule,
                          std::string_view clause) {
  log::Event event(reply.transient() ? "defer" : "reject", log::Level::info);
  event.add("session", number_)
      .add("client", client_address_)
      .add("from", protocol_.sender().address)
      .add("rule", rule);
  if (!clause.empty()) {
    event.add("clause", clause);
  }
  event.add("code", reply.code).add("reply", reply.to_log());
}

smtp::Reply Session::handle_mail() {
  if (!services_.spool.has_free_space()) {
    smtp::Reply reply{452, "4.3.1", "Insufficient system storage"};
    log_refusal(reply, "min_free_space", "");
    return reply;
  }
  return {250, "2.1.0", "Ok"};
}

smtp::Reply Session::handle_data_start() {
  envelope_ = Envelope{};
  envelope_.sender = protocol_.sender().address;
  for (const auto& recipient : protocol_.recipients()) {
    // RFC 5321 4.1.1.3: a bare <Postmaster> means this host's postmaster; give it our name
    // so the upstream can route it.
    envelope_.recipients.push_back(recipient.address.find('@') == std::string::npos
                                       ? recipient.address + "@" + config_->server.hostname
                                       : recipient.address);
  }
  envelope_.body_type = protocol_.body_type();
  envelope_.smtputf8 = protocol_.smtputf8();
  envelope_.client_address = client_address_;
  envelope_.helo = protocol_.helo();
  envelope_.received_at = unix_now();
  if (auto ec = services_.spool.open(envelope_, writer_)) {
    smtp::Reply reply{451, "4.3.0", "Local error in processing: cannot store the message"};
    log::Event("internal_error", log::Level::error)
        .add("where", "spool.open")
        .add("error", ec.message());
    log_refusal(reply, "spool", "");
    return reply;
  }
  writer_.write(received_header(envelope_, config_->server.hostname, protocol_.esmtp()));
  return {354, "", "End data with <CR><LF>.<CR><LF>"};
}

asio::awaitable<void> Session::handle_data_end(const smtp::ServerProtocol::Action& action) {
  using Outcome = smtp::ServerProtocol::DataOutcome;
  if (action.outcome != Outcome::ok) {
    writer_.abort();
    const std::string_view rule = action.outcome == Outcome::too_big         ? "max_message_size"
                                  : action.outcome == Outcome::line_too_long ? "line_length"
                                                                             : "bare_line_ending";
    log_refusal(action.suggested, rule, action.outcome == Outcome::too_big ? "VI.1" : "");
    protocol_.resolve(action.suggested);
    co_return;
  }
  const std::uint64_t size = writer_.body_size();
  if (auto ec = co_await services_.spool.commit(writer_, co_await asio::this_coro::executor)) {
    smtp::Reply reply{451, "4.3.0", "Local error in processing: message not queued"};
    log::Event("internal_error", log::Level::error)
        .add("where", "spool.commit")
        .add("error", ec.message());
    log_refusal(reply, "spool", "");
    protocol_.resolve(reply);
    co_return;
  }
  ++messages_;
  log::Event("accept")
      .add("session", number_)
      .add("id", envelope_.id)
      .add("client", client_address_)
      .add("from", envelope_.sender)
      .add("rcpts", static_cast<std::uint64_t>(envelope_.recipients.size()))
      .add("size", size);
  protocol_.resolve({250, "2.0.0", "Ok: queued as " + envelope_.id});

  spool::StoredMessage stored;
  if (auto ec = services_.spool.load(envelope_.id, stored)) {
    log::Event("internal_error", log::Level::error)
        .add("where", "spool.load")
        .add("id", envelope_.id)
        .add("error", ec.message());
    co_return;  // delivered after the next restart
  }
  services_.scheduler.enqueue(std::move(stored));
}

asio::awaitable<void> Session::run() {
  auto self = shared_from_this();
  log::Event("connect").add("session", number_).add("client", client_endpoint_);
  using Kind = smtp::ServerProtocol::Action::Kind;
  bool open = true;
  while (open) {
    auto action = protocol_.next();
    switch (action.kind) {
      case Kind::need_input:
        if (!co_await flush()) {
          open = false;
          break;
        }
        if (shutting_down_ && !protocol_.in_data()) {
          protocol_.terminate({421, "4.3.2", config_->server.hostname + " Service shutting down"});
          break;
        }
        co_await read_more();
        break;
      case Kind::mail:
        protocol_.resolve(handle_mail());
        break;
      case Kind::rcpt:
        protocol_.resolve({250, "2.1.5", "Ok"});
        break;
      case Kind::data_start:
        protocol_.resolve(handle_data_start());
        break;
      case Kind::data_chunk:
        writer_.write(action.data);  // a failure is sticky and reported by commit()
        break;
      case Kind::data_end:
        co_await handle_data_end(action);
        break;
      case Kind::close:
        co_await flush();
        open = false;
        break;
    }
    if (open && protocol_.pending_output() > max_pending_output && !co_await flush()) {
      open = false;
    }
  }
  writer_.abort();
  boost::system::error_code ignored;
  socket_.shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
  socket_.close(ignored);
  const auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(
                           std::chrono::steady_clock::now() - started_)
                           .count();
  log::Event("disconnect")
      .add("session", number_)
      .add("client", client_endpoint_)
      .add("messages", messages_)
      .add("ms", static_cast<std::int64_t>(elapsed));
}

}  // namespace policy_relay::server
