// smtp::parse_path_argument and the domain / address-literal checks (RFC 5321 4.1.2, 4.1.3,
// 4.5.3.1; RFC 6531 for UTF-8).
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "policy_relay/smtp/address.hpp"

using policy_relay::smtp::is_valid_address_literal;
using policy_relay::smtp::is_valid_domain;
using policy_relay::smtp::parse_path_argument;
using policy_relay::smtp::PathError;

namespace {

const char* error_name(PathError error) {
  switch (error) {
    case PathError::none:
      return "none";
    case PathError::syntax:
      return "syntax";
    case PathError::null_not_allowed:
      return "null_not_allowed";
    case PathError::utf8_without_smtputf8:
      return "utf8_without_smtputf8";
    case PathError::too_long:
      return "too_long";
    case PathError::bad_parameter:
      return "bad_parameter";
  }
  return "?";
}

struct Valid {
  std::string argument;
  std::string address;
  std::string local_part;
  std::string domain;
};

struct Invalid {
  std::string argument;
  PathError error;
};

std::string mailbox_of_path_length(std::size_t octets) {
  // "<" + local(10) + "@" + domain + ">" with labels of at most 63 octets.
  std::string domain;
  const std::size_t domain_length = octets - 13;
  while (domain.size() < domain_length) {
    if (!domain.empty()) {
      domain += '.';
    }
    domain += std::string(std::min<std::size_t>(50, domain_length - domain.size()), 'd');
  }
  if (domain.back() == '.') {
    domain.back() = 'e';
  }
  return "<" + std::string(10, 'l') + "@" + domain + ">";
}

}  // namespace

TEST_CASE("valid paths give the address, the local part and the domain as written") {
  const std::vector<Valid> rows = {
      {"<user@example.org>", "user@example.org", "user", "example.org"},
      {"<User.Name@Example.ORG>", "User.Name@Example.ORG", "User.Name", "Example.ORG"},
      {" <a@b>", "a@b", "a", "b"},
      {"  <a@b>  ", "a@b", "a", "b"},
      {"<a+tag@sub.example.org>", "a+tag@sub.example.org", "a+tag", "sub.example.org"},
      {"<!#$%&'*+-/=?^_`{|}~@x.example>", "!#$%&'*+-/=?^_`{|}~@x.example", "!#$%&'*+-/=?^_`{|}~",
       "x.example"},
      {"<\"john doe\"@example.org>", "\"john doe\"@example.org", "\"john doe\"", "example.org"},
      {"<\"a\\\"b\"@x.example>", "\"a\\\"b\"@x.example", "\"a\\\"b\"", "x.example"},
      {"<\"a@b>c\"@x.example>", "\"a@b>c\"@x.example", "\"a@b>c\"", "x.example"},
      {"<\"\"@x.example>", "\"\"@x.example", "\"\"", "x.example"},
      {"<\"a\\\\b\"@x.example>", "\"a\\\\b\"@x.example", "\"a\\\\b\"", "x.example"},
      {"<u@[192.0.2.1]>", "u@[192.0.2.1]", "u", "[192.0.2.1]"},
      {"<u@[IPv6:2001:db8::1]>", "u@[IPv6:2001:db8::1]", "u", "[IPv6:2001:db8::1]"},
      {"<u@[ipv6:::ffff:192.0.2.1]>", "u@[ipv6:::ffff:192.0.2.1]", "u", "[ipv6:::ffff:192.0.2.1]"},
      {"<@relay.example:u@x.example>", "u@x.example", "u", "x.example"},
      {"<@a.example,@b.example:u@x.example>", "u@x.example", "u", "x.example"},
      {"<u@1-2.x-y.example>", "u@1-2.x-y.example", "u", "1-2.x-y.example"},
      {"<u@localhost>", "u@localhost", "u", "localhost"},
  };
  for (const Valid& row : rows) {
    CAPTURE(row.argument);
    const auto result = parse_path_argument(row.argument, true, false);
    CHECK(error_name(result.error) == std::string("none"));
    CHECK(result.value.path.address == row.address);
    CHECK(result.value.path.local_part == row.local_part);
    CHECK(result.value.path.domain == row.domain);
    CHECK(!result.value.path.is_utf8);
    CHECK(result.value.parameters.empty());
  }
}

TEST_CASE("malformed paths are syntax errors") {
  const std::vector<std::string> rows = {
      "",
      "user@example.org",
      "<user@example.org",
      "user@example.org>",
      "<user>",
      "<@example.org>",
      "<user@>",
      "<user@@example.org>",
      "<.user@example.org>",
      "<user.@example.org>",
      "<us..er@example.org>",
      "<us er@example.org>",
      "< user@example.org>",
      "<user@example.org >",
      "<user@-example.org>",
      "<user@example-.org>",
      "<user@exa_mple.org>",
      "<user@example..org>",
      "<user@.example.org>",
      "<user@example.org.>",
      "<user@" + std::string(64, 'a') + ".org>",
      "<\"unterminated@example.org>",
      "<\"a\"b@example.org>",
      "<\"a\x01\"@example.org>",
      "<\"a\\\x01\"@example.org>",
      "<us(er)@example.org>",
      "<user@example.org>x",
      "<user@example.org>SIZE=1",
      "<u@[192.0.2]>",
      "<u@[192.0.2.256]>",
      "<u@[192.0.2.1.5]>",
      "<u@[1234.0.2.1]>",
      "<u@[IPv6:2001:db8::g]>",
      "<u@[IPv6:1:2:3:4:5:6:7:8:9]>",
      "<u@[IPv6:fe80::1%eth0]>",
      "<u@[tag:anything]>",
      "<u@[192.0.2.1>",
      "<@relay.example u@x.example>",
      "<@relay.example,u@x.example>",
      "<@:u@x.example>",
      std::string("<a@b\0>", 6),
      "<a\x7f@b>",
      "<\xC3@x.example>",              // truncated UTF-8
      "<\xC0\xAF@x.example>",          // overlong '/'
      "<\xED\xA0\x80@x.example>",      // surrogate
      "<\xF4\x90\x80\x80@x.example>",  // above U+10FFFF
      "<u@\xFF.example>",
      "<Postmaster>",  // only for RCPT
  };
  for (const std::string& argument : rows) {
    CAPTURE(argument);
    CHECK(error_name(parse_path_argument(argument, true, true).error) == std::string("syntax"));
  }
}

TEST_CASE("the null path is allowed only where the caller allows it") {
  auto mail = parse_path_argument("<>", true, false);
  CHECK(mail.error == PathError::none);
  CHECK(mail.value.path.is_null());
  CHECK(parse_path_argument(" <> SIZE=10", true, false).value.parameters.size() == 1);
  CHECK(parse_path_argument("<>", false, false).error == PathError::null_not_allowed);
  CHECK(parse_path_argument("<> ", false, false).error == PathError::null_not_allowed);
}

TEST_CASE("Postmaster without a domain is a recipient in any case") {
  for (const char* argument : {"<Postmaster>", "<postmaster>", "<POSTMASTER>", " <PostMaster>"}) {
    CAPTURE(argument);
    const auto rcpt = parse_path_argument(argument, false, false);
    CHECK(rcpt.error == PathError::none);
    CHECK(rcpt.value.path.domain.empty());
    CHECK(!rcpt.value.path.is_null());
  }
  CHECK(parse_path_argument("<Postmaster>", false, false).value.path.address == "Postmaster");
  CHECK(parse_path_argument("<postmasters>", false, false).error == PathError::syntax);
  CHECK(parse_path_argument("<postmaster@x.example>", false, false).value.path.local_part ==
        "postmaster");
}

TEST_CASE("length limits: local part 64, domain 255, path 256 octets") {
  CHECK(parse_path_argument("<" + std::string(64, 'a') + "@x.example>", true, false).error ==
        PathError::none);
  CHECK(parse_path_argument("<" + std::string(65, 'a') + "@x.example>", true, false).error ==
        PathError::too_long);
  CHECK(parse_path_argument("<\"" + std::string(62, 'a') + "\"@x.example>", true, false).error ==
        PathError::none);
  CHECK(parse_path_argument("<\"" + std::string(63, 'a') + "\"@x.example>", true, false).error ==
        PathError::too_long);
  const std::string path_256 = mailbox_of_path_length(256);
  REQUIRE(path_256.size() == 256);
  CHECK(parse_path_argument(path_256, true, false).error == PathError::none);
  const std::string path_257 = mailbox_of_path_length(257);
  REQUIRE(path_257.size() == 257);
  CHECK(parse_path_argument(path_257, true, false).error == PathError::too_long);
  CHECK(parse_path_argument(mailbox_of_path_length(300), true, false).error == PathError::too_long);
}

TEST_CASE("UTF-8 addresses need SMTPUTF8") {
  const std::vector<std::string> utf8 = {
      "<\xC3\xBC@x.example>",                  // ü@x.example
      "<u@\xE4\xBE\x8B\xE3\x81\x88.example>",  // u@例え.example
      "<\"\xC3\xA9 t\xC3\xA9\"@x.example>",    // quoted, with UTF-8
      "<\xF0\x9F\x98\x80@x.example>",          // a 4-octet sequence
  };
  for (const std::string& argument : utf8) {
    CAPTURE(argument);
    CHECK(parse_path_argument(argument, true, false).error == PathError::utf8_without_smtputf8);
    const auto allowed = parse_path_argument(argument, true, true);
    CHECK(allowed.error == PathError::none);
    CHECK(allowed.value.path.is_utf8);
    const auto requested = parse_path_argument(argument + " SMTPUTF8", true, false);
    CHECK(requested.error == PathError::none);
    CHECK(parse_path_argument(argument + " smtputf8", true, false).error == PathError::none);
  }
  CHECK(!parse_path_argument("<ascii@x.example>", true, false).value.path.is_utf8);
}

TEST_CASE("parameters are split at spaces, keywords upper-cased, values kept") {
  const auto result =
      parse_path_argument("<a@b.example> size=100  body=8BITMIME SMTPUTF8 X-Y=a+b", true, true);
  REQUIRE(result.error == PathError::none);
  const auto& parameters = result.value.parameters;
  REQUIRE(parameters.size() == 4);
  CHECK(parameters[0].keyword == "SIZE");
  CHECK(parameters[0].value == "100");
  CHECK(parameters[1].keyword == "BODY");
  CHECK(parameters[1].value == "8BITMIME");
  CHECK(parameters[2].keyword == "SMTPUTF8");
  CHECK(!parameters[2].value.has_value());
  CHECK(parameters[3].keyword == "X-Y");
  CHECK(parameters[3].value == "a+b");
}

TEST_CASE("malformed parameters are bad_parameter") {
  for (const char* argument : {"<a@b> SIZE=", "<a@b> =1", "<a@b> -X=1", "<a@b> A_B=1",
                               "<a@b> A=b=c", "<a@b> A=\x01", "<a@b> A=\xC3\xBC"}) {
    CAPTURE(argument);
    CHECK(parse_path_argument(argument, true, true).error == PathError::bad_parameter);
  }
}

TEST_CASE("domains follow RFC 5321 and allow U-labels") {
  const std::vector<std::pair<std::string, bool>> rows = {
      {"example.org", true},
      {"a", true},
      {"a-b.c-d", true},
      {"123.example", true},
      {"xn--bcher-kva.example", true},
      {"b\xC3\xBC"
       "cher.example",
       true},
      {std::string(63, 'a') + ".org", true},
      {std::string(64, 'a') + ".org", false},
      {std::string(63, 'a') + "." + std::string(63, 'b') + "." + std::string(63, 'c') + "." +
           std::string(63, 'd'),
       true},  // 255 octets
      {std::string(63, 'a') + "." + std::string(63, 'b') + "." + std::string(63, 'c') + "." +
           std::string(64, 'd'),
       false},
      {"", false},
      {".", false},
      {"a..b", false},
      {"-a.b", false},
      {"a-.b", false},
      {"a.b.", false},
      {"a b", false},
      {"a_b", false},
      {"[192.0.2.1]", false},
      {"b\xC3.example", false},
  };
  for (const auto& [domain, valid] : rows) {
    CAPTURE(domain);
    CHECK(is_valid_domain(domain) == valid);
  }
  CHECK(is_valid_domain("Canon_MF4800", /*allow_underscore=*/true));
}

TEST_CASE("address literals are IPv4 or IPv6") {
  const std::vector<std::pair<std::string, bool>> rows = {
      {"[192.0.2.1]", true},
      {"[0.0.0.0]", true},
      {"[255.255.255.255]", true},
      {"[010.001.000.1]", true},
      {"[IPv6:::1]", true},
      {"[IPv6:2001:db8::1]", true},
      {"[IPv6:1:2:3:4:5:6:7:8]", true},
      {"[IPv6:::ffff:192.0.2.1]", true},
      {"[IPv6:]", false},
      {"[IPv6:1:2:3:4:5:6:7:8:9]", false},
      {"[IPv6:192.0.2.1]", false},
      {"[256.0.0.1]", false},
      {"[1.2.3]", false},
      {"[1.2.3.4.]", false},
      {"[1..2.3]", false},
      {"[ 1.2.3.4]", false},
      {"1.2.3.4", false},
      {"[]", false},
      {"[x-tag:stuff]", false},
      {"[1.2.3.4", false},
  };
  for (const auto& [literal, valid] : rows) {
    CAPTURE(literal);
    CHECK(is_valid_address_literal(literal) == valid);
  }
}
