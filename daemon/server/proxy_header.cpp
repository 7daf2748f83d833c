#include "policy_relay/server/proxy_header.hpp"

#include <arpa/inet.h>

#include <array>
#include <vector>

namespace policy_relay::server {

namespace {

constexpr std::string_view v1_prefix = "PROXY ";
constexpr std::string_view v2_signature("\r\n\r\n\0\r\nQUIT\n", 12);
constexpr std::size_t v2_fixed = 16;

// Whether `data` could still become `prefix` (or already starts with it).
bool may_start(std::string_view data, std::string_view prefix) {
  const std::size_t n = std::min(data.size(), prefix.size());
  return data.substr(0, n) == prefix.substr(0, n);
}

std::vector<std::string_view> split_spaces(std::string_view line) {
  std::vector<std::string_view> parts;
  std::size_t position = 0;
  while (position <= line.size()) {
    const auto space = line.find(' ', position);
    parts.push_back(line.substr(position, space - position));
    if (space == std::string_view::npos) {
      break;
    }
    position = space + 1;
  }
  return parts;
}

bool parse_port(std::string_view text, std::uint16_t& port) {
  if (text.empty() || text.size() > 5 || (text.size() > 1 && text[0] == '0')) {
    return false;
  }
  unsigned value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') {
      return false;
    }
    value = value * 10 + static_cast<unsigned>(c - '0');
  }
  if (value > 65535) {
    return false;
  }
  port = static_cast<std::uint16_t>(value);
  return true;
}

// Text form of a binary address; "" when `text` is not an address of `family` (v1).
bool parse_ip(std::string_view text, int family, std::string& out) {
  if (text.empty() || text.size() > 45) {
    return false;
  }
  std::array<unsigned char, 16> bytes{};
  const std::string terminated(text);
  if (inet_pton(family, terminated.c_str(), bytes.data()) != 1) {
    return false;
  }
  char printable[INET6_ADDRSTRLEN] = {};
  inet_ntop(family, bytes.data(), printable, sizeof printable);
  out = printable;
  return true;
}

std::string format_ip(int family, const char* bytes) {
  char printable[INET6_ADDRSTRLEN] = {};
  inet_ntop(family, bytes, printable, sizeof printable);
  return printable;
}

std::uint16_t big_endian16(const char* data) {
  return static_cast<std::uint16_t>((static_cast<unsigned char>(data[0]) << 8) |
                                    static_cast<unsigned char>(data[1]));
}

}  // namespace

ProxyHeaderParser::Status ProxyHeaderParser::fail(std::string why) {
  error_ = std::move(why);
  status_ = Status::error;
  buffer_.clear();
  return status_;
}

ProxyHeaderParser::Status ProxyHeaderParser::feed(std::string_view bytes) {
  if (status_ != Status::need_more) {
    return status_;
  }
  // Never hold more than the largest header we accept, plus what may follow it in this read.
  buffer_.append(bytes);
  if (may_start(buffer_, v1_prefix)) {
    const std::size_t line_end = buffer_.find("\r\n");
    if (line_end == std::string::npos) {
      const auto lf = buffer_.find('\n');
      if (lf != std::string::npos) {
        return fail("v1 header line ends without CR");
      }
      if (buffer_.size() >= v1_max_size) {
        return fail("v1 header longer than 107 bytes");
      }
      return status_;
    }
    if (line_end + 2 > v1_max_size) {
      return fail("v1 header longer than 107 bytes");
    }
    return parse_v1(line_end);
  }
  if (may_start(buffer_, v2_signature)) {
    return parse_v2();
  }
  return fail("not a PROXY protocol header (wrong signature)");
}

ProxyHeaderParser::Status ProxyHeaderParser::parse_v1(std::size_t line_end) {
  const std::string_view line = std::string_view(buffer_).substr(0, line_end);
  const auto parts = split_spaces(line);
  header_.version = 1;
  if (parts.size() >= 2 && parts[1] == "UNKNOWN") {
    header_.local = true;  // the rest of the line is to be ignored
  } else if (parts.size() != 6 || (parts[1] != "TCP4" && parts[1] != "TCP6")) {
    return fail("v1 header is not \"PROXY TCP4|TCP6|UNKNOWN SRC DST SPORT DPORT\"");
  } else {
    const int family = parts[1] == "TCP4" ? AF_INET : AF_INET6;
    if (!parse_ip(parts[2], family, header_.source_address) ||
        !parse_ip(parts[3], family, header_.destination_address)) {
      return fail("v1 header has an address that does not match " + std::string(parts[1]));
    }
    if (!parse_port(parts[4], header_.source_port) ||
        !parse_port(parts[5], header_.destination_port)) {
      return fail("v1 header has a bad port");
    }
  }
  leftover_ = buffer_.substr(line_end + 2);
  buffer_.clear();
  status_ = Status::done;
  return status_;
}

ProxyHeaderParser::Status ProxyHeaderParser::parse_v2() {
  if (buffer_.size() < v2_fixed) {
    return status_;
  }
  const auto version_command = static_cast<unsigned char>(buffer_[12]);
  if ((version_command >> 4) != 2) {
    return fail("v2 header with version " + std::to_string(version_command >> 4));
  }
  const unsigned command = version_command & 0x0F;
  if (command > 1) {
    return fail("v2 header with unknown command " + std::to_string(command));
  }
  const std::size_t total = v2_fixed + big_endian16(buffer_.data() + 14);
  if (total > v2_max_size_) {
    return fail("v2 header of " + std::to_string(total) + " bytes is over the bound of " +
                std::to_string(v2_max_size_));
  }
  if (buffer_.size() < total) {
    return status_;
  }
  header_.version = 2;
  const auto family = static_cast<unsigned char>(buffer_[13]);
  const std::size_t length = total - v2_fixed;
  const char* body = buffer_.data() + v2_fixed;
  if (command == 0) {
    header_.local = true;       // LOCAL: the proxy's own connection (health check)
  } else if (family == 0x11) {  // TCP over IPv4: src, dst, sport, dport; then TLVs
    if (length < 12) {
      return fail("v2 header too short for IPv4 addresses");
    }
    header_.source_address = format_ip(AF_INET, body);
    header_.destination_address = format_ip(AF_INET, body + 4);
    header_.source_port = big_endian16(body + 8);
    header_.destination_port = big_endian16(body + 10);
  } else if (family == 0x21) {  // TCP over IPv6
    if (length < 36) {
      return fail("v2 header too short for IPv6 addresses");
    }
    header_.source_address = format_ip(AF_INET6, body);
    header_.destination_address = format_ip(AF_INET6, body + 16);
    header_.source_port = big_endian16(body + 32);
    header_.destination_port = big_endian16(body + 34);
  } else if (family == 0x00 || family == 0x31) {
    header_.local = true;  // UNSPEC or a Unix socket: no IP client to report
  } else {
    return fail("v2 header with unsupported family/transport 0x" +
                std::string(1, "0123456789abcdef"[family >> 4]) +
                std::string(1, "0123456789abcdef"[family & 0x0F]));
  }
  leftover_ = buffer_.substr(total);
  buffer_.clear();
  status_ = Status::done;
  return status_;
}

}  // namespace policy_relay::server
