// The state machine core of smtp::ServerProtocol: input framing, DATA, decisions, errors.
// The command handlers are in server_commands.cpp.
#include "policy_relay/smtp/server_protocol.hpp"

#include <utility>

#include "policy_relay/smtp/line_break.hpp"

namespace policy_relay::smtp {
namespace {

using Kind = ServerProtocol::Action::Kind;

const Reply line_too_long{500, "5.5.2", "Line too long"};
const Reply too_many_errors{421, "4.7.0", "Too many errors"};
constexpr std::size_t kMaxAuthLine = 12288;

}  // namespace

ServerProtocol::ServerProtocol(Config config)
    : config_(std::move(config)),
      data_reader_({config_.max_message_size, config_.max_text_line, config_.data_chunk_size}),
      message_size_limit_(config_.max_message_size),
      tls_active_(config_.tls_active) {
  // RFC 5321 4.3.1; no enhanced code on the greeting (RFC 2034 3).
  queue({220, "", config_.hostname + " ESMTP policy-relay"});
}

void ServerProtocol::feed(std::string_view bytes) {
  if (state_ == State::closed) {
    return;
  }
  input_.erase(0, input_pos_);
  input_pos_ = 0;
  input_.append(bytes);
}

void ServerProtocol::end_of_input() {
  input_ended_ = true;
}

ServerProtocol::Action ServerProtocol::next() {
  for (;;) {
    if (state_ == State::closed) {
      return make_action(Kind::close);
    }
    if (pending_ != Pending::none) {
      return pending_action_;
    }
    if (state_ == State::data) {
      return step_data();
    }
    std::string_view line;
    const Framing framing = frame_command_line(line);
    if (framing == Framing::need_more) {
      if (input_ended_) {
        state_ = State::closed;  // a partial line at the end of input is discarded
        continue;
      }
      return make_action(Kind::need_input);
    }
    if (framing == Framing::line) {
      Action action = state_ == State::auth ? on_auth_response(line) : execute(line);
      if (action.kind != Kind::need_input) {
        return action;
      }
    }
  }
}

// Finds the next command line in the input. RFC 5321 2.3.8 allows only CRLF as a line end; a
// bare CR or LF is answered as Postfix does (smtpd_forbid_bare_newline): "521 5.5.2" and close,
// because a peer that sends them either is broken or tries SMTP smuggling (CVE-2023-51764),
// and guessing where its lines end could make us see commands it did not mean.
ServerProtocol::Framing ServerProtocol::frame_command_line(std::string_view& line) {
  if (discarding_long_line_ && !skip_long_line()) {
    return state_ == State::closed ? Framing::handled : Framing::need_more;
  }
  const std::string_view buffered = std::string_view(input_).substr(input_pos_);
  // RFC 5321 4.5.3.1.4, CRLF included; RFC 4954 4: a SASL response line may take 12288.
  const std::size_t limit = state_ == State::auth ? kMaxAuthLine : config_.max_command_line;
  const std::size_t end = find_line_break(buffered);
  const bool ends_with_cr =
      end != std::string_view::npos && end + 1 == buffered.size() && buffered[end] == '\r';
  if (end == std::string_view::npos || ends_with_cr) {
    // The shortest line this can still become: its CRLF (or LF) is yet to come.
    if (buffered.size() + (ends_with_cr ? 1 : 2) <= limit) {
      return Framing::need_more;
    }
    // Over the limit before its end: refuse now and drop the rest of the line unbuffered.
    input_pos_ = input_.size();
    discarding_long_line_ = true;
    discard_after_cr_ = ends_with_cr;
    refuse(line_too_long);
    return Framing::handled;
  }
  if (buffered[end] == '\n' || buffered[end + 1] != '\n') {
    close_with({521, "5.5.2", "Bare CR or LF received"});
    return Framing::handled;
  }
  input_pos_ += end + 2;
  if (end + 2 > limit) {
    refuse(line_too_long);
    return Framing::handled;
  }
  line = buffered.substr(0, end);
  return Framing::line;
}

// Drops the rest of an overlong command line up to its CRLF. False while it has not ended (all
// input consumed) or when a bare CR or LF closed the session.
bool ServerProtocol::skip_long_line() {
  while (input_pos_ < input_.size()) {
    const char c = input_[input_pos_];
    if (c == '\n' || discard_after_cr_) {
      if (c != '\n' || !discard_after_cr_) {
        close_with({521, "5.5.2", "Bare CR or LF received"});
        return false;
      }
      ++input_pos_;
      discarding_long_line_ = false;
      discard_after_cr_ = false;
      return true;
    }
    if (c == '\r') {
      discard_after_cr_ = true;
      ++input_pos_;
      continue;
    }
    const std::size_t end = find_line_break(input_, input_pos_);
    input_pos_ = end == std::string::npos ? input_.size() : end;
  }
  input_.clear();
  input_pos_ = 0;
  return false;
}

ServerProtocol::Action ServerProtocol::step_data() {
  const DataReader::Step step = data_reader_.consume(std::string_view(input_).substr(input_pos_));
  input_pos_ += step.consumed;
  switch (step.event) {
    case DataReader::Event::chunk: {
      Action action = make_action(Kind::data_chunk);
      action.data = data_reader_.chunk();
      return action;
    }
    case DataReader::Event::end:
      break;
    case DataReader::Event::need_input:
      if (input_ended_) {
        state_ = State::closed;  // the message never ended: no data_end
        return make_action(Kind::close);
      }
      return make_action(Kind::need_input);
  }
  state_ = State::command;
  message_size_ = data_reader_.message_size();
  Action action = make_action(Kind::data_end);
  action.outcome = data_reader_.outcome();
  switch (action.outcome) {
    case DataOutcome::ok:
      break;
    case DataOutcome::too_big:
      action.suggested = {
          552, "5.3.4",
          "Message size exceeds fixed limit of " + std::to_string(message_size_limit_) + " bytes"};
      break;
    case DataOutcome::bare_line_ending:
      action.suggested = {554, "5.6.0", "Message contains bare CR or LF"};
      break;
    case DataOutcome::line_too_long:
      action.suggested = line_too_long;
      break;
  }
  return wait_for(Pending::data_end, std::move(action));
}

ServerProtocol::Action ServerProtocol::wait_for(Pending pending, Action action) {
  pending_ = pending;
  pending_action_ = std::move(action);
  return pending_action_;
}

void ServerProtocol::resolve(const Reply& reply, bool count_as_error) {
  if (pending_ == Pending::none || state_ == State::closed) {
    return;
  }
  const Pending decided = std::exchange(pending_, Pending::none);
  Action action = std::exchange(pending_action_, Action{});
  queue(reply);
  switch (decided) {
    case Pending::mail:
      if (reply.positive()) {
        sender_ = std::move(action.argument.path);
        have_sender_ = true;
        body_type_ = pending_options_.body_type;
        smtputf8_ = pending_options_.smtputf8;
        declared_size_ = pending_options_.declared_size;
      }
      break;
    case Pending::rcpt:
      if (reply.positive()) {
        recipients_.push_back(std::move(action.argument.path));
      }
      break;
    case Pending::data_start:
      if (reply.code >= 300 && reply.code < 400) {
        state_ = State::data;
        data_reader_.set_max_message_size(message_size_limit_);
        data_reader_.start();
      }
      break;
    case Pending::data_end:
      reset_transaction();
      break;
    case Pending::auth:
      if (reply.code >= 200 && reply.code < 300) {
        authenticated_user_ = std::move(auth_user_candidate_);
      }
      auth_user_candidate_.clear();
      sasl_.reset();
      break;
    case Pending::starttls:  // ended by tls_started(), not by a reply
    case Pending::none:
      break;
  }
  if (reply.code == 421) {
    state_ = State::closed;
  } else if (count_as_error) {
    count_error();
  }
}

void ServerProtocol::tls_started() {
  if (pending_ != Pending::starttls) {
    return;
  }
  pending_ = Pending::none;
  pending_action_ = Action{};
  tls_active_ = true;
  input_.clear();
  input_pos_ = 0;
  discarding_long_line_ = false;
  discard_after_cr_ = false;
  helo_.clear();
  esmtp_ = false;
  reset_transaction();
}

void ServerProtocol::limit_message_size(std::uint64_t octets) {
  message_size_limit_ = octets;
}

void ServerProtocol::terminate(const Reply& reply) {
  if (state_ != State::closed) {
    close_with(reply);
  }
}

std::string ServerProtocol::take_output() {
  return std::exchange(output_, std::string());
}

bool ServerProtocol::in_data() const {
  return state_ == State::data;
}
bool ServerProtocol::in_transaction() const {
  return have_sender_;
}
bool ServerProtocol::awaiting_decision() const {
  return pending_ != Pending::none;
}
bool ServerProtocol::closed() const {
  return state_ == State::closed;
}

std::size_t ServerProtocol::buffered_octets() const {
  return input_.size() - input_pos_ + data_reader_.buffered_octets();
}

void ServerProtocol::queue(const Reply& reply) {
  output_ += reply.to_wire();
}

ServerProtocol::Action ServerProtocol::refuse(const Reply& reply, bool counts_as_error) {
  queue(reply);
  if (counts_as_error) {
    count_error();
  }
  return make_action(Kind::need_input);
}

ServerProtocol::Action ServerProtocol::make_action(Action::Kind kind) {
  Action action;
  action.kind = kind;
  return action;
}

void ServerProtocol::count_error() {
  ++errors_;
  if (config_.max_errors != 0 && errors_ >= config_.max_errors && state_ != State::closed) {
    close_with(too_many_errors);
  }
}

void ServerProtocol::close_with(const Reply& reply) {
  queue(reply);
  state_ = State::closed;
  pending_ = Pending::none;
  pending_action_ = Action{};
}

void ServerProtocol::reset_transaction() {
  have_sender_ = false;
  sender_ = Path{};
  recipients_.clear();
  body_type_.clear();
  smtputf8_ = false;
  declared_size_ = 0;
  message_size_limit_ = config_.max_message_size;
}

}  // namespace policy_relay::smtp
