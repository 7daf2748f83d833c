#include <doctest/doctest.h>

#include <string>

#include "policy_relay/smtp/reply_parser.hpp"

using policy_relay::smtp::enhanced_code_length;
using policy_relay::smtp::Reply;
using policy_relay::smtp::ReplyError;
using policy_relay::smtp::ReplyParser;

namespace {

struct Case {
  std::string input;
  ReplyError error;
  int code;
  std::string enhanced;
  std::string text;
};

}  // namespace

TEST_CASE("reply lines parse into code, enhanced code and text") {
  const Case cases[] = {
      {"250 Ok\r\n", ReplyError::none, 250, "", "Ok"},
      {"250\r\n", ReplyError::none, 250, "", ""},
      {"250 2.1.5 Ok\r\n", ReplyError::none, 250, "2.1.5", "Ok"},
      {"550 5.7.708 Access denied\r\n", ReplyError::none, 550, "5.7.708", "Access denied"},
      {"550 4.1.1 class disagrees\r\n", ReplyError::none, 550, "", "4.1.1 class disagrees"},
      {"250 2.0.0\r\n", ReplyError::none, 250, "2.0.0", ""},
      {"250 2.0.0x not a code\r\n", ReplyError::none, 250, "", "2.0.0x not a code"},
      {"220-a\r\n220-b\r\n220 c\r\n", ReplyError::none, 220, "", "a\nb\nc"},
      {"451-4.3.0 one\r\n451 4.3.0 two\r\n", ReplyError::none, 451, "4.3.0", "one\ntwo"},
      {"250 bare LF\n", ReplyError::none, 250, "", "bare LF"},
      {"250 Ok", ReplyError::need_more, 0, "", ""},
      {"250-first\r\n", ReplyError::need_more, 0, "", ""},
      {"hello\r\n", ReplyError::malformed, 0, "", ""},
      {"25\r\n", ReplyError::malformed, 0, "", ""},
      {"650 bad class\r\n", ReplyError::malformed, 0, "", ""},
      {"260 bad second digit\r\n", ReplyError::malformed, 0, "", ""},
      {"250_Ok\r\n", ReplyError::malformed, 0, "", ""},
      {"250-a\r\n251 b\r\n", ReplyError::inconsistent, 0, "", ""},
  };
  for (const Case& c : cases) {
    CAPTURE(c.input);
    ReplyParser parser;
    parser.feed(c.input);
    Reply reply;
    REQUIRE(parser.next(reply) == c.error);
    if (c.error == ReplyError::none) {
      CHECK(reply.code == c.code);
      CHECK(reply.enhanced == c.enhanced);
      CHECK(reply.text == c.text);
      CHECK(parser.buffered() == 0);
    }
  }
}

TEST_CASE("several buffered replies come out one at a time, in order") {
  ReplyParser parser;
  parser.feed("250 a\r\n550 b\r\n35");
  Reply reply;
  REQUIRE(parser.next(reply) == ReplyError::none);
  CHECK(reply.code == 250);
  REQUIRE(parser.next(reply) == ReplyError::none);
  CHECK(reply.code == 550);
  CHECK(parser.next(reply) == ReplyError::need_more);
  parser.feed("4 go\r\n");
  REQUIRE(parser.next(reply) == ReplyError::none);
  CHECK(reply.code == 354);
}

TEST_CASE("reply size is bounded: 512 octets a line, 100 lines a reply") {
  Reply reply;
  {
    ReplyParser parser;
    parser.feed("250 " + std::string(506, 'x') + "\r\n");  // exactly 512
    CHECK(parser.next(reply) == ReplyError::none);
  }
  {
    ReplyParser parser;
    parser.feed("250 " + std::string(507, 'x') + "\r\n");  // 513
    CHECK(parser.next(reply) == ReplyError::line_too_long);
    parser.feed("250 Ok\r\n");
    CHECK(parser.next(reply) == ReplyError::line_too_long);  // sticky
  }
  {
    ReplyParser parser;  // no line end yet, but already too long: no unbounded buffering
    parser.feed(std::string(600, '2'));
    CHECK(parser.next(reply) == ReplyError::line_too_long);
  }
  {
    ReplyParser parser;
    std::string input;
    for (int i = 0; i < 100; ++i) {
      input += "250-line\r\n";
    }
    parser.feed(input);
    CHECK(parser.next(reply) == ReplyError::too_many_lines);
  }
  {
    ReplyParser parser;
    std::string input;
    for (int i = 0; i < 99; ++i) {
      input += "250-line\r\n";
    }
    parser.feed(input + "250 last\r\n");
    CHECK(parser.next(reply) == ReplyError::none);
  }
}

TEST_CASE("enhanced codes must match the reply class and have 1-3 digit parts") {
  CHECK(enhanced_code_length(250, "2.0.0 Ok") == 5);
  CHECK(enhanced_code_length(550, "5.7.708 x") == 7);
  CHECK(enhanced_code_length(550, "5.1234.1 x") == 0);
  CHECK(enhanced_code_length(550, "4.1.1 x") == 0);
  CHECK(enhanced_code_length(354, "3.0.0 x") == 0);
  CHECK(enhanced_code_length(550, "5.1.") == 0);
  CHECK(enhanced_code_length(550, "5.1.1") == 5);
}
