#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "policy_relay/upstream/dsn.hpp"

using policy_relay::smtp::Reply;
using policy_relay::upstream::build_dsn;
using policy_relay::upstream::DsnReason;
using policy_relay::upstream::DsnRequest;
using policy_relay::upstream::format_rfc5322_date;

namespace {

DsnRequest sample_request() {
  DsnRequest request;
  request.reporting_mta = "relay.edomex.test";
  request.original.id = "Q1A2B3";
  request.original.sender = "juan.perez@edomex.test";
  request.original.recipients = {"ok@example.test", "nobody@example.test", "gone@example.test"};
  request.original.received_at = 1795926035;  // Sun, 29 Nov 2026 04:20:35 +0000
  request.failed = {
      {"nobody@example.test", Reply{550, "5.1.1", "User unknown"}},
      {"gone@example.test", Reply{554, "", "Mailbox gone"}},
  };
  request.original_headers =
      "Received: from pc (pc [10.0.0.1])\r\n\tby relay\r\nFrom: Juan <juan.perez@edomex.test>\r\n"
      "To: nobody@example.test\r\nSubject: Informe\r\nMessage-ID: <abc@pc.edomex.test>\r\n";
  request.now = 1795926095;
  return request;
}

// The MIME parts of a multipart body: the text between boundary lines.
std::vector<std::string> parts(const std::string& message, const std::string& boundary) {
  std::vector<std::string> out;
  const std::string delimiter = "\r\n--" + boundary;
  std::size_t pos = message.find(delimiter);
  while (pos != std::string::npos) {
    pos += delimiter.size();
    if (message.compare(pos, 2, "--") == 0) {
      break;
    }
    const std::size_t next = message.find(delimiter, pos);
    out.push_back(message.substr(pos + 2, next == std::string::npos ? next : next - pos - 2));
    pos = next;
  }
  return out;
}

std::string boundary_of(const std::string& message) {
  const std::size_t at = message.find("boundary=\"");
  REQUIRE(at != std::string::npos);
  const std::size_t end = message.find('"', at + 10);
  return message.substr(at + 10, end - at - 10);
}

bool has_bare_line_end(const std::string& text) {
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\n' && (i == 0 || text[i - 1] != '\r')) {
      return true;
    }
    if (text[i] == '\r' && (i + 1 == text.size() || text[i + 1] != '\n')) {
      return true;
    }
  }
  return false;
}

}  // namespace

TEST_CASE("RFC 5322 dates are rendered in UTC with English names") {
  CHECK(format_rfc5322_date(0) == "Thu, 01 Jan 1970 00:00:00 +0000");
  CHECK(format_rfc5322_date(1795926035) == "Sun, 29 Nov 2026 04:20:35 +0000");
}

TEST_CASE("a DSN for refused recipients is a multipart/report with three parts") {
  const auto dsn = build_dsn(sample_request());
  REQUIRE(dsn.has_value());
  const std::string& m = dsn->message;
  CHECK_FALSE(has_bare_line_end(m));

  const std::string headers = m.substr(0, m.find("\r\n\r\n") + 2);
  CHECK(headers.find("From: Mail Delivery System <MAILER-DAEMON@relay.edomex.test>\r\n") !=
        std::string::npos);
  CHECK(headers.find("To: <juan.perez@edomex.test>\r\n") != std::string::npos);
  CHECK(headers.find("Subject: Undelivered Mail Returned to Sender\r\n") != std::string::npos);
  CHECK(headers.find("Date: Sun, 29 Nov 2026 04:21:35 +0000\r\n") != std::string::npos);
  CHECK(headers.find("Message-ID: <1795926095.Q1A2B3.dsn@relay.edomex.test>\r\n") !=
        std::string::npos);
  CHECK(headers.find("In-Reply-To: <abc@pc.edomex.test>\r\n") != std::string::npos);
  CHECK(headers.find("Auto-Submitted: auto-replied\r\n") != std::string::npos);
  CHECK(headers.find("MIME-Version: 1.0\r\n") != std::string::npos);
  CHECK(headers.find("Content-Type: multipart/report; report-type=delivery-status;") !=
        std::string::npos);

  const std::string boundary = boundary_of(m);
  CHECK(m.ends_with("\r\n--" + boundary + "--\r\n"));
  const auto body_parts = parts(m, boundary);
  REQUIRE(body_parts.size() == 3);

  CHECK(
      body_parts[0].starts_with("Content-Description: Notification\r\n"
                                "Content-Type: text/plain; charset=us-ascii\r\n\r\n"));
  CHECK(body_parts[0].find("<nobody@example.test>: the upstream said: 550 5.1.1 User unknown") !=
        std::string::npos);
  CHECK(body_parts[0].find("<gone@example.test>: the upstream said: 554 Mailbox gone") !=
        std::string::npos);
  CHECK(body_parts[0].find("ok@example.test") == std::string::npos);

  CHECK(body_parts[1] ==
        "Content-Description: Delivery report\r\n"
        "Content-Type: message/delivery-status\r\n"
        "\r\n"
        "Reporting-MTA: dns; relay.edomex.test\r\n"
        "X-Policy-Relay-Queue-ID: Q1A2B3\r\n"
        "Arrival-Date: Sun, 29 Nov 2026 04:20:35 +0000\r\n"
        "\r\n"
        "Final-Recipient: rfc822; nobody@example.test\r\n"
        "Action: failed\r\n"
        "Status: 5.1.1\r\n"
        "Diagnostic-Code: smtp; 550 5.1.1 User unknown\r\n"
        "\r\n"
        "Final-Recipient: rfc822; gone@example.test\r\n"
        "Action: failed\r\n"
        "Status: 5.0.0\r\n"
        "Diagnostic-Code: smtp; 554 Mailbox gone\r\n");

  CHECK(body_parts[2] ==
        "Content-Description: Undelivered Message Headers\r\n"
        "Content-Type: text/rfc822-headers\r\n\r\n" +
            sample_request().original_headers);
}

TEST_CASE("the DSN envelope goes from <> to the original sender") {
  const auto dsn = build_dsn(sample_request());
  REQUIRE(dsn.has_value());
  CHECK(dsn->envelope.sender.empty());
  CHECK(dsn->envelope.recipients == std::vector<std::string>{"juan.perez@edomex.test"});
  CHECK_FALSE(dsn->envelope.smtputf8);
  CHECK(dsn->envelope.received_at == 1795926095);
}

TEST_CASE("no DSN is built for a message from the null sender or without failures") {
  auto request = sample_request();
  request.original.sender = "";
  CHECK_FALSE(build_dsn(request).has_value());
  request = sample_request();
  request.failed.clear();
  CHECK_FALSE(build_dsn(request).has_value());
}

TEST_CASE("an expiry DSN says 4.4.7 delivery time expired and quotes the last error") {
  auto request = sample_request();
  request.reason = DsnReason::expired;
  request.failed = {
      {"ok@example.test", Reply{451, "4.4.1", "Cannot connect to mx:25: Connection refused"}},
      {"nobody@example.test", Reply{}},
  };
  const auto dsn = build_dsn(request);
  REQUIRE(dsn.has_value());
  const std::string& m = dsn->message;
  CHECK(m.find("Subject: Undelivered Mail Returned to Sender (delivery time expired)\r\n") !=
        std::string::npos);
  const auto body_parts = parts(m, boundary_of(m));
  REQUIRE(body_parts.size() == 3);
  CHECK(body_parts[1].find("Final-Recipient: rfc822; ok@example.test\r\nAction: failed\r\n"
                           "Status: 4.4.7\r\nDiagnostic-Code: smtp; 451 4.4.1 Cannot connect to "
                           "mx:25: Connection refused\r\n") != std::string::npos);
  CHECK(
      body_parts[1].ends_with("Final-Recipient: rfc822; nobody@example.test\r\n"
                              "Action: failed\r\nStatus: 4.4.7\r\n"));
  CHECK(body_parts[0].find("<nobody@example.test>: delivery time expired\r\n") !=
        std::string::npos);
}

TEST_CASE("long and hostile upstream replies are folded and stripped of control octets") {
  auto request = sample_request();
  std::string text = "Rejected\rInjected: header";
  for (int i = 0; i < 30; ++i) {
    text += " word" + std::to_string(i);
  }
  request.failed = {{"nobody@example.test", Reply{550, "5.7.1", text + "\nsecond line"}}};
  const auto dsn = build_dsn(request);
  REQUIRE(dsn.has_value());
  CHECK_FALSE(has_bare_line_end(dsn->message));
  CHECK(dsn->message.find("\r\nInjected:") == std::string::npos);
  std::size_t start = 0;
  while (start < dsn->message.size()) {
    const std::size_t end = dsn->message.find("\r\n", start);
    CHECK(end - start <= 998);
    if (dsn->message.compare(start, 16, "Diagnostic-Code:") == 0) {
      CHECK(end - start <= 78);
    }
    start = end + 2;
  }
}

TEST_CASE("UTF-8 addresses make a message/global-delivery-status report sent with SMTPUTF8") {
  auto request = sample_request();
  request.failed = {{"josé@example.test", Reply{550, "5.1.1", "Unknown"}}};
  const auto dsn = build_dsn(request);
  REQUIRE(dsn.has_value());
  CHECK(dsn->envelope.smtputf8);
  CHECK(dsn->message.find("Content-Type: message/global-delivery-status\r\n") != std::string::npos);
  CHECK(dsn->message.find("Final-Recipient: utf-8; josé@example.test\r\n") != std::string::npos);
  CHECK(dsn->message.find("Content-Type: message/global-headers\r\n") != std::string::npos);
}

TEST_CASE("the boundary never occurs inside the parts") {
  auto request = sample_request();
  const std::string first = boundary_of(build_dsn(request)->message);
  request.original_headers += "X-Trap: " + first + "\r\n";
  const auto dsn = build_dsn(request);
  const std::string second = boundary_of(dsn->message);
  CHECK(second != first);
  CHECK(parts(dsn->message, second).size() == 3);
}
