#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "policy_relay/smtp/reply.hpp"

namespace policy_relay::smtp {

enum class ReplyError {
  none,
  need_more,       // no complete reply buffered yet
  line_too_long,   // a reply line over max_line octets (RFC 5321 4.5.3.1.5)
  too_many_lines,  // a multi-line reply over max_lines lines
  malformed,       // not "DDD[ -]text": bad code, bad separator
  inconsistent,    // the lines of one multi-line reply carry different codes (RFC 5321 4.2.1)
};

// Human text for a ReplyError, for "451 4.4.1 Upstream protocol error: ..." results.
std::string_view describe(ReplyError error);

// Assembles SMTP replies from the bytes a server sends (RFC 5321 4.2, multi-line replies
// 4.2.1, enhanced status codes RFC 2034 / RFC 3463). Pure: bytes in, Reply values out.
// Lines end with CRLF; a bare LF is tolerated as a line end (the CR is dropped).
// Buffered input stays bounded: a partial line longer than max_line is an error at once.
// Every error but need_more is sticky: the stream cannot be resynchronised.
class ReplyParser {
 public:
  struct Config {
    std::size_t max_line = 512;   // octets per reply line, code and CRLF included
    std::size_t max_lines = 100;  // lines per multi-line reply
  };

  ReplyParser() : ReplyParser(Config{}) {}
  explicit ReplyParser(Config config) : config_(config) {}

  void feed(std::string_view bytes);

  // Takes the next complete reply into `out`. `text` holds the lines' texts joined by '\n',
  // each without its code and without the enhanced code when one was recognised.
  ReplyError next(Reply& out);

  // Octets received but not yet consumed as part of a reply.
  std::size_t buffered() const { return buffer_.size() - position_; }

 private:
  Config config_;
  std::string buffer_;
  std::size_t position_ = 0;
  ReplyError error_ = ReplyError::none;
};

// Recognises an RFC 3463 enhanced status code ("class.subject.detail", class 2, 4 or 5,
// subject and detail 1-3 digits) at the start of `text`, followed by a space or the end.
// Returns its length, or 0 when `text` does not start with one whose class matches the
// basic code's first digit (RFC 3463 2: they must agree).
std::size_t enhanced_code_length(int code, std::string_view text);

// "421 4.3.2 First line; second line": a reply on one line, for failure texts and summaries.
std::string describe(const Reply& reply);

}  // namespace policy_relay::smtp
