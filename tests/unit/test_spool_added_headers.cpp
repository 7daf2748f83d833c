// The record the spool reserves for advice headers (issue 5): rewritten in place whether the
// envelope is still buffered or already written out, read back with the message, kept by
// recovery; MessageWriter::read_back streams the message octets once.
#include <doctest/doctest.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <filesystem>

#include "policy_relay/spool/envelope_format.hpp"
#include "policy_relay/spool/spool.hpp"
#include "policy_relay/spool/spool_files.hpp"
#include "temp_dir.hpp"

namespace asio = boost::asio;
namespace fs = std::filesystem;
using namespace policy_relay;

namespace {

struct TempDir : test_support::TempDir {
  TempDir() : test_support::TempDir("advice") {}
};

std::error_code commit_now(spool::Spool& spool, spool::MessageWriter& writer) {
  asio::io_context io;
  std::error_code result = std::make_error_code(std::errc::timed_out);
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> { result = co_await spool.commit(writer, io.get_executor()); },
      asio::detached);
  io.run();
  return result;
}

// Opens a message from a@edomex.gob.mx to b@example.org with a 512-octet reserved record;
// returns its id.
std::string open_message(spool::Spool& spool, spool::MessageWriter& writer) {
  Envelope envelope;
  envelope.sender = "a@edomex.gob.mx";
  envelope.recipients = {"b@example.org"};
  REQUIRE_FALSE(spool.open(envelope, writer, 512));
  return envelope.id;
}

}  // namespace

TEST_CASE("advice headers replace the reserved record, buffered or written out, and survive") {
  for (const std::size_t body : {std::size_t{100}, std::size_t{300 * 1024}}) {
    CAPTURE(body);
    TempDir dir;
    std::string id;
    std::string message = "Subject: x\r\n\r\n" + std::string(body, 'a') + "\r\n";
    {
      spool::Spool spool({dir.path.string(), 0});
      spool::MessageWriter writer;
      id = open_message(spool, writer);
      for (std::size_t at = 0; at < message.size(); at += 1000) {
        REQUIRE_FALSE(writer.write(std::string_view(message).substr(at, 1000)));
      }
      std::string read;
      REQUIRE_FALSE(writer.read_back([&read](std::string_view octets) { read += octets; }));
      CHECK(read == message);
      const std::vector<std::string> headers{
          "X-Policy-Relay-Advice: bcc; visible-recipients=7; threshold=5"};
      REQUIRE_FALSE(writer.set_added_headers(headers));
      CHECK(writer.set_added_headers({std::string(600, 'x')}) ==
            std::make_error_code(std::errc::message_size));
      REQUIRE_FALSE(commit_now(spool, writer));
      std::string block;
      std::uint64_t file_size = 0;
      REQUIRE_FALSE(spool::read_envelope_block(spool.queue_path(id), block, file_size));
      // In place: the records before it intact, the block as long as reserved.
      CHECK(block.find("received 0\nheader X-Policy-Relay-Advice: bcc;") != std::string::npos);
      CHECK(block.ends_with(" \n\n"));
    }
    spool::Spool reopened({dir.path.string(), 0});
    const auto recovered = reopened.recover();
    REQUIRE(recovered.size() == 1);
    CHECK(recovered[0].envelope.id == id);
    CHECK(
        recovered[0].envelope.added_headers ==
        std::vector<std::string>{"X-Policy-Relay-Advice: bcc; visible-recipients=7; threshold=5"});
    CHECK(recovered[0].envelope.added_header_block() ==
          "X-Policy-Relay-Advice: bcc; visible-recipients=7; threshold=5\r\n");
    CHECK(recovered[0].body_size == message.size());
  }
}

TEST_CASE("without a reserved record no header can be added") {
  TempDir dir;
  spool::Spool spool({dir.path.string(), 0});
  Envelope envelope;
  envelope.sender = "a@edomex.gob.mx";
  envelope.recipients = {"b@example.org"};
  spool::MessageWriter writer;
  REQUIRE_FALSE(spool.open(envelope, writer));
  CHECK(writer.set_added_headers({"X-A: b"}) == std::make_error_code(std::errc::invalid_argument));
}

TEST_CASE("read_back in slices covers every message octet once, buffered or written out") {
  for (const std::size_t body : {std::size_t{100}, std::size_t{300 * 1024}}) {
    CAPTURE(body);
    TempDir dir;
    // Numbered lines: a skipped or repeated slice shows in the comparison.
    std::string message = "Subject: x\r\n\r\n";
    for (std::size_t i = 0; message.size() < body; ++i) {
      message += "line " + std::to_string(i) + "\r\n";
    }
    spool::Spool spool({dir.path.string(), 0});
    spool::MessageWriter writer;
    open_message(spool, writer);
    REQUIRE_FALSE(writer.write(message));
    for (const std::uint64_t slice :
         {std::uint64_t{1}, std::uint64_t{4096}, std::uint64_t{70000}, std::uint64_t{1} << 40}) {
      CAPTURE(slice);
      if (slice == 1 && body > 1000) {
        continue;  // a file open per octet: slow, and the small body covers it
      }
      std::string read;
      std::uint64_t position = 0;
      std::size_t calls = 0;
      while (position < writer.body_size()) {
        std::uint64_t next = 0;
        REQUIRE_FALSE(writer.read_back([&read](std::string_view octets) { read += octets; },
                                       position, slice, next));
        REQUIRE(next > position);  // progress on every call
        CHECK(next - position <= slice);
        position = next;
        REQUIRE(++calls <= message.size());
      }
      CHECK(position == writer.body_size());
      CHECK(read == message);
      if (slice == 1) {
        CHECK(calls == message.size());
      }
    }
    // Past the end: nothing more, and `next` stays at the end.
    std::string rest;
    std::uint64_t next = 0;
    REQUIRE_FALSE(writer.read_back([&rest](std::string_view octets) { rest += octets; },
                                   writer.body_size(), 10, next));
    CHECK(rest.empty());
    CHECK(next == writer.body_size());
  }
}
