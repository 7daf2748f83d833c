#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "policy_relay/smtp/dot_stuffer.hpp"

using policy_relay::smtp::DotStuffer;

namespace {

std::string stuff(const std::vector<std::string>& chunks) {
  DotStuffer stuffer;
  std::string out;
  for (const std::string& chunk : chunks) {
    stuffer.encode(chunk, out);
  }
  stuffer.finish(out);
  return out;
}

}  // namespace

TEST_CASE("a line-initial dot is doubled and the body ends with CRLF.CRLF") {
  struct Case {
    std::string message;
    std::string wire;
  };
  const Case cases[] = {
      {"", ".\r\n"},
      {"Hello\r\n", "Hello\r\n.\r\n"},
      {"Hello", "Hello\r\n.\r\n"},
      {".\r\n", "..\r\n.\r\n"},
      {"a\r\n.\r\nb\r\n", "a\r\n..\r\nb\r\n.\r\n"},
      {"a\r\n..b\r\n", "a\r\n...b\r\n.\r\n"},
      {"a.b\r\n. c\r\n", "a.b\r\n.. c\r\n.\r\n"},
      {".", "..\r\n.\r\n"},
      {"a\r\n.", "a\r\n..\r\n.\r\n"},
      {"a\r", "a\r\r\n.\r\n"},
      // A bare LF also starts a line here, so "<LF>.<LF>" can never end DATA upstream.
      {"a\n.\nb\r\n", "a\n..\nb\r\n.\r\n"},
      {"a\n", "a\n\r\n.\r\n"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.message);
    CHECK(stuff({c.message}) == c.wire);
  }
}

TEST_CASE("a chunk that begins with a dot right after a chunk that ended a line is stuffed") {
  CHECK(stuff({"line one\r\n", ".hidden\r\n"}) == "line one\r\n..hidden\r\n.\r\n");
  CHECK(stuff({"line one\r", "\n.\r\n"}) == "line one\r\n..\r\n.\r\n");
  CHECK(stuff({"line one\r\n", ".", "\r\n"}) == "line one\r\n..\r\n.\r\n");
  CHECK(stuff({"no line end", ".\r\n"}) == "no line end.\r\n.\r\n");
  CHECK(stuff({"ends with CR\r", ""}) == "ends with CR\r\r\n.\r\n");
  CHECK(stuff({"a\r\n", "", ".b\r\n"}) == "a\r\n..b\r\n.\r\n");
}

TEST_CASE("every split of a message into two or three chunks encodes like the whole") {
  const std::string message = ".start\r\nmiddle\r\n.\r\n..two\r\nx.y\r\n.\r\n\r\n.end";
  const std::string whole = stuff({message});
  CHECK(whole == "..start\r\nmiddle\r\n..\r\n...two\r\nx.y\r\n..\r\n\r\n..end\r\n.\r\n");
  for (std::size_t i = 0; i <= message.size(); ++i) {
    for (std::size_t j = i; j <= message.size(); ++j) {
      CAPTURE(i);
      CAPTURE(j);
      REQUIRE(stuff({message.substr(0, i), message.substr(i, j - i), message.substr(j)}) == whole);
    }
  }
}

TEST_CASE("the encoder resets after finish for the next message") {
  DotStuffer stuffer;
  std::string out;
  stuffer.encode("a", out);
  stuffer.finish(out);
  stuffer.encode(".b\r\n", out);
  stuffer.finish(out);
  CHECK(out == "a\r\n.\r\n..b\r\n.\r\n");
}
