#include <doctest/doctest.h>
#include <malloc.h>
#include <unistd.h>
#include <array>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <filesystem>
#include <fstream>
#include <optional>
#include <vector>

#include "policy_relay/policy/local_counter_store.hpp"
#include "temp_dir.hpp"

namespace asio = boost::asio;
namespace fs = std::filesystem;
using namespace policy_relay::policy;
using std::chrono::hours;
using std::chrono::seconds;

namespace {

struct TempDir : test_support::TempDir {
  TempDir() : test_support::TempDir("counters") {}
};

TimePoint at_s(std::int64_t offset) {
  return TimePoint(seconds(1'794'960'000 + offset));  // a UTC midnight plus an offset
}

// Runs one awaitable to completion on `io` and returns its value.
template <typename T>
T run(asio::io_context& io, asio::awaitable<T> awaitable) {
  std::optional<T> value;
  asio::co_spawn(io, std::move(awaitable), [&](std::exception_ptr error, T result) {
    REQUIRE_FALSE(error);
    value = std::move(result);
  });
  io.restart();
  io.run();
  REQUIRE(value.has_value());
  return std::move(*value);
}

LocalCounterStore::Options options_at(TimePoint start) {
  LocalCounterStore::Options options;
  options.start_time = start;
  return options;
}

// What a kill -9 leaves behind: the directory's files as they are on disk right now, with the
// store still open (nothing flushed or closed at exit). Copied so the live store keeps its lock.
void crash_image(const fs::path& from, const fs::path& to) {
  fs::create_directories(to);
  for (const auto& entry : fs::directory_iterator(from)) {
    fs::copy_file(entry.path(), to / entry.path().filename());
  }
}

struct Store {
  asio::io_context io;
  LocalCounterStore store;
  Store(const fs::path& dir, TimePoint start, LocalCounterStore::Options options = {})
      : store(dir.string(), io.get_executor(), [&] {
          options.start_time = start;
          return options;
        }()) {}

  ReserveResult reserve(std::string_view key, Counter counter, std::uint64_t amount,
                        std::uint64_t limit, TimePoint now) {
    return run(io, store.try_reserve(key, counter, amount, limit, now));
  }
  std::error_code commit(Reservation& reservation, TimePoint now) {
    return run(io, store.commit(reservation, now));
  }
  // Reserve and commit; false when refused.
  bool use(std::string_view key, Counter counter, std::uint64_t amount, std::uint64_t limit,
           TimePoint now) {
    auto result = reserve(key, counter, amount, limit, now);
    if (!result.granted) {
      return false;
    }
    REQUIRE_FALSE(commit(result.reservation, now));
    return true;
  }
  std::uint64_t used(std::string_view key, Counter counter, TimePoint now) {
    return run(io, store.usage(key, counter, now)).used;
  }
  // Starts a commit (durable: commit(), else commit_unsynced()) without running the loop;
  // `done` turns true when it completes without error.
  void spawn_commit(Reservation& reservation, TimePoint now, bool durable, bool& done) {
    asio::co_spawn(
        io,
        [this, &reservation, now, durable, &done]() -> asio::awaitable<void> {
          if (durable) {
            CHECK_FALSE(co_await store.commit(reservation, now));
          } else {
            CHECK_FALSE(co_await store.commit_unsynced(reservation, now));
          }
          done = true;
        },
        asio::detached);
  }
};

}  // namespace

TEST_CASE("the local store grants exactly the limit and says when the next unit fits") {
  TempDir dir;
  Store s(dir.path, at_s(0));
  for (int i = 0; i < 5; ++i) {
    CHECK(s.use("a@x", Counter::messages_per_minute, 1, 5, at_s(i)));
  }
  const auto refused = s.reserve("a@x", Counter::messages_per_minute, 1, 5, at_s(10));
  CHECK_FALSE(refused.granted);
  CHECK_FALSE(refused.error);
  CHECK(refused.used == 5);
  CHECK(refused.frees_at == at_s(61));
  CHECK(s.use("a@x", Counter::messages_per_minute, 1, 5, at_s(61)));
}

TEST_CASE("a reservation holds units for other sessions until it is committed or released") {
  TempDir dir;
  Store s(dir.path, at_s(0));
  auto first = s.reserve("a@x", Counter::recipients_per_day, 2, 3, at_s(0));
  REQUIRE(first.granted);
  CHECK(first.reservation.key == "a@x");
  CHECK(first.reservation.amount == 2);
  CHECK_FALSE(s.reserve("a@x", Counter::recipients_per_day, 2, 3, at_s(1)).granted);
  auto second = s.reserve("a@x", Counter::recipients_per_day, 1, 3, at_s(1));
  REQUIRE(second.granted);
  s.store.release(first.reservation);
  CHECK_FALSE(first.reservation);
  s.store.release(first.reservation);  // idempotent
  s.store.release(first.reservation);
  CHECK(s.used("a@x", Counter::recipients_per_day, at_s(2)) == 1);
  CHECK(s.commit(first.reservation, at_s(2)));  // ended: nothing to commit
  REQUIRE_FALSE(s.commit(second.reservation, at_s(2)));
  s.store.release(second.reservation);  // after commit: no effect
  CHECK(s.used("a@x", Counter::recipients_per_day, at_s(3)) == 1);
  CHECK(s.store.stats().open_reservations == 0);
}

TEST_CASE("a copy of a reservation cannot release units twice") {
  TempDir dir;
  Store s(dir.path, at_s(0));
  auto held = s.reserve("a@x", Counter::recipients_per_day, 1, 2, at_s(0));
  auto other = s.reserve("a@x", Counter::recipients_per_day, 1, 2, at_s(0));
  REQUIRE(held.granted);
  REQUIRE(other.granted);
  Reservation copy = held.reservation;
  s.store.release(held.reservation);
  s.store.release(copy);
  CHECK(s.used("a@x", Counter::recipients_per_day, at_s(1)) == 1);  // `other` still holds one
}

TEST_CASE("committed usage survives a crash: a store opened on the crash image counts it") {
  TempDir dir;
  TempDir image;
  {
    Store s(dir.path, at_s(0));
    for (int i = 0; i < 7; ++i) {
      REQUIRE(s.use("a@x", Counter::recipients_per_day, 10, 10'000, at_s(i * 600)));
    }
    REQUIRE(s.use("b@x", Counter::messages_per_minute, 1, 30, at_s(3600)));
    auto open = s.reserve("a@x", Counter::recipients_per_day, 5, 10'000, at_s(3600));
    REQUIRE(open.granted);  // never committed: must not come back
    crash_image(dir.path, image.path / "state");
  }
  Store after(image.path / "state", at_s(3630));
  CHECK(after.used("a@x", Counter::recipients_per_day, at_s(3630)) == 70);
  CHECK(after.used("b@x", Counter::messages_per_minute, at_s(3630)) == 1);
  CHECK(after.store.stats().replay.torn_bytes == 0);
  // Windows keep sliding from the recorded times.
  CHECK(after.used("b@x", Counter::messages_per_minute, at_s(3661)) == 0);
  CHECK(after.used("a@x", Counter::recipients_per_day, at_s(86'400 + 60)) == 60);
}

TEST_CASE("an unsynced commit is in the journal file, and so survives kill -9, when it completes") {
  TempDir dir;
  TempDir image;
  {
    Store s(dir.path, at_s(0));
    auto held = s.reserve("a@x", Counter::releases_per_minute, 1, 5, at_s(0));
    REQUIRE(held.granted);
    CHECK_FALSE(run(s.io, s.store.commit_unsynced(held.reservation, at_s(0))));
    CHECK_FALSE(held.reservation);
    crash_image(dir.path, image.path / "state");
  }
  Store after(image.path / "state", at_s(1));
  CHECK(after.used("a@x", Counter::releases_per_minute, at_s(1)) == 1);
}

TEST_CASE(
    "unsynced commits of one turn of the event loop share one append, each written when it "
    "completes") {
  TempDir dir;
  TempDir image;
  Store s(dir.path, at_s(0));
  constexpr int kSessions = 8;
  std::vector<Reservation> held;
  for (int i = 0; i < kSessions; ++i) {
    held.push_back(s.reserve("user" + std::to_string(i) + "@x", Counter::recipients_per_day, 1,
                             10'000, at_s(0))
                       .reservation);
  }
  const auto before = s.store.stats();
  int completed = 0;
  for (int i = 0; i < kSessions; ++i) {
    asio::co_spawn(
        s.io,
        [&, i]() -> asio::awaitable<void> {
          CHECK_FALSE(co_await s.store.commit_unsynced(held[i], at_s(1)));
          // What a kill -9 right now would leave holds this session's record.
          const fs::path crash = image.path / std::to_string(i);
          crash_image(dir.path, crash);
          ++completed;
        },
        asio::detached);
  }
  s.io.restart();
  s.io.run();
  REQUIRE(completed == kSessions);
  const auto after = s.store.stats();
  CHECK(after.batched_records - before.batched_records == kSessions);
  CHECK(after.batches - before.batches == 1);
  CHECK(after.journal.appends - before.journal.appends == 1);
  for (int i = 0; i < kSessions; ++i) {
    Store replayed(image.path / std::to_string(i), at_s(2));
    CHECK(replayed.used("user" + std::to_string(i) + "@x", Counter::recipients_per_day, at_s(2)) ==
          1);
  }
}

TEST_CASE("a durable commit takes the gathered unsynced records along, in order") {
  TempDir dir;
  TempDir image;
  Store s(dir.path, at_s(0));
  auto unsynced = s.reserve("a@x", Counter::releases_per_minute, 1, 30, at_s(0));
  auto durable = s.reserve("b@x", Counter::recipients_per_day, 2, 10'000, at_s(0));
  bool unsynced_done = false;
  bool durable_done = false;
  s.spawn_commit(unsynced.reservation, at_s(1), false, unsynced_done);
  s.spawn_commit(durable.reservation, at_s(1), true, durable_done);
  s.io.restart();
  s.io.run();
  CHECK(unsynced_done);
  CHECK(durable_done);
  crash_image(dir.path, image.path / "state");
  Store after(image.path / "state", at_s(2));
  CHECK(after.used("a@x", Counter::releases_per_minute, at_s(2)) == 1);
  CHECK(after.used("b@x", Counter::recipients_per_day, at_s(2)) == 2);
}

TEST_CASE("drain writes the unsynced records still gathered for the next flush") {
  TempDir dir;
  TempDir image;
  Store s(dir.path, at_s(0));
  auto held = s.reserve("a@x", Counter::releases_per_minute, 1, 30, at_s(0));
  bool completed = false;
  s.spawn_commit(held.reservation, at_s(0), false, completed);
  s.io.restart();
  s.io.run_one();  // the commit gathers its record; its flush is posted, not run
  CHECK_FALSE(completed);
  s.store.drain();
  crash_image(dir.path, image.path / "state");
  s.io.restart();
  s.io.poll();
  CHECK(completed);
  Store after(image.path / "state", at_s(1));
  CHECK(after.used("a@x", Counter::releases_per_minute, at_s(1)) == 1);
}

TEST_CASE("a snapshot taken while records are gathered counts them once") {
  TempDir dir;
  TempDir image;
  Store s(dir.path, at_s(0));
  auto held = s.reserve("a@x", Counter::recipients_per_day, 3, 10'000, at_s(0));
  bool completed = false;
  s.spawn_commit(held.reservation, at_s(0), false, completed);
  s.io.restart();
  s.io.run_one();  // gathered, not yet written
  s.store.compact(at_s(0));
  s.io.restart();
  s.io.run();
  CHECK(completed);
  s.store.drain();
  crash_image(dir.path, image.path / "state");
  Store after(image.path / "state", at_s(1));
  CHECK(after.used("a@x", Counter::recipients_per_day, at_s(1)) == 3);
}

TEST_CASE("commit_all counts a message's reservations in one journal append that replays whole") {
  TempDir dir;
  TempDir image;
  for (const bool durable : {false, true}) {
    CAPTURE(durable);
    const std::string sender = durable ? "durable@x" : "written@x";
    Store s(dir.path / sender, at_s(0));
    auto message = s.reserve(sender, Counter::messages_per_minute, 1, 30, at_s(0));
    auto recipients = s.reserve(sender, Counter::recipients_per_day, 3, 10'000, at_s(0));
    REQUIRE(message.granted);
    REQUIRE(recipients.granted);
    Reservation never_granted;
    const auto appends_before = s.store.stats().journal.appends;
    std::array<Reservation*, 2> held{&message.reservation, &recipients.reservation};
    CHECK_FALSE(run(s.io, s.store.commit_all(held, at_s(1), durable)));
    CHECK(s.store.stats().journal.appends == appends_before + 1);
    CHECK_FALSE(message.reservation);
    CHECK_FALSE(recipients.reservation);
    CHECK(s.store.stats().open_reservations == 0);
    CHECK(s.used(sender, Counter::messages_per_minute, at_s(1)) == 1);
    CHECK(s.used(sender, Counter::recipients_per_day, at_s(1)) == 3);
    // An ended (or never granted) reservation in the list is an error; the others still count.
    auto more = s.reserve(sender, Counter::recipients_per_day, 2, 10'000, at_s(2));
    std::array<Reservation*, 2> mixed{&never_granted, &more.reservation};
    CHECK(run(s.io, s.store.commit_all(mixed, at_s(2), durable)) == std::errc::invalid_argument);
    CHECK(s.used(sender, Counter::recipients_per_day, at_s(2)) == 5);
    crash_image(dir.path / sender, image.path / sender);
    Store after(image.path / sender, at_s(3));
    CHECK(after.used(sender, Counter::messages_per_minute, at_s(3)) == 1);
    CHECK(after.used(sender, Counter::recipients_per_day, at_s(3)) == 5);
  }
}

TEST_CASE("try_count counts exactly the limit at once, holds nothing, and survives kill -9") {
  TempDir dir;
  TempDir image;
  {
    Store s(dir.path, at_s(0));
    for (int i = 0; i < 5; ++i) {
      const auto counted =
          run(s.io, s.store.try_count("p@x", Counter::releases_per_minute, 1, 5, at_s(i)));
      CHECK(counted.granted);
      CHECK_FALSE(counted.error);
      CHECK(counted.used == static_cast<std::uint64_t>(i));
      CHECK_FALSE(counted.reservation);
    }
    const auto refused =
        run(s.io, s.store.try_count("p@x", Counter::releases_per_minute, 1, 5, at_s(10)));
    CHECK_FALSE(refused.granted);
    CHECK_FALSE(refused.error);
    CHECK(refused.used == 5);
    CHECK(refused.frees_at == at_s(61));  // the unit counted in second 0 leaves at 0 + 1 + 60
    CHECK(s.store.stats().open_reservations == 0);
    CHECK(s.used("p@x", Counter::releases_per_minute, at_s(10)) == 5);
    crash_image(dir.path, image.path / "state");
  }
  Store after(image.path / "state", at_s(20));
  CHECK(after.used("p@x", Counter::releases_per_minute, at_s(20)) == 5);
  CHECK_FALSE(
      run(after.io, after.store.try_count("p@x", Counter::releases_per_minute, 1, 5, at_s(20)))
          .granted);
  CHECK(run(after.io, after.store.try_count("p@x", Counter::releases_per_minute, 1, 5, at_s(61)))
            .granted);
}

TEST_CASE("replay keeps only the usage still inside its window") {
  TempDir dir;
  {
    Store s(dir.path, at_s(0));
    REQUIRE(s.use("a@x", Counter::messages_per_minute, 1, 30, at_s(0)));
    REQUIRE(s.use("a@x", Counter::recipients_per_day, 3, 100, at_s(0)));
    REQUIRE(s.use("gone@x", Counter::messages_per_minute, 1, 30, at_s(0)));
  }
  Store after(dir.path, at_s(120));
  CHECK(after.used("a@x", Counter::messages_per_minute, at_s(120)) == 0);
  CHECK(after.used("a@x", Counter::recipients_per_day, at_s(120)) == 3);
  CHECK(after.store.stats().table.keys == 1);
}

TEST_CASE("a torn last journal record is ignored at start and the journal is rewritten clean") {
  TempDir dir;
  {
    Store s(dir.path, at_s(0));
    REQUIRE(s.use("a@x", Counter::recipients_per_day, 4, 100, at_s(0)));
    REQUIRE(s.use("a@x", Counter::recipients_per_day, 2, 100, at_s(60)));
  }
  const fs::path journal = dir.path / std::string(LocalCounterStore::journal_name);
  {
    // A third record whose write stopped half-way (the crash came mid-append).
    std::string record;
    encode_usage(record, "a@x", Counter::recipients_per_day, at_s(120), 50);
    std::ofstream out(journal, std::ios::binary | std::ios::app);
    out.write(record.data(), static_cast<std::streamsize>(record.size() / 2));
  }
  {
    Store after(dir.path, at_s(180));
    CHECK(after.store.stats().replay.torn_bytes > 0);
    CHECK(after.used("a@x", Counter::recipients_per_day, at_s(180)) == 6);
    REQUIRE(after.use("a@x", Counter::recipients_per_day, 1, 100, at_s(180)));
  }
  Store again(dir.path, at_s(200));
  CHECK(again.store.stats().replay.torn_bytes == 0);
  CHECK(again.used("a@x", Counter::recipients_per_day, at_s(200)) == 7);
}

TEST_CASE("the journal is compacted when it grows past its bound and still replays exactly") {
  TempDir dir;
  TempDir image;
  LocalCounterStore::Options options;
  options.compact_after_bytes = 2048;
  {
    Store s(dir.path, at_s(0), options);
    for (int i = 0; i < 400; ++i) {
      REQUIRE(s.use("user" + std::to_string(i % 10) + "@x", Counter::recipients_per_day, 1, 1000,
                    at_s(i * 30)));
    }
    const auto stats = s.store.stats();
    CHECK(stats.compactions > 3);
    CHECK(stats.journal.replacements + 1 == stats.compactions);
    // The file holds a snapshot plus what came after it, not every record ever written.
    CHECK(fs::file_size(dir.path / std::string(LocalCounterStore::journal_name)) ==
          stats.journal_bytes);
    CHECK(stats.journal_bytes < 8192);
    crash_image(dir.path, image.path / "state");
  }
  Store after(image.path / "state", at_s(400 * 30));
  for (int k = 0; k < 10; ++k) {
    CHECK(after.used("user" + std::to_string(k) + "@x", Counter::recipients_per_day,
                     at_s(400 * 30)) == 40);
  }
}

TEST_CASE("concurrent commits share journal syncs") {
  TempDir dir;
  Store s(dir.path, at_s(0));
  std::vector<Reservation> held;
  for (int i = 0; i < 64; ++i) {
    held.push_back(
        s.reserve("user" + std::to_string(i) + "@x", Counter::messages_per_minute, 1, 30, at_s(0))
            .reservation);
  }
  int done = 0;
  for (auto& reservation : held) {
    asio::co_spawn(
        s.io,
        [&]() -> asio::awaitable<void> {
          CHECK_FALSE(co_await s.store.commit(reservation, at_s(1)));
          ++done;
        },
        asio::detached);
  }
  s.io.restart();
  s.io.run();
  CHECK(done == 64);
  const auto journal = s.store.stats().journal;
  CHECK(journal.appends == 64);
  CHECK(journal.syncs < 64);
  MESSAGE("64 concurrent commits: " << journal.syncs << " syncs, largest group "
                                    << journal.largest_group);
}

TEST_CASE("drain waits until every queued commit is on disk and its completion posted") {
  TempDir dir;
  Store s(dir.path, at_s(0));
  auto held = s.reserve("a@x", Counter::messages_per_minute, 1, 30, at_s(0));
  bool completed = false;
  s.spawn_commit(held.reservation, at_s(0), true, completed);
  s.io.restart();
  s.io.poll();  // the commit is queued
  s.store.drain();
  s.io.restart();
  s.io.poll();  // its completion is ready at once: nothing waits on the disk any more
  CHECK(completed);
}

TEST_CASE("new senders sweep out expired ones; operations on known senders sweep nothing") {
  TempDir dir;
  Store s(dir.path, at_s(0));
  for (int i = 0; i < 1000; ++i) {
    REQUIRE(s.use("old" + std::to_string(i) + "@edomex.gob.mx", Counter::recipients_per_day, 1,
                  10'000, at_s(0)));
  }
  CHECK(s.store.stats().table.keys == 1000);
  // A day later the old senders' usage has expired. A known sender's traffic forgets none of
  // them (no sweep on a known key; its first message, a new key, cleaned a slot or two) ...
  REQUIRE(s.use("busy@edomex.gob.mx", Counter::recipients_per_day, 1, 10'000, at_s(25 * 3600)));
  const std::size_t after_first = s.store.stats().table.keys;
  CHECK(after_first >= 1001 - 2 * 4);  // 2 slots, a few keys each at most
  for (int i = 0; i < 99; ++i) {
    REQUIRE(s.use("busy@edomex.gob.mx", Counter::recipients_per_day, 1, 10'000, at_s(25 * 3600)));
  }
  CHECK(s.store.stats().table.keys == after_first);
  // ... new senders do: each cleans a few slots of the key map, so the table stays bounded by
  // the live senders, not by every sender ever seen.
  for (int i = 0; i < 1000; ++i) {
    REQUIRE(s.use("new" + std::to_string(i) + "@edomex.gob.mx", Counter::recipients_per_day, 1,
                  10'000, at_s(25 * 3600)));
  }
  CHECK(s.store.stats().table.keys < 1001 + 1000);
  CHECK(s.store.stats().table.keys <= 1001 + 100);  // most of the old thousand are gone
}

TEST_CASE("a second store on the same state directory is refused") {
  TempDir dir;
  Store s(dir.path, at_s(0));
  asio::io_context io;
  CHECK_THROWS_AS(LocalCounterStore(dir.path.string(), io.get_executor(), options_at(at_s(0))),
                  std::system_error);
}

TEST_CASE("a foreign file where the journal should be stops the start") {
  TempDir dir;
  std::ofstream(dir.path / std::string(LocalCounterStore::journal_name)) << "not a journal\n";
  asio::io_context io;
  CHECK_THROWS(LocalCounterStore(dir.path.string(), io.get_executor(), options_at(at_s(0))));
}

#if !defined(__SANITIZE_ADDRESS__)
// The figure in README "How windows count": 100,000 senders, each with 20 messages spread over
// the day (20 per-minute buckets of recipients) and one message in the last minute (a bucket in
// each 60 s counter): every sender active, a heavier day than the typical one.
TEST_CASE("100,000 active senders take less than 64 MiB of counters") {
  const auto before = ::mallinfo2().uordblks;
  {
    CounterTable table;
    const TimePoint now = at_s(86'000);
    for (int sender = 0; sender < 100'000; ++sender) {
      const std::string key = "sender.number" + std::to_string(sender) + "@edomex.gob.mx";
      for (int message = 0; message < 20; ++message) {
        table.add(key, Counter::recipients_per_day, 3, at_s(message * 4000 + sender % 60));
      }
      table.add(key, Counter::messages_per_minute, 1, now);
      table.add(key, Counter::releases_per_minute, 1, now);
    }
    const auto used = ::mallinfo2().uordblks - before;
    const auto stats = table.stats();
    CHECK(stats.keys == 100'000);
    CHECK(stats.buckets == 2'200'000);
    MESSAGE("counters for 100,000 senders: " << used / (1024 * 1024) << " MiB (" << used / 100'000
                                             << " bytes per sender)");
    CHECK(used < 64u * 1024 * 1024);
  }
}
#endif
