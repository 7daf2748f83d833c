#include "policy_relay/smtp/data_reader.hpp"

#include <algorithm>

#include "policy_relay/smtp/line_break.hpp"

namespace policy_relay::smtp {

void DataReader::start() {
  position_ = Position::line_start;
  outcome_ = DataOutcome::ok;
  chunk_.clear();
  emitted_ = 0;
  complete_lines_ = 0;
  line_length_ = 0;
  message_size_ = 0;
}

DataReader::Step DataReader::consume(std::string_view input) {
  chunk_.erase(0, emitted_);
  complete_lines_ = complete_lines_ > emitted_ ? complete_lines_ - emitted_ : 0;
  emitted_ = 0;

  std::size_t at = 0;
  while (position_ != Position::finished) {
    if (chunk_.size() >= limits_.chunk_size) {
      return emit(limits_.chunk_size, at);
    }
    if (at == input.size()) {
      break;
    }
    const char c = input[at];
    switch (position_) {
      case Position::line_start:
        if (c == '.') {
          ++at;  // RFC 5321 4.5.2: the leading dot is removed
          position_ = Position::after_dot;
        } else {
          position_ = Position::in_line;
        }
        break;
      case Position::after_dot:
        if (c == '\r') {
          ++at;
          position_ = Position::after_dot_cr;
        } else {
          position_ = Position::in_line;
        }
        break;
      case Position::after_dot_cr:
        if (c == '\n') {
          ++at;
          position_ = Position::finished;  // <CRLF>.<CRLF>
        } else {
          flag(DataOutcome::bare_line_ending);
          append_text("\r");
          position_ = Position::in_line;
        }
        break;
      case Position::in_line:
        if (c == '\r') {
          ++at;
          position_ = Position::after_cr;
        } else if (c == '\n') {
          ++at;
          flag(DataOutcome::bare_line_ending);
          append_text("\n");
        } else {
          const std::size_t end = std::min(find_line_break(input, at), input.size());
          std::size_t length = end - at;
          if (outcome_ == DataOutcome::ok) {
            length = std::min(length, limits_.chunk_size - chunk_.size());
          }
          append_text(input.substr(at, length));
          at += length;
        }
        break;
      case Position::after_cr:
        if (c == '\n') {
          ++at;
          append_line_end();
          position_ = Position::line_start;
        } else {
          flag(DataOutcome::bare_line_ending);
          append_text("\r");
          position_ = Position::in_line;
        }
        break;
      case Position::finished:
        break;
    }
  }
  if (position_ == Position::finished) {
    if (!chunk_.empty()) {
      return emit(std::min(chunk_.size(), limits_.chunk_size), at);
    }
    return {at, Event::end};
  }
  if (complete_lines_ > 0) {
    return emit(complete_lines_, at);
  }
  return {at, Event::need_input};
}

DataReader::Step DataReader::emit(std::size_t length, std::size_t consumed) {
  emitted_ = length;
  return {consumed, Event::chunk};
}

void DataReader::append_text(std::string_view octets) {
  message_size_ += octets.size();
  line_length_ += octets.size();
  // RFC 5321 4.5.3.1.6: the limit counts the CRLF that must still follow.
  if (line_length_ + 2 > limits_.max_text_line) {
    flag(DataOutcome::line_too_long);
  }
  if (message_size_ > limits_.max_message_size) {
    flag(DataOutcome::too_big);
  }
  if (outcome_ == DataOutcome::ok) {
    chunk_.append(octets);
  }
}

void DataReader::append_line_end() {
  message_size_ += 2;
  line_length_ = 0;
  if (message_size_ > limits_.max_message_size) {
    flag(DataOutcome::too_big);
  }
  if (outcome_ == DataOutcome::ok) {
    chunk_ += "\r\n";
    complete_lines_ = chunk_.size();
  }
}

// The first problem decides the outcome; from then on nothing is stored.
void DataReader::flag(DataOutcome outcome) {
  if (outcome_ != DataOutcome::ok) {
    return;
  }
  outcome_ = outcome;
  chunk_.clear();
  complete_lines_ = 0;
}

}  // namespace policy_relay::smtp
