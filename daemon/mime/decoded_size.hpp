#pragma once

// Private to the message scanner: the decoded size of one part's body, counted as its lines
// stream by (RFC 2045 6.7 quoted-printable, 6.8 base64), holding no body octet.

#include <cstdint>
#include <string_view>

namespace policy_relay::mime::detail {

class DecodedSize {
 public:
  enum class Encoding { identity, base64, quoted_printable };

  // "base64", "quoted-printable", else identity (7bit, 8bit, binary, unknown tokens).
  static Encoding from_name(std::string_view transfer_encoding);

  explicit DecodedSize(Encoding encoding = Encoding::identity) : encoding_(encoding) {}

  // Octets of one line, without its line ending; a long line may come in several calls.
  void content(std::string_view octets);
  // The current line ended with `eol` ("\r\n" or "\n"). It counts only once more body follows:
  // the line ending before a boundary belongs to the boundary (RFC 2046 5.1.1).
  void line_end(std::size_t eol);

  // The body ends with the message: its last line ending counts.
  void end_of_message() { take_pending_break(); }

  // Identity encoding: every octet, line endings included, counts as it is.
  bool identity() const { return encoding_ == Encoding::identity; }
  // Identity encoding, and no boundary can end the body: `octets` (any piece of the rest of the
  // message, lines or not) all count, exactly as content() and line_end() would count them.
  void rest_of_message(std::string_view octets) {
    take_pending_break();
    encoded_ += octets.size();
    decoded_ += octets.size();
  }

  std::uint64_t decoded() const;
  std::uint64_t encoded() const { return encoded_; }
  bool bad_encoding() const { return bad_encoding_; }

 private:
  void take_pending_break();
  void quoted_printable(std::string_view octets);

  Encoding encoding_;
  std::uint64_t encoded_ = 0;
  std::uint64_t decoded_ = 0;
  std::size_t pending_eol_ = 0;  // the last line's ending, not yet counted
  bool pending_break_ = false;   // decoded: a hard line break not yet counted (QP, identity)
  std::uint64_t base64_digits_ = 0;
  bool base64_ended_ = false;  // "=" seen: the rest is padding
  // quoted-printable: whitespace not yet known to be inside the line, and "=" / "=X" pending.
  std::uint64_t pending_space_ = 0;
  unsigned equals_ = 0;  // 0 none, 1 after "=", 2 after "=X"
  std::uint64_t equals_space_ = 0;
  bool bad_encoding_ = false;
};

}  // namespace policy_relay::mime::detail
