#include "policy_relay/policy/local_counter_store.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/asio/async_result.hpp>
#include <boost/asio/execution/outstanding_work.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/prefer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cerrno>
#include <filesystem>
#include <limits>
#include <stdexcept>
#include <system_error>
#include <utility>

namespace asio = boost::asio;

namespace policy_relay::policy {

namespace {

std::system_error system_error(const std::string& what) {
  return std::system_error(errno, std::system_category(), what);
}

// The whole file, or "" when it does not exist.
std::string read_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) {
      return {};
    }
    throw system_error("cannot open " + path);
  }
  std::string contents;
  char chunk[1 << 16];
  for (;;) {
    const ssize_t got = ::read(fd, chunk, sizeof chunk);
    if (got < 0) {
      if (errno == EINTR) {
        continue;
      }
      const auto error = system_error("cannot read " + path);
      ::close(fd);
      throw error;
    }
    if (got == 0) {
      break;
    }
    contents.append(chunk, static_cast<std::size_t>(got));
  }
  ::close(fd);
  return contents;
}

// Splits an amount into journal records of at most 2^32 - 1 units each.
void encode_amount(std::string& out, std::string_view key, Counter counter, TimePoint at,
                   std::uint64_t amount) {
  constexpr std::uint64_t most = std::numeric_limits<std::uint32_t>::max();
  while (amount > 0) {
    const auto part = static_cast<std::uint32_t>(std::min(amount, most));
    encode_usage(out, key, counter, at, part);
    amount -= part;
  }
}

}  // namespace

LocalCounterStore::LocalCounterStore(std::string directory, asio::any_io_executor executor,
                                     Options options)
    : directory_(std::move(directory)),
      executor_(std::move(executor)),
      options_(options),
      table_(options.windows) {
  std::error_code error;
  if (!std::filesystem::is_directory(directory_, error)) {
    if (::mkdir(directory_.c_str(), 0700) != 0 && errno != EEXIST) {
      throw system_error("cannot create state directory " + directory_);
    }
  }
  directory_fd_ = ::open(directory_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (directory_fd_ < 0) {
    throw system_error("cannot open state directory " + directory_);
  }
  const std::string lock_path = directory_ + "/" + std::string(lock_name);
  lock_fd_ = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (lock_fd_ < 0 || ::flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    const auto failure = system_error("state directory " + directory_ +
                                      " is in use by another process (counters.lock)");
    if (lock_fd_ >= 0) {
      ::close(lock_fd_);
    }
    ::close(directory_fd_);
    throw failure;
  }
  try {
    const TimePoint now =
        options_.start_time == TimePoint{} ? std::chrono::system_clock::now() : options_.start_time;
    replay(now);
    // Start from a clean file: expired usage and a torn tail are gone from here on.
    const std::string contents = snapshot(now);
    if (auto failure = replace_file(directory_fd_, directory_, journal_name, contents)) {
      throw std::system_error(failure, "cannot write counter journal in " + directory_);
    }
    journal_bytes_ = snapshot_bytes_ = contents.size();
    ++compactions_;
    writer_ = std::make_unique<JournalWriter>(directory_fd_, directory_, std::string(journal_name));
  } catch (...) {
    ::close(lock_fd_);
    ::close(directory_fd_);
    throw;
  }
}

LocalCounterStore::~LocalCounterStore() {
  if (!batch_.empty()) {
    writer_->append(std::exchange(batch_, {}), {}, {});  // nobody is left to tell
  }
  writer_.reset();  // finishes queued appends
  ::close(lock_fd_);
  ::close(directory_fd_);
}

void LocalCounterStore::replay(TimePoint now) {
  const std::string path = directory_ + "/" + std::string(journal_name);
  const std::string contents = read_file(path);
  if (journal_header.starts_with(contents)) {
    return;  // new, or cut inside the header by a crash before its first snapshot was durable
  }
  auto live = [&](Counter counter, TimePoint at) {
    const auto resolution = table_.spec(counter).resolution;
    const auto bucket = static_cast<std::uint32_t>(
        std::chrono::floor<std::chrono::seconds>(at).time_since_epoch() / resolution);
    return table_.expiry(counter, Bucket{bucket, 0}) > now;
  };
  JournalVisitor visitor;
  visitor.usage = [&](std::string_view key, Counter counter, TimePoint at, std::uint32_t amount) {
    if (live(counter, at)) {
      table_.add(key, counter, amount, at);
    }
  };
  visitor.buckets = [&](std::string_view key, Counter counter, std::chrono::seconds resolution,
                        std::span<const Bucket> buckets) {
    for (const Bucket& bucket : buckets) {
      // The last second of the recorded bucket: with another resolution the units count at
      // least as long as they did (conservative).
      const TimePoint at(resolution * (static_cast<std::int64_t>(bucket.index) + 1) -
                         std::chrono::seconds(1));
      if (live(counter, at)) {
        table_.add(key, counter, bucket.count, at);
      }
    }
  };
  visitor.mark = [&](std::string_view name, std::string_view value, std::int64_t expires) {
    if (expires == mark_erased) {
      marks_.erase(std::string(name));
      return;
    }
    const TimePoint until =
        expires == mark_never_expires ? TimePoint::max() : TimePoint(std::chrono::seconds(expires));
    if (until > now) {
      marks_[std::string(name)] = Mark{std::string(value), until};
    } else {
      marks_.erase(std::string(name));
    }
  };
  replay_stats_ = replay_journal(contents, visitor);
  if (!replay_stats_.header_ok) {
    throw std::runtime_error(path + " is not a counter journal (bad header): move it away");
  }
}

std::string LocalCounterStore::snapshot(TimePoint now) {
  table_.sweep_all(now);
  std::string out(journal_header);
  for (auto it = marks_.begin(); it != marks_.end();) {
    if (!live(it->second, now)) {
      it = marks_.erase(it);
      continue;
    }
    const auto& [name, mark] = *it++;
    encode_mark(
        out, name, mark.value,
        mark.expires == TimePoint::max()
            ? mark_never_expires
            : std::chrono::ceil<std::chrono::seconds>(mark.expires.time_since_epoch()).count());
  }
  table_.for_each([&](std::string_view key, Counter counter, std::chrono::seconds resolution,
                      std::span<const Bucket> buckets) {
    // Bounded records: a long run is written as several (1440 per-minute buckets fit in one).
    constexpr std::size_t per_record = 4096;
    for (std::size_t first = 0; first < buckets.size(); first += per_record) {
      encode_buckets(out, key, counter, resolution,
                     buckets.subspan(first).first(std::min(per_record, buckets.size() - first)));
    }
  });
  return out;
}

void LocalCounterStore::maybe_compact(TimePoint now) {
  if (journal_bytes_ > std::max(options_.compact_after_bytes, 2 * snapshot_bytes_)) {
    compact(now);
  }
}

void LocalCounterStore::compact(TimePoint now) {
  queue_batch();  // appended before the snapshot, which supersedes them
  std::string contents = snapshot(now);
  journal_bytes_ = snapshot_bytes_ = contents.size();
  ++compactions_;
  writer_->replace(std::move(contents));
}

ReserveResult LocalCounterStore::reserve_in_table(std::string_view key, Counter counter,
                                                  std::uint64_t amount, std::uint64_t limit,
                                                  TimePoint now) {
  const std::size_t keys_before = table_.key_count();
  const auto check = table_.try_reserve(key, counter, amount, limit, now);
  if (table_.key_count() > keys_before) {
    // Keys are only added here (and at replay), so a little clean-up per new key bounds the
    // table; an operation on a known key touches no other key's (cold) memory.
    table_.sweep_some(now, options_.sweep_slots);
  }
  ReserveResult result;
  result.granted = check.granted;
  result.used = check.used;
  result.frees_at = check.frees_at;
  return result;
}

asio::awaitable<ReserveResult> LocalCounterStore::try_reserve(std::string_view key, Counter counter,
                                                              std::uint64_t amount,
                                                              std::uint64_t limit, TimePoint now) {
  ReserveResult result = reserve_in_table(key, counter, amount, limit, now);
  if (result.granted) {
    result.reservation = {next_reservation_++, std::string(key), counter, amount};
    holds_.emplace(result.reservation.id, Hold{result.reservation.key, counter, amount});
  }
  co_return result;
}

asio::awaitable<ReserveResult> LocalCounterStore::try_count(std::string_view key, Counter counter,
                                                            std::uint64_t amount,
                                                            std::uint64_t limit, TimePoint now) {
  ReserveResult result = reserve_in_table(key, counter, amount, limit, now);
  if (!result.granted) {
    co_return result;
  }
  table_.commit_reserved(key, counter, amount, now);
  if (amount != 0) {
    std::string record;
    encode_amount(record, key, counter, now, amount);
    result.error = co_await write_record(std::move(record), false, now);
  }
  co_return result;
}

void LocalCounterStore::release(Reservation& reservation) {
  const auto found = holds_.find(reservation.id);
  if (found != holds_.end()) {
    table_.unreserve(found->second.key, found->second.counter, found->second.amount);
    holds_.erase(found);
  }
  reservation.id = 0;
}

asio::awaitable<std::error_code> LocalCounterStore::commit(Reservation& reservation,
                                                           TimePoint now) {
  return commit_until(reservation, now, true);
}

asio::awaitable<std::error_code> LocalCounterStore::commit_unsynced(Reservation& reservation,
                                                                    TimePoint now) {
  return commit_until(reservation, now, false);
}

bool LocalCounterStore::count_held(Reservation& reservation, TimePoint now, std::string& records) {
  const auto found = holds_.find(reservation.id);
  if (found == holds_.end()) {
    return false;
  }
  const Hold hold = std::move(found->second);
  holds_.erase(found);
  reservation.id = 0;
  // Counted at once (a failed write after this still counts: never fewer units than granted).
  table_.commit_reserved(hold.key, hold.counter, hold.amount, now);
  if (hold.amount != 0) {
    encode_amount(records, hold.key, hold.counter, now, hold.amount);
  }
  return true;
}

asio::awaitable<std::error_code> LocalCounterStore::commit_until(Reservation& reservation,
                                                                 TimePoint now, bool durable) {
  std::string record;
  if (!count_held(reservation, now, record)) {
    co_return std::make_error_code(std::errc::invalid_argument);  // empty, ended or foreign
  }
  if (record.empty()) {
    co_return std::error_code{};
  }
  co_return co_await write_record(std::move(record), durable, now);
}

asio::awaitable<std::error_code> LocalCounterStore::commit_all(
    std::span<Reservation* const> reservations, TimePoint now, bool durable) {
  std::string records;
  std::error_code error;
  for (Reservation* reservation : reservations) {
    if (!count_held(*reservation, now, records) && !error) {
      error = std::make_error_code(std::errc::invalid_argument);  // empty, ended or foreign
    }
  }
  if (!records.empty()) {
    // One append for every record (replay keeps each whole record of a torn append).
    const std::error_code written = co_await write_record(std::move(records), durable, now);
    if (!error) {
      error = written;
    }
  }
  co_return error;
}

// Records that need no sync (counter_sync = "write", queue pacing, marks) are gathered: the
// first one in a turn of the event loop posts flush_batch(), which writes all of them with one
// write(2) and then completes every waiter. The completions of a spool commit wave run in one
// turn, so their sessions share the append. A record never completes before it is written.
// Durable records go to the writer thread behind whatever is gathered (queue_batch).
asio::awaitable<std::error_code> LocalCounterStore::write_record(std::string record, bool durable,
                                                                 TimePoint now) {
  journal_bytes_ += record.size();
  if (!durable) {
    batch_ += record;
    ++batched_records_;
    batch_now_ = std::max(batch_now_, now);
    co_return co_await asio::async_initiate<decltype(asio::use_awaitable), void(std::error_code)>(
        [this](auto handler) {
          batch_waiters_.emplace_back(std::move(handler));
          if (!batch_flush_posted_) {
            batch_flush_posted_ = true;
            asio::post(executor_, [alive = std::weak_ptr(lifetime_)] {
              if (const auto self = alive.lock()) {
                (*self)->flush_batch();
              }
            });
          }
        },
        asio::use_awaitable);
  }
  queue_batch();  // the gathered records stay ahead of this one

  auto result = co_await asio::async_initiate<decltype(asio::use_awaitable), void(std::error_code)>(
      [this, &record, now](auto handler) mutable {
        // Keep the event loop alive while the write is in flight; complete on its executor.
        auto tracked = asio::prefer(executor_, asio::execution::outstanding_work.tracked);
        auto shared = std::make_shared<decltype(handler)>(std::move(handler));
        JournalWriter::Done done = [shared, tracked](std::error_code ec) {
          asio::post(tracked, [shared, ec]() mutable { (*shared)(ec); });
        };
        writer_->append(std::move(record), {}, std::move(done));
        maybe_compact(now);  // after the append: the snapshot supersedes it
      },
      asio::use_awaitable);
  co_return result;
}

void LocalCounterStore::flush_batch() {
  batch_flush_posted_ = false;
  if (batch_.empty()) {
    return;  // a durable record took the batch along (queue_batch)
  }
  const std::optional<std::error_code> written = writer_->try_append_now(batch_);
  if (!written) {
    queue_batch();  // the writer thread is busy (a snapshot): behind it, in order
    maybe_compact(batch_now_);
    return;
  }
  ++batches_;
  batch_.clear();
  flushing_.swap(batch_waiters_);
  maybe_compact(batch_now_);  // after the append: the snapshot supersedes it
  // Resumed sessions may gather new records; they go to the next flush.
  for (BatchWaiter& waiter : flushing_) {
    std::move(waiter)(*written);
  }
  flushing_.clear();
}

void LocalCounterStore::queue_batch() {
  if (batch_.empty()) {
    return;
  }
  ++batches_;
  auto waiters = std::make_shared<std::vector<BatchWaiter>>(std::move(batch_waiters_));
  batch_waiters_.clear();
  auto tracked = asio::prefer(executor_, asio::execution::outstanding_work.tracked);
  JournalWriter::Done written = [waiters, tracked](std::error_code ec) {
    asio::post(tracked, [waiters, ec] {
      for (BatchWaiter& waiter : *waiters) {
        std::move(waiter)(ec);
      }
    });
  };
  writer_->append(std::exchange(batch_, {}), std::move(written), {});
}

void LocalCounterStore::drain() {
  queue_batch();
  writer_->drain();
}

asio::awaitable<Usage> LocalCounterStore::usage(std::string_view key, Counter counter,
                                                TimePoint now) {
  co_return table_.usage(key, counter, now);
}

bool LocalCounterStore::live(const Mark& mark, TimePoint now) {
  return mark.expires == TimePoint::max() || mark.expires > now;
}

// Marks are written like commit_unsynced(): they survive kill -9 when the call completes.
asio::awaitable<MarkResult> LocalCounterStore::put_mark(std::string_view name,
                                                        std::string_view value,
                                                        std::chrono::seconds ttl,
                                                        bool only_if_absent, TimePoint now) {
  const auto found = marks_.find(std::string(name));
  if (only_if_absent && found != marks_.end() && live(found->second, now)) {
    co_return MarkResult{false, {}};
  }
  const TimePoint expires = ttl.count() > 0 ? now + ttl : TimePoint::max();
  marks_[std::string(name)] = Mark{std::string(value), expires};
  std::string record;
  encode_mark(
      record, name, value,
      ttl.count() > 0
          ? std::max<std::int64_t>(
                1, std::chrono::ceil<std::chrono::seconds>(expires.time_since_epoch()).count())
          : mark_never_expires);
  const std::error_code error = co_await write_record(std::move(record), false, now);
  co_return MarkResult{!error, error};
}

asio::awaitable<MarkLookup> LocalCounterStore::get_mark(std::string_view name, TimePoint now) {
  const auto found = marks_.find(std::string(name));
  if (found == marks_.end()) {
    co_return MarkLookup{};
  }
  if (!live(found->second, now)) {
    marks_.erase(found);
    co_return MarkLookup{};
  }
  co_return MarkLookup{found->second.value, {}};
}

asio::awaitable<std::error_code> LocalCounterStore::erase_mark(std::string_view name,
                                                               TimePoint now) {
  if (marks_.erase(std::string(name)) == 0) {
    co_return std::error_code{};
  }
  std::string record;
  encode_mark(record, name, "", mark_erased);
  co_return co_await write_record(std::move(record), false, now);
}

LocalCounterStore::Stats LocalCounterStore::stats() const {
  Stats stats;
  stats.table = table_.stats();
  stats.replay = replay_stats_;
  stats.journal = writer_->stats();
  stats.journal_bytes = journal_bytes_;
  stats.compactions = compactions_;
  stats.batched_records = batched_records_;
  stats.batches = batches_;
  stats.open_reservations = holds_.size();
  return stats;
}

}  // namespace policy_relay::policy
