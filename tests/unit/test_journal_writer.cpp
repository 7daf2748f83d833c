#include <doctest/doctest.h>
#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <thread>

#include "policy_relay/policy/journal_writer.hpp"

namespace fs = std::filesystem;
using policy_relay::policy::JournalWriter;

namespace {

struct JournalDir {
  fs::path path;
  int fd = -1;
  JournalDir() {
    char pattern[] = "/tmp/policy-relay-journal-XXXXXX";
    path = ::mkdtemp(pattern);
    fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    REQUIRE_FALSE(policy_relay::policy::replace_file(fd, path.string(), "j", "header\n"));
  }
  ~JournalDir() {
    ::close(fd);
    fs::remove_all(path);
  }
};

// Polls `done` for up to two seconds.
template <typename Predicate>
bool eventually(Predicate done) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  while (!done() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return done();
}

}  // namespace

TEST_CASE("an append nobody waits on is still synced to disk in the background") {
  JournalDir dir;
  JournalWriter writer(dir.fd, dir.path.string(), "j");
  std::atomic<bool> written = false;
  writer.append("record\n", [&](std::error_code ec) { written = !ec; }, {});
  CHECK(eventually([&] { return written.load(); }));
  CHECK(eventually([&] { return writer.stats().syncs >= 1; }));
  CHECK(fs::file_size(dir.path / "j") == std::string("header\nrecord\n").size());
}

TEST_CASE("an append whose caller waits for durability is reported after its sync") {
  JournalDir dir;
  JournalWriter writer(dir.fd, dir.path.string(), "j");
  std::atomic<bool> durable = false;
  writer.append("record\n", {}, [&](std::error_code ec) { durable = !ec; });
  CHECK(eventually([&] { return durable.load(); }));
  CHECK(writer.stats().syncs >= 1);
}

TEST_CASE("an append on the caller's thread is in the file at once and synced later") {
  JournalDir dir;
  JournalWriter writer(dir.fd, dir.path.string(), "j");
  std::optional<std::error_code> written;
  // The writer thread may still be starting up: it is idle once it has nothing queued.
  REQUIRE(eventually([&] {
    if (!written) {
      written = writer.try_append_now("now\n");
    }
    return written.has_value();
  }));
  CHECK_FALSE(*written);
  CHECK(fs::file_size(dir.path / "j") == std::string("header\nnow\n").size());
  CHECK(eventually([&] { return writer.stats().syncs >= 1; }));
  // Queued and direct appends keep their order.
  writer.append("queued\n", {}, {});
  writer.drain();
  REQUIRE(writer.try_append_now("after\n").has_value());
  std::ifstream in(dir.path / "j");
  std::stringstream content;
  content << in.rdbuf();
  CHECK(content.str() == "header\nnow\nqueued\nafter\n");
}
