// smtp::ServerProtocol: DATA text. Only <CRLF>.<CRLF> ends it (SMTP smuggling), dots are
// unstuffed, bare CR/LF, overlong lines and oversized messages are read to the end but flagged,
// chunks are bounded and memory stays bounded whatever the peer sends.
#include <doctest/doctest.h>

#include <numeric>
#include <string>
#include <vector>

#include "server_protocol_driver.hpp"

using namespace test_support;
using Lines = std::vector<std::string>;

namespace {

ServerProtocol::Config data_config() {
  ServerProtocol::Config config;
  config.hostname = "relay.example";
  return config;
}

const std::string opening =
    "EHLO c.example\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nDATA\r\n";

// Runs one transaction whose message text (end marker included) is `text`.
Transcript transaction(const std::string& text, ServerProtocol::Config config = data_config(),
                       std::size_t piece = std::string_view::npos) {
  return run(opening + text, std::move(config), piece);
}

const Lines one_message = {"mail <a@b.example>", "rcpt <c@d.example>", "data_start"};

Lines with_end(const std::string& end) {
  Lines events = one_message;
  events.push_back(end);
  return events;
}

}  // namespace

TEST_CASE("a message ends only at CRLF.CRLF and its text comes out unchanged") {
  const Transcript t = transaction("Subject: test\r\n\r\nHello\r\n.\r\n");
  CHECK(t.events == with_end("data_end ok 24"));
  CHECK(t.message == "Subject: test\r\n\r\nHello\r\n");
  CHECK(t.replies.back() == "250 2.0.0 Ok: queued as TEST");
}

TEST_CASE("a dot right after DATA ends an empty message") {
  const Transcript t = transaction(".\r\n");
  CHECK(t.events == with_end("data_end ok 0"));
  CHECK(t.message.empty());
}

TEST_CASE("dot-stuffed lines lose exactly one leading dot") {
  const std::vector<std::pair<std::string, std::string>> rows = {
      {"..\r\n", ".\r\n"},
      {"...\r\n", "..\r\n"},
      {"..x\r\n", ".x\r\n"},
      {".x\r\n", "x\r\n"},  // RFC 5321 4.5.2: any leading dot goes
      {"a.\r\n.b.\r\n", "a.\r\nb.\r\n"},
      {"x\r\n..\r\n..\r\n", "x\r\n.\r\n.\r\n"},
      {"\r\n..\r\n\r\n", "\r\n.\r\n\r\n"},
  };
  for (const auto& [stuffed, unstuffed] : rows) {
    CAPTURE(stuffed);
    for (const std::size_t piece : {std::string_view::npos, std::size_t{1}}) {
      const Transcript t = transaction(stuffed + ".\r\n", data_config(), piece);
      CHECK(t.message == unstuffed);
      CHECK(t.events == with_end("data_end ok " + std::to_string(unstuffed.size())));
    }
  }
}

TEST_CASE("smuggled end-of-data markers do not end the message nor start commands") {
  // Each variant is followed by commands that a lax server would execute as a second
  // transaction (CVE-2023-51764 and friends).
  const std::string smuggled =
      "MAIL FROM:<evil@x.example>\r\nRCPT TO:<victim@d.example>\r\n"
      "DATA\r\nFrom: ceo@d.example\r\n\r\nPay now\r\n";
  const std::vector<std::pair<std::string, std::string>> variants = {
      {"\n.\n", "bare_line_ending"},
      {"\n.\r\n", "bare_line_ending"},
      {"\r.\r", "bare_line_ending"},
      {"\r\n.\n", "bare_line_ending"},
      {"\r.\r\n", "bare_line_ending"},
      {"\r\n.\r", "bare_line_ending"},
      {"\n..\n", "bare_line_ending"},
      {"\r\n.\r\r\n", "bare_line_ending"},
      {"x.\r\n", "ok"},
      {" .\r\n", "ok"},
  };
  for (const auto& [marker, outcome] : variants) {
    CAPTURE(marker);
    const std::string text = "Subject: hi\r\n\r\nbody" + marker + smuggled + ".\r\nQUIT\r\n";
    for (const std::size_t piece : {std::string_view::npos, std::size_t{1}, std::size_t{3}}) {
      CAPTURE(piece);
      const Transcript t = transaction(text, data_config(), piece);
      REQUIRE(t.events.size() == 5);
      CHECK(t.events[3].starts_with("data_end " + outcome + " "));
      CHECK(t.events.back() == "close");
      CHECK(t.replies.back() == "221 2.0.0 Bye");
      if (outcome == "ok") {
        CHECK(t.message == "Subject: hi\r\n\r\nbody" + marker + smuggled);
        CHECK(t.replies[t.replies.size() - 2] == "250 2.0.0 Ok: queued as TEST");
      } else {
        CHECK(t.replies[t.replies.size() - 2] == "554 5.6.0 Message contains bare CR or LF");
      }
    }
  }
}

TEST_CASE("a bare LF or CR in the text is read to the real end and then refused") {
  for (const std::string bad : {"a\nb", "a\rb", "trailing\r", "\n", "x\r\r\n"}) {
    CAPTURE(bad);
    ServerProtocol protocol(data_config());
    protocol.feed(opening + "ok line\r\n" + bad + "\r\nmore\r\n.\r\nMAIL FROM:<a@b.example>\r\n");
    REQUIRE(protocol.next().kind == Kind::mail);
    protocol.resolve({250, "2.1.0", "Ok"});
    REQUIRE(protocol.next().kind == Kind::rcpt);
    protocol.resolve({250, "2.1.5", "Ok"});
    REQUIRE(protocol.next().kind == Kind::data_start);
    protocol.resolve({354, "", "go ahead"});
    Action action = protocol.next();
    while (action.kind == Kind::data_chunk) {
      action = protocol.next();
    }
    REQUIRE(action.kind == Kind::data_end);
    CHECK(action.outcome == ServerProtocol::DataOutcome::bare_line_ending);
    CHECK(action.suggested.to_wire() == "554 5.6.0 Message contains bare CR or LF\r\n");
    protocol.resolve(action.suggested);
    CHECK(!protocol.in_transaction());
    CHECK(protocol.next().kind == Kind::mail);  // the session goes on after the real end
  }
}

TEST_CASE("text lines over max_text_line make the outcome line_too_long") {
  ServerProtocol::Config config = data_config();
  config.max_text_line = 10;  // CRLF included, stuffed dot not counted
  const std::vector<std::pair<std::string, std::string>> rows = {
      {"12345678\r\n", "ok"},
      {"..2345678\r\n", "ok"},
      {"123456789\r\n", "line_too_long"},
      {"short\r\n12345678901234567890\r\nshort\r\n", "line_too_long"},
  };
  for (const auto& [text, outcome] : rows) {
    CAPTURE(text);
    for (const std::size_t piece : {std::string_view::npos, std::size_t{1}}) {
      const Transcript t = transaction(text + ".\r\n", config, piece);
      REQUIRE(t.events.size() == 4);
      CHECK(t.events[3].starts_with("data_end " + outcome + " "));
      if (outcome == "line_too_long") {
        CHECK(t.replies.back() == "500 5.5.2 Line too long");
      }
    }
  }
}

TEST_CASE("a 1 MB text line without CRLF is read with bounded memory") {
  ServerProtocol::Config config = data_config();
  config.data_chunk_size = 4096;
  const std::string megabyte(1024 * 1024, 'a');
  const Transcript t = transaction("start\r\n" + megabyte + "\r\n.\r\nNOOP\r\n", config, 4096);
  CHECK(t.events == with_end("data_end line_too_long " + std::to_string(megabyte.size() + 9)));
  CHECK(t.max_buffered <= config.max_text_line + config.data_chunk_size);
  CHECK(t.message.size() <= 7);  // only "start\r\n" was ever handed out
  CHECK(t.replies.back() == "250 2.0.0 Ok");
}

TEST_CASE("a message over max_message_size is read to its end and refused with 552 5.3.4") {
  ServerProtocol::Config config = data_config();
  config.max_message_size = 100;
  config.data_chunk_size = 16;
  const std::string line(48, 'x');  // 50 octets with CRLF
  const Transcript t =
      transaction(line + "\r\n" + line + "\r\n" + line + "\r\n.\r\nNOOP\r\n", config, 7);
  CHECK(t.events == with_end("data_end too_big 150"));
  CHECK(t.message.size() <= 100);
  const Lines tail(t.replies.end() - 2, t.replies.end());
  CHECK(tail == Lines{"552 5.3.4 Message size exceeds fixed limit of 100 bytes", "250 2.0.0 Ok"});
}

TEST_CASE("a message of exactly max_message_size octets is accepted") {
  ServerProtocol::Config config = data_config();
  config.max_message_size = 100;
  const std::string line(48, 'x');
  const Transcript t = transaction(line + "\r\n" + line + "\r\n.\r\n", config);
  CHECK(t.events == with_end("data_end ok 100"));
  CHECK(t.message.size() == 100);
}

TEST_CASE("data chunks hold at most data_chunk_size octets and add up to the message") {
  ServerProtocol::Config config = data_config();
  config.data_chunk_size = 16;
  std::string text;
  std::string expected;
  for (int i = 1; i < 21; ++i) {
    const std::string line = std::string(static_cast<std::size_t>(i), 'a' + i % 26) + "\r\n";
    text += "." + line;
    expected += line;
  }
  for (const std::size_t piece : {std::string_view::npos, std::size_t{1}, std::size_t{5}}) {
    CAPTURE(piece);
    const Transcript t = transaction(text + ".\r\n", config, piece);
    CHECK(t.message == expected);
    for (const std::size_t size : t.chunk_sizes) {
      CHECK(size >= 1);
      CHECK(size <= 16);
    }
    CHECK(std::accumulate(t.chunk_sizes.begin(), t.chunk_sizes.end(), std::size_t{0}) ==
          expected.size());
  }
}

TEST_CASE("complete lines are handed out at once and a partial line waits for more input") {
  ServerProtocol protocol(data_config());
  protocol.feed(opening);
  REQUIRE(protocol.next().kind == Kind::mail);
  protocol.resolve({250, "2.1.0", "Ok"});
  REQUIRE(protocol.next().kind == Kind::rcpt);
  protocol.resolve({250, "2.1.5", "Ok"});
  REQUIRE(protocol.next().kind == Kind::data_start);
  protocol.resolve({354, "", "go ahead"});
  REQUIRE(protocol.next().kind == Kind::need_input);
  protocol.feed("Hello\r\nWor");
  Action action = protocol.next();
  REQUIRE(action.kind == Kind::data_chunk);
  CHECK(action.data == "Hello\r\n");
  CHECK(protocol.next().kind == Kind::need_input);
  CHECK(protocol.buffered_octets() == 3);
  protocol.feed("ld\r");
  CHECK(protocol.next().kind == Kind::need_input);
  protocol.feed("\n.");
  action = protocol.next();
  REQUIRE(action.kind == Kind::data_chunk);
  CHECK(action.data == "World\r\n");
  CHECK(protocol.next().kind == Kind::need_input);
  protocol.feed("\r\n");
  action = protocol.next();
  REQUIRE(action.kind == Kind::data_end);
  CHECK(action.outcome == ServerProtocol::DataOutcome::ok);
  CHECK(protocol.message_size() == 14);
}

TEST_CASE("after the end of data the transaction is reset and HELO is kept") {
  ServerProtocol protocol(data_config());
  protocol.feed(opening + "x\r\n.\r\n");
  REQUIRE(protocol.next().kind == Kind::mail);
  protocol.resolve({250, "2.1.0", "Ok"});
  REQUIRE(protocol.next().kind == Kind::rcpt);
  protocol.resolve({250, "2.1.5", "Ok"});
  REQUIRE(protocol.next().kind == Kind::data_start);
  protocol.resolve({354, "", "go ahead"});
  REQUIRE(protocol.next().kind == Kind::data_chunk);
  REQUIRE(protocol.next().kind == Kind::data_end);
  CHECK(protocol.sender().address == "a@b.example");  // still there for the envelope
  CHECK(protocol.recipients().size() == 1);
  protocol.resolve({250, "2.0.0", "Ok: queued as X"});
  CHECK(protocol.sender().address.empty());
  CHECK(protocol.recipients().empty());
  CHECK(protocol.helo() == "c.example");
  CHECK(protocol.message_size() == 3);
  CHECK(!protocol.in_transaction());
}

TEST_CASE("a refused end of data also ends the transaction") {
  const Decider refuse_message = [](const Action& action,
                                    const ServerProtocol&) -> std::optional<Reply> {
    if (action.kind == Kind::data_end) {
      return Reply{550, "5.7.1", "Message refused"};
    }
    return std::nullopt;
  };
  const Transcript t = run(opening + "x\r\n.\r\nMAIL FROM:<a@b.example>\r\n", data_config(),
                           std::string_view::npos, refuse_message);
  const Lines tail(t.replies.end() - 2, t.replies.end());
  CHECK(tail == Lines{"550 5.7.1 Message refused", "250 2.1.0 Ok"});
}

TEST_CASE("the end marker is found across any split of the input") {
  const std::string text = "line\r\n.\r\nNOOP\r\n";
  for (std::size_t piece = 1; piece <= text.size(); ++piece) {
    CAPTURE(piece);
    const Transcript t = run(opening + text, data_config(), piece);
    CHECK(t.events == with_end("data_end ok 6"));
    CHECK(t.message == "line\r\n");
    CHECK(t.replies.back() == "250 2.0.0 Ok");
  }
}
