// smtp::ServerProtocol: STARTTLS (RFC 3207) and AUTH (RFC 4954) sequencing.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "policy_relay/smtp/base64.hpp"
#include "server_protocol_driver.hpp"

using namespace test_support;
using namespace std::string_literals;
using Lines = std::vector<std::string>;

namespace {

ServerProtocol::Config tls_config() {
  ServerProtocol::Config config;
  config.hostname = "relay.example";
  config.max_message_size = 1000;
  config.starttls = true;
  config.auth = true;
  return config;
}

std::string plain(std::string_view user, std::string_view password) {
  return policy_relay::smtp::base64_encode("\0"s + std::string(user) + "\0"s +
                                           std::string(password));
}

bool has_line(const Transcript& t, std::string_view line) {
  return std::find(t.replies.begin(), t.replies.end(), line) != t.replies.end();
}

}  // namespace

TEST_CASE("STARTTLS is offered before TLS, AUTH only after it") {
  // One octet per read: the second EHLO arrives after the handshake.
  const Transcript t = run("EHLO c.example\r\nSTARTTLS\r\nEHLO c.example\r\n", tls_config(), 1);
  CHECK(t.replies == Lines{"250-relay.example", "250-SIZE 1000", "250-8BITMIME", "250-PIPELINING",
                           "250-ENHANCEDSTATUSCODES", "250-SMTPUTF8", "250 STARTTLS",
                           "220 2.0.0 Ready to start TLS", "250-relay.example", "250-SIZE 1000",
                           "250-8BITMIME", "250-PIPELINING", "250-ENHANCEDSTATUSCODES",
                           "250-SMTPUTF8", "250 AUTH PLAIN LOGIN"});
  CHECK(t.events == Lines{"starttls"});
}

TEST_CASE("AUTH before TLS is refused with 530 and not executed") {
  const Transcript t =
      run("EHLO c.example\r\nAUTH PLAIN " + plain("u", "p") + "\r\n", tls_config());
  CHECK(t.replies.back() == "530 5.7.0 Must issue a STARTTLS command first");
  CHECK(t.events.empty());
}

TEST_CASE("commands pipelined after STARTTLS are discarded, never executed (CVE-2011-0411)") {
  const Transcript t =
      run("EHLO c.example\r\nSTARTTLS\r\nMAIL FROM:<evil@x.example>\r\nRCPT TO:<v@y.example>\r\n",
          tls_config());
  CHECK(t.events == Lines{"starttls"});
  CHECK(t.replies.back() == "220 2.0.0 Ready to start TLS");
}

TEST_CASE("TLS resets the session: EHLO again before MAIL (RFC 3207 4.2)") {
  const Transcript t = run("EHLO c.example\r\nSTARTTLS\r\n", tls_config());
  CHECK(t.events == Lines{"starttls"});
  // After the handshake the client's first MAIL without EHLO is out of sequence.
  ServerProtocol protocol(tls_config());
  protocol.take_output();
  protocol.feed("EHLO c.example\r\nSTARTTLS\r\n");
  CHECK(protocol.next().kind == Kind::starttls);
  protocol.tls_started();
  CHECK(protocol.helo().empty());
  protocol.take_output();
  protocol.feed("MAIL FROM:<a@b.example>\r\n");
  CHECK(protocol.next().kind == Kind::need_input);
  CHECK(protocol.take_output() == "503 5.5.1 Error: send HELO/EHLO first\r\n");
}

TEST_CASE("a second STARTTLS and STARTTLS inside a transaction are refused") {
  ServerProtocol::Config implicit = tls_config();
  implicit.tls_active = true;
  CHECK(last_reply("STARTTLS\r\n", implicit) == "503 5.5.1 Error: TLS already active");
  CHECK(last_reply("MAIL FROM:<a@b.example>\r\nSTARTTLS\r\n", tls_config()) ==
        "503 5.5.1 Error: STARTTLS not permitted during a mail transaction");
  CHECK(last_reply("STARTTLS now\r\n", tls_config()) == "501 5.5.4 Syntax: STARTTLS");
}

TEST_CASE("AUTH after TLS: credentials to the session, 235, then AUTH is refused") {
  ServerProtocol::Config implicit = tls_config();
  implicit.tls_active = true;
  const Transcript t = run("EHLO c.example\r\nAUTH PLAIN " + plain("juan", "pw") +
                               "\r\nAUTH PLAIN " + plain("juan", "pw") + "\r\n",
                           implicit);
  CHECK(t.events == Lines{"auth juan:pw"});
  CHECK(has_line(t, "235 2.7.0 Authentication successful"));
  CHECK(t.replies.back() == "503 5.5.1 Error: already authenticated");
}

TEST_CASE("AUTH LOGIN over several lines, and '*' cancels") {
  ServerProtocol::Config implicit = tls_config();
  implicit.tls_active = true;
  const Transcript t = run("EHLO c.example\r\nAUTH LOGIN\r\n" +
                               policy_relay::smtp::base64_encode("juan") + "\r\n*\r\nNOOP\r\n",
                           implicit);
  CHECK(t.events.empty());
  CHECK(has_line(t, "334 VXNlcm5hbWU6"));
  CHECK(has_line(t, "334 UGFzc3dvcmQ6"));
  CHECK(has_line(t, "501 5.7.0 Authentication cancelled"));
  CHECK(t.replies.back() == "250 2.0.0 Ok");
}

TEST_CASE("a refused AUTH leaves the session unauthenticated and counts as an error") {
  ServerProtocol::Config implicit = tls_config();
  implicit.tls_active = true;
  implicit.max_errors = 2;
  const Decider refuse = [](const Action& action, const ServerProtocol&) -> std::optional<Reply> {
    if (action.kind == Kind::auth) {
      return Reply{535, "5.7.8", "Authentication credentials invalid"};
    }
    return std::nullopt;
  };
  ServerProtocol protocol(implicit);
  protocol.take_output();
  protocol.feed("EHLO c.example\r\nAUTH PLAIN " + plain("juan", "bad") + "\r\n");
  REQUIRE(protocol.next().kind == Kind::auth);
  protocol.resolve(*refuse(Action{Kind::auth}, protocol), true);
  CHECK(protocol.authenticated_user().empty());
  CHECK(protocol.credentials().password.empty());
  protocol.feed("AUTH PLAIN " + plain("juan", "bad") + "\r\n");
  REQUIRE(protocol.next().kind == Kind::auth);
  protocol.resolve(*refuse(Action{Kind::auth}, protocol), true);
  CHECK(protocol.next().kind == Kind::close);
  CHECK(protocol.take_output().ends_with("421 4.7.0 Too many errors\r\n"));
}

TEST_CASE("AUTH is refused during a transaction and without EHLO") {
  ServerProtocol::Config implicit = tls_config();
  implicit.tls_active = true;
  CHECK(last_reply("MAIL FROM:<a@b.example>\r\nAUTH PLAIN " + plain("a", "b") + "\r\n", implicit) ==
        "503 5.5.1 Error: AUTH not permitted during a mail transaction");
  CHECK(run("AUTH PLAIN " + plain("a", "b") + "\r\n", implicit).replies.back() ==
        "503 5.5.1 Error: send EHLO first");
  ServerProtocol::Config no_auth = implicit;
  no_auth.auth = false;
  CHECK(last_reply("AUTH PLAIN " + plain("a", "b") + "\r\n", no_auth) ==
        "502 5.5.1 Error: authentication not enabled");
}

TEST_CASE("MAIL may carry AUTH= once AUTH is offered (RFC 4954 5)") {
  ServerProtocol::Config implicit = tls_config();
  implicit.tls_active = true;
  CHECK(last_reply("MAIL FROM:<a@b.example> AUTH=<>\r\n", implicit) == "250 2.1.0 Ok");
}
