#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace policy_relay::smtp {

// Streaming transparency encoder for the DATA body (RFC 5321 4.5.2): a '.' that begins a line
// is doubled, and finish() appends the end-of-data indication <CRLF>.<CRLF>. State carries
// across calls, so a message may be fed in chunks split anywhere (a chunk that begins with '.'
// right after a chunk that ended a line is stuffed too).
//
// A line begins at the start of the message and after every LF, with or without a CR before
// it. The spool holds only CRLF line ends (the server refuses bare CR/LF), so this is RFC 5321
// exactly; treating a bare LF as a line end too means that no octets can ever read as an end
// of data to a lenient upstream that accepts <LF>.<LF> (SMTP smuggling).
class DotStuffer {
 public:
  // Appends the encoded form of `octets` to `out`.
  void encode(std::string_view octets, std::string& out);

  // Appends CRLF when the message is not empty and does not already end with CRLF, then
  // ".\r\n". The encoder is then reset for a new message.
  void finish(std::string& out);

  std::uint64_t octets_in() const { return octets_in_; }

 private:
  bool at_line_start_ = true;
  bool ends_with_crlf_ = false;
  char previous_ = '\0';
  std::uint64_t octets_in_ = 0;
};

}  // namespace policy_relay::smtp
