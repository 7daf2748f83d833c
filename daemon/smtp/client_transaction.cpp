#include <algorithm>
#include <utility>

#include "policy_relay/smtp/client_protocol.hpp"

// The transaction half of ClientProtocol: one message's commands and the replies to them
// (RFC 5321 3.3, RFC 2920 for the pipelined group). The session half is client_protocol.cpp.
namespace policy_relay::smtp {

namespace {

Reply make_reply(int code, std::string_view enhanced, std::string text) {
  return Reply{code, std::string(enhanced), std::move(text)};
}

bool is_2xx(const Reply& reply) {
  return reply.code >= 200 && reply.code < 300;
}

// The envelope promises these never occur; checking them here keeps command injection out
// even if that promise is broken.
bool safe_in_command(std::string_view address) {
  return address.find_first_of(std::string_view("\r\n\0", 3)) == std::string_view::npos &&
         address.size() <= 256;
}

}  // namespace

void ClientProtocol::on_transaction_reply(const Pending& command, const Reply& reply) {
  if (command.command != Command::rset) {
    ++message_replies_;
  }
  switch (command.command) {
    case Command::rset:
      if (!is_2xx(reply)) {
        std::string what = "Upstream refused RSET: " + describe(reply);
        close_with_failure(make_reply(451, "4.4.1", what), what);
      }
      return;
    case Command::mail:
      if (!is_2xx(reply)) {
        mail_refused_ = true;
        std::fill(results_.begin(), results_.end(), reply);
      }
      return;
    case Command::rcpt:
      ++rcpt_replies_;
      if (mail_refused_) {
        return;
      }
      if (is_2xx(reply)) {
        ++accepted_;
      } else {
        results_[command.recipient] = reply;
      }
      return;
    case Command::data:
      if (reply.code == 354) {
        if (mail_refused_ || accepted_ == 0) {
          // RFC 2920 3.1: DATA must fail without valid recipients; if this server accepted it
          // anyway, end the data at once so that nothing is delivered.
          output_ += ".\r\n";
          in_flight_.push_back(Pending{Command::empty_data});
        } else {
          phase_ = Phase::body;
        }
      } else if (!mail_refused_) {
        give_unanswered(reply);
      }
      return;
    case Command::empty_data:
      return;
    case Command::end_of_data:
      phase_ = Phase::transaction;
      if (is_2xx(reply)) {
        final_reply_ = reply;
      }
      give_unanswered(reply);
      return;
    default:
      return;
  }
}

void ClientProtocol::give_unanswered(const Reply& reply) {
  for (Reply& result : results_) {
    if (result.code == 0) {
      result = reply;
    }
  }
}

bool ClientProtocol::transaction_complete() const {
  return phase_ == Phase::transaction && in_flight_.empty() && unsent_.empty();
}

void ClientProtocol::finish_message(Action& action) {
  give_unanswered(make_reply(451, "4.3.0", "No reply from the upstream for this recipient"));
  phase_ = Phase::ready;
  action.kind = Action::Kind::message_done;
  if (parser_.buffered() > 0) {
    // More replies than commands: the results stand, but the session cannot be trusted.
    phase_ = Phase::closed;
    failure_ = "Upstream protocol error: unexpected reply";
  }
}

bool ClientProtocol::skip_unsent(const Pending& pending) const {
  if (pending.command == Command::rcpt) {
    return mail_refused_;
  }
  if (pending.command == Command::data) {
    return mail_refused_ || (rcpt_replies_ == message_.recipients.size() && accepted_ == 0);
  }
  return false;
}

void ClientProtocol::send_ready_commands() {
  const std::size_t window =
      extensions_.pipelining ? std::max<std::size_t>(1, config_.pipelining_window) : 1;
  while (!unsent_.empty() && in_flight_.size() < window) {
    Pending pending = std::move(unsent_.front());
    unsent_.pop_front();
    if (skip_unsent(pending)) {
      continue;
    }
    output_ += pending.line;
    output_ += "\r\n";
    in_flight_.push_back(std::move(pending));
  }
}

void ClientProtocol::refuse_message(const Reply& reply) {
  std::fill(results_.begin(), results_.end(), reply);
  message_done_pending_ = true;
}

void ClientProtocol::start_message(Message message) {
  if (phase_ != Phase::ready) {
    return;
  }
  message_ = std::move(message);
  results_.assign(message_.recipients.size(), Reply{});
  final_reply_ = Reply{};
  mail_refused_ = false;
  rcpt_replies_ = 0;
  accepted_ = 0;
  message_replies_ = 0;

  if (!safe_in_command(message_.sender)) {
    refuse_message(make_reply(550, "5.1.7", "Invalid sender address"));
    return;
  }
  if (message_.requires_smtputf8 && !extensions_.smtputf8) {
    refuse_message(make_reply(550, "5.6.7",
                              "The upstream does not support SMTPUTF8, which "
                              "the addresses of this message require"));
    return;
  }
  if (extensions_.size && extensions_.size_limit > 0 && message_.size > extensions_.size_limit) {
    // RFC 1870 6.1: a message over the server's fixed limit is a permanent failure.
    refuse_message(make_reply(552, "5.3.4",
                              "Message size exceeds the upstream's fixed maximum message size (" +
                                  std::to_string(extensions_.size_limit) + " octets)"));
    return;
  }
  std::vector<Pending> rcpts;
  for (std::size_t i = 0; i < message_.recipients.size(); ++i) {
    if (safe_in_command(message_.recipients[i])) {
      rcpts.push_back(Pending{Command::rcpt, i, "RCPT TO:<" + message_.recipients[i] + ">"});
    } else {
      results_[i] = make_reply(550, "5.1.3", "Invalid recipient address");
      ++rcpt_replies_;
    }
  }
  if (rcpts.empty()) {
    message_done_pending_ = true;
    return;
  }

  std::string mail = "MAIL FROM:<" + message_.sender + ">";
  if (extensions_.size) {
    mail += " SIZE=" + std::to_string(message_.size);  // RFC 1870 6
  }
  if (message_.eightbitmime && extensions_.eightbitmime) {
    mail += " BODY=8BITMIME";  // RFC 6152 2
  }
  if (message_.smtputf8 && extensions_.smtputf8) {
    mail += " SMTPUTF8";  // RFC 6531 3.4
  }
  phase_ = Phase::transaction;
  if (used_) {
    unsent_.push_back(Pending{Command::rset, 0, "RSET"});
  }
  used_ = true;
  unsent_.push_back(Pending{Command::mail, 0, std::move(mail)});
  for (Pending& rcpt : rcpts) {
    unsent_.push_back(std::move(rcpt));
  }
  unsent_.push_back(Pending{Command::data, 0, "DATA"});  // RFC 2920 3.1: last in the group
  send_ready_commands();
}

void ClientProtocol::body_sent() {
  if (phase_ != Phase::body) {
    return;
  }
  phase_ = Phase::final_reply;
  in_flight_.push_back(Pending{Command::end_of_data});
}

}  // namespace policy_relay::smtp
