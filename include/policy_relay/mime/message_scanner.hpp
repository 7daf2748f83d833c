#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "policy_relay/mime/message_analysis.hpp"

namespace policy_relay::mime {

namespace detail {
class DecodedSize;
}

// Streams one message (RFC 5322 + MIME, RFC 2045/2046) and builds its MessageAnalysis, sans-I/O:
// octets in through feed() in any pieces, the analysis out of finish().
//
// Why not mimetic's MimeEntity: its parser reads every part's body into memory (only the top
// entity can skip its body, with imBody), so a 25 MiB attachment would cost 25 MiB or more.
// This scanner holds no body octet: it keeps one line of at most Limits::max_line octets, the
// few header fields the policy reads (each at most Limits::max_field) and the boundary of each
// open multipart; bodies are only counted (detail::DecodedSize). mimetic still parses what it
// does well: the field values (Content-Type, Content-Disposition, address lists).
//
// Malformed input never throws and never loops: every line is looked at once, nesting deeper
// than max_depth is read as an opaque body, and MessageAnalysis::malformed says what was wrong.
// Following Postfix, a header section ends at the first line that is not a header field.
class MessageScanner {
 public:
  struct Limits {
    std::size_t max_line = 8 * 1024;     // longer lines are streamed in pieces
    std::size_t max_field = 128 * 1024;  // a kept field's value (To, Cc: thousands of addresses)
    unsigned max_depth = 32;             // nested multiparts
    std::size_t max_parts = 1000;        // parts listed (all are counted)
  };

  MessageScanner();
  explicit MessageScanner(Limits limits);
  ~MessageScanner();
  MessageScanner(const MessageScanner&) = delete;
  MessageScanner& operator=(const MessageScanner&) = delete;

  void feed(std::string_view octets);
  // The end of the message: closes what is still open. Call once.
  MessageAnalysis finish();

 private:
  enum class State { headers, body, preamble, epilogue };
  struct Multipart {
    std::string boundary;
    bool digest = false;  // multipart/digest: parts default to message/rfc822
  };
  struct Field {
    std::string name;  // lower-cased; "" for a field the analysis does not keep
    std::string value;
  };

  void line(std::string_view text, std::size_t eol);
  void long_line_piece(std::string_view text);
  void long_line_end(std::size_t eol);
  void header_line(std::string_view text, std::size_t eol);
  bool boundary_line(std::string_view text);
  void start_field(std::string_view name, std::string_view value);
  void append_field(std::string_view text);
  void end_field();
  void end_headers();
  void start_part(unsigned depth);
  void end_part();
  void body_content(std::string_view text);
  void body_line_end(std::size_t eol);

  Limits limits_;
  MessageAnalysis analysis_;
  State state_ = State::headers;
  std::vector<Multipart> open_;  // innermost last
  std::string line_;             // the line being assembled (at most max_line)
  bool long_line_ = false;       // line_ overflowed: the rest of the line streams
  bool long_line_checked_ = false;
  // The entity whose headers or body are being read.
  unsigned depth_ = 0;
  bool listed_ = false;  // analysis_.parts.back() is this entity
  bool in_digest_ = false;
  Field field_;
  std::string content_type_, disposition_, transfer_encoding_;
  std::string from_, to_, cc_;
  bool any_header_ = false;
  std::unique_ptr<detail::DecodedSize> body_;
  bool finished_ = false;
};

}  // namespace policy_relay::mime
