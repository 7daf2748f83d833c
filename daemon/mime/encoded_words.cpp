// RFC 2047 encoded words and RFC 2231 extended parameter values, decoded to UTF-8. mimetic has
// neither: its field parsers hand these back as written.
#include <iconv.h>

#include <algorithm>
#include <cerrno>
#include <optional>

#include "policy_relay/mime/header_fields.hpp"

namespace policy_relay::mime {
namespace {

constexpr std::size_t kMaxWord = 4096;  // longer than RFC 2047's 75, as real mailers write

int hex_value(char c) {
  if (c >= '0' && c <= '9') {
    return c - '0';
  }
  if (c >= 'a' && c <= 'f') {
    return c - 'a' + 10;
  }
  if (c >= 'A' && c <= 'F') {
    return c - 'A' + 10;
  }
  return -1;
}

int base64_value(char c) {
  if (c >= 'A' && c <= 'Z') {
    return c - 'A';
  }
  if (c >= 'a' && c <= 'z') {
    return c - 'a' + 26;
  }
  if (c >= '0' && c <= '9') {
    return c - '0' + 52;
  }
  if (c == '+') {
    return 62;
  }
  if (c == '/') {
    return 63;
  }
  return -1;
}

std::string ascii_lower(std::string_view text) {
  std::string lower(text);
  std::transform(lower.begin(), lower.end(), lower.begin(), [](char c) {
    return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
  });
  return lower;
}

std::optional<std::string> decode_base64(std::string_view text) {
  std::string out;
  unsigned bits = 0;
  int count = 0;
  for (char c : text) {
    if (c == '=') {
      break;
    }
    const int value = base64_value(c);
    if (value < 0) {
      return std::nullopt;
    }
    bits = (bits << 6) | static_cast<unsigned>(value);
    count += 6;
    if (count >= 8) {
      count -= 8;
      out.push_back(static_cast<char>((bits >> count) & 0xFF));
    }
  }
  return out;
}

// RFC 2047 4.2: "_" is a space, "=XX" an octet.
std::optional<std::string> decode_q(std::string_view text) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '_') {
      out.push_back(' ');
    } else if (text[i] == '=') {
      if (i + 2 >= text.size()) {
        return std::nullopt;
      }
      const int high = hex_value(text[i + 1]);
      const int low = hex_value(text[i + 2]);
      if (high < 0 || low < 0) {
        return std::nullopt;
      }
      out.push_back(static_cast<char>(high * 16 + low));
      i += 2;
    } else {
      out.push_back(text[i]);
    }
  }
  return out;
}

bool is_utf8_name(std::string_view charset) {
  const std::string lower = ascii_lower(charset);
  return lower == "utf-8" || lower == "utf8" || lower == "us-ascii" || lower == "ascii";
}

// `octets` in `charset` to UTF-8 with iconv (glibc); nullopt when the charset is unknown or
// the octets are not valid in it.
std::optional<std::string> to_utf8(std::string_view octets, std::string_view charset) {
  if (is_utf8_name(charset)) {
    return std::string(octets);
  }
  const std::string name(charset);
  iconv_t converter = ::iconv_open("UTF-8", name.c_str());
  if (converter == reinterpret_cast<iconv_t>(-1)) {
    return std::nullopt;
  }
  std::string in(octets);
  std::string out(in.size() * 4 + 16, '\0');
  char* in_pointer = in.data();
  std::size_t in_left = in.size();
  char* out_pointer = out.data();
  std::size_t out_left = out.size();
  const std::size_t result = ::iconv(converter, &in_pointer, &in_left, &out_pointer, &out_left);
  ::iconv_close(converter);
  if (result == static_cast<std::size_t>(-1)) {
    return std::nullopt;
  }
  out.resize(out.size() - out_left);
  return out;
}

// One "=?charset?enc?text?=" at the start of `text`: its decoded value and length.
std::optional<std::pair<std::string, std::size_t>> encoded_word(std::string_view text) {
  if (!text.starts_with("=?")) {
    return std::nullopt;
  }
  const std::size_t charset_end = text.find('?', 2);
  if (charset_end == std::string_view::npos || charset_end + 3 > text.size() ||
      text[charset_end + 2] != '?') {
    return std::nullopt;
  }
  const std::size_t text_end = text.find("?=", charset_end + 3);
  if (text_end == std::string_view::npos || text_end > kMaxWord) {
    return std::nullopt;
  }
  std::string_view charset = text.substr(2, charset_end - 2);
  charset = charset.substr(0, charset.find('*'));  // RFC 2231 5: "charset*language"
  const char encoding = text[charset_end + 1];
  const std::string_view payload = text.substr(charset_end + 3, text_end - charset_end - 3);
  if (payload.find_first_of(" \t") != std::string_view::npos) {
    return std::nullopt;
  }
  std::optional<std::string> octets;
  if (encoding == 'B' || encoding == 'b') {
    octets = decode_base64(payload);
  } else if (encoding == 'Q' || encoding == 'q') {
    octets = decode_q(payload);
  }
  if (!octets) {
    return std::nullopt;
  }
  std::optional<std::string> decoded = to_utf8(*octets, charset);
  if (!decoded) {
    return std::nullopt;
  }
  return std::make_pair(std::move(*decoded), text_end + 2);
}

}  // namespace

std::string decode_encoded_words(std::string_view text) {
  if (text.find("=?") == std::string_view::npos) {
    return std::string(text);
  }
  std::string out;
  std::string pending_space;  // whitespace after an encoded word: dropped if another follows
  bool after_word = false;
  std::size_t i = 0;
  while (i < text.size()) {
    if (auto word = encoded_word(text.substr(i))) {
      if (!after_word) {
        out += pending_space;
      }
      pending_space.clear();
      out += word->first;
      i += word->second;
      after_word = true;
      continue;
    }
    const char c = text[i++];
    if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
      pending_space.push_back(c == '\r' || c == '\n' ? ' ' : c);
      continue;
    }
    out += pending_space;
    pending_space.clear();
    out.push_back(c);
    after_word = false;
  }
  out += pending_space;
  return out;
}

std::string decode_extended_value(std::string_view value) {
  const std::size_t first = value.find('\'');
  const std::size_t second = first == std::string_view::npos ? first : value.find('\'', first + 1);
  std::string_view charset;
  if (second != std::string_view::npos) {
    charset = value.substr(0, first);
    value.remove_prefix(second + 1);
  }
  std::string octets;
  for (std::size_t i = 0; i < value.size(); ++i) {
    if (value[i] == '%' && i + 2 < value.size()) {
      const int high = hex_value(value[i + 1]);
      const int low = hex_value(value[i + 2]);
      if (high >= 0 && low >= 0) {
        octets.push_back(static_cast<char>(high * 16 + low));
        i += 2;
        continue;
      }
    }
    octets.push_back(value[i]);
  }
  if (charset.empty()) {
    return octets;
  }
  return to_utf8(octets, charset).value_or(octets);
}

}  // namespace policy_relay::mime
