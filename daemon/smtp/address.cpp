#include "policy_relay/smtp/address.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <cstring>

namespace policy_relay::smtp {
namespace {

constexpr std::size_t max_path_octets = 256;           // RFC 5321 4.5.3.1.3, brackets included
constexpr std::size_t max_local_part_octets = 64;      // RFC 5321 4.5.3.1.1
constexpr std::size_t max_domain_octets = 255;         // RFC 5321 4.5.3.1.2
constexpr std::size_t max_label_octets = 63;           // RFC 1035 2.3.4
constexpr std::string_view postmaster = "postmaster";  // RFC 5321 4.1.1.3

bool is_ascii_alnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

bool is_non_ascii(char c) {
  return static_cast<unsigned char>(c) >= 0x80;
}

bool is_blank(char c) {
  return c == ' ' || c == '\t';
}

// RFC 5322 3.2.3 atext (RFC 5321 4.1.2 Atom).
bool is_atext(char c) {
  return is_ascii_alnum(c) ||
         std::string_view("!#$%&'*+-/=?^_`{|}~").find(c) != std::string_view::npos;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return (x >= 'A' && x <= 'Z' ? x + 32 : x) == (y >= 'A' && y <= 'Z' ? y + 32 : y);
         });
}

// Length of the well-formed UTF-8 sequence (RFC 3629 4) that starts at text[at], or 0: no
// overlong forms, no surrogates, nothing above U+10FFFF.
std::size_t utf8_sequence_length(std::string_view text, std::size_t at) {
  const auto lead = static_cast<unsigned char>(text[at]);
  std::size_t length = 0;
  unsigned char low = 0x80;
  unsigned char high = 0xbf;
  if (lead >= 0xc2 && lead <= 0xdf) {
    length = 2;
  } else if (lead >= 0xe0 && lead <= 0xef) {
    length = 3;
    low = lead == 0xe0 ? 0xa0 : 0x80;
    high = lead == 0xed ? 0x9f : 0xbf;
  } else if (lead >= 0xf0 && lead <= 0xf4) {
    length = 4;
    low = lead == 0xf0 ? 0x90 : 0x80;
    high = lead == 0xf4 ? 0x8f : 0xbf;
  } else {
    return 0;
  }
  if (at + length > text.size()) {
    return 0;
  }
  const auto second = static_cast<unsigned char>(text[at + 1]);
  if (second < low || second > high) {
    return 0;
  }
  for (std::size_t i = 2; i < length; ++i) {
    if ((static_cast<unsigned char>(text[at + i]) & 0xc0) != 0x80) {
      return 0;
    }
  }
  return length;
}

// Dot-string = Atom *("." Atom), atext extended by UTF8-non-ascii (RFC 6531 3.3). Advances `at`
// past it; false when it is empty or malformed.
bool skip_dot_string(std::string_view text, std::size_t& at) {
  std::size_t atom_length = 0;
  while (at < text.size()) {
    const char c = text[at];
    if (is_atext(c)) {
      ++at;
      ++atom_length;
    } else if (is_non_ascii(c)) {
      const std::size_t length = utf8_sequence_length(text, at);
      if (length == 0) {
        return false;
      }
      at += length;
      atom_length += length;
    } else if (c == '.' && atom_length > 0) {
      ++at;
      atom_length = 0;
    } else {
      break;
    }
  }
  return atom_length > 0;
}

// Quoted-string = DQUOTE *QcontentSMTP DQUOTE; qtextSMTP = %d32-33 / %d35-91 / %d93-126 (plus
// UTF8-non-ascii, RFC 6531 3.3); quoted-pairSMTP = "\" %d32-126.
bool skip_quoted_string(std::string_view text, std::size_t& at) {
  ++at;  // the opening DQUOTE
  while (at < text.size()) {
    const char c = text[at];
    if (c == '"') {
      ++at;
      return true;
    }
    if (c == '\\') {
      if (at + 1 >= text.size() || text[at + 1] < 32 || text[at + 1] > 126) {
        return false;
      }
      at += 2;
    } else if (c >= 32 && c <= 126) {
      ++at;
    } else if (is_non_ascii(c)) {
      const std::size_t length = utf8_sequence_length(text, at);
      if (length == 0) {
        return false;
      }
      at += length;
    } else {
      return false;
    }
  }
  return false;
}

// sub-domain = Let-dig [Ldh-str] (RFC 5321 4.1.2), or a U-label (RFC 6531 3.3).
bool is_valid_label(std::string_view label, bool allow_underscore) {
  if (label.empty() || label.size() > max_label_octets || label.front() == '-' ||
      label.back() == '-') {
    return false;
  }
  for (std::size_t at = 0; at < label.size();) {
    const char c = label[at];
    if (is_non_ascii(c)) {
      const std::size_t length = utf8_sequence_length(label, at);
      if (length == 0) {
        return false;
      }
      at += length;
      continue;
    }
    if (!is_ascii_alnum(c) && c != '-' && !(allow_underscore && c == '_')) {
      return false;
    }
    ++at;
  }
  return true;
}

// Domain syntax without the overall length limit (so that the caller can tell too_long apart).
bool is_domain_syntax(std::string_view domain, bool allow_underscore) {
  if (domain.empty()) {
    return false;
  }
  for (;;) {
    const std::size_t dot = domain.find('.');
    if (!is_valid_label(domain.substr(0, dot), allow_underscore)) {
      return false;
    }
    if (dot == std::string_view::npos) {
      return true;
    }
    domain.remove_prefix(dot + 1);
  }
}

// IPv4-address-literal = Snum 3("." Snum); Snum = 1*3DIGIT, 0-255.
bool is_ipv4_literal(std::string_view text) {
  for (int part = 0; part < 4; ++part) {
    if (part > 0) {
      if (text.empty() || text.front() != '.') {
        return false;
      }
      text.remove_prefix(1);
    }
    std::size_t digits = 0;
    int value = 0;
    while (digits < text.size() && digits < 3 && text[digits] >= '0' && text[digits] <= '9') {
      value = value * 10 + (text[digits] - '0');
      ++digits;
    }
    if (digits == 0 || value > 255) {
      return false;
    }
    text.remove_prefix(digits);
  }
  return text.empty();
}

// IPv6-addr (RFC 5321 4.1.3) has the same forms as inet_pton's textual IPv6 address.
bool is_ipv6_literal(std::string_view text) {
  std::array<char, 64> buffer{};
  if (text.empty() || text.size() >= buffer.size() ||
      text.find_first_not_of("0123456789abcdefABCDEF:.") != std::string_view::npos) {
    return false;
  }
  std::memcpy(buffer.data(), text.data(), text.size());
  in6_addr address{};
  return inet_pton(AF_INET6, buffer.data(), &address) == 1;
}

bool is_domain_or_literal(std::string_view domain) {
  return domain.starts_with('[') ? is_valid_address_literal(domain)
                                 : is_domain_syntax(domain, false);
}

// A-d-l = At-domain *( "," At-domain ) ":" ; At-domain = "@" Domain. Advances past the colon.
bool skip_source_route(std::string_view text, std::size_t& at) {
  while (at < text.size() && text[at] == '@') {
    const std::size_t end = text.find_first_of(",:>", at + 1);
    if (end == std::string_view::npos ||
        !is_domain_syntax(text.substr(at + 1, end - at - 1), false)) {
      return false;
    }
    at = end + 1;
    if (text[end] == ':') {
      return true;
    }
    if (text[end] != ',') {
      return false;
    }
  }
  return false;
}

// esmtp-param = esmtp-keyword ["=" esmtp-value] (RFC 5321 4.1.2);
// esmtp-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-"); esmtp-value = 1*(%d33-60 / %d62-126).
std::optional<Parameter> parse_parameter(std::string_view token) {
  const std::size_t equals = token.find('=');
  const std::string_view keyword = token.substr(0, equals);
  if (keyword.empty() || keyword.front() == '-' ||
      !std::all_of(keyword.begin(), keyword.end(),
                   [](char c) { return is_ascii_alnum(c) || c == '-'; })) {
    return std::nullopt;
  }
  Parameter parameter;
  std::transform(keyword.begin(), keyword.end(), std::back_inserter(parameter.keyword),
                 [](char c) { return c >= 'a' && c <= 'z' ? static_cast<char>(c - 32) : c; });
  if (equals != std::string_view::npos) {
    const std::string_view value = token.substr(equals + 1);
    if (value.empty() || !std::all_of(value.begin(), value.end(),
                                      [](char c) { return c >= 33 && c <= 126 && c != '='; })) {
      return std::nullopt;
    }
    parameter.value = std::string(value);
  }
  return parameter;
}

bool parse_parameters(std::string_view text, std::vector<Parameter>& parameters) {
  for (;;) {
    while (!text.empty() && is_blank(text.front())) {
      text.remove_prefix(1);
    }
    if (text.empty()) {
      return true;
    }
    const std::size_t end = text.find_first_of(" \t");
    auto parameter = parse_parameter(text.substr(0, end));
    if (!parameter) {
      return false;
    }
    parameters.push_back(std::move(*parameter));
    text.remove_prefix(end == std::string_view::npos ? text.size() : end);
  }
}

PathParse failure(PathParse result, PathError error) {
  result.error = error;
  return result;
}

}  // namespace

bool is_valid_domain(std::string_view domain, bool allow_underscore) {
  return domain.size() <= max_domain_octets && is_domain_syntax(domain, allow_underscore);
}

bool is_valid_address_literal(std::string_view literal) {
  if (literal.size() < 2 || literal.front() != '[' || literal.back() != ']') {
    return false;
  }
  const std::string_view inner = literal.substr(1, literal.size() - 2);
  constexpr std::string_view ipv6_tag = "IPv6:";
  if (inner.size() > ipv6_tag.size() && iequals(inner.substr(0, ipv6_tag.size()), ipv6_tag)) {
    return is_ipv6_literal(inner.substr(ipv6_tag.size()));
  }
  return is_ipv4_literal(inner);
}

PathParse parse_path_argument(std::string_view argument, bool allow_null, bool allow_utf8) {
  PathParse result;
  Path& path = result.value.path;
  std::size_t at = 0;
  while (at < argument.size() && is_blank(argument[at])) {
    ++at;
  }
  if (at >= argument.size() || argument[at] != '<') {
    return failure(std::move(result), PathError::syntax);  // RFC 5321 4.1.2: brackets required
  }
  const std::size_t path_start = at++;
  if (at < argument.size() && argument[at] == '@' && !skip_source_route(argument, at)) {
    return failure(std::move(result), PathError::syntax);
  }
  if (at < argument.size() && argument[at] == '>' && argument[at - 1] == '<') {
    if (!allow_null) {
      return failure(std::move(result), PathError::null_not_allowed);
    }
    ++at;  // the null reverse-path "<>" (RFC 5321 4.5.5)
  } else if (!allow_null && at + postmaster.size() < argument.size() &&
             iequals(argument.substr(at, postmaster.size()), postmaster) &&
             argument[at + postmaster.size()] == '>') {
    path.local_part = argument.substr(at, postmaster.size());
    path.address = path.local_part;
    at += postmaster.size() + 1;
  } else {
    const std::size_t local_start = at;
    const bool local_ok =
        at < argument.size() &&
        (argument[at] == '"' ? skip_quoted_string(argument, at) : skip_dot_string(argument, at));
    if (!local_ok || at >= argument.size() || argument[at] != '@') {
      return failure(std::move(result), PathError::syntax);
    }
    path.local_part = argument.substr(local_start, at - local_start);
    const std::size_t domain_start = ++at;
    const std::size_t close = argument.find('>', domain_start);
    if (close == std::string_view::npos ||
        !is_domain_or_literal(argument.substr(domain_start, close - domain_start))) {
      return failure(std::move(result), PathError::syntax);
    }
    path.domain = argument.substr(domain_start, close - domain_start);
    path.address = path.local_part + "@" + path.domain;
    at = close + 1;
  }
  if (at < argument.size() && !is_blank(argument[at])) {
    return failure(std::move(result), PathError::syntax);  // e.g. "<a@b>x"
  }
  if (at - path_start > max_path_octets || path.local_part.size() > max_local_part_octets ||
      path.domain.size() > max_domain_octets) {
    return failure(std::move(result), PathError::too_long);
  }
  if (!parse_parameters(argument.substr(at), result.value.parameters)) {
    return failure(std::move(result), PathError::bad_parameter);
  }
  path.is_utf8 = std::any_of(path.address.begin(), path.address.end(), is_non_ascii);
  const auto& parameters = result.value.parameters;
  const bool utf8_requested =
      std::any_of(parameters.begin(), parameters.end(),
                  [](const Parameter& p) { return p.keyword == "SMTPUTF8"; });
  if (path.is_utf8 && !allow_utf8 && !utf8_requested) {
    return failure(std::move(result), PathError::utf8_without_smtputf8);
  }
  return result;
}

}  // namespace policy_relay::smtp
