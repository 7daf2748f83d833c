// smtp::ClientProtocol: STARTTLS and AUTH towards the upstream (RFC 3207, RFC 4954, XOAUTH2).
#include <doctest/doctest.h>

#include "client_transcript.hpp"
#include "policy_relay/smtp/base64.hpp"

using namespace transcript;
using policy_relay::smtp::base64_encode;
using namespace std::string_literals;

namespace {

ClientProtocol::Config secure(std::string mechanism) {
  return {.helo_hostname = "relay.test",
          .require_starttls = true,
          .auth_mechanism = std::move(mechanism),
          .auth_username = "relay@x.test"};
}

}  // namespace

TEST_CASE("STARTTLS, EHLO again, AUTH PLAIN, then the message") {
  const Outcome outcome = play({"S: 220 mx.test ESMTP",
                                "C: EHLO relay.test",
                                "S: 250-mx.test",
                                "S: 250 STARTTLS",
                                "C: STARTTLS",
                                "S: 220 2.0.0 Go ahead",
                                "C: <tls>",
                                "C: EHLO relay.test",
                                "S: 250-mx.test",
                                "S: 250 AUTH LOGIN PLAIN XOAUTH2",
                                "C: AUTH PLAIN " + base64_encode("\0relay@x.test\0s3cret"s),
                                "S: 235 2.7.0 Ok",
                                "C: MAIL FROM:<a@x.test>",
                                "S: 250 Ok",
                                "C: RCPT TO:<b@y.test>",
                                "S: 250 Ok",
                                "C: DATA",
                                "S: 354 Go",
                                "C: <body>",
                                "S: 250 Ok",
                                "C: QUIT",
                                "S: 221 Bye"},
                               {message({"b@y.test"})}, secure("PLAIN"));
  CHECK(outcome.failure.empty());
  CHECK(outcome.results == std::vector<std::vector<std::string>>{{"250 Ok"}});
}

TEST_CASE("an upstream without STARTTLS gets nothing: the message stays queued (4xx)") {
  const Outcome outcome =
      play({"S: 220 mx.test ESMTP", "C: EHLO relay.test", "S: 250-mx.test", "S: 250 PIPELINING"},
           {message({"b@y.test"})}, secure("PLAIN"));
  CHECK(outcome.failure ==
        "Upstream does not offer STARTTLS; not sending in plaintext (upstream.tls = starttls)");
}

TEST_CASE("AUTH LOGIN answers both prompts; a 535 fails the session with a 4xx") {
  const Outcome outcome =
      play({"S: 220 mx.test ESMTP", "C: EHLO relay.test", "S: 250-mx.test", "S: 250 STARTTLS",
            "C: STARTTLS", "S: 220 Go", "C: <tls>", "C: EHLO relay.test", "S: 250-mx.test",
            "S: 250 AUTH LOGIN", "C: AUTH LOGIN", "S: 334 VXNlcm5hbWU6",
            "C: " + base64_encode("relay@x.test"), "S: 334 UGFzc3dvcmQ6",
            "C: " + base64_encode("s3cret"), "S: 535 5.7.8 Bad credentials"},
           {message({"b@y.test"})}, secure("LOGIN"));
  CHECK(outcome.failure == "Upstream refused AUTH LOGIN: 535 5.7.8 Bad credentials");
}

TEST_CASE("XOAUTH2 sends Microsoft's SASL string; an error 334 gets an empty line") {
  ClientProtocol::Config config = secure("XOAUTH2");
  config.require_starttls = false;
  config.tls_active = true;
  const Outcome outcome =
      play({"S: 220 mx.test ESMTP", "C: EHLO relay.test", "S: 250-mx.test", "S: 250 AUTH XOAUTH2",
            "C: AUTH XOAUTH2 " + base64_encode("user=relay@x.test\1auth=Bearer s3cret\1\1"s),
            "S: 334 eyJzdGF0dXMiOiI0MDEifQ==", "C: ", "S: 535 5.7.3 Authentication unsuccessful"},
           {message({"b@y.test"})}, config);
  CHECK(outcome.failure == "Upstream refused AUTH XOAUTH2: 535 5.7.3 Authentication unsuccessful");
  CHECK(outcome.results == std::vector<std::vector<std::string>>{});
}

TEST_CASE("a missing AUTH mechanism fails the session before any MAIL") {
  ClientProtocol::Config config = secure("XOAUTH2");
  config.require_starttls = false;
  config.tls_active = true;
  const Outcome outcome =
      play({"S: 220 mx.test ESMTP", "C: EHLO relay.test", "S: 250-mx.test", "S: 250 AUTH PLAIN"},
           {message({"b@y.test"})}, config);
  CHECK(outcome.failure == "Upstream does not offer AUTH XOAUTH2");
}
