// The cost of the local counters (issue 3 "Benchmark"): one check = try_reserve + commit.
//   table_*   the in-memory windows alone (CounterTable): the CPU cost per check
//   store_*   LocalCounterStore on a temporary directory, `batch` sessions committing at once on
//             one event loop: journal encoding, the writer threads, and the group fdatasync
//             shared by the batch (what a check costs the relay under load)
//   memory    bytes per sender for 100,000 active senders (README "How windows count")
#include <benchmark/benchmark.h>
#include <malloc.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <filesystem>
#include <string>
#include <vector>

#include "policy_relay/policy/counter_table.hpp"
#include "policy_relay/policy/local_counter_store.hpp"

namespace asio = boost::asio;
namespace fs = std::filesystem;
using namespace policy_relay::policy;
using std::chrono::milliseconds;
using std::chrono::seconds;

namespace {

const TimePoint epoch_day(seconds(1'794'960'000));

std::vector<std::string> sender_keys(std::size_t count) {
  std::vector<std::string> keys;
  keys.reserve(count);
  for (std::size_t i = 0; i < count; ++i) {
    keys.push_back("sender.number" + std::to_string(i) + "@edomex.gob.mx");
  }
  return keys;
}

struct TempDir {
  fs::path path;
  TempDir() {
    char pattern[] = "/tmp/policy-relay-micro-XXXXXX";
    path = ::mkdtemp(pattern);
  }
  ~TempDir() { fs::remove_all(path); }
};

// Granted checks on `senders` keys round robin, the clock advancing 1 ms per check.
void table_reserve_commit(benchmark::State& state) {
  const auto keys = sender_keys(static_cast<std::size_t>(state.range(0)));
  CounterTable table;
  TimePoint now = epoch_day;
  std::size_t next = 0;
  for (auto _ : state) {
    const std::string& key = keys[next];
    next = next + 1 == keys.size() ? 0 : next + 1;
    now += milliseconds(1);
    auto check = table.try_reserve(key, Counter::recipients_per_day, 1, 1'000'000, now);
    benchmark::DoNotOptimize(check);
    table.unreserve(key, Counter::recipients_per_day, 1);
    table.add(key, Counter::recipients_per_day, 1, now);
    table.sweep_some(now, 2);
  }
  state.counters["live_buckets"] = static_cast<double>(table.stats().buckets);
}
BENCHMARK(table_reserve_commit)->Arg(1)->Arg(1000)->Arg(100'000);

// A refused check on a full day (1,440 per-minute buckets): frees_at walks the buckets.
void table_refused_full_day(benchmark::State& state) {
  CounterTable table;
  for (int minute = 0; minute < 1440; ++minute) {
    table.add("a@x", Counter::recipients_per_day, 7, epoch_day + std::chrono::minutes(minute));
  }
  const TimePoint now = epoch_day + std::chrono::minutes(1439);
  for (auto _ : state) {
    auto check = table.try_reserve("a@x", Counter::recipients_per_day, 5000, 10'000, now);
    benchmark::DoNotOptimize(check);
  }
}
BENCHMARK(table_refused_full_day);

// `batch` concurrent try_reserve + commit on distinct senders; time per check.
void store_reserve_commit(benchmark::State& state, bool durable) {
  TempDir dir;
  asio::io_context io;
  LocalCounterStore::Options options;
  options.start_time = epoch_day;
  LocalCounterStore store(dir.path.string(), io.get_executor(), options);
  const auto batch = static_cast<std::size_t>(state.range(0));
  const auto keys = sender_keys(batch);
  TimePoint now = epoch_day;
  for (auto _ : state) {
    now += milliseconds(1);
    for (const auto& key : keys) {
      asio::co_spawn(
          io,
          [&]() -> asio::awaitable<void> {
            auto result =
                co_await store.try_reserve(key, Counter::recipients_per_day, 1, 1'000'000'000, now);
            if (durable) {
              co_await store.commit(result.reservation, now);
            } else {
              co_await store.commit_unsynced(result.reservation, now);
            }
          },
          asio::detached);
    }
    io.restart();
    io.run();
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * batch));
  const auto stats = store.stats();
  state.counters["checks_per_sync"] =
      stats.journal.syncs ? static_cast<double>(stats.journal.appends) / stats.journal.syncs : 0;
}
BENCHMARK_CAPTURE(store_reserve_commit, durable, true)
    ->Arg(1)
    ->Arg(64)
    ->Arg(512)
    ->Unit(benchmark::kMicrosecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(store_reserve_commit, unsynced, false)
    ->Arg(1)
    ->Arg(64)
    ->Unit(benchmark::kMicrosecond)
    ->UseRealTime();

// A journal compaction with 100,000 active senders: the snapshot is built on the event loop
// (the stall a session may see once per compaction); writing and syncing it is the writer's.
void store_compaction_100k_senders(benchmark::State& state) {
  TempDir dir;
  asio::io_context io;
  LocalCounterStore::Options options;
  options.start_time = epoch_day;
  LocalCounterStore store(dir.path.string(), io.get_executor(), options);
  const auto keys = sender_keys(100'000);
  for (std::size_t sender = 0; sender < keys.size(); ++sender) {
    for (int message = 0; message < 20; ++message) {
      const TimePoint at = epoch_day + seconds(message * 4000 + static_cast<int>(sender % 60));
      asio::co_spawn(
          io,
          [&store, &key = keys[sender], at]() -> asio::awaitable<void> {
            auto result =
                co_await store.try_reserve(key, Counter::recipients_per_day, 3, 1'000'000, at);
            co_await store.commit_unsynced(result.reservation, at);
          },
          asio::detached);
    }
    if (sender % 1000 == 999) {
      io.restart();
      io.run();
    }
  }
  const TimePoint now = epoch_day + seconds(86'000);
  for (auto _ : state) {
    store.compact(now);
  }
  store.drain();
  state.counters["journal_MiB"] = static_cast<double>(store.stats().journal_bytes) / (1024 * 1024);
}
BENCHMARK(store_compaction_100k_senders)->Unit(benchmark::kMillisecond)->Iterations(3);

// Heap per sender: 20 messages spread over the day (20 per-minute buckets) and one in the last
// minute of each 60 s counter, for 100,000 senders.
void memory_100k_senders(benchmark::State& state) {
  const auto keys = sender_keys(100'000);
  for (auto _ : state) {
    const auto before = ::mallinfo2().uordblks;
    CounterTable table;
    const TimePoint now = epoch_day + seconds(86'000);
    for (std::size_t sender = 0; sender < keys.size(); ++sender) {
      for (int message = 0; message < 20; ++message) {
        table.add(keys[sender], Counter::recipients_per_day, 3,
                  epoch_day + seconds(message * 4000 + static_cast<int>(sender % 60)));
      }
      table.add(keys[sender], Counter::messages_per_minute, 1, now);
      table.add(keys[sender], Counter::releases_per_minute, 1, now);
    }
    const auto used = ::mallinfo2().uordblks - before;
    state.counters["MiB"] = static_cast<double>(used) / (1024 * 1024);
    state.counters["bytes_per_sender"] = static_cast<double>(used) / 100'000;
  }
}
BENCHMARK(memory_100k_senders)->Iterations(1)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
