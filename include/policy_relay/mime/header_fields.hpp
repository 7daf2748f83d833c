#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "policy_relay/mime/message_analysis.hpp"

// The header fields the message analysis reads, parsed with mimetic (its RFC 822 address and
// RFC 2045 field parsers) plus what mimetic lacks: RFC 2047 encoded words and RFC 2231
// parameter values. Pure functions on one unfolded field value; they never throw.
namespace policy_relay::mime {

// RFC 2047: every encoded word of `text` decoded and converted to UTF-8 (whitespace between
// adjacent encoded words dropped, 6.2). Words in an unknown charset or with a bad encoding
// stay as written. Also applied inside quoted strings, as common mail readers do.
std::string decode_encoded_words(std::string_view text);

// RFC 2231 4: "charset'language'percent-encoded" to UTF-8.
std::string decode_extended_value(std::string_view value);

struct ContentTypeField {
  std::string type;      // "type/subtype" lower-cased; "" when unparsable
  std::string boundary;  // as written, quotes removed
  std::string name;      // the (obsolete) name parameter, decoded
};
ContentTypeField parse_content_type(std::string_view value);

struct DispositionField {
  std::string disposition;  // lower-cased
  std::string filename;     // decoded (RFC 2231, RFC 2047)
};
DispositionField parse_content_disposition(std::string_view value);

// "base64", "quoted-printable", "7bit", ... lower-cased, comments and spaces removed.
std::string parse_transfer_encoding(std::string_view value);

// RFC 5322 3.4 address-list: mailboxes and groups (expanded; empty groups add nothing), display
// names decoded. Entries without both a local part and a domain are dropped.
std::vector<Address> parse_address_list(std::string_view value);

namespace detail {
// parse_address_list() through mimetic alone, without its fast path for the common shapes (for
// the test that compares the two).
std::vector<Address> parse_address_list_with_mimetic(std::string_view value);
}  // namespace detail

}  // namespace policy_relay::mime
