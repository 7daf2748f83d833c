// Base64 (RFC 4648) and the server side of AUTH PLAIN / LOGIN (RFC 4954, RFC 4616).
#include <doctest/doctest.h>

#include <string>

#include "policy_relay/smtp/base64.hpp"
#include "policy_relay/smtp/sasl_server.hpp"

using namespace policy_relay::smtp;
using namespace std::string_literals;
using Outcome = SaslServer::Outcome;

TEST_CASE("base64 round-trips every length and refuses anything not canonical") {
  const std::string octets = "\0\1\2\xff\xfe zq"s;
  for (std::size_t n = 0; n <= octets.size(); ++n) {
    const std::string part = octets.substr(0, n);
    CHECK(base64_decode(base64_encode(part)) == part);
  }
  CHECK(base64_encode("\0a\0b"s) == "AGEAYg==");
  CHECK(base64_decode("") == std::string());
  for (const char* bad : {"A", "AGE", "AG=A", "A===", "AGE*", "AGEAYg=", "AGEAYh==", " AGE"}) {
    CAPTURE(bad);
    CHECK_FALSE(base64_decode(bad).has_value());
  }
}

TEST_CASE("AUTH PLAIN with an initial response yields the credentials") {
  SaslServer sasl;
  const auto step = sasl.start("PLAIN " + base64_encode("\0juan@edomex.gob.mx\0s3cret"s));
  REQUIRE(step.outcome == Outcome::credentials);
  CHECK(sasl.credentials().username == "juan@edomex.gob.mx");
  CHECK(sasl.credentials().password == "s3cret");
}

TEST_CASE("AUTH PLAIN without an initial response sends an empty challenge first") {
  SaslServer sasl;
  const auto first = sasl.start("plain");
  CHECK(first.outcome == Outcome::challenge);
  CHECK(first.challenge.empty());
  const auto second = sasl.respond(base64_encode("juan\0juan\0pw"s));
  REQUIRE(second.outcome == Outcome::credentials);
  CHECK(sasl.credentials().username == "juan");
}

TEST_CASE("AUTH LOGIN asks for the user name and the password") {
  SaslServer sasl;
  auto step = sasl.start("LOGIN");
  CHECK(step.challenge == "VXNlcm5hbWU6");
  step = sasl.respond(base64_encode("juan"));
  CHECK(step.challenge == "UGFzc3dvcmQ6");
  step = sasl.respond(base64_encode("pw"));
  REQUIRE(step.outcome == Outcome::credentials);
  CHECK(sasl.credentials().username == "juan");
  CHECK(sasl.credentials().password == "pw");

  SaslServer with_initial;
  CHECK(with_initial.start("LOGIN " + base64_encode("juan")).challenge == "UGFzc3dvcmQ6");
}

TEST_CASE("AUTH refusals: unknown mechanism, syntax, bad base64, cancel, proxy identity") {
  struct Row {
    std::string argument;
    std::string response;  // "" = no response step
    std::string reply;
  };
  const Row rows[] = {
      {"CRAM-MD5", "", "504 5.5.4 Unrecognized authentication type"},
      {"", "", "501 5.5.4 Syntax: AUTH mechanism [initial-response]"},
      {"PLAIN a b", "", "501 5.5.4 Syntax: AUTH mechanism [initial-response]"},
      {"PLAIN !!!!", "", "501 5.5.2 Cannot decode response"},
      {"PLAIN " + base64_encode("no nuls"), "", "501 5.5.2 Malformed PLAIN response"},
      {"PLAIN " + base64_encode("\0\0pw"s), "", "501 5.5.2 Malformed PLAIN response"},
      {"PLAIN " + base64_encode("boss\0juan\0pw"s), "",
       "535 5.7.8 Authentication credentials invalid"},
      {"PLAIN", "*", "501 5.7.0 Authentication cancelled"},
      {"LOGIN", "*", "501 5.7.0 Authentication cancelled"},
      {"LOGIN", "====", "501 5.5.2 Cannot decode response"},
      {"PLAIN =", "", "501 5.5.2 Malformed PLAIN response"},
  };
  for (const Row& row : rows) {
    CAPTURE(row.argument);
    SaslServer sasl;
    auto step = sasl.start(row.argument);
    if (!row.response.empty()) {
      REQUIRE(step.outcome == Outcome::challenge);
      step = sasl.respond(row.response);
    }
    REQUIRE(step.outcome == Outcome::refused);
    CHECK(step.refusal.to_log() == row.reply);
    CHECK_FALSE(sasl.in_progress());
  }
}

TEST_CASE("credentials wipe their password when moved from or cleared") {
  Credentials credentials;
  credentials.username = "u";
  credentials.password = "secret";
  Credentials moved = std::move(credentials);
  CHECK(credentials.password.empty());
  CHECK(moved.password == "secret");
  moved.clear();
  CHECK(moved.password.empty());
}
