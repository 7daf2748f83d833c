#include "policy_relay/smtp/client_protocol.hpp"

#include <utility>

// The session half of ClientProtocol: greeting, EHLO/HELO, reply dispatch, failures, QUIT.
// The transaction half is client_transaction.cpp.
namespace policy_relay::smtp {

namespace {

Reply make_reply(int code, std::string_view enhanced, std::string text) {
  return Reply{code, std::string(enhanced), std::move(text)};
}

bool is_2xx(const Reply& reply) {
  return reply.code >= 200 && reply.code < 300;
}

}  // namespace

ClientProtocol::ClientProtocol(Config config)
    : config_(std::move(config)), parser_(config_.replies), tls_active_(config_.tls_active) {
  in_flight_.push_back(Pending{Command::greeting});
}

void ClientProtocol::feed(std::string_view bytes) {
  parser_.feed(bytes);
}

void ClientProtocol::end_of_input() {
  if (phase_ == Phase::quit) {
    phase_ = Phase::closed;
    return;
  }
  if (phase_ != Phase::closed) {
    std::string what = "Upstream closed the connection";
    if (!in_flight_.empty()) {
      what += " while we waited for the reply to ";
      what += awaiting();
    }
    close_with_failure(make_reply(451, "4.4.1", what), what);
  }
}

std::string ClientProtocol::take_output() {
  return std::exchange(output_, std::string());
}

std::string_view ClientProtocol::awaiting() const {
  if (in_flight_.empty()) {
    return phase_ == Phase::body ? "message body" : "nothing";
  }
  switch (in_flight_.front().command) {
    case Command::greeting:
      return "greeting";
    case Command::ehlo:
      return "EHLO";
    case Command::helo:
      return "HELO";
    case Command::rset:
      return "RSET";
    case Command::mail:
      return "MAIL";
    case Command::rcpt:
      return "RCPT";
    case Command::data:
      return "DATA";
    case Command::empty_data:
    case Command::end_of_data:
      return "end of data";
    case Command::quit:
      return "QUIT";
    case Command::starttls:
      return "STARTTLS";
    case Command::auth:
      return "AUTH";
  }
  return "reply";
}

ClientProtocol::Action ClientProtocol::next() {
  Action action;
  if (message_done_pending_) {
    message_done_pending_ = false;
    action.kind = Action::Kind::message_done;
    return action;
  }
  for (;;) {
    if (phase_ == Phase::closed) {
      action.kind = Action::Kind::closed;
      return action;
    }
    if (phase_ == Phase::body) {
      action.kind = Action::Kind::send_body;
      return action;
    }
    if (phase_ == Phase::handshake) {
      action.kind = Action::Kind::start_tls;
      return action;
    }
    if (phase_ == Phase::ready && in_flight_.empty()) {
      if (parser_.buffered() > 0) {
        close_with_failure(make_reply(451, "4.4.1", "Upstream protocol error: unexpected reply"),
                           "Upstream protocol error: unexpected reply");
        continue;
      }
      action.kind = Action::Kind::ready;
      return action;
    }
    send_ready_commands();
    Reply reply;
    const ReplyError error = parser_.next(reply);
    if (error == ReplyError::need_more) {
      action.kind = Action::Kind::need_input;
      return action;
    }
    if (error != ReplyError::none || in_flight_.empty()) {
      std::string what = "Upstream protocol error: ";
      what += error != ReplyError::none ? describe(error) : "unexpected reply";
      close_with_failure(make_reply(451, "4.4.1", what), what);
      continue;
    }
    const Pending command = std::move(in_flight_.front());
    in_flight_.pop_front();
    if (on_reply(command, reply, action)) {
      return action;
    }
  }
}

bool ClientProtocol::on_reply(const Pending& command, const Reply& reply, Action& action) {
  if (command.command == Command::quit) {
    phase_ = Phase::closed;  // whatever the answer: the session is over (RFC 5321 4.1.1.10)
    return false;
  }
  if (reply.code == 421) {  // RFC 5321 3.8: the server is closing the transmission channel
    std::string what = "Upstream closed the session: " + describe(reply);
    close_with_failure(make_reply(451, "4.4.1", what), what);
    return false;
  }
  switch (command.command) {
    case Command::greeting:
      if (!is_2xx(reply)) {
        std::string what = "Upstream refused the session: " + describe(reply);
        close_with_failure(make_reply(451, "4.4.1", what), what);
        return false;
      }
      phase_ = Phase::ehlo;
      unsent_.push_back(Pending{Command::ehlo, 0, "EHLO " + config_.helo_hostname});
      return false;
    case Command::ehlo:
    case Command::helo:
      on_ehlo_reply(reply);
      return false;
    case Command::starttls:
      on_starttls_reply(reply);
      return false;
    case Command::auth:
      on_auth_reply(reply);
      return false;
    default:
      break;
  }
  on_transaction_reply(command, reply);
  if (phase_ == Phase::body) {
    action.kind = Action::Kind::send_body;
    return true;
  }
  if (phase_ == Phase::closed) {
    return false;
  }
  send_ready_commands();
  if (transaction_complete()) {
    finish_message(action);
    return true;
  }
  return false;
}

void ClientProtocol::on_ehlo_reply(const Reply& reply) {
  if (is_2xx(reply)) {
    extensions_ = phase_ == Phase::ehlo ? parse_ehlo_extensions(reply.text) : Extensions{};
    after_ehlo();
    return;
  }
  // RFC 5321 3.2: a server that does not support EHLO answers it with a 5xx; try HELO.
  if (phase_ == Phase::ehlo && reply.permanent()) {
    phase_ = Phase::helo;
    unsent_.push_back(Pending{Command::helo, 0, "HELO " + config_.helo_hostname});
    return;
  }
  std::string what = std::string("Upstream refused ") + (phase_ == Phase::ehlo ? "EHLO" : "HELO") +
                     ": " + describe(reply);
  close_with_failure(make_reply(451, "4.4.1", what), what);
}

void ClientProtocol::close_with_failure(const Reply& reply, std::string what) {
  if (phase_ == Phase::closed) {
    return;
  }
  if (message_in_progress()) {
    std::fill(results_.begin(), results_.end(), reply);
    final_reply_ = Reply{};
  }
  failure_ = std::move(what);
  phase_ = Phase::closed;
  unsent_.clear();
  in_flight_.clear();
  output_.clear();
}

void ClientProtocol::fail(const Reply& reply) {
  close_with_failure(reply, describe(reply));
}

void ClientProtocol::fail(std::string_view what) {
  close_with_failure(make_reply(451, "4.4.1", std::string(what)), std::string(what));
}

void ClientProtocol::quit() {
  if (phase_ != Phase::ready || message_done_pending_) {
    return;
  }
  phase_ = Phase::quit;
  output_ += "QUIT\r\n";
  in_flight_.push_back(Pending{Command::quit});
}

}  // namespace policy_relay::smtp
