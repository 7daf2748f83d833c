#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "policy_relay/server/proxy_header.hpp"

using policy_relay::server::ProxyHeaderParser;
using Status = ProxyHeaderParser::Status;

namespace {

const std::string kSignature("\r\n\r\n\0\r\nQUIT\n", 12);

std::string v2(unsigned char version_command, unsigned char family, const std::string& body) {
  std::string header = kSignature;
  header.push_back(static_cast<char>(version_command));
  header.push_back(static_cast<char>(family));
  header.push_back(static_cast<char>((body.size() >> 8) & 0xFF));
  header.push_back(static_cast<char>(body.size() & 0xFF));
  return header + body;
}

std::string bytes(std::initializer_list<int> values) {
  std::string out;
  for (int value : values) {
    out.push_back(static_cast<char>(value));
  }
  return out;
}

// 192.0.2.7:51000 -> 198.51.100.1:587
const std::string kIpv4 = bytes({192, 0, 2, 7, 198, 51, 100, 1, 0xC7, 0x38, 0x02, 0x4B});
// 2001:db8::7:51000 -> 2001:db8::1:587
const std::string kIpv6 =
    bytes({0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,    7,    0x20, 0x01,
           0x0d, 0xb8, 0,    0,    0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xC7, 0x38, 0x02, 0x4B});
// A TLV (PP2_TYPE_AUTHORITY "mx") and a NOOP TLV: skipped.
const std::string kTlvs = bytes({0x02, 0x00, 0x02, 'm', 'x', 0x04, 0x00, 0x00});

struct Case {
  const char* name;
  std::string input;
  Status status;
  bool local = false;
  const char* source = "";
  int source_port = 0;
  const char* leftover = "";
};

}  // namespace

TEST_CASE("PROXY headers v1 and v2: what each input yields, fed whole and byte by byte") {
  const std::vector<Case> cases = {
      {"v1 TCP4", "PROXY TCP4 192.0.2.7 198.51.100.1 51000 587\r\n", Status::done, false,
       "192.0.2.7", 51000},
      {"v1 TCP6", "PROXY TCP6 2001:db8::7 2001:db8::1 51000 587\r\n", Status::done, false,
       "2001:db8::7", 51000},
      {"v1 UNKNOWN with junk", "PROXY UNKNOWN whatever follows\r\n", Status::done, true},
      {"v1 UNKNOWN bare", "PROXY UNKNOWN\r\n", Status::done, true},
      {"v1 then an early EHLO", "PROXY TCP4 192.0.2.7 198.51.100.1 1 2\r\nEHLO x\r\n", Status::done,
       false, "192.0.2.7", 1, "EHLO x\r\n"},
      {"v1 truncated", "PROXY TCP4 192.0.2.7 198.5", Status::need_more},
      {"v1 address of the other family", "PROXY TCP4 2001:db8::7 198.51.100.1 1 2\r\n",
       Status::error},
      {"v1 bad port", "PROXY TCP4 192.0.2.7 198.51.100.1 65536 2\r\n", Status::error},
      {"v1 leading zero port", "PROXY TCP4 192.0.2.7 198.51.100.1 025 2\r\n", Status::error},
      {"v1 missing field", "PROXY TCP4 192.0.2.7 198.51.100.1 25\r\n", Status::error},
      {"v1 unknown protocol", "PROXY UDP4 192.0.2.7 198.51.100.1 1 2\r\n", Status::error},
      {"v1 double space", "PROXY TCP4  192.0.2.7 198.51.100.1 1 2\r\n", Status::error},
      {"v1 bare LF", "PROXY TCP4 192.0.2.7 198.51.100.1 1 2\n", Status::error},
      {"v1 over 107 bytes", "PROXY UNKNOWN " + std::string(100, 'x') + "\r\n", Status::error},
      {"v1 over 107 bytes, no end", "PROXY UNKNOWN " + std::string(100, 'x'), Status::error},
      {"SMTP instead of a header", "EHLO client.example\r\n", Status::error},
      {"lower-case proxy", "proxy TCP4 192.0.2.7 198.51.100.1 1 2\r\n", Status::error},
      {"v2 PROXY IPv4", v2(0x21, 0x11, kIpv4), Status::done, false, "192.0.2.7", 51000},
      {"v2 PROXY IPv6", v2(0x21, 0x21, kIpv6), Status::done, false, "2001:db8::7", 51000},
      {"v2 PROXY IPv4 with TLVs", v2(0x21, 0x11, kIpv4 + kTlvs) + "QUIT\r\n", Status::done, false,
       "192.0.2.7", 51000, "QUIT\r\n"},
      {"v2 LOCAL", v2(0x20, 0x00, ""), Status::done, true},
      {"v2 LOCAL with addresses", v2(0x20, 0x11, kIpv4), Status::done, true},
      {"v2 PROXY UNSPEC", v2(0x21, 0x00, ""), Status::done, true},
      {"v2 truncated body", v2(0x21, 0x11, kIpv4).substr(0, 20), Status::need_more},
      {"v2 truncated signature", kSignature.substr(0, 7), Status::need_more},
      {"v2 wrong signature", std::string("\r\n\r\n\0\r\nQUIT!", 12) + std::string(8, '\0'),
       Status::error},
      {"v2 version 1", v2(0x11, 0x11, kIpv4), Status::error},
      {"v2 unknown command", v2(0x22, 0x11, kIpv4), Status::error},
      {"v2 IPv4 too short", v2(0x21, 0x11, kIpv4.substr(0, 11)), Status::error},
      {"v2 IPv6 too short", v2(0x21, 0x21, kIpv4), Status::error},
      {"v2 datagram", v2(0x21, 0x12, kIpv4), Status::error},
      {"v2 over the bound", v2(0x21, 0x11, kIpv4 + std::string(5000, '\0')), Status::error},
  };
  for (const Case& test : cases) {
    CAPTURE(test.name);
    for (bool byte_by_byte : {false, true}) {
      CAPTURE(byte_by_byte);
      ProxyHeaderParser parser;
      Status status = Status::need_more;
      if (byte_by_byte) {
        for (char c : test.input) {
          status = parser.feed(std::string_view(&c, 1));
          if (status != Status::need_more) {
            break;
          }
        }
      } else {
        status = parser.feed(test.input);
      }
      CHECK(status == test.status);
      if (status == Status::error) {
        CHECK_FALSE(parser.error().empty());
      }
      if (status == Status::done) {
        CHECK(parser.header().local == test.local);
        CHECK(parser.header().source_address == test.source);
        CHECK(parser.header().source_port == test.source_port);
        if (!byte_by_byte) {  // byte by byte stops feeding at the header's end
          CHECK(parser.leftover() == test.leftover);
        }
      }
    }
  }
}

TEST_CASE("a PROXY parser that finished ignores further bytes") {
  ProxyHeaderParser parser;
  REQUIRE(parser.feed("PROXY UNKNOWN\r\n") == Status::done);
  CHECK(parser.feed("garbage") == Status::done);
  ProxyHeaderParser broken;
  REQUIRE(broken.feed("GET / HTTP/1.0\r\n") == Status::error);
  CHECK(broken.feed("PROXY UNKNOWN\r\n") == Status::error);
}
