#include "decoded_size.hpp"

namespace policy_relay::mime::detail {
namespace {

bool is_hex(char c) {
  return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F') || (c >= 'a' && c <= 'f');
}

bool is_base64(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
         c == '/';
}

bool equal_ignoring_case(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) {
    return false;
  }
  for (std::size_t i = 0; i < a.size(); ++i) {
    const char x = a[i] >= 'A' && a[i] <= 'Z' ? static_cast<char>(a[i] + 32) : a[i];
    if (x != b[i]) {
      return false;
    }
  }
  return true;
}

}  // namespace

DecodedSize::Encoding DecodedSize::from_name(std::string_view name) {
  if (equal_ignoring_case(name, "base64")) {
    return Encoding::base64;
  }
  if (equal_ignoring_case(name, "quoted-printable")) {
    return Encoding::quoted_printable;
  }
  return Encoding::identity;
}

void DecodedSize::take_pending_break() {
  encoded_ += pending_eol_;
  if (encoding_ == Encoding::identity) {
    decoded_ += pending_eol_;  // kept as written
  }
  pending_eol_ = 0;
  if (pending_break_) {
    decoded_ += 2;  // a hard line break is CRLF in canonical form (RFC 2045 6.7 rule 4)
    pending_break_ = false;
  }
}

void DecodedSize::content(std::string_view octets) {
  take_pending_break();
  encoded_ += octets.size();
  switch (encoding_) {
    case Encoding::identity:
      decoded_ += octets.size();
      break;
    case Encoding::base64:
      // RFC 2045 6.8: characters outside the alphabet are ignored; "=" ends the data.
      for (char c : octets) {
        if (base64_ended_) {
          break;
        }
        if (is_base64(c)) {
          ++base64_digits_;
        } else if (c == '=') {
          base64_ended_ = true;
        } else if (c != ' ' && c != '\t') {
          bad_encoding_ = true;
        }
      }
      break;
    case Encoding::quoted_printable:
      quoted_printable(octets);
      break;
  }
}

// RFC 2045 6.7: "=XX" is one octet, "=" at the end of a line (trailing whitespace allowed) is a
// soft line break, trailing whitespace is transport padding. A stray "=" counts as written.
void DecodedSize::quoted_printable(std::string_view octets) {
  for (char c : octets) {
    if (equals_ == 1) {
      if (is_hex(c)) {
        equals_ = 2;
        continue;
      }
      if (c == ' ' || c == '\t') {
        ++equals_space_;
        continue;
      }
      decoded_ += 1 + equals_space_;
      equals_ = 0;
      bad_encoding_ = true;
    } else if (equals_ == 2) {
      equals_ = 0;
      if (is_hex(c)) {
        decoded_ += 1;
        continue;
      }
      decoded_ += 2;
      bad_encoding_ = true;
    }
    if (c == ' ' || c == '\t') {
      ++pending_space_;
    } else if (c == '=') {
      decoded_ += pending_space_;
      pending_space_ = 0;
      equals_ = 1;
      equals_space_ = 0;
    } else {
      decoded_ += pending_space_ + 1;
      pending_space_ = 0;
    }
  }
}

void DecodedSize::line_end(std::size_t eol) {
  take_pending_break();
  pending_eol_ = eol;
  switch (encoding_) {
    case Encoding::identity:
    case Encoding::base64:
      break;
    case Encoding::quoted_printable:
      if (equals_ == 2) {
        decoded_ += 2;
        bad_encoding_ = true;
      }
      pending_break_ = equals_ != 1;  // "=" last on the line: a soft break
      equals_ = 0;
      equals_space_ = 0;
      pending_space_ = 0;  // trailing whitespace is dropped
      break;
  }
}

std::uint64_t DecodedSize::decoded() const {
  if (encoding_ == Encoding::base64) {
    const std::uint64_t tail = base64_digits_ % 4;
    return base64_digits_ / 4 * 3 + (tail == 3 ? 2 : tail == 2 ? 1 : 0);
  }
  return decoded_;
}

}  // namespace policy_relay::mime::detail
