#include <doctest/doctest.h>

#include "policy_relay/upstream/dsn.hpp"
#include "upstream_test_support.hpp"

using policy_relay::upstream::read_header_block;
using upstream_test::TempDir;
using upstream_test::write_spool_file;

TEST_CASE("the header block of a stored message is read up to the empty line") {
  TempDir dir;
  const auto stored = write_spool_file(dir.path.string(), "H1",
                                       "From: a@b\r\nSubject: s\r\n\r\nbody\r\n\r\nmore\r\n");
  std::string headers;
  REQUIRE_FALSE(read_header_block(stored, headers));
  CHECK(headers == "From: a@b\r\nSubject: s\r\n");
}

TEST_CASE("the header block is bounded and cut after the last whole line") {
  TempDir dir;
  std::string message;
  for (int i = 0; i < 100; ++i) {
    message += "X-Header-" + std::to_string(i) + ": some value\r\n";
  }
  message += "\r\nbody\r\n";
  const auto stored = write_spool_file(dir.path.string(), "H2", message);
  std::string headers;
  REQUIRE_FALSE(read_header_block(stored, headers, 100));
  CHECK(headers.size() <= 100);
  CHECK(headers.ends_with("\r\n"));
  CHECK(headers.starts_with("X-Header-0: some value\r\n"));
}

TEST_CASE("a message without a body or without headers gives what there is") {
  TempDir dir;
  std::string headers;
  REQUIRE_FALSE(
      read_header_block(write_spool_file(dir.path.string(), "H3", "Subject: s\r\n"), headers));
  CHECK(headers == "Subject: s\r\n");
  REQUIRE_FALSE(
      read_header_block(write_spool_file(dir.path.string(), "H4", "\r\nbody\r\n"), headers));
  CHECK(headers.empty());
  auto missing = write_spool_file(dir.path.string(), "H5", "x");
  missing.path += ".gone";
  CHECK(read_header_block(missing, headers));
}
