#include <doctest/doctest.h>

#include "client_transcript.hpp"

using transcript::message;
using transcript::play;
using Results = std::vector<std::string>;

TEST_CASE("the client sends one command at a time when the server lacks PIPELINING") {
  const auto outcome = play(
      {
          "S: 220 mx.test ESMTP",
          "C: EHLO relay.test",
          "S: 250-mx.test Hello",
          "S: 250-8BITMIME",
          "S: 250-ENHANCEDSTATUSCODES",
          "S: 250 SIZE 1000",
          "C: MAIL FROM:<a@x.test> SIZE=100",
          "S: 250 2.1.0 Ok",
          "C: RCPT TO:<b@y.test>",
          "S: 250 2.1.5 Ok",
          "C: RCPT TO:<c@y.test>",
          "S: 550 5.1.1 No such user",
          "C: DATA",
          "S: 354 End data with <CR><LF>.<CR><LF>",
          "C: <body>",
          "S: 250 2.0.0 Ok: queued as ABC",
          "C: QUIT",
          "S: 221 2.0.0 Bye",
      },
      {message({"b@y.test", "c@y.test"})});
  REQUIRE(outcome.results.size() == 1);
  CHECK(outcome.results[0] == Results{"250 2.0.0 Ok: queued as ABC", "550 5.1.1 No such user"});
  CHECK(outcome.failure.empty());
}

TEST_CASE("the client pipelines MAIL, RCPT and DATA in one group when the server offers it") {
  const auto outcome = play(
      {
          "S: 220 mx.test ESMTP",
          "C: EHLO relay.test",
          "S: 250-mx.test",
          "S: 250 PIPELINING",
          "C: MAIL FROM:<a@x.test>",
          "C: RCPT TO:<b@y.test>",
          "C: RCPT TO:<c@y.test>",
          "C: DATA",
          "S: 250 2.1.0 Ok",
          "S: 550 5.1.1 No such user",
          "S: 250 2.1.5 Ok",
          "S: 354 Go ahead",
          "C: <body>",
          "S: 250 2.0.0 Ok: queued as XYZ",
          "C: QUIT",
          "S: 221 Bye",
      },
      {message({"b@y.test", "c@y.test"})});
  REQUIRE(outcome.results.size() == 1);
  CHECK(outcome.results[0] == Results{"550 5.1.1 No such user", "250 2.0.0 Ok: queued as XYZ"});
}

TEST_CASE("the client falls back to HELO when EHLO gets a 5xx and then uses no extensions") {
  const auto outcome = play(
      {
          "S: 220 old.test SMTP",
          "C: EHLO relay.test",
          "S: 502 Command not implemented",
          "C: HELO relay.test",
          "S: 250 old.test",
          "C: MAIL FROM:<a@x.test>",
          "S: 250 Ok",
          "C: RCPT TO:<b@y.test>",
          "S: 250 Ok",
          "C: DATA",
          "S: 354 Go",
          "C: <body>",
          "S: 250 Ok",
          "C: QUIT",
          "S: 221 Bye",
      },
      {message({"b@y.test"})});
  REQUIRE(outcome.results.size() == 1);
  CHECK(outcome.results[0] == Results{"250 Ok"});
}

TEST_CASE("a multi-line refusal becomes one reply with one text line per reply line") {
  const auto outcome = play(
      {
          "S: 220-mx.test ESMTP",
          "S: 220 second greeting line",
          "C: EHLO relay.test",
          "S: 250 mx.test",
          "C: MAIL FROM:<a@x.test>",
          "S: 250 Ok",
          "C: RCPT TO:<b@y.test>",
          "S: 550-5.1.1 The email account that you tried to reach does not exist.",
          "S: 550-5.1.1 Please try double-checking the recipient's email",
          "S: 550 5.1.1 address for typos.",
          "C: QUIT",
          "S: 221 Bye",
      },
      {message({"b@y.test"})});
  REQUIRE(outcome.results.size() == 1);
  CHECK(outcome.results[0] ==
        Results{"550 5.1.1 The email account that you tried to reach does not exist.\n"
                "Please try double-checking the recipient's email\naddress for typos."});
}

TEST_CASE("a refused DATA applies to every accepted recipient") {
  const auto outcome = play(
      {
          "S: 220 mx.test",
          "C: EHLO relay.test",
          "S: 250-mx.test",
          "S: 250 PIPELINING",
          "C: MAIL FROM:<a@x.test>",
          "C: RCPT TO:<b@y.test>",
          "C: RCPT TO:<c@y.test>",
          "C: DATA",
          "S: 250 Ok",
          "S: 250 Ok",
          "S: 550 5.1.1 Unknown",
          "S: 451 4.3.0 Try later",
          "C: QUIT",
          "S: 221 Bye",
      },
      {message({"b@y.test", "c@y.test"})});
  REQUIRE(outcome.results.size() == 1);
  CHECK(outcome.results[0] == Results{"451 4.3.0 Try later", "550 5.1.1 Unknown"});
}

TEST_CASE("the final reply, 4xx or 5xx, applies to every accepted recipient") {
  for (const std::string final_reply : {"451 4.7.500 Server busy", "554 5.7.1 Rejected as spam"}) {
    CAPTURE(final_reply);
    const auto outcome = play(
        {
            "S: 220 mx.test",
            "C: EHLO relay.test",
            "S: 250-mx.test",
            "S: 250 ENHANCEDSTATUSCODES",
            "C: MAIL FROM:<a@x.test>",
            "S: 250 2.1.0 Ok",
            "C: RCPT TO:<b@y.test>",
            "S: 250 2.1.5 Ok",
            "C: RCPT TO:<c@y.test>",
            "S: 250 2.1.5 Ok",
            "C: DATA",
            "S: 354 Go",
            "C: <body>",
            "S: " + final_reply,
            "C: QUIT",
            "S: 221 Bye",
        },
        {message({"b@y.test", "c@y.test"})});
    REQUIRE(outcome.results.size() == 1);
    CHECK(outcome.results[0] == Results{final_reply, final_reply});
  }
}

TEST_CASE("a refused MAIL fails every recipient and, without pipelining, sends no RCPT") {
  const auto outcome = play(
      {
          "S: 220 mx.test",
          "C: EHLO relay.test",
          "S: 250 mx.test",
          "C: MAIL FROM:<a@x.test>",
          "S: 550 5.7.1 Sender rejected",
          "C: QUIT",
          "S: 221 Bye",
      },
      {message({"b@y.test", "c@y.test"})});
  REQUIRE(outcome.results.size() == 1);
  CHECK(outcome.results[0] == Results{"550 5.7.1 Sender rejected", "550 5.7.1 Sender rejected"});
}

TEST_CASE("a refused MAIL in a pipelined group still consumes the replies to RCPT and DATA") {
  const auto outcome = play(
      {
          "S: 220 mx.test",
          "C: EHLO relay.test",
          "S: 250-mx.test",
          "S: 250 PIPELINING",
          "C: MAIL FROM:<a@x.test>",
          "C: RCPT TO:<b@y.test>",
          "C: DATA",
          "S: 451 4.3.0 Sender deferred",
          "S: 503 5.5.1 Need MAIL first",
          "S: 503 5.5.1 Need MAIL first",
          "C: QUIT",
          "S: 221 Bye",
      },
      {message({"b@y.test"})});
  REQUIRE(outcome.results.size() == 1);
  CHECK(outcome.results[0] == Results{"451 4.3.0 Sender deferred"});
}

TEST_CASE("without pipelining no DATA is sent when every recipient was refused") {
  const auto outcome = play(
      {
          "S: 220 mx.test",
          "C: EHLO relay.test",
          "S: 250 mx.test",
          "C: MAIL FROM:<a@x.test>",
          "S: 250 Ok",
          "C: RCPT TO:<b@y.test>",
          "S: 550 5.1.1 Unknown",
          "C: QUIT",
          "S: 221 Bye",
      },
      {message({"b@y.test"})});
  CHECK(outcome.results.at(0) == Results{"550 5.1.1 Unknown"});
}

TEST_CASE("a server that accepts DATA without valid recipients gets an empty message ended") {
  const auto outcome = play(
      {
          "S: 220 mx.test",
          "C: EHLO relay.test",
          "S: 250-mx.test",
          "S: 250 PIPELINING",
          "C: MAIL FROM:<a@x.test>",
          "C: RCPT TO:<b@y.test>",
          "C: DATA",
          "S: 250 Ok",
          "S: 550 5.1.1 Unknown",
          "S: 354 Go",
          "C: .",
          "S: 554 5.5.1 No valid recipients",
          "C: QUIT",
          "S: 221 Bye",
      },
      {message({"b@y.test"})});
  CHECK(outcome.results.at(0) == Results{"550 5.1.1 Unknown"});
}

TEST_CASE("a reused connection is reset before the next message, in the pipelined group") {
  const auto outcome = play(
      {
          "S: 220 mx.test",
          "C: EHLO relay.test",
          "S: 250-mx.test",
          "S: 250 PIPELINING",
          "C: MAIL FROM:<a@x.test>",
          "C: RCPT TO:<b@y.test>",
          "C: DATA",
          "S: 250 Ok",
          "S: 250 Ok",
          "S: 354 Go",
          "C: <body>",
          "S: 250 Ok: queued as 1",
          "C: RSET",
          "C: MAIL FROM:<a@x.test>",
          "C: RCPT TO:<c@y.test>",
          "C: DATA",
          "S: 250 Ok",
          "S: 250 Ok",
          "S: 250 Ok",
          "S: 354 Go",
          "C: <body>",
          "S: 250 Ok: queued as 2",
          "C: QUIT",
          "S: 221 Bye",
      },
      {message({"b@y.test"}), message({"c@y.test"})});
  REQUIRE(outcome.results.size() == 2);
  CHECK(outcome.results[0] == Results{"250 Ok: queued as 1"});
  CHECK(outcome.results[1] == Results{"250 Ok: queued as 2"});
}

TEST_CASE("a garbage reply fails every recipient with 451 4.4.1 and closes the connection") {
  const auto outcome = play(
      {
          "S: 220 mx.test",
          "C: EHLO relay.test",
          "S: 250 mx.test",
          "C: MAIL FROM:<a@x.test>",
          "S: 250 Ok",
          "C: RCPT TO:<b@y.test>",
          "S: hello, I am not an SMTP server",
      },
      {message({"b@y.test"})});
  REQUIRE(outcome.results.size() == 1);
  CHECK(outcome.results[0] == Results{"451 4.4.1 Upstream protocol error: malformed reply"});
  CHECK(outcome.failure == "Upstream protocol error: malformed reply");
}

TEST_CASE("a 421 in the middle of a transaction fails every recipient with a 4xx") {
  const auto outcome = play(
      {
          "S: 220 mx.test",
          "C: EHLO relay.test",
          "S: 250 mx.test",
          "C: MAIL FROM:<a@x.test>",
          "S: 250 Ok",
          "C: RCPT TO:<b@y.test>",
          "S: 550 5.1.1 Unknown",
          "C: RCPT TO:<c@y.test>",
          "S: 421 4.7.0 Too many errors",
      },
      {message({"b@y.test", "c@y.test"})});
  const std::string expected = "451 4.4.1 Upstream closed the session: 421 4.7.0 Too many errors";
  CHECK(outcome.results.at(0) == Results{expected, expected});
}

TEST_CASE("a refused greeting or EHLO 4xx ends the session before any message") {
  auto outcome = play({"S: 554 5.7.1 No service for you"}, {message({"b@y.test"})});
  CHECK(outcome.results.empty());
  CHECK(outcome.failure == "Upstream refused the session: 554 5.7.1 No service for you");

  outcome =
      play({"S: 220 mx.test", "C: EHLO relay.test", "S: 451 4.3.2 Busy"}, {message({"b@y.test"})});
  CHECK(outcome.failure == "Upstream refused EHLO: 451 4.3.2 Busy");
}

TEST_CASE("the connection closing mid-transaction fails every recipient with a 4xx") {
  const auto outcome = play(
      {
          "S: 220 mx.test",
          "C: EHLO relay.test",
          "S: 250 mx.test",
          "C: MAIL FROM:<a@x.test>",
          "S: 250 Ok",
          "C: RCPT TO:<b@y.test>",
      },
      {message({"b@y.test"})});
  CHECK(outcome.results.at(0) ==
        Results{"451 4.4.1 Upstream closed the connection while we waited for the reply to RCPT"});
}

TEST_CASE("a reply line over 512 octets is a protocol error") {
  const std::string long_line = "S: 250-" + std::string(507, 'x');  // 513 octets with CRLF
  const auto outcome = play({"S: 220 mx.test", "C: EHLO relay.test", long_line, "S: 250 ok"},
                            {message({"b@y.test"})});
  CHECK(outcome.failure == "Upstream protocol error: reply line too long");
}

TEST_CASE("more replies than commands after a message end the session once the results stand") {
  const auto outcome = play(
      {
          "S: 220 mx.test",
          "C: EHLO relay.test",
          "S: 250 mx.test",
          "C: MAIL FROM:<a@x.test>",
          "S: 250 Ok",
          "C: RCPT TO:<b@y.test>",
          "S: 250 Ok",
          "C: DATA",
          "S: 354 Go",
          "C: <body>",
          "S: 250 Ok",
          "S: 250 Surprise",
      },
      {message({"b@y.test"})});
  CHECK(outcome.results.at(0) == Results{"250 Ok"});
  CHECK(outcome.failure == "Upstream protocol error: unexpected reply");
}
