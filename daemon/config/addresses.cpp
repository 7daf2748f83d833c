// Syntax of listen addresses and trusted networks in the config.
#include <arpa/inet.h>

#include <array>
#include <charconv>
#include <cstdint>
#include <string>
#include <string_view>

#include "reader.hpp"

namespace policy_relay::config::detail {
namespace {

// Digits only (no sign, no spaces) and within 0 .. max.
bool parse_decimal(std::string_view text, unsigned max, unsigned& out) {
  if (text.empty() || text.size() > 5) {
    return false;
  }
  for (char c : text) {
    if (c < '0' || c > '9') {
      return false;
    }
  }
  unsigned value = 0;
  std::from_chars(text.data(), text.data() + text.size(), value);
  if (value > max) {
    return false;
  }
  out = value;
  return true;
}

// inet_pton wants a NUL-terminated string; `bytes` receives 4 or 16 bytes.
int parse_ip(std::string_view text, std::array<unsigned char, 16>& bytes) {
  if (text.empty() || text.size() > 45) {
    return 0;
  }
  const std::string terminated(text);
  if (inet_pton(AF_INET, terminated.c_str(), bytes.data()) == 1) {
    return AF_INET;
  }
  if (inet_pton(AF_INET6, terminated.c_str(), bytes.data()) == 1) {
    return AF_INET6;
  }
  return 0;
}

}  // namespace

std::string parse_listen_address(std::string_view text, ListenAddress& out) {
  std::string_view host;
  std::string_view port;
  std::array<unsigned char, 16> bytes{};
  if (!text.empty() && text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return "an IPv6 listen address is written \"[::1]:2525\"";
    }
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
    if (parse_ip(host, bytes) != AF_INET6) {
      return "'" + std::string(host) + "' is not an IPv6 address";
    }
  } else {
    const auto colon = text.rfind(':');
    if (colon == std::string_view::npos) {
      return "a listen address is written \"HOST:PORT\", e.g. \"127.0.0.1:2525\"";
    }
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) {
      return "write an IPv6 listen address in brackets, e.g. \"[::1]:2525\"";
    }
    if (parse_ip(host, bytes) != AF_INET) {
      return "'" + std::string(host) + "' is not an IP address (host names are not resolved here)";
    }
  }
  unsigned port_number = 0;
  if (!parse_decimal(port, 65535, port_number)) {
    return "port '" + std::string(port) + "' is not a number in 0..65535";
  }
  out.host = std::string(host);
  out.port = static_cast<std::uint16_t>(port_number);
  return {};
}

std::string check_network(std::string_view text) {
  const auto slash = text.find('/');
  if (slash == std::string_view::npos) {
    return "'" + std::string(text) + "' is not in CIDR notation (e.g. \"10.0.0.0/8\", \"::1/128\")";
  }
  std::array<unsigned char, 16> bytes{};
  const int family = parse_ip(text.substr(0, slash), bytes);
  if (family == 0) {
    return "'" + std::string(text.substr(0, slash)) + "' is not an IP address";
  }
  const unsigned max_prefix = family == AF_INET ? 32 : 128;
  unsigned prefix = 0;
  if (!parse_decimal(text.substr(slash + 1), max_prefix, prefix)) {
    return "prefix length '" + std::string(text.substr(slash + 1)) + "' is not in 0.." +
           std::to_string(max_prefix);
  }
  // "10.1.2.3/8" is almost always a typo for a host or for "10.0.0.0/8": refuse to guess.
  const unsigned length = family == AF_INET ? 4 : 16;
  for (unsigned bit = prefix; bit < length * 8; ++bit) {
    if (bytes[bit / 8] & (0x80u >> (bit % 8))) {
      return "'" + std::string(text) + "' has address bits set beyond the /" +
             std::to_string(prefix) + " prefix";
    }
  }
  return {};
}

}  // namespace policy_relay::config::detail
