#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

// Parsers for the arguments of MAIL and RCPT (RFC 5321 4.1.2 and 4.1.1.2-3, RFC 6531 for UTF-8).
// Pure functions: a string in, a result out.
namespace policy_relay::smtp {

struct Path {
  std::string address;     // "local@domain" without brackets; "" for the null path <>
  std::string local_part;  // as written, quotes kept ("\"a b\"")
  std::string domain;      // as written (case preserved); "[1.2.3.4]" for an address literal
  bool is_null() const { return address.empty(); }
  bool is_utf8 = false;  // any octet >= 0x80 (needs SMTPUTF8)
};

struct Parameter {
  std::string keyword;  // upper-cased
  std::optional<std::string> value;
};

struct PathArgument {
  Path path;
  std::vector<Parameter> parameters;
};

enum class PathError {
  none,
  syntax,  // not a valid path (501 5.1.7 / 5.1.3)
  null_not_allowed,
  utf8_without_smtputf8,  // 553 5.6.7 (RFC 6531 3.7.4.1)
  too_long,       // path over 256, local part over 64 or domain over 255 octets (RFC 5321 4.5.3.1)
  bad_parameter,  // malformed esmtp-param
};

struct PathParse {
  PathArgument value;
  PathError error = PathError::none;
};

// Parses "<path> [SP params]" as it follows "MAIL FROM:" (allow_null) or "RCPT TO:".
// Accepts Postmaster (RFC 5321 4.1.1.3) for RCPT (that is, when !allow_null); tolerates spaces
// after the colon as many clients send them (Postfix does too); ignores a source route
// (RFC 5321 4.1.2 A-d-l, Appendix C). `allow_utf8`: the transaction used SMTPUTF8; a SMTPUTF8
// keyword among this very argument's parameters allows UTF-8 as well (RFC 6531 3.4), so the
// caller need not look at the parameters first. Errors are reported in the order syntax,
// too_long, bad_parameter, utf8_without_smtputf8.
PathParse parse_path_argument(std::string_view argument, bool allow_null, bool allow_utf8);

// RFC 5321 4.1.2 Domain of at most 255 octets, labels of at most 63 (RFC 1035 2.3.4); U-labels
// (RFC 6531 3.3) as well-formed UTF-8. `allow_underscore` tolerates '_' in labels, which
// Windows and printer host names carry in EHLO.
bool is_valid_domain(std::string_view domain, bool allow_underscore = false);

// RFC 5321 4.1.3 address-literal: "[1.2.3.4]" or "[IPv6:...]". General-address-literal is
// refused: no Standardized-tag is registered.
bool is_valid_address_literal(std::string_view literal);

}  // namespace policy_relay::smtp
