// Log value escaping: nothing a client sends can break a line, forge a field or reach a
// terminal as a control sequence (DESIGN.md "Logs").
#include "escape.hpp"

#include <cstddef>

#include "policy_relay/log/log.hpp"

namespace policy_relay::log {
namespace detail {
namespace {

constexpr char kHex[] = "0123456789abcdef";

// Length (2..4) of the well-formed UTF-8 sequence at `p` (RFC 3629 section 4: no overlongs, no
// surrogates, nothing above U+10FFFF), or 0 when the lead byte at `p` starts none.
std::size_t utf8_sequence_length(const unsigned char* p, std::size_t available) {
  const unsigned char lead = p[0];
  std::size_t length = 0;
  unsigned char second_min = 0x80;
  unsigned char second_max = 0xbf;
  if (lead >= 0xc2 && lead <= 0xdf) {
    length = 2;
  } else if (lead >= 0xe0 && lead <= 0xef) {
    length = 3;
    second_min = lead == 0xe0 ? 0xa0 : 0x80;
    second_max = lead == 0xed ? 0x9f : 0xbf;
  } else if (lead >= 0xf0 && lead <= 0xf4) {
    length = 4;
    second_min = lead == 0xf0 ? 0x90 : 0x80;
    second_max = lead == 0xf4 ? 0x8f : 0xbf;
  } else {
    return 0;
  }
  if (available < length || p[1] < second_min || p[1] > second_max) {
    return 0;
  }
  for (std::size_t i = 2; i < length; ++i) {
    if (p[i] < 0x80 || p[i] > 0xbf) {
      return 0;
    }
  }
  return length;
}

// U+0080..U+009F: C1 controls (NEL, CSI, ...), which some terminals and tools act on.
bool is_c1_control(const unsigned char* p, std::size_t length) {
  return length == 2 && p[0] == 0xc2 && p[1] <= 0x9f;
}

bool is_kv_plain_ascii(unsigned char c) {
  return c > 0x20 && c < 0x7f && c != '"' && c != '=' && c != '\\';
}

bool kv_needs_quotes(std::string_view value) {
  if (value.empty()) {
    return true;
  }
  const auto* bytes = reinterpret_cast<const unsigned char*>(value.data());
  for (std::size_t i = 0; i < value.size();) {
    if (bytes[i] < 0x80) {
      if (!is_kv_plain_ascii(bytes[i])) {
        return true;
      }
      ++i;
      continue;
    }
    const std::size_t length = utf8_sequence_length(bytes + i, value.size() - i);
    if (length == 0 || is_c1_control(bytes + i, length)) {
      return true;
    }
    i += length;
  }
  return false;
}

void append_hex_byte(std::string& out, unsigned char c) {
  const char escaped[4] = {'\\', 'x', kHex[c >> 4], kHex[c & 0xf]};
  out.append(escaped, sizeof escaped);
}

void append_json_unicode(std::string& out, unsigned code) {
  const char escaped[6] = {'\\',
                           'u',
                           kHex[(code >> 12) & 0xf],
                           kHex[(code >> 8) & 0xf],
                           kHex[(code >> 4) & 0xf],
                           kHex[code & 0xf]};
  out.append(escaped, sizeof escaped);
}

}  // namespace

void append_kv_value(std::string& out, std::string_view value) {
  if (!kv_needs_quotes(value)) {
    out.append(value);
    return;
  }
  const auto* bytes = reinterpret_cast<const unsigned char*>(value.data());
  out += '"';
  for (std::size_t i = 0; i < value.size();) {
    const unsigned char c = bytes[i];
    if (c < 0x80) {
      if (c == '"' || c == '\\') {
        out += '\\';
        out += static_cast<char>(c);
      } else if (c < 0x20 || c == 0x7f) {
        append_hex_byte(out, c);
      } else {
        out += static_cast<char>(c);
      }
      ++i;
      continue;
    }
    const std::size_t length = utf8_sequence_length(bytes + i, value.size() - i);
    if (length == 0) {
      append_hex_byte(out, c);
      ++i;
    } else if (is_c1_control(bytes + i, length)) {
      append_hex_byte(out, bytes[i]);
      append_hex_byte(out, bytes[i + 1]);
      i += length;
    } else {
      out.append(value.substr(i, length));
      i += length;
    }
  }
  out += '"';
}

void append_kv_key(std::string& out, std::string_view key) {
  for (char c : key) {
    const bool allowed = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                         (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
    out += allowed ? c : '_';
  }
  if (key.empty()) {
    out += '_';
  }
}

void append_json_string(std::string& out, std::string_view value) {
  const auto* bytes = reinterpret_cast<const unsigned char*>(value.data());
  for (std::size_t i = 0; i < value.size();) {
    const unsigned char c = bytes[i];
    if (c < 0x80) {
      switch (c) {
        case '"':
          out += "\\\"";
          break;
        case '\\':
          out += "\\\\";
          break;
        case '\b':
          out += "\\b";
          break;
        case '\f':
          out += "\\f";
          break;
        case '\n':
          out += "\\n";
          break;
        case '\r':
          out += "\\r";
          break;
        case '\t':
          out += "\\t";
          break;
        default:
          if (c < 0x20 || c == 0x7f) {
            append_json_unicode(out, c);
          } else {
            out += static_cast<char>(c);
          }
      }
      ++i;
      continue;
    }
    const std::size_t length = utf8_sequence_length(bytes + i, value.size() - i);
    if (length == 0) {
      append_json_unicode(out, c);  // lossy but visible: the byte, read as Latin-1
      ++i;
    } else if (is_c1_control(bytes + i, length)) {
      append_json_unicode(out, bytes[i + 1]);
      i += length;
    } else if (length == 3 && c == 0xe2 && bytes[i + 1] == 0x80 &&
               (bytes[i + 2] == 0xa8 || bytes[i + 2] == 0xa9)) {
      append_json_unicode(out, 0x2000u | (bytes[i + 2] == 0xa8 ? 0x28u : 0x29u));
      i += length;
    } else {
      out.append(value.substr(i, length));
      i += length;
    }
  }
}

}  // namespace detail

std::string escape_kv(std::string_view value) {
  std::string out;
  out.reserve(value.size() + 2);
  detail::append_kv_value(out, value);
  return out;
}

std::string escape_json(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  detail::append_json_string(out, value);
  return out;
}

}  // namespace policy_relay::log
