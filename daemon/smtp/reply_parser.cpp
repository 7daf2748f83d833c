#include "policy_relay/smtp/reply_parser.hpp"

#include <algorithm>

namespace policy_relay::smtp {

namespace {

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

// "DDD" with D1 in 2-5 and D2 in 0-5 (RFC 5321 4.2: the theory of reply codes); 0 when not.
int parse_code(std::string_view line) {
  if (line.size() < 3 || !is_digit(line[0]) || !is_digit(line[1]) || !is_digit(line[2])) {
    return 0;
  }
  if (line[0] < '2' || line[0] > '5' || line[1] > '5') {
    return 0;
  }
  return (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
}

std::size_t digit_run(std::string_view text, std::size_t from) {
  std::size_t n = 0;
  while (from + n < text.size() && is_digit(text[from + n])) {
    ++n;
  }
  return n;
}

}  // namespace

std::string_view describe(ReplyError error) {
  switch (error) {
    case ReplyError::none:
      return "no error";
    case ReplyError::need_more:
      return "incomplete reply";
    case ReplyError::line_too_long:
      return "reply line too long";
    case ReplyError::too_many_lines:
      return "too many reply lines";
    case ReplyError::malformed:
      return "malformed reply";
    case ReplyError::inconsistent:
      return "inconsistent multi-line reply codes";
  }
  return "unknown reply error";
}

std::string describe(const Reply& reply) {
  std::string line = std::to_string(reply.code);
  if (!reply.enhanced.empty()) {
    line += ' ';
    line += reply.enhanced;
  }
  if (!reply.text.empty()) {
    line += ' ';
    for (const char c : reply.text) {
      if (c == '\n') {
        line += "; ";
      } else {
        line += c;
      }
    }
  }
  return line;
}

std::size_t enhanced_code_length(int code, std::string_view text) {
  if (text.size() < 5 || text[0] != static_cast<char>('0' + code / 100) || text[1] != '.') {
    return 0;
  }
  if (text[0] != '2' && text[0] != '4' && text[0] != '5') {
    return 0;
  }
  const std::size_t subject = digit_run(text, 2);
  if (subject < 1 || subject > 3 || 2 + subject >= text.size() || text[2 + subject] != '.') {
    return 0;
  }
  const std::size_t detail_at = 3 + subject;
  const std::size_t detail = digit_run(text, detail_at);
  if (detail < 1 || detail > 3) {
    return 0;
  }
  const std::size_t length = detail_at + detail;
  if (length < text.size() && text[length] != ' ') {
    return 0;
  }
  return length;
}

void ReplyParser::feed(std::string_view bytes) {
  if (position_ > 0 && position_ == buffer_.size()) {
    buffer_.clear();
    position_ = 0;
  }
  buffer_.append(bytes);
}

ReplyError ReplyParser::next(Reply& out) {
  if (error_ != ReplyError::none) {
    return error_;
  }
  const std::string_view input = std::string_view(buffer_).substr(position_);
  std::size_t cursor = 0;
  std::size_t lines = 0;
  int code = 0;
  Reply reply;
  for (;;) {
    const std::size_t newline = input.find('\n', cursor);
    if (newline == std::string_view::npos) {
      if (input.size() - cursor >= config_.max_line) {
        error_ = ReplyError::line_too_long;
        return error_;
      }
      return ReplyError::need_more;
    }
    if (newline + 1 - cursor > config_.max_line) {
      error_ = ReplyError::line_too_long;
      return error_;
    }
    std::string_view line = input.substr(cursor, newline - cursor);
    cursor = newline + 1;
    if (!line.empty() && line.back() == '\r') {
      line.remove_suffix(1);
    }
    ++lines;
    const int line_code = parse_code(line);
    if (line_code == 0 || (line.size() > 3 && line[3] != ' ' && line[3] != '-')) {
      error_ = ReplyError::malformed;
      return error_;
    }
    if (code != 0 && line_code != code) {
      error_ = ReplyError::inconsistent;
      return error_;
    }
    code = line_code;
    std::string_view text = line.size() > 4 ? line.substr(4) : std::string_view();
    if (lines == 1) {
      reply.code = code;
      if (const std::size_t n = enhanced_code_length(code, text); n > 0) {
        reply.enhanced.assign(text.substr(0, n));
      }
    } else {
      reply.text += '\n';
    }
    if (!reply.enhanced.empty() && text.substr(0, reply.enhanced.size()) == reply.enhanced &&
        enhanced_code_length(code, text) == reply.enhanced.size()) {
      text.remove_prefix(std::min(text.size(), reply.enhanced.size() + 1));
    }
    reply.text.append(text);
    const bool last = line.size() <= 3 || line[3] == ' ';
    if (last) {
      break;
    }
    if (lines >= config_.max_lines) {  // a further line is coming: fail before buffering it
      error_ = ReplyError::too_many_lines;
      return error_;
    }
  }
  position_ += cursor;
  if (position_ == buffer_.size()) {
    buffer_.clear();
    position_ = 0;
  } else if (position_ > 4096) {
    buffer_.erase(0, position_);
    position_ = 0;
  }
  out = std::move(reply);
  return ReplyError::none;
}

}  // namespace policy_relay::smtp
