#pragma once

#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/any_io_executor.hpp>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "policy_relay/policy/counter_journal.hpp"
#include "policy_relay/policy/counter_store.hpp"
#include "policy_relay/policy/counter_table.hpp"
#include "policy_relay/policy/journal_writer.hpp"

// The `local` counter backend ([state] backend = "local"): exact rolling windows in memory
// (CounterTable: per-second buckets for the 60 s counters, per-minute for the 24 h one; never
// more than the limit), made durable by an append-only journal under [state] directory:
//   counters.journal   header, then usage records (see counter_journal.hpp)
//   counters.lock      flock()ed while a store has the directory open (one daemon per directory)
// commit() completes only after its record is fdatasync()ed (grouped with concurrent commits on
// the writer threads), so after kill -9 or a power loss every acknowledged message's usage is
// replayed at start; commit_unsynced() completes once the record is written (kill -9 safe).
// Records that need no sync are gathered for one turn of the event loop and written with one
// write(2): the sessions that a spool commit wave completes share it (see write_record).
// At start the journal is replayed (only what is still inside its window; a torn last record is
// ignored) and rewritten as a snapshot; it is rewritten again whenever it grows past
// max(compact_after_bytes, 2 x the last snapshot), so the disk holds O(live buckets).
// Every call but the writer thread's runs on the one executor (the event loop).
namespace policy_relay::policy {

struct LocalCounterStoreOptions {
  CounterTable::Specs windows = CounterTable::default_specs();
  std::uint64_t compact_after_bytes = 64ull * 1024 * 1024;
  std::size_t sweep_slots = 2;  // key-map slots cleaned of expired keys per new key
  TimePoint start_time{};       // what "now" is for the replay; epoch = system_clock::now()
};

class LocalCounterStore final : public CounterStore {
 public:
  using Options = LocalCounterStoreOptions;

  // Creates `directory` if needed (mode 0700), takes its lock, replays and rewrites the journal.
  // Throws std::system_error / std::runtime_error when the directory is unusable (start-up).
  LocalCounterStore(std::string directory, boost::asio::any_io_executor executor,
                    Options options = {});
  ~LocalCounterStore() override;
  LocalCounterStore(const LocalCounterStore&) = delete;
  LocalCounterStore& operator=(const LocalCounterStore&) = delete;

  boost::asio::awaitable<ReserveResult> try_reserve(std::string_view key, Counter counter,
                                                    std::uint64_t amount, std::uint64_t limit,
                                                    TimePoint now) override;
  boost::asio::awaitable<std::error_code> commit(Reservation& reservation, TimePoint now) override;
  // Completes once the record is write()n to the journal (it survives kill -9), before its sync.
  boost::asio::awaitable<std::error_code> commit_unsynced(Reservation& reservation,
                                                          TimePoint now) override;
  // No hold: the table counts the units and the record is written like commit_unsynced().
  boost::asio::awaitable<ReserveResult> try_count(std::string_view key, Counter counter,
                                                  std::uint64_t amount, std::uint64_t limit,
                                                  TimePoint now) override;
  // Every record in one journal append (one write, one sync when durable).
  boost::asio::awaitable<std::error_code> commit_all(std::span<Reservation* const> reservations,
                                                     TimePoint now, bool durable) override;
  void release(Reservation& reservation) override;
  boost::asio::awaitable<Usage> usage(std::string_view key, Counter counter,
                                      TimePoint now) override;
  // Marks live in memory and in the journal (replayed, kept in snapshots while live).
  boost::asio::awaitable<MarkResult> put_mark(std::string_view name, std::string_view value,
                                              std::chrono::seconds ttl, bool only_if_absent,
                                              TimePoint now) override;
  boost::asio::awaitable<MarkLookup> get_mark(std::string_view name, TimePoint now) override;
  boost::asio::awaitable<std::error_code> erase_mark(std::string_view name, TimePoint now) override;

  const WindowSpec& spec(Counter counter) const { return table_.spec(counter); }

  // Blocks until every commit made so far is on disk and its completion has been posted to the
  // executor. Call it before the executor's io_context is destroyed when the store outlives it.
  void drain();

  // Rewrites the journal as a snapshot of what counts at `now` (normally automatic). Gathered
  // records are appended first, so the snapshot supersedes them instead of following them.
  void compact(TimePoint now);

  struct Stats {
    CounterTable::Stats table;
    ReplayStats replay;  // what the start-up replay found (torn_bytes, skipped_bytes ...)
    JournalWriter::Stats journal;
    std::uint64_t journal_bytes = 0;    // current journal size as written by this process
    std::uint64_t compactions = 0;      // snapshots written, the start-up one included
    std::uint64_t batched_records = 0;  // unsynced appends gathered into a batch
    std::uint64_t batches = 0;          // batches written (each one journal append)
    std::size_t open_reservations = 0;
  };
  Stats stats() const;

  static constexpr std::string_view journal_name = "counters.journal";
  static constexpr std::string_view lock_name = "counters.lock";

 private:
  struct Hold {
    std::string key;
    Counter counter;
    std::uint64_t amount;
  };

  struct Mark {
    std::string value;
    TimePoint expires;  // TimePoint::max(): never
  };
  static bool live(const Mark& mark, TimePoint now);

  // The table's check-and-reserve (after a sweep step), as a result without a reservation.
  ReserveResult reserve_in_table(std::string_view key, Counter counter, std::uint64_t amount,
                                 std::uint64_t limit, TimePoint now);
  boost::asio::awaitable<std::error_code> commit_until(Reservation& reservation, TimePoint now,
                                                       bool durable);
  // Ends the hold of `reservation` and counts it at `now`; appends its journal record (if it
  // counts any units) to `records`. False for an empty, ended or foreign reservation.
  bool count_held(Reservation& reservation, TimePoint now, std::string& records);
  // Appends encoded records; completes when written (durable: synced).
  boost::asio::awaitable<std::error_code> write_record(std::string record, bool durable,
                                                       TimePoint now);
  using BatchWaiter = boost::asio::any_completion_handler<void(std::error_code)>;
  // Writes the gathered batch (the handler posted by write_record) and completes its waiters.
  void flush_batch();
  // Hands the gathered batch to the writer thread ahead of anything queued after it; its
  // waiters complete (on the executor) once it is written.
  void queue_batch();
  void replay(TimePoint now);
  std::string snapshot(TimePoint now);
  void maybe_compact(TimePoint now);

  std::string directory_;
  boost::asio::any_io_executor executor_;
  Options options_;
  int directory_fd_ = -1;
  int lock_fd_ = -1;
  CounterTable table_;
  std::unordered_map<std::uint64_t, Hold> holds_;
  std::unordered_map<std::string, Mark> marks_;
  std::uint64_t next_reservation_ = 1;
  std::uint64_t journal_bytes_ = 0;
  std::uint64_t snapshot_bytes_ = 0;
  std::uint64_t compactions_ = 0;
  ReplayStats replay_stats_;
  std::unique_ptr<JournalWriter> writer_;
  // Unsynced records waiting for the flush posted to the executor, and who waits on them.
  std::string batch_;
  std::vector<BatchWaiter> batch_waiters_;
  std::vector<BatchWaiter> flushing_;  // flush_batch()'s, kept for its capacity
  bool batch_flush_posted_ = false;
  TimePoint batch_now_{};  // the latest `now` of a batched record (for the compaction check)
  std::uint64_t batched_records_ = 0;
  std::uint64_t batches_ = 0;
  // Posted flushes hold a weak reference: a store destroyed before its executor runs them.
  std::shared_ptr<LocalCounterStore*> lifetime_ = std::make_shared<LocalCounterStore*>(this);
};

}  // namespace policy_relay::policy
