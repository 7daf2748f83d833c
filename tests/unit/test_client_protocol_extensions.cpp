#include <doctest/doctest.h>

#include "client_transcript.hpp"

using policy_relay::smtp::ClientProtocol;
using transcript::message;
using transcript::play;
using Kind = ClientProtocol::Action::Kind;
using Results = std::vector<std::string>;

TEST_CASE("EHLO keywords are recognised case-insensitively, STARTTLS and AUTH kept for later") {
  ClientProtocol protocol({.helo_hostname = "relay.test"});
  REQUIRE(protocol.next().kind == Kind::need_input);
  protocol.feed("220 mx.test\r\n");
  REQUIRE(protocol.next().kind == Kind::need_input);
  CHECK(protocol.take_output() == "EHLO relay.test\r\n");
  protocol.feed(
      "250-mx.test greets relay.test\r\n250-pipelining\r\n250-SIZE 35882577\r\n"
      "250-8BITMIME\r\n250-SMTPUTF8\r\n250-ENHANCEDSTATUSCODES\r\n250-STARTTLS\r\n"
      "250-AUTH LOGIN plain XOAUTH2\r\n250-AUTH=LOGIN\r\n250 CHUNKING\r\n");
  REQUIRE(protocol.next().kind == Kind::ready);
  const auto& ext = protocol.extensions();
  CHECK(ext.esmtp);
  CHECK(ext.pipelining);
  CHECK(ext.size);
  CHECK(ext.size_limit == 35882577);
  CHECK(ext.eightbitmime);
  CHECK(ext.smtputf8);
  CHECK(ext.enhanced_status_codes);
  CHECK(ext.starttls);
  CHECK(ext.auth_mechanisms == std::vector<std::string>{"LOGIN", "PLAIN", "XOAUTH2"});
}

TEST_CASE("replies fed one octet at a time give the same conversation") {
  ClientProtocol protocol({.helo_hostname = "relay.test"});
  const std::string server = "220-mx.test\r\n220 ESMTP\r\n";
  for (char c : server) {
    REQUIRE(protocol.next().kind == Kind::need_input);
    protocol.feed(std::string_view(&c, 1));
  }
  REQUIRE(protocol.next().kind == Kind::need_input);
  CHECK(protocol.take_output() == "EHLO relay.test\r\n");
  for (char c : std::string("250-mx.test\r\n250 PIPELINING\r\n")) {
    REQUIRE(protocol.next().kind == Kind::need_input);
    protocol.feed(std::string_view(&c, 1));
  }
  CHECK(protocol.next().kind == Kind::ready);
  CHECK(protocol.extensions().pipelining);
}

TEST_CASE("MAIL carries SIZE, BODY=8BITMIME and SMTPUTF8 only when the server offers them") {
  auto m = message({"b@y.test"}, 1234);
  m.eightbitmime = true;
  m.smtputf8 = true;
  auto outcome = play(
      {
          "S: 220 mx.test",
          "C: EHLO relay.test",
          "S: 250-mx.test",
          "S: 250-SIZE",
          "S: 250-8BITMIME",
          "S: 250 SMTPUTF8",
          "C: MAIL FROM:<a@x.test> SIZE=1234 BODY=8BITMIME SMTPUTF8",
          "S: 250 Ok",
          "C: RCPT TO:<b@y.test>",
          "S: 550 no",
          "C: QUIT",
          "S: 221 Bye",
      },
      {m});
  CHECK(outcome.results.at(0) == Results{"550 no"});

  // Not offered: the parameters are left out (RFC 6152: the message is sent as it is).
  outcome = play(
      {
          "S: 220 mx.test",
          "C: EHLO relay.test",
          "S: 250 mx.test",
          "C: MAIL FROM:<a@x.test>",
          "S: 250 Ok",
          "C: RCPT TO:<b@y.test>",
          "S: 550 no",
          "C: QUIT",
          "S: 221 Bye",
      },
      {m});
  CHECK(outcome.results.at(0) == Results{"550 no"});
}

TEST_CASE("a message whose addresses need SMTPUTF8 fails with 550 5.6.7 on a server without it") {
  auto m = message({"b@y.test", "c@y.test"});
  m.smtputf8 = true;
  m.requires_smtputf8 = true;
  const auto outcome = play(
      {
          "S: 220 mx.test",
          "C: EHLO relay.test",
          "S: 250-mx.test",
          "S: 250 8BITMIME",
          "C: QUIT",
          "S: 221 Bye",
      },
      {m});
  REQUIRE(outcome.results.size() == 1);
  REQUIRE(outcome.results[0].size() == 2);
  CHECK(outcome.results[0][0].starts_with("550 5.6.7 "));
  CHECK(outcome.results[0][1] == outcome.results[0][0]);
}

TEST_CASE("a message over the server's SIZE limit fails with 552 5.3.4 without a transaction") {
  const auto outcome = play(
      {
          "S: 220 mx.test",
          "C: EHLO relay.test",
          "S: 250-mx.test",
          "S: 250 SIZE 1000",
          "C: QUIT",
          "S: 221 Bye",
      },
      {message({"b@y.test"}, 1001)});
  CHECK(outcome.results.at(0) ==
        Results{"552 5.3.4 Message size exceeds the upstream's fixed maximum message size "
                "(1000 octets)"});
}

TEST_CASE("the pipelining window bounds the commands in flight") {
  const auto outcome = play(
      {
          "S: 220 mx.test",
          "C: EHLO relay.test",
          "S: 250-mx.test",
          "S: 250 PIPELINING",
          "C: MAIL FROM:<a@x.test>",
          "C: RCPT TO:<b@y.test>",
          "S: 250 Ok",
          "C: RCPT TO:<c@y.test>",
          "S: 250 Ok",
          "C: DATA",
          "S: 250 Ok",
          "S: 354 Go",
          "C: <body>",
          "S: 250 Ok",
          "C: QUIT",
          "S: 221 Bye",
      },
      {message({"b@y.test", "c@y.test"})}, {.helo_hostname = "relay.test", .pipelining_window = 2});
  CHECK(outcome.results.at(0) == Results{"250 Ok", "250 Ok"});
}

TEST_CASE("a failure reported by the I/O layer during the body fails every recipient") {
  ClientProtocol protocol({.helo_hostname = "relay.test"});
  protocol.next();
  protocol.feed("220 mx.test\r\n");
  protocol.next();
  protocol.feed("250-mx.test\r\n250 PIPELINING\r\n");
  REQUIRE(protocol.next().kind == Kind::ready);
  protocol.take_output();
  protocol.start_message(message({"b@y.test", "c@y.test"}));
  REQUIRE(protocol.next().kind == Kind::need_input);
  protocol.feed("250 Ok\r\n250 Ok\r\n250 Ok\r\n354 Go\r\n");
  REQUIRE(protocol.next().kind == Kind::send_body);
  protocol.fail("Timed out after 600s sending to mx.test:25");
  REQUIRE(protocol.next().kind == Kind::closed);
  REQUIRE(protocol.results().size() == 2);
  for (const auto& reply : protocol.results()) {
    CHECK(transcript::one_line(reply) == "451 4.4.1 Timed out after 600s sending to mx.test:25");
  }
  CHECK(protocol.message_replies() == 4);
  CHECK(protocol.failure() == "Timed out after 600s sending to mx.test:25");
}

TEST_CASE("a stale pooled connection shows no replies for the message when RSET fails") {
  ClientProtocol protocol({.helo_hostname = "relay.test"});
  protocol.next();
  protocol.feed("220 mx.test\r\n");
  protocol.next();
  protocol.feed("250 mx.test\r\n");
  REQUIRE(protocol.next().kind == Kind::ready);
  protocol.start_message(message({"b@y.test"}));
  protocol.feed("250 Ok\r\n250 Ok\r\n354 Go\r\n");
  REQUIRE(protocol.next().kind == Kind::send_body);
  protocol.body_sent();
  protocol.feed("250 Ok\r\n");
  REQUIRE(protocol.next().kind == Kind::message_done);
  REQUIRE(protocol.next().kind == Kind::ready);
  protocol.take_output();

  protocol.start_message(message({"b@y.test"}));
  REQUIRE(protocol.next().kind == Kind::need_input);
  CHECK(protocol.take_output() == "RSET\r\n");
  CHECK(protocol.awaiting() == "RSET");
  protocol.end_of_input();
  CHECK(protocol.next().kind == Kind::closed);
  CHECK(protocol.message_replies() == 0);
}
