#include <doctest/doctest.h>
#include <fcntl.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "policy_relay/spool/envelope_format.hpp"
#include "policy_relay/spool/spool.hpp"
#include "temp_dir.hpp"

namespace asio = boost::asio;
namespace fs = std::filesystem;
using namespace policy_relay;

namespace {

struct TempDir : test_support::TempDir {
  TempDir() : test_support::TempDir("spool") {}
};

Envelope sample_envelope() {
  Envelope envelope;
  envelope.sender = "a@edomex.gob.mx";
  envelope.recipients = {"b@example.org", "\"x y\"@example.org"};
  envelope.body_type = "8BITMIME";
  envelope.client_address = "127.0.0.1";
  envelope.helo = "client.example";
  envelope.received_at = 1764390000;
  return envelope;
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream content;
  content << in.rdbuf();
  return content.str();
}

// Runs `spool.store` to completion on a private event loop.
std::error_code store_now(spool::Spool& spool, Envelope& envelope, std::string_view message) {
  asio::io_context io;
  std::error_code result = std::make_error_code(std::errc::timed_out);
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        result = co_await spool.store(envelope, message, io.get_executor());
      },
      asio::detached);
  io.run();
  return result;
}

// Opens, writes and commits `message` on a private event loop; returns what committed() says.
spool::StoredMessage commit_now(spool::Spool& spool, Envelope& envelope, std::string_view message) {
  asio::io_context io;
  spool::StoredMessage described;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        spool::MessageWriter writer;
        REQUIRE_FALSE(spool.open(envelope, writer));
        writer.write(message);
        REQUIRE_FALSE(co_await spool.commit(writer, io.get_executor()));
        described = spool.committed(envelope, writer);
      },
      asio::detached);
  io.run();
  return described;
}

std::string read_through(const spool::StoredMessage& message) {
  const spool::MessageFile file(message);
  REQUIRE(file.get() >= 0);
  std::string octets(message.body_size, '\0');
  REQUIRE(::pread(file.get(), octets.data(), octets.size(),
                  static_cast<off_t>(message.body_offset)) == static_cast<ssize_t>(octets.size()));
  return octets;
}

}  // namespace

TEST_CASE("an envelope survives the spool header format unchanged") {
  Envelope envelope = sample_envelope();
  envelope.id = "0123456789ABC";
  envelope.smtputf8 = true;
  envelope.auth_user = "user";
  std::string block;
  REQUIRE_FALSE(spool::serialize_envelope(envelope, block));
  Envelope parsed;
  REQUIRE_FALSE(spool::parse_envelope(block, parsed));
  CHECK(parsed.id == envelope.id);
  CHECK(parsed.sender == envelope.sender);
  CHECK(parsed.recipients == envelope.recipients);
  CHECK(parsed.body_type == "8BITMIME");
  CHECK(parsed.smtputf8);
  CHECK(parsed.client_address == "127.0.0.1");
  CHECK(parsed.helo == "client.example");
  CHECK(parsed.auth_user == "user");
  CHECK(parsed.received_at == 1764390000);
}

TEST_CASE(
    "the envelope block records the message length, and a block without one reads to the end") {
  Envelope envelope = sample_envelope();
  envelope.id = "0123456789ABC";
  std::string block;
  std::size_t length_offset = 0;
  REQUIRE_FALSE(spool::serialize_envelope(envelope, block, 0, length_offset));
  const std::string length = spool::format_length(5120);
  CHECK(length == "00000000000000005120");
  block.replace(length_offset, length.size(), length);
  Envelope parsed;
  std::optional<std::uint64_t> recorded;
  REQUIRE_FALSE(spool::parse_envelope(block, parsed, recorded));
  REQUIRE(recorded);
  CHECK(*recorded == 5120);

  const auto line = block.find("length ");
  std::string without = block;
  without.erase(line, without.find('\n', line) + 1 - line);
  REQUIRE_FALSE(spool::parse_envelope(without, parsed, recorded));
  CHECK_FALSE(recorded);

  std::string damaged = block;
  damaged.replace(length_offset, 2, "x9");
  CHECK(spool::parse_envelope(damaged, parsed, recorded));
}

TEST_CASE("an envelope value with a line break is refused, not written") {
  Envelope envelope = sample_envelope();
  envelope.id = "X";
  envelope.helo = "evil\r\nrcpt victim@example.org";
  std::string block;
  CHECK(spool::serialize_envelope(envelope, block) == std::errc::invalid_argument);
  CHECK(block.empty());
}

TEST_CASE("the null sender is stored and read back as empty") {
  Envelope envelope = sample_envelope();
  envelope.id = "X";
  envelope.sender = "";
  std::string block;
  REQUIRE_FALSE(spool::serialize_envelope(envelope, block));
  Envelope parsed;
  REQUIRE_FALSE(spool::parse_envelope(block, parsed));
  CHECK(parsed.sender.empty());
}

TEST_CASE("a committed message is in the queue with its exact octets and is recovered") {
  TempDir dir;
  std::string id;
  const std::string message = "Subject: hi\r\n\r\nbody \xC3\xA9\r\n.line\r\n";
  {
    spool::Spool spool({dir.path.string(), 0});
    Envelope envelope = sample_envelope();
    REQUIRE_FALSE(store_now(spool, envelope, message));
    id = envelope.id;
    CHECK(fs::exists(dir.path / "queue" / id));
    CHECK(fs::is_empty(dir.path / "incoming"));
    CHECK((fs::status(dir.path / "queue" / id).permissions() & fs::perms::others_read) ==
          fs::perms::none);
  }
  spool::Spool reopened({dir.path.string(), 0});
  auto recovered = reopened.recover();
  REQUIRE(recovered.size() == 1);
  CHECK(recovered[0].envelope.id == id);
  CHECK(recovered[0].envelope.recipients == sample_envelope().recipients);
  CHECK(recovered[0].body_size == message.size());
  CHECK(read_file(recovered[0].path).substr(recovered[0].body_offset) == message);
}

TEST_CASE("recovery removes partial files and keeps committed messages in arrival order") {
  TempDir dir;
  std::vector<std::string> ids;
  {
    spool::Spool spool({dir.path.string(), 0});
    for (int i = 0; i < 3; ++i) {
      Envelope envelope = sample_envelope();
      REQUIRE_FALSE(store_now(spool, envelope, "Subject: " + std::to_string(i) + "\r\n\r\nx\r\n"));
      ids.push_back(envelope.id);
    }
    // A message still being received when the process died.
    std::ofstream(dir.path / "incoming" / "ORPHAN") << "half a message";
    std::ofstream(dir.path / "queue" / "ABC.state.tmp") << "torn";
    std::ofstream(dir.path / "queue" / "NOPE.state") << "b@example.org\n";
  }
  spool::Spool reopened({dir.path.string(), 0});
  auto recovered = reopened.recover();
  REQUIRE(recovered.size() == 3);
  for (std::size_t i = 0; i < ids.size(); ++i) {
    CHECK(recovered[i].envelope.id == ids[i]);
  }
  CHECK(fs::is_empty(dir.path / "incoming"));
  CHECK_FALSE(fs::exists(dir.path / "queue" / "ABC.state.tmp"));
  CHECK_FALSE(fs::exists(dir.path / "queue" / "NOPE.state"));
}

TEST_CASE("a corrupt queue file is set aside for the operator, never deleted") {
  TempDir dir;
  fs::create_directories(dir.path / "queue");
  std::ofstream(dir.path / "queue" / "00000000000AA") << "not a spool file";
  spool::Spool spool({dir.path.string(), 0});
  CHECK(spool.recover().empty());
  CHECK(fs::exists(dir.path / "corrupt" / "00000000000AA"));
}

TEST_CASE("finished recipients are remembered across a restart and removal cleans up") {
  TempDir dir;
  spool::Spool spool({dir.path.string(), 0});
  Envelope envelope = sample_envelope();
  REQUIRE_FALSE(store_now(spool, envelope, "x\r\n"));
  REQUIRE_FALSE(spool.mark_done(envelope.id, {"b@example.org"}));
  spool::StoredMessage loaded;
  REQUIRE_FALSE(spool.load(envelope.id, loaded));
  CHECK(loaded.done_recipients == std::vector<std::string>{"b@example.org"});
  spool.remove(envelope.id);
  CHECK_FALSE(fs::exists(dir.path / "queue" / envelope.id));
  CHECK_FALSE(fs::exists(dir.path / "queue" / (envelope.id + ".state")));
}

TEST_CASE("an aborted message leaves nothing behind") {
  TempDir dir;
  spool::Spool spool({dir.path.string(), 0});
  Envelope envelope = sample_envelope();
  spool::MessageWriter writer;
  REQUIRE_FALSE(spool.open(envelope, writer));
  writer.write(std::string(200 * 1024, 'x'));
  writer.abort();
  CHECK(fs::is_empty(dir.path / "incoming"));
  CHECK(fs::is_empty(dir.path / "queue"));
}

TEST_CASE("ids are unique and sort in arrival order") {
  TempDir dir;
  spool::Spool spool({dir.path.string(), 0});
  std::string previous;
  for (int i = 0; i < 200; ++i) {
    Envelope envelope = sample_envelope();
    spool::MessageWriter writer;
    REQUIRE_FALSE(spool.open(envelope, writer));
    CHECK(envelope.id > previous);
    previous = envelope.id;
  }
}

TEST_CASE("concurrent commits are grouped into fewer directory syncs") {
  TempDir dir;
  spool::Spool spool({dir.path.string(), 0});
  asio::io_context io;
  constexpr int messages = 64;
  int committed = 0;
  for (int i = 0; i < messages; ++i) {
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
          Envelope envelope = sample_envelope();
          if (!co_await spool.store(envelope, "Subject: x\r\n\r\nbody\r\n", io.get_executor())) {
            ++committed;
          }
        },
        asio::detached);
  }
  io.run();
  CHECK(committed == messages);
  const auto stats = spool.commit_stats();
  CHECK(stats.messages == messages);
  CHECK(stats.batches < static_cast<std::uint64_t>(messages));
  CHECK(stats.largest_batch > 1);
}

TEST_CASE("free space below the configured minimum is reported") {
  TempDir dir;
  spool::Spool roomy({dir.path.string(), 1});
  CHECK(roomy.has_free_space());
  spool::Spool starved({dir.path.string(), ~std::uint64_t{0}});
  CHECK_FALSE(starved.has_free_space());
}

TEST_CASE("recorded progress survives a restart") {
  TempDir dir;
  std::string id;
  {
    spool::Spool spool({dir.path.string(), 0});
    Envelope envelope = sample_envelope();
    REQUIRE_FALSE(store_now(spool, envelope, "x\r\n"));
    REQUIRE_FALSE(spool.mark_done(envelope.id, {"b@example.org"}));
    id = envelope.id;
  }
  spool::Spool reopened({dir.path.string(), 0});
  auto recovered = reopened.recover();
  REQUIRE(recovered.size() == 1);
  CHECK(recovered[0].envelope.id == id);
  CHECK(recovered[0].done_recipients == std::vector<std::string>{"b@example.org"});
}

TEST_CASE("a reused file yields exactly the new message, never the tail of an old one") {
  TempDir dir;
  spool::Spool spool({dir.path.string(), 0});
  Envelope long_one = sample_envelope();
  REQUIRE_FALSE(store_now(spool, long_one, std::string(100 * 1024, 'L') + "\r\n"));
  spool.remove(long_one.id);  // goes to the pool of reusable files
  CHECK_FALSE(fs::is_empty(dir.path / "free"));

  Envelope short_one = sample_envelope();
  const std::string message = "Subject: short\r\n\r\nS\r\n";
  REQUIRE_FALSE(store_now(spool, short_one, message));
  CHECK(fs::is_empty(dir.path / "free"));  // the pooled file was taken
  spool::StoredMessage loaded;
  REQUIRE_FALSE(spool.load(short_one.id, loaded));
  CHECK(loaded.body_size == message.size());
  CHECK(read_file(loaded.path).substr(loaded.body_offset, loaded.body_size) == message);
  // The old length is kept (no size or block change for fdatasync() to write): the envelope's
  // length, not the file's, says where the message ends.
  CHECK(fs::file_size(loaded.path) > loaded.body_offset + loaded.body_size);
  spool::Spool reopened({dir.path.string(), 0});
  const auto recovered = reopened.recover();
  REQUIRE(recovered.size() == 1);
  CHECK(recovered[0].body_size == message.size());
}

TEST_CASE("a reused file whose stale tail would be long is cut to its new message") {
  TempDir dir;
  spool::Spool::Config config{dir.path.string(), 0};
  config.max_stale_tail = 1024;
  spool::Spool spool(config);
  Envelope long_one = sample_envelope();
  REQUIRE_FALSE(store_now(spool, long_one, std::string(8 * 1024, 'L') + "\r\n"));
  spool.remove(long_one.id);
  Envelope short_one = sample_envelope();
  REQUIRE_FALSE(store_now(spool, short_one, "x\r\n"));
  spool::StoredMessage loaded;
  REQUIRE_FALSE(spool.load(short_one.id, loaded));
  CHECK(fs::file_size(loaded.path) == loaded.body_offset + loaded.body_size);
}

TEST_CASE("a message larger than the write buffer records its length in the file's head") {
  TempDir dir;
  spool::Spool::Config config{dir.path.string(), 0};
  config.write_buffer = 4096;
  spool::Spool spool(config);
  Envelope envelope = sample_envelope();
  const std::string message = std::string(50 * 1024, 'B') + "\r\n";
  REQUIRE_FALSE(store_now(spool, envelope, message));
  spool::StoredMessage loaded;
  REQUIRE_FALSE(spool.load(envelope.id, loaded));
  CHECK(loaded.body_size == message.size());
  CHECK(read_file(loaded.path).find("length 00000000000000051202\n") != std::string::npos);
}

TEST_CASE("a queue file shorter than its recorded length is set aside at recovery") {
  TempDir dir;
  std::string id;
  {
    spool::Spool spool({dir.path.string(), 0});
    Envelope envelope = sample_envelope();
    REQUIRE_FALSE(store_now(spool, envelope, "Subject: cut\r\n\r\nsome body\r\n"));
    id = envelope.id;
  }
  const auto path = dir.path / "queue" / id;
  fs::resize_file(path, fs::file_size(path) - 3);
  spool::Spool reopened({dir.path.string(), 0});
  CHECK(reopened.recover().empty());
  CHECK(fs::exists(dir.path / "corrupt" / id));
}

TEST_CASE("committed() describes the stored message exactly as load() reads it") {
  TempDir dir;
  spool::Spool spool({dir.path.string(), 0});
  Envelope envelope = sample_envelope();
  const spool::StoredMessage described = commit_now(spool, envelope, "Subject: a\r\n\r\nbody\r\n");
  spool::StoredMessage loaded;
  REQUIRE_FALSE(spool.load(envelope.id, loaded));
  CHECK(described.path == loaded.path);
  CHECK(described.body_offset == loaded.body_offset);
  CHECK(described.body_size == loaded.body_size);
  CHECK(described.envelope.recipients == loaded.envelope.recipients);
}

TEST_CASE("a committed file stays open for delivery, within the configured number") {
  TempDir dir;
  spool::Spool::Config config{dir.path.string(), 0};
  config.kept_open_files = 1;
  spool::Spool spool(config);
  Envelope first_envelope = sample_envelope();
  Envelope second_envelope = sample_envelope();
  {
    const auto first = commit_now(spool, first_envelope, "Subject: 1\r\n\r\none\r\n");
    const auto second = commit_now(spool, second_envelope, "Subject: 2\r\n\r\ntwo\r\n");
    REQUIRE(first.file);
    CHECK_FALSE(second.file);  // over the budget: delivery opens the path instead
    CHECK(read_through(first) == "Subject: 1\r\n\r\none\r\n");
    CHECK(read_through(second) == "Subject: 2\r\n\r\ntwo\r\n");
  }
  // The first descriptor was released with its message: the budget is free again.
  Envelope third_envelope = sample_envelope();
  CHECK(commit_now(spool, third_envelope, "x\r\n").file);
}

TEST_CASE("a message is received straight into a pooled file and committed from there") {
  TempDir dir;
  spool::Spool spool({dir.path.string(), 0});
  Envelope old_envelope = sample_envelope();
  REQUIRE_FALSE(store_now(spool, old_envelope, "old\r\n"));
  spool.remove(old_envelope.id);
  REQUIRE_FALSE(fs::is_empty(dir.path / "free"));

  Envelope envelope = sample_envelope();
  spool::MessageWriter writer;
  REQUIRE_FALSE(spool.open(envelope, writer));
  CHECK(fs::is_empty(dir.path / "incoming"));  // no new file was created
  writer.abort();
  CHECK(fs::is_empty(dir.path / "free"));  // an aborted pooled file is removed, not reused
}

TEST_CASE("after a crash, a pooled name of a queued message is dropped, never reused") {
  TempDir dir;
  std::string id;
  {
    spool::Spool spool({dir.path.string(), 0});
    Envelope envelope = sample_envelope();
    REQUIRE_FALSE(store_now(spool, envelope, "Subject: keep\r\n\r\nkeep me\r\n"));
    id = envelope.id;
  }
  // What an unsynced pool directory can show after a crash: the queued file's old pool name.
  REQUIRE(::link((dir.path / "queue" / id).c_str(), (dir.path / "free" / "r7").c_str()) == 0);
  spool::Spool reopened({dir.path.string(), 0});
  auto recovered = reopened.recover();
  REQUIRE(recovered.size() == 1);
  CHECK_FALSE(fs::exists(dir.path / "free" / "r7"));
  Envelope other = sample_envelope();
  REQUIRE_FALSE(store_now(reopened, other, "Subject: other\r\n\r\nother\r\n"));
  CHECK(read_through(recovered[0]) == "Subject: keep\r\n\r\nkeep me\r\n");
}
