// smtp::ServerProtocol: command line framing (CRLF only, line length), error limits and the
// ways a session ends (QUIT is in test_server_protocol.cpp).
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "policy_relay/smtp/line_break.hpp"
#include "server_protocol_driver.hpp"

using namespace test_support;
using Lines = std::vector<std::string>;

namespace {

ServerProtocol::Config small_config() {
  ServerProtocol::Config config;
  config.hostname = "relay.example";
  config.max_message_size = 1000;
  return config;
}

const std::string bare_reply = "521 5.5.2 Bare CR or LF received";

}  // namespace

TEST_CASE("a bare LF or CR in a command line gets 521 5.5.2 and closes the session") {
  const std::vector<std::string> inputs = {
      "NOOP\n",
      "\n",
      "NOOP\rX\r\n",
      "NO\rOP\r\n",
      "\r\r\n",
      "NOOP\n\r\n",
      "MAIL FROM:<a@b.example>\nRCPT TO:<c@d.example>\r\n",
      "NOOP\r\n\nNOOP\r\n",
  };
  for (const std::string& input : inputs) {
    CAPTURE(input);
    for (const std::size_t piece : {std::string_view::npos, std::size_t{1}}) {
      const Transcript t = run("EHLO c.example\r\n" + input + "NOOP\r\n", small_config(), piece);
      CHECK(t.replies.back() == bare_reply);
      CHECK(t.events == Lines{"close"});
      CHECK(t.closed);
    }
  }
}

TEST_CASE("a CR at the end of the input waits for its LF") {
  ServerProtocol protocol(small_config());
  protocol.take_output();
  protocol.feed("NOOP\r");
  CHECK(protocol.next().kind == Kind::need_input);
  CHECK(protocol.take_output().empty());
  protocol.feed("\nNOOP\r");
  CHECK(protocol.next().kind == Kind::need_input);
  CHECK(protocol.take_output() == "250 2.0.0 Ok\r\n");
  protocol.feed("X");
  CHECK(protocol.next().kind == Kind::close);
  CHECK(protocol.take_output() == bare_reply + "\r\n");
}

TEST_CASE("command lines over max_command_line octets get 500 5.5.2 and are skipped") {
  ServerProtocol::Config config = small_config();
  config.max_command_line = 20;                                 // CRLF included
  const std::string fits = "NOOP " + std::string(13, 'x');      // 18 + CRLF = 20
  const std::string too_long = "NOOP " + std::string(14, 'x');  // 19 + CRLF = 21
  for (const std::size_t piece : {std::string_view::npos, std::size_t{1}, std::size_t{5}}) {
    CAPTURE(piece);
    const Transcript t = run(
        fits + "\r\n" + too_long + "\r\n" + std::string(100, 'y') + "\r\nNOOP\r\n", config, piece);
    CHECK(t.replies == Lines{"250 2.0.0 Ok", "500 5.5.2 Line too long", "500 5.5.2 Line too long",
                             "250 2.0.0 Ok"});
    CHECK(!t.closed);
  }
}

TEST_CASE("a partial command line is refused as soon as it cannot fit") {
  ServerProtocol::Config config = small_config();
  config.max_command_line = 10;
  ServerProtocol protocol(config);
  protocol.take_output();
  protocol.feed("NOOP 123");  // 8 octets: with CRLF exactly 10
  CHECK(protocol.next().kind == Kind::need_input);
  CHECK(protocol.take_output().empty());
  protocol.feed("\r");  // 9 + LF = 10 still fits
  CHECK(protocol.next().kind == Kind::need_input);
  CHECK(protocol.take_output().empty());
  protocol.feed("\n" + std::string("NOOP 1234"));  // 9 octets: at least 11 with CRLF
  CHECK(protocol.next().kind == Kind::need_input);
  CHECK(protocol.take_output() == "250 2.0.0 Ok\r\n500 5.5.2 Line too long\r\n");
  protocol.feed("more\r\nNOOP\r\n");
  CHECK(protocol.next().kind == Kind::need_input);
  CHECK(protocol.take_output() == "250 2.0.0 Ok\r\n");
}

TEST_CASE("a 1 MB command line without CRLF is discarded with bounded memory") {
  const std::string megabyte(1024 * 1024, 'A');
  const Transcript t = run("EHLO c.example\r\n" + megabyte + "\r\nNOOP\r\n", small_config(), 4096);
  CHECK(t.replies.back() == "250 2.0.0 Ok");
  CHECK(t.replies[t.replies.size() - 2] == "500 5.5.2 Line too long");
  CHECK(t.max_buffered <= 512);
  CHECK(!t.closed);
}

TEST_CASE("the end of an overlong command line must still be a CRLF") {
  ServerProtocol::Config config = small_config();
  config.max_command_line = 10;
  for (const char* ending : {"\n", "\rX", "\r\r\n"}) {
    CAPTURE(ending);
    for (const std::size_t piece : {std::string_view::npos, std::size_t{1}, std::size_t{12}}) {
      const Transcript t = run(std::string(30, 'z') + ending + "NOOP\r\n", config, piece);
      CHECK(t.replies.back() == bare_reply);
      CHECK(t.closed);
    }
  }
}

TEST_CASE("after max_errors errors the session gets 421 4.7.0 and is closed") {
  ServerProtocol::Config config = small_config();
  config.max_errors = 3;
  const Transcript t =
      run("BOGUS\r\nEHLO c.example\r\nRCPT TO:<c@d.example>\r\nEXPN x\r\nNOOP\r\n", config);
  const Lines tail(t.replies.end() - 3, t.replies.end());
  CHECK(tail == Lines{"503 5.5.1 Error: need MAIL command",
                      "502 5.5.1 Error: command not implemented", "421 4.7.0 Too many errors"});
  CHECK(t.events == Lines{"close"});
}

TEST_CASE("fewer errors than max_errors keep the session open") {
  ServerProtocol::Config config = small_config();
  config.max_errors = 3;
  const Transcript t = run("BOGUS\r\nBOGUS\r\nNOOP\r\n", config);
  CHECK(t.replies == Lines{"500 5.5.1 Error: command not recognized",
                           "500 5.5.1 Error: command not recognized", "250 2.0.0 Ok"});
  CHECK(!t.closed);
}

TEST_CASE("refusals the session counts as errors count toward max_errors") {
  ServerProtocol::Config config = small_config();
  config.max_errors = 2;
  ServerProtocol protocol(config);
  protocol.feed(
      "EHLO c.example\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<1@d.example>\r\n"
      "RCPT TO:<2@d.example>\r\nNOOP\r\n");
  REQUIRE(protocol.next().kind == Kind::mail);
  protocol.resolve({250, "2.1.0", "Ok"});
  REQUIRE(protocol.next().kind == Kind::rcpt);
  protocol.resolve({550, "5.7.1", "Refused"}, true);
  REQUIRE(protocol.next().kind == Kind::rcpt);
  protocol.resolve({550, "5.7.1", "Refused"});  // not counted
  REQUIRE(protocol.next().kind == Kind::need_input);
  protocol.feed("RCPT TO:<3@d.example>\r\n");
  REQUIRE(protocol.next().kind == Kind::rcpt);
  protocol.resolve({550, "5.7.1", "Refused"}, true);
  CHECK(protocol.next().kind == Kind::close);
  const Lines replies = split_reply_lines(protocol.take_output());
  CHECK(replies.back() == "421 4.7.0 Too many errors");
  CHECK(replies[replies.size() - 2] == "550 5.7.1 Refused");
}

TEST_CASE("a 421 decision closes the session") {
  ServerProtocol protocol(small_config());
  protocol.feed("EHLO c.example\r\nMAIL FROM:<a@b.example>\r\nNOOP\r\n");
  REQUIRE(protocol.next().kind == Kind::mail);
  protocol.resolve({421, "4.3.2", "Service shutting down"});
  CHECK(protocol.next().kind == Kind::close);
  CHECK(protocol.closed());
  CHECK(split_reply_lines(protocol.take_output()).back() == "421 4.3.2 Service shutting down");
}

TEST_CASE("terminate queues its reply and closes, also in the middle of DATA") {
  ServerProtocol protocol(small_config());
  protocol.feed(
      "EHLO c.example\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nDATA\r\n"
      "partial text\r\n");
  REQUIRE(protocol.next().kind == Kind::mail);
  protocol.resolve({250, "2.1.0", "Ok"});
  REQUIRE(protocol.next().kind == Kind::rcpt);
  protocol.resolve({250, "2.1.5", "Ok"});
  REQUIRE(protocol.next().kind == Kind::data_start);
  protocol.resolve({354, "", "End data with <CR><LF>.<CR><LF>"});
  CHECK(protocol.in_data());
  REQUIRE(protocol.next().kind == Kind::data_chunk);
  protocol.terminate({421, "4.4.2", "relay.example Error: timeout exceeded"});
  CHECK(protocol.next().kind == Kind::close);
  CHECK(protocol.next().kind == Kind::close);
  CHECK(!protocol.in_data());
  CHECK(split_reply_lines(protocol.take_output()).back() ==
        "421 4.4.2 relay.example Error: timeout exceeded");
}

TEST_CASE("end of input processes whole lines, drops a partial one and closes without a reply") {
  const Transcript t = run("EHLO c.example\r\nNOOP\r\nNOO", small_config(), std::string_view::npos,
                           {}, /*hang_up=*/true);
  CHECK(t.replies.back() == "250 2.0.0 Ok");
  CHECK(t.events == Lines{"close"});
}

TEST_CASE("end of input inside DATA closes without a data_end") {
  const Transcript t =
      run("EHLO c.example\r\nMAIL FROM:<a@b.example>\r\nRCPT "
          "TO:<c@d.example>\r\nDATA\r\nunfinished\r\n",
          small_config(), std::string_view::npos, {}, /*hang_up=*/true);
  CHECK(t.events == Lines{"mail <a@b.example>", "rcpt <c@d.example>", "data_start", "close"});
  CHECK(t.replies.back() == "354 End data with <CR><LF>.<CR><LF>");
}

TEST_CASE("the state flags follow the transaction") {
  ServerProtocol protocol(small_config());
  CHECK(!protocol.in_transaction());
  CHECK(!protocol.in_data());
  CHECK(!protocol.awaiting_decision());
  CHECK(!protocol.closed());
  protocol.feed(
      "EHLO c.example\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nDATA\r\n"
      "x\r\n.\r\n");
  REQUIRE(protocol.next().kind == Kind::mail);
  CHECK(protocol.awaiting_decision());
  protocol.resolve({250, "2.1.0", "Ok"});
  CHECK(protocol.in_transaction());
  REQUIRE(protocol.next().kind == Kind::rcpt);
  protocol.resolve({250, "2.1.5", "Ok"});
  REQUIRE(protocol.next().kind == Kind::data_start);
  CHECK(!protocol.in_data());
  protocol.resolve({354, "", "go ahead"});
  CHECK(protocol.in_data());
  REQUIRE(protocol.next().kind == Kind::data_chunk);
  REQUIRE(protocol.next().kind == Kind::data_end);
  CHECK(!protocol.in_data());
  CHECK(protocol.awaiting_decision());
  protocol.resolve({250, "2.0.0", "Ok: queued as X"});
  CHECK(!protocol.in_transaction());
  CHECK(!protocol.awaiting_decision());
}

TEST_CASE("find_line_break answers what find_first_of(\"\\r\\n\") answers") {
  using policy_relay::smtp::find_line_break;
  const std::string with_nul("a\0b\rc", 5);
  std::vector<std::string> texts = {
      "",       "\r",      "\n",
      "abc",    "abc\r\n", "abc\ndef\r",
      ".\r\n",  "x\r\ry",  "no break at all, just a long run of text",
      with_nul, "\n\n\r",
  };
  // Inputs longer than one 16-octet block: a break at every offset, and none at all.
  for (const std::size_t length : {15U, 16U, 17U, 31U, 32U, 33U, 70U}) {
    texts.emplace_back(length, 'a');
    for (std::size_t position = 0; position < length; ++position) {
      std::string text(length, 'a');
      text[position] = position % 2 == 0 ? '\r' : '\n';
      texts.push_back(text);
    }
  }
  for (const std::string& text : texts) {
    for (std::size_t from = 0; from <= text.size() + 1; ++from) {
      CAPTURE(text);
      CAPTURE(from);
      CHECK(find_line_break(text, from) == std::string_view(text).find_first_of("\r\n", from));
    }
  }
}
