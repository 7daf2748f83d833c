#include <doctest/doctest.h>

#include "policy_relay/server/received_header.hpp"

using namespace policy_relay;

namespace {

Envelope one_recipient() {
  Envelope envelope;
  envelope.id = "6A1B2C3D4E5F6";
  envelope.helo = "client.example";
  envelope.client_address = "192.0.2.1";
  envelope.recipients = {"b@example.org"};
  envelope.received_at = 1764390035;  // 2025-11-29T04:20:35Z
  return envelope;
}

std::string with_of(const std::string& header) {
  const auto start = header.find(" with ") + 6;
  return header.substr(start, header.find(' ', start) - start);
}

}  // namespace

TEST_CASE("the Received header names the client, the relay, the id and the one recipient") {
  const auto header =
      server::received_header(one_recipient(), "relay.edomex.gob.mx", {.esmtp = true});
  CHECK(header ==
        "Received: from client.example ([192.0.2.1])\r\n"
        "\tby relay.edomex.gob.mx (policy-relay) with ESMTP id 6A1B2C3D4E5F6\r\n"
        "\tfor <b@example.org>; Sat, 29 Nov 2025 04:20:35 +0000\r\n");
}

TEST_CASE("the Received protocol carries the RFC 3848 TLS and AUTH suffixes") {
  const Envelope envelope = one_recipient();
  CHECK(with_of(server::received_header(envelope, "r", {})) == "SMTP");
  CHECK(with_of(server::received_header(envelope, "r", {.tls = true})) == "SMTP");
  CHECK(with_of(server::received_header(envelope, "r", {.esmtp = true, .tls = true})) == "ESMTPS");
  CHECK(with_of(server::received_header(envelope, "r", {.esmtp = true, .authenticated = true})) ==
        "ESMTPA");
  CHECK(with_of(server::received_header(
            envelope, "r", {.esmtp = true, .tls = true, .authenticated = true})) == "ESMTPSA");
  Envelope utf8 = envelope;
  utf8.smtputf8 = true;
  CHECK(with_of(server::received_header(
            utf8, "r", {.esmtp = true, .tls = true, .authenticated = true})) == "UTF8SMTPSA");
}

TEST_CASE("the Received header names no recipient when there are several") {
  Envelope envelope = one_recipient();
  envelope.recipients.push_back("c@example.org");
  const auto header = server::received_header(envelope, "r", {.esmtp = true});
  CHECK(header.find("for <") == std::string::npos);
  CHECK(header.find("c@example.org") == std::string::npos);
}
