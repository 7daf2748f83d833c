#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

// Parsers for the arguments of MAIL and RCPT (RFC 5321 4.1.2 and 4.1.1.2-3, RFC 6531 for UTF-8).
// Pure functions: a string in, a result out.
namespace policy_relay::smtp {

struct Path {
  std::string address;  // "local@domain" without brackets; "" for the null path <>
  std::string local_part;   // as written, quotes kept ("\"a b\"")
  std::string domain;       // as written (case preserved)
  bool is_null() const { return address.empty(); }
  bool is_utf8 = false;     // any octet >= 0x80 (needs SMTPUTF8)
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
  syntax,         // not a valid path (501 5.1.7 / 5.1.3)
  null_not_allowed,
  utf8_without_smtputf8,  // 553 5.6.7 (RFC 6531 3.7.4.1)
  too_long,       // path over 256 octets (RFC 5321 4.5.3.1.3)
  bad_parameter,  // malformed esmtp-param
};

struct PathParse {
  PathArgument value;
  PathError error = PathError::none;
};

// Parses "<path> [SP params]" as it follows "MAIL FROM:" (allow_null) or "RCPT TO:".
// Accepts Postmaster (RFC 5321 4.1.1.3) for RCPT; tolerates one space after the colon as
// many clients send it. `allow_utf8`: the transaction used SMTPUTF8 (or the client asked for it
// on this very MAIL command).
PathParse parse_path_argument(std::string_view argument, bool allow_null, bool allow_utf8);

}  // namespace policy_relay::smtp
