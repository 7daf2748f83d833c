// Header field values parsed with mimetic's RFC 822 / RFC 2045 parsers; RFC 2231 parameter
// continuations and RFC 2047 words decoded on top (mimetic returns them as written).
#include "policy_relay/mime/header_fields.hpp"

#include <mimetic/contentdisposition.h>
#include <mimetic/contenttype.h>
#include <mimetic/rfc822/addresslist.h>

#include <algorithm>
#include <charconv>
#include <map>

namespace policy_relay::mime {
namespace {

constexpr std::size_t kMaxName = 255;     // a file name longer than this is cut
constexpr std::size_t kMaxSections = 64;  // RFC 2231 continuations per parameter
constexpr std::size_t kMaxAddresses = 100'000;

std::string ascii_lower(std::string_view text) {
  std::string lower(text);
  std::transform(lower.begin(), lower.end(), lower.begin(), [](char c) {
    return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
  });
  return lower;
}

std::string_view trim(std::string_view text) {
  const auto first = text.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos) {
    return {};
  }
  return text.substr(first, text.find_last_not_of(" \t\r\n") - first + 1);
}

// "a \"b\" c" without its outer quotes and with quoted-pairs resolved (RFC 5322 3.2.4).
std::string unquote(std::string_view text) {
  text = trim(text);
  if (text.size() < 2 || text.front() != '"' || text.back() != '"') {
    return std::string(text);
  }
  std::string out;
  for (std::size_t i = 1; i + 1 < text.size(); ++i) {
    if (text[i] == '\\' && i + 2 < text.size()) {
      ++i;
    }
    out.push_back(text[i]);
  }
  return out;
}

std::string cut(std::string text) {
  if (text.size() > kMaxName) {
    text.resize(kMaxName);
  }
  return text;
}

// The value of parameter `wanted` (lower-case) in `params`: RFC 2231 3 continuations
// ("name*0", "name*1*", ...) joined, RFC 2231 4 extended values and RFC 2047 words decoded.
template <typename ParamList>
std::string parameter(const ParamList& params, std::string_view wanted) {
  std::string plain;
  std::string extended;
  std::map<unsigned, std::pair<std::string, bool>> sections;  // index -> value, encoded
  for (const auto& param : params) {
    const std::string name = ascii_lower(std::string(param.name().begin(), param.name().end()));
    if (!name.starts_with(wanted)) {
      continue;
    }
    const std::string_view rest = std::string_view(name).substr(wanted.size());
    if (rest.empty()) {
      plain = param.value();
    } else if (rest == "*") {
      extended = param.value();
    } else if (rest.front() == '*' && sections.size() < kMaxSections) {
      std::string_view digits = rest.substr(1);
      const bool encoded = digits.ends_with('*');
      if (encoded) {
        digits.remove_suffix(1);
      }
      unsigned index = 0;
      const auto parsed = std::from_chars(digits.data(), digits.data() + digits.size(), index);
      if (parsed.ec == std::errc{} && parsed.ptr == digits.data() + digits.size()) {
        sections[index] = {param.value(), encoded};
      }
    }
  }
  if (!extended.empty()) {
    return decode_extended_value(extended);
  }
  if (!sections.empty()) {
    // RFC 2231 4.1: only the first section carries charset'language'; percent-decode the
    // encoded sections as they come, then convert the whole value once.
    std::string joined;
    bool any_encoded = false;
    for (const auto& [index, section] : sections) {
      if (section.second) {
        any_encoded = true;
      }
      joined += section.first;
    }
    return any_encoded ? decode_extended_value(joined) : decode_encoded_words(joined);
  }
  return decode_encoded_words(unquote(plain));
}

}  // namespace

ContentTypeField parse_content_type(std::string_view value) {
  ContentTypeField field;
  try {
    const mimetic::ContentType parsed{std::string(value)};
    const std::string type = ascii_lower(trim(parsed.type()));
    const std::string subtype = ascii_lower(trim(parsed.subtype()));
    if (!type.empty() && !subtype.empty() && type.find_first_of(" \t\"/;") == std::string::npos &&
        subtype.find_first_of(" \t\"/;") == std::string::npos) {
      field.type = type + "/" + subtype;
    }
    field.boundary = unquote(parameter(parsed.paramList(), "boundary"));
    field.name = cut(parameter(parsed.paramList(), "name"));
  } catch (const std::exception&) {
    field = ContentTypeField{};  // unparsable: the RFC 2045 5.2 default applies
  }
  return field;
}

DispositionField parse_content_disposition(std::string_view value) {
  DispositionField field;
  try {
    const mimetic::ContentDisposition parsed{std::string(value)};
    field.disposition = ascii_lower(trim(parsed.type()));
    field.filename = cut(parameter(parsed.paramList(), "filename"));
  } catch (const std::exception&) {
    field = DispositionField{};
  }
  return field;
}

std::string parse_transfer_encoding(std::string_view value) {
  value = trim(value.substr(0, value.find('(')));
  return ascii_lower(value);
}

namespace {

// RFC 5322 3.2.3 atext.
bool is_atext(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         std::string_view("!#$%&'*+-/=?^_`{|}~").find(c) != std::string_view::npos;
}

// RFC 5322 3.2.3 dot-atom-text: atext runs joined by single dots.
bool is_dot_atom(std::string_view text) {
  if (text.empty() || text.front() == '.' || text.back() == '.') {
    return false;
  }
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '.' ? text[i + 1] == '.' : !is_atext(text[i])) {
      return false;
    }
  }
  return true;
}

// One entry of the simple shapes: "local@domain" or "Plain Words <local@domain>".
bool parse_simple_entry(std::string_view entry, std::vector<Address>& out) {
  entry = trim(entry);
  std::string_view phrase;
  std::string_view spec = entry;
  if (!entry.empty() && entry.back() == '>') {
    const std::size_t open = entry.find('<');
    if (open == std::string_view::npos) {
      return false;
    }
    phrase = trim(entry.substr(0, open));
    spec = entry.substr(open + 1, entry.size() - open - 2);
    bool after_space = false;
    for (const char c : phrase) {
      const bool space = c == ' ';  // mimetic reads a tab in a phrase as part of a word
      if (!(space ? !after_space : is_atext(c))) {
        return false;  // dots, runs of spaces or anything else: mimetic's reading
      }
      after_space = space;
    }
  }
  const std::size_t at = spec.find('@');
  if (at == std::string_view::npos || !is_dot_atom(spec.substr(0, at)) ||
      !is_dot_atom(spec.substr(at + 1))) {
    return false;
  }
  if (out.size() < kMaxAddresses) {
    out.push_back(Address{std::string(spec), std::string(phrase), {}});
  }
  return true;
}

// The shapes nearly every client writes, read without mimetic (whose parse cost a fifth of
// the policy chain's instructions per message, callgrind): every entry a bare addr-spec or a
// phrase of plain words before an angle-addr. Anything else (quoted strings, comments, groups,
// encoded words, non-ASCII, empty entries, obsolete syntax) returns false, and mimetic reads the
// whole field: where both apply they agree (test_message_scanner.cpp compares them).
bool parse_simple_address_list(std::string_view value, std::vector<Address>& out) {
  if (value.find("=?") != std::string_view::npos) {
    return false;
  }
  std::size_t start = 0;
  for (;;) {
    const std::size_t comma = value.find(',', start);
    const std::string_view entry = value.substr(
        start, comma == std::string_view::npos ? std::string_view::npos : comma - start);
    if (!parse_simple_entry(entry, out)) {
      out.clear();
      return false;
    }
    if (comma == std::string_view::npos) {
      return true;
    }
    start = comma + 1;
  }
}

}  // namespace

std::vector<Address> parse_address_list(std::string_view value) {
  std::vector<Address> out;
  if (trim(value).empty() || parse_simple_address_list(value, out)) {
    return out;
  }
  return detail::parse_address_list_with_mimetic(value);
}

namespace detail {

std::vector<Address> parse_address_list_with_mimetic(std::string_view value) {
  std::vector<Address> out;
  try {
    const mimetic::AddressList list{std::string(value)};
    const auto add = [&out](const mimetic::Mailbox& mailbox, const std::string& group) {
      const std::string local = mailbox.mailbox();
      const std::string domain = mailbox.domain();
      if (local.empty() || domain.empty() || out.size() >= kMaxAddresses) {
        return;  // an empty group's placeholder, or garbage
      }
      Address address;
      address.address = std::string(trim(local)) + "@" + std::string(trim(domain));
      address.display_name = decode_encoded_words(unquote(mailbox.label()));
      address.group = group;
      out.push_back(std::move(address));
    };
    for (const mimetic::Address& entry : list) {
      if (entry.isGroup()) {
        const std::string name = decode_encoded_words(unquote(entry.group().name()));
        for (const mimetic::Mailbox& mailbox : entry.group()) {
          add(mailbox, name);
        }
      } else {
        add(entry.mailbox(), "");
      }
    }
  } catch (const std::exception&) {
    // What was parsed before the failure stays.
  }
  return out;
}

}  // namespace detail

}  // namespace policy_relay::mime
