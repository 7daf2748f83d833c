#include "policy_relay/server/session.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <ctime>
#include <tuple>

#include "policy_relay/auth/network_list.hpp"
#include "policy_relay/delivery/scheduler.hpp"
#include "policy_relay/log/log.hpp"
#include "policy_relay/mime/message_scanner.hpp"
#include "policy_relay/server/advice_notifier.hpp"
#include "policy_relay/server/received_header.hpp"
#include "policy_relay/version.hpp"
#include "session_stream.hpp"

namespace asio = boost::asio;
using namespace boost::asio::experimental::awaitable_operators;

namespace policy_relay::server {

namespace {

constexpr auto as_tuple_awaitable = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t max_pending_output = 16 * 1024;  // flush before processing more input
constexpr std::size_t kAdviceRecordSpace = 512;        // two advice headers fit in 300

// The protocol's bounds admit the largest limit any sender has (exceptions included); the
// policy then holds each sender to its own. With the policy chain on, the recipient bound is
// one more than that, so the first recipient over a sender's limit gets the policy's logged
// reply; with it off, the protocol's bound is the limit.
smtp::ServerProtocol::Config protocol_config(const config::Config& config,
                                             const SessionServices& services, bool implicit_tls) {
  const policy::Engine& policy = services.policy;
  smtp::ServerProtocol::Config protocol;
  protocol.starttls = services.tls != nullptr && !implicit_tls;
  protocol.tls_active = implicit_tls;
  protocol.auth = services.authenticator != nullptr;
  protocol.hostname = config.server.hostname;
  protocol.max_message_size = policy.senders().largest_message_size();
  protocol.max_recipients = policy.senders().largest_recipient_count() + (policy.enabled() ? 1 : 0);
  protocol.refuse_declared_size = !policy.enabled();
  protocol.max_errors = config.server.max_errors;
  return protocol;
}

std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

Session::Session(asio::ip::tcp::socket socket, ClientEndpoint client, config::ConfigPtr config,
                 SessionServices& services, std::uint64_t number, bool implicit_tls,
                 std::shared_ptr<const void> owner)
    : owner_(std::move(owner)),
      stream_(std::make_unique<SessionStream>(std::move(socket))),
      timer_(stream_->socket().get_executor()),
      config_(std::move(config)),
      services_(services),
      number_(number),
      client_address_(std::move(client.address)),
      client_endpoint_(std::move(client.endpoint)),
      via_(std::move(client.via)),
      protocol_(protocol_config(*config_, services, implicit_tls)),
      policy_(services.policy, number, client_address_, services.standing, services.activity),
      started_(std::chrono::steady_clock::now()),
      implicit_tls_(implicit_tls),
      trusted_(services.trusted_networks != nullptr &&
               services.trusted_networks->contains(client_address_)) {
  boost::system::error_code ec;
  stream_->socket().set_option(asio::ip::tcp::no_delay(true), ec);
}

Session::~Session() = default;

std::chrono::milliseconds Session::current_timeout() const {
  return protocol_.in_data() ? config_->server.data_timeout : config_->server.command_timeout;
}

void Session::request_shutdown() {
  shutting_down_ = true;
  if (reading_ && !protocol_.in_data()) {
    boost::system::error_code ignored;
    stream_->socket().cancel(ignored);  // the read ends with operation_aborted; run() sends the 421
  }
}

void Session::force_close() {
  boost::system::error_code ignored;
  stream_->socket().close(ignored);
}

asio::awaitable<bool> Session::flush() {
  std::string output = protocol_.take_output();
  if (output.empty()) {
    co_return true;
  }
  timer_.expires_after(config_->server.command_timeout);
  auto result =
      co_await (stream_->write(asio::buffer(output)) || timer_.async_wait(as_tuple_awaitable));
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
  if (!read_buffer_) {
    read_buffer_ = services_.read_buffers ? services_.read_buffers->take()
                                          : util::BufferPool::create(kReadBufferSize, 0)->take();
  }
  timer_.expires_after(current_timeout());
  reading_ = true;
  auto result =
      co_await (stream_->read_some(asio::buffer(read_buffer_.data(), read_buffer_.size())) ||
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
  PolicyGate::log_refusal(number_, client_address_, policy_.sender(), reply, rule, clause);
}

asio::awaitable<void> Session::handle_mail(const smtp::ServerProtocol::Action& action) {
  policy_.reset();  // a MAIL ends what RSET or EHLO ended in the protocol
  if (!services_.spool.has_free_space()) {
    smtp::Reply reply{452, "4.3.1", "Insufficient system storage"};
    PolicyGate::log_refusal(number_, client_address_, action.argument.path.address, reply,
                            "min_free_space", "");
    protocol_.resolve(reply);
    co_return;
  }
  if (auto refusal = authentication_refusal(action.argument.path.address)) {
    protocol_.resolve(*refusal, /*count_as_error=*/true);
    co_return;
  }
  const smtp::Reply reply = co_await policy_.on_mail(action);
  // A 5xx from the policy counts toward max_errors: a client that keeps trying a refused
  // sender is disconnected like one that keeps sending bad commands.
  protocol_.resolve(reply, reply.permanent());
  if (reply.positive()) {
    protocol_.limit_message_size(policy_.max_message_size());
  }
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
  // Room for X-Policy-Relay-Advice records, rewritten in place at the end of DATA.
  const std::size_t reserve = services_.policy.may_add_headers() ? kAdviceRecordSpace : 0;
  if (auto ec = services_.spool.open(envelope_, writer_, reserve)) {
    smtp::Reply reply{451, "4.3.0", "Local error in processing: cannot store the message"};
    log::Event("internal_error", log::Level::error)
        .add("where", "spool.open")
        .add("error", ec.message());
    log_refusal(reply, "spool", "");
    return reply;
  }
  writer_.write(received_header(envelope_, config_->server.hostname,
                                {.esmtp = protocol_.esmtp(),
                                 .tls = protocol_.tls_active(),
                                 .authenticated = !protocol_.authenticated_user().empty()}));
  return {354, "", "End data with <CR><LF>.<CR><LF>"};
}

asio::awaitable<void> Session::handle_data_end(const smtp::ServerProtocol::Action& action) {
  using Outcome = smtp::ServerProtocol::DataOutcome;
  if (action.outcome != Outcome::ok) {
    writer_.abort();
    if (action.outcome == Outcome::too_big) {
      protocol_.resolve(policy_.message_too_big());  // POLICY VI.1, in the catalog's words
    } else {
      log_refusal(action.suggested,
                  action.outcome == Outcome::line_too_long ? "line_length" : "bare_line_ending",
                  "");
      protocol_.resolve(action.suggested);
    }
    policy_.reset();
    co_return;
  }
  if (auto refusal = co_await policy_.on_data_end(protocol_.message_size())) {
    writer_.abort();
    protocol_.resolve(*refusal, refusal->permanent());
    policy_.reset();
    co_return;
  }
  if (policy_.needs_analysis()) {
    if (auto refusal = co_await analyse_message()) {
      writer_.abort();
      protocol_.resolve(*refusal, refusal->permanent());
      policy_.reset();
      co_return;
    }
  }
  const std::uint64_t size = writer_.body_size();
  if (!co_await commit_message()) {
    policy_.reset();
    co_return;
  }
  ++messages_;
  {
    log::Event accept("accept");
    accept.add("session", number_)
        .add("id", envelope_.id)
        .add("client", client_address_)
        .add("from", envelope_.sender)
        .add("rcpts", static_cast<std::uint64_t>(envelope_.recipients.size()))
        .add("size", size);
    policy_.describe_accept(accept);
  }
  policy_.log_quota_warnings();
  after_accept();
  policy_.accepted();
  policy_.reset();
  protocol_.resolve({250, "2.0.0", "Ok: queued as " + envelope_.id});

  services_.scheduler.enqueue(services_.spool.committed(envelope_, writer_));
}

// Issue 5: the message rules read the message as the spool holds it, before the final reply.
// The scan streams the spool file once (MessageWriter::read_back) and holds no body. It goes in
// slices of kAnalysisSlice octets with a turn of the event loop between them: a 25 MiB
// multipart message takes tens of milliseconds to scan, which other sessions must not wait
// for. Advice headers go into the record the spool reserved, so the delivered copy carries them.
asio::awaitable<std::optional<smtp::Reply>> Session::analyse_message() {
  mime::MessageScanner scanner;
  const auto feed = [&scanner](std::string_view octets) { scanner.feed(octets); };
  const auto executor = co_await asio::this_coro::executor;
  std::uint64_t position = 0;
  for (;;) {
    std::uint64_t next = 0;
    if (auto ec = writer_.read_back(feed, position, kAnalysisSlice, next)) {
      // The commit would fail the same way; let it give the client its 451.
      log::Event("internal_error", log::Level::error)
          .add("where", "analysis.read")
          .add("error", ec.message());
      co_return std::nullopt;
    }
    if (next >= writer_.body_size()) {
      break;
    }
    position = next;
    co_await asio::post(executor, asio::use_awaitable);
  }
  const mime::MessageAnalysis analysis = scanner.finish();
  auto refusal = co_await policy_.on_message(analysis);
  if (refusal) {
    co_return refusal;
  }
  std::vector<std::string> headers = policy_.advice_headers();
  if (!headers.empty()) {
    if (auto ec = writer_.set_added_headers(headers)) {
      log::Event("internal_error", log::Level::error)
          .add("where", "advice.header")
          .add("error", ec.message());
    } else {
      envelope_.added_headers = std::move(headers);
    }
  }
  co_return std::nullopt;
}

// The accepted message's advice: logged, and the notices sent (POLICY VI.11, VI.12).
void Session::after_accept() {
  policy_.log_advice(envelope_.id);
  if (services_.notifier == nullptr) {
    return;
  }
  const policy::Catalog& catalog = services_.policy.catalog();
  for (const policy::Advice& advice : policy_.advice()) {
    if (advice.action == config::AdviceAction::notify && !advice.notice.empty()) {
      services_.notifier->notify(advice.rule, policy_.identity(), envelope_.sender, envelope_.id,
                                 catalog.notice_subject(), advice.notice);
    }
  }
}

// DESIGN.md "Delivery semantics": the 250 waits until the message is in the spool and the
// counts it consumed are durable. Both syncs run at once (a counts commit that is only a
// journal write follows the spool's instead: nothing to overlap); if the counts fail after the
// message was committed, the message is taken back out of the spool before anyone delivers it.
// On failure the client has its 451 (resolved here) and false is returned.
asio::awaitable<bool> Session::commit_message() {
  const auto executor = co_await asio::this_coro::executor;
  std::error_code spool_error;
  std::error_code counters_error;
  if (policy_.needs_commit() && policy_.commit_is_local_write()) {
    spool_error = co_await services_.spool.commit(writer_, executor);
    if (!spool_error) {
      counters_error = co_await policy_.commit();
    }
  } else if (policy_.needs_commit()) {
    std::tie(spool_error, counters_error) =
        co_await (services_.spool.commit(writer_, executor) && policy_.commit());
  } else {
    spool_error = co_await services_.spool.commit(writer_, executor);
  }
  if (!spool_error && !counters_error) {
    co_return true;
  }
  const std::error_code error = spool_error ? spool_error : counters_error;
  if (!spool_error) {
    services_.spool.remove(envelope_.id);  // never acknowledged, never enqueued
  }
  smtp::Reply reply{451, "4.3.0", "Local error in processing: message not queued"};
  log::Event("internal_error", log::Level::error)
      .add("where", spool_error ? "spool.commit" : "counters.commit")
      .add("error", error.message());
  log_refusal(reply, spool_error ? "spool" : "counters", "");
  protocol_.resolve(reply);
  co_return false;
}

asio::awaitable<void> Session::run() {
  auto self = shared_from_this();
  {
    log::Event connect("connect");
    connect.add("session", number_)
        .add("client", client_endpoint_)
        .add("tls", implicit_tls_)
        .add("trusted", trusted_);
    if (!via_.empty()) {
      connect.add("via", via_);  // the proxy that named the client (server.proxy_protocol)
    }
  }
  using Kind = smtp::ServerProtocol::Action::Kind;
  bool open = !implicit_tls_ || co_await start_tls();
  while (open) {
    auto action = protocol_.next();
    switch (action.kind) {
      case Kind::need_input:
        if (policy_.active() && !protocol_.in_transaction()) {
          policy_.reset();  // RSET or EHLO ended the transaction inside the protocol
        }
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
        co_await handle_mail(action);
        break;
      case Kind::rcpt:
        protocol_.resolve(co_await policy_.on_rcpt(action.argument.path));
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
      case Kind::starttls:
        open = co_await flush();  // the 220 goes out in plaintext, then the handshake
        if (open) {
          open = co_await start_tls();
        }
        break;
      case Kind::auth:
        co_await handle_auth();
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
  policy_.reset();
  // close(2) alone sends the FIN (a shutdown() first would only fail with ENOTCONN when the
  // client hung up first, as most do after QUIT).
  boost::system::error_code ignored;
  co_await close_tls();
  stream_->socket().close(ignored);
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
