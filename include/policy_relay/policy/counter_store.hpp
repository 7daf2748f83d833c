#pragma once

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>

// Per-sender rolling counters behind the rate and quota rules (POLICY VI.4; DESIGN.md
// "CounterStore (local journal | Redis)"). Backend-neutral: every operation is one atomic step
// of the backend (a mutex-free single-threaded map for `local`, one Lua script for Redis later)
// and awaitable, so a networked backend never blocks the event loop.
namespace policy_relay::policy {

using TimePoint = std::chrono::system_clock::time_point;

// What is counted. Each counter has its own rolling window and resolution.
enum class Counter {
  messages_per_minute,  // messages accepted, rolling 60 s, per-second resolution
  recipients_per_day,   // recipients accepted, rolling 24 h, per-minute resolution
  releases_per_minute,  // messages handed to the upstream (rate_action = "queue" pacing)
};

std::chrono::seconds window_of(Counter counter);
std::chrono::seconds resolution_of(Counter counter);

// A hold on `amount` units of one sender's counter, taken by try_reserve() and ended by exactly
// one of commit() or release(). Reserved units count against the limit for every other session
// of the same sender, so two sessions racing for the last units can never overshoot.
struct Reservation {
  std::uint64_t id = 0;  // 0 = none
  std::string key;
  Counter counter = Counter::messages_per_minute;
  std::uint64_t amount = 0;
  explicit operator bool() const { return id != 0; }
};

struct ReserveResult {
  bool granted = false;
  Reservation reservation;  // when granted
  std::uint64_t used = 0;   // units in the window, committed + reserved, before this request
  // When refused: the earliest time at which `amount` units fit again (for the reply text).
  TimePoint frees_at{};
  std::error_code error;  // backend failure (Redis unreachable ...): neither granted nor refused
};

// Marks: small named values with an optional expiry, shared by every relay of the backend
// (Redis) or durable in the journal (local): notify-once-per-day marks (POLICY VI.11, VI.12
// action "notify") and suspensions (POLICY IV.2). Names are the caller's, e.g.
// "notify:bcc:juan.perez@edomex.gob.mx" or "suspended:juan.perez@edomex.gob.mx".
struct MarkResult {
  bool stored = false;    // false with only_if_absent: the mark already existed (not changed)
  std::error_code error;  // backend failure: nothing is known
};

struct MarkLookup {
  std::optional<std::string> value;  // nullopt: no such mark (or it expired)
  std::error_code error;
};

struct Usage {
  std::uint64_t used = 0;  // committed + reserved units in the window now
  TimePoint next_free{};   // when the oldest counted unit leaves the window (epoch if none)
};

class CounterStore {
 public:
  virtual ~CounterStore() = default;

  // Atomically: if used(key, counter, now) + amount <= limit, reserve `amount` and grant.
  virtual boost::asio::awaitable<ReserveResult> try_reserve(std::string_view key, Counter counter,
                                                            std::uint64_t amount,
                                                            std::uint64_t limit, TimePoint now) = 0;

  // Turns the reservation into usage at time `now`. Completes only when the usage is durable:
  // after kill -9 and a restart it is counted (the 250 for a message waits for this).
  virtual boost::asio::awaitable<std::error_code> commit(Reservation& reservation,
                                                         TimePoint now) = 0;

  // Like commit(), but completes as soon as the usage survives a crash of this process
  // (kill -9), without waiting for the disk: a power loss may lose it. For counts that must not
  // put a disk sync in front of every message (queue pacing's releases). Default: commit().
  virtual boost::asio::awaitable<std::error_code> commit_unsynced(Reservation& reservation,
                                                                  TimePoint now) {
    return commit(reservation, now);
  }

  // Counts `amount` units at `now` if they fit, in one atomic step: try_reserve() and
  // commit_unsynced() at once, without a hold. For units used the moment they are granted
  // (queue pacing's releases). The result's reservation is always empty; `granted` with an
  // `error` means the units are counted but their record may not survive a crash. Default:
  // try_reserve() then commit_unsynced().
  virtual boost::asio::awaitable<ReserveResult> try_count(std::string_view key, Counter counter,
                                                          std::uint64_t amount, std::uint64_t limit,
                                                          TimePoint now);
  // commit() (durable) or commit_unsynced() of several reservations at one time `now` (a
  // message's count and its recipients'), so that a backend can write them in one journal
  // append or one round trip. Every reservation is ended, whatever the outcome; the first error
  // is returned. Default: the single commits, run concurrently (a backend that groups
  // concurrent syncs makes a 500-recipient message cost one sync, not 500).
  virtual boost::asio::awaitable<std::error_code> commit_all(
      std::span<Reservation* const> reservations, TimePoint now, bool durable);
  // Gives the units back (RSET, refusal, disconnect). Idempotent; safe on an empty reservation.
  virtual void release(Reservation& reservation) = 0;

  virtual boost::asio::awaitable<Usage> usage(std::string_view key, Counter counter,
                                              TimePoint now) = 0;

  // Stores `value` under `name` until now + ttl (ttl zero: until erased). With only_if_absent
  // it is one atomic test-and-set across every relay: exactly one of several concurrent
  // callers gets stored = true (notify once per day: put_mark(name, "1", 24h, true, now)).
  // Durable when it completes (survives kill -9 of this relay). Default: not supported.
  virtual boost::asio::awaitable<MarkResult> put_mark(std::string_view name, std::string_view value,
                                                      std::chrono::seconds ttl, bool only_if_absent,
                                                      TimePoint now);
  virtual boost::asio::awaitable<MarkLookup> get_mark(std::string_view name, TimePoint now);
  // Removes the mark (no error when there is none).
  virtual boost::asio::awaitable<std::error_code> erase_mark(std::string_view name, TimePoint now);
};

}  // namespace policy_relay::policy
