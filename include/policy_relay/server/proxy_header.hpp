#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

// The PROXY protocol header a load balancer (HAProxy `send-proxy` / `send-proxy-v2`) sends
// before anything else on a connection, naming the client it accepted. Sans-I/O: bytes in,
// a verdict out; the caller reads with a deadline and decides (server.proxy_protocol).
// Specification: HAProxy's "The PROXY protocol", versions 1 and 2 (haproxy/doc/proxy-protocol.txt).
//   v1: "PROXY TCP4|TCP6 SRC DST SPORT DPORT\r\n" or "PROXY UNKNOWN ...\r\n", at most 107 bytes.
//   v2: the 12-byte signature, version/command, family/transport, a 16-bit length, then the
//       addresses and TLVs (skipped); LOCAL (health checks) carries no client.
namespace policy_relay::server {

struct ProxyHeader {
  int version = 0;  // 1 or 2
  // No client address to use (v2 LOCAL, v1 UNKNOWN, v2 UNSPEC/UNIX family): the connection's
  // own peer stands for the client.
  bool local = false;
  std::string source_address;  // "192.0.2.7", "2001:db8::7"
  std::uint16_t source_port = 0;
  std::string destination_address;
  std::uint16_t destination_port = 0;
};

class ProxyHeaderParser {
 public:
  static constexpr std::size_t v1_max_size = 107;  // the specification's bound, CRLF included
  // Bound on a whole v2 header (16 + addresses + TLVs); the format allows 16 + 65535.
  static constexpr std::size_t default_v2_max_size = 4096;

  enum class Status { need_more, done, error };

  explicit ProxyHeaderParser(std::size_t v2_max_size = default_v2_max_size)
      : v2_max_size_(v2_max_size) {}

  // Takes the next bytes of the connection. After `done`, bytes beyond the header (a client
  // that did not wait for the greeting) are in leftover(); after `error`, error() says why.
  // Further calls after done/error change nothing.
  Status feed(std::string_view bytes);

  Status status() const { return status_; }
  const ProxyHeader& header() const { return header_; }
  std::string_view leftover() const { return leftover_; }
  const std::string& error() const { return error_; }

 private:
  Status fail(std::string why);
  Status parse_v1(std::size_t line_end);
  Status parse_v2();

  std::size_t v2_max_size_;
  std::string buffer_;
  std::string leftover_;
  Status status_ = Status::need_more;
  ProxyHeader header_;
  std::string error_;
};

}  // namespace policy_relay::server
