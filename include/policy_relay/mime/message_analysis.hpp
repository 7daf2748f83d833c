#pragma once

#include <cstdint>
#include <string>
#include <vector>

// What the policy learns about one accepted message from its headers and MIME structure
// (issue 5 "Message analysis"): plain values, filled by mime::MessageScanner, read by the
// rules of POLICY VI.11, VI.12 and VII.1. Never a body, never a subject (VII.3).
namespace policy_relay::mime {

// One address of an address-list header field (RFC 5322 3.4), groups expanded.
struct Address {
  std::string address;       // local@domain as written (quotes of the local part kept)
  std::string display_name;  // RFC 2047 decoded to UTF-8, outer quotes removed; may be ""
  std::string group;         // the group it was listed in (RFC 5322 3.4 group), "" if none
};

// One MIME entity: the message itself (index 0) or a part of it (RFC 2045, RFC 2046).
struct Part {
  unsigned depth = 0;  // 0: the message; 1: a part of its top multipart; ...
  // type/subtype lower-cased, parameters dropped; the RFC 2045 5.2 default ("text/plain", or
  // "message/rfc822" inside multipart/digest) when the field is absent or unparsable.
  std::string content_type;
  std::string disposition;         // "inline", "attachment" (lower-cased) or "" when absent
  std::string filename;            // Content-Disposition filename (RFC 2231) or Content-Type
                                   // name, decoded to UTF-8 (RFC 2047 too); "" when none
  std::string transfer_encoding;   // lower-cased; "7bit" when absent (RFC 2045 6.1)
  std::uint64_t encoded_size = 0;  // octets of the body as transmitted
  std::uint64_t decoded_size = 0;  // octets after base64 / quoted-printable decoding
  bool multipart = false;          // a container: its size is that of its parts

  // RFC 2183: an attachment is a part the sender attached as a file: "attachment"
  // disposition, or a file name on a leaf part that is not displayed inline.
  bool is_attachment() const {
    return !multipart && depth > 0 &&
           (disposition == "attachment" || (disposition.empty() && !filename.empty()));
  }
};

// Why a message's structure is malformed (bits of MessageAnalysis::malformed).
enum Malformation : unsigned {
  malformed_header_line = 1u << 0,         // a line in a header section that is no field
  malformed_header_too_long = 1u << 1,     // a field longer than the bound (cut)
  malformed_missing_boundary = 1u << 2,    // multipart/* without a boundary parameter
  malformed_unclosed_multipart = 1u << 3,  // the message ended before a close delimiter
  malformed_truncated_headers = 1u << 4,   // the message ended inside a header section
  malformed_too_deep = 1u << 5,            // nesting deeper than the bound (read as opaque)
  malformed_too_many_parts = 1u << 6,      // parts beyond the bound were counted, not listed
  malformed_bad_encoding = 1u << 7,        // bytes that a base64 / QP body must not contain
};

struct MessageAnalysis {
  std::vector<Address> from;     // From (RFC 5322 3.6.2): one mailbox, sometimes more
  std::vector<Address> to;       // To, every To field
  std::vector<Address> cc;       // Cc, every Cc field
  std::vector<Part> parts;       // parts[0] is the message itself; then in order of appearance
  std::uint64_t part_count = 0;  // every entity seen, listed or not
  std::uint64_t size = 0;        // octets analysed
  unsigned malformed = 0;        // Malformation bits; 0 = well-formed

  // The distinct addresses of To + Cc (groups expanded, compared case-insensitively):
  // the recipients every other recipient can see (POLICY VI.11).
  std::size_t visible_recipient_count() const;
  // "header_line,missing_boundary" for the log; "" when well-formed.
  std::string malformation_names() const;
};

}  // namespace policy_relay::mime
