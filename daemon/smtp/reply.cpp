#include "policy_relay/smtp/reply.hpp"

#include <vector>

namespace policy_relay::smtp {
namespace {

// The lines of a reply text: split at '\n', one trailing '\n' ignored, so "a\nb\n" is two lines.
std::vector<std::string_view> split_lines(std::string_view text) {
  if (!text.empty() && text.back() == '\n') {
    text.remove_suffix(1);
  }
  std::vector<std::string_view> lines;
  for (;;) {
    const std::size_t end = text.find('\n');
    lines.push_back(text.substr(0, end));
    if (end == std::string_view::npos) {
      return lines;
    }
    text.remove_prefix(end + 1);
  }
}

// RFC 5321 4.2 textstring = 1*(%d09 / %d32-126): a CR would split the reply and other control
// octets have no place on the wire, so CRs are dropped and other controls become '?'. Octets
// >= 0x80 pass (UTF-8 in replies to SMTPUTF8 clients, RFC 6531 3.7.4.2).
void append_text(std::string& out, std::string_view line) {
  for (const char c : line) {
    const auto octet = static_cast<unsigned char>(c);
    if (c == '\r') {
      continue;
    }
    out += (octet < 0x20 && c != '\t') || octet == 0x7f ? '?' : c;
  }
}

// "CODE" + separator + "[enhanced ][text]", without the line end.
void append_line(std::string& out, const Reply& reply, char separator, std::string_view line) {
  out += std::to_string(reply.code);
  if (reply.enhanced.empty() && line.empty()) {
    if (separator == '-') {
      out += '-';
    }
    return;
  }
  out += separator;
  out += reply.enhanced;
  if (!reply.enhanced.empty() && !line.empty()) {
    out += ' ';
  }
  append_text(out, line);
}

}  // namespace

// RFC 5321 4.2.1 multi-line replies: every line but the last has '-' after the code; RFC 2034
// puts the enhanced code on each line.
std::string Reply::to_wire() const {
  const std::vector<std::string_view> lines = split_lines(text);
  std::string wire;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    append_line(wire, *this, i + 1 < lines.size() ? '-' : ' ', lines[i]);
    wire += "\r\n";
  }
  return wire;
}

std::string Reply::to_log() const {
  const std::vector<std::string_view> lines = split_lines(text);
  std::string log = std::to_string(code);
  if (!enhanced.empty()) {
    log += ' ';
    log += enhanced;
  }
  for (std::size_t i = 0; i < lines.size(); ++i) {
    if (i > 0) {
      log += ';';
    }
    if (!lines[i].empty()) {
      log += ' ';
      append_text(log, lines[i]);
    }
  }
  return log;
}

}  // namespace policy_relay::smtp
