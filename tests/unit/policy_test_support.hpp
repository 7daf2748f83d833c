#pragma once

// Test doubles for the policy engine: a fake clock, a plain in-memory CounterStore (exact
// per-event rolling windows, reservations honoured, optional failure injection), a fixed
// backlog, and a fixture that runs the engine's coroutines to completion.

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

#include <chrono>
#include <deque>
#include <exception>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>

#include "policy_relay/config/config.hpp"
#include "policy_relay/policy/backlog.hpp"
#include "policy_relay/policy/clock.hpp"
#include "policy_relay/policy/counter_store.hpp"
#include "policy_relay/policy/engine.hpp"
#include "policy_relay/policy/identity.hpp"

namespace test_support {

namespace policy = policy_relay::policy;
namespace config = policy_relay::config;
using namespace std::chrono_literals;

// 2026-11-29 00:00:00 UTC: a fixed, round start so that reply times are predictable.
inline const policy::TimePoint kEpoch{std::chrono::seconds(1'795'910'400)};

class FakeClock final : public policy::Clock {
 public:
  policy::TimePoint now() const override { return now_; }
  void set(policy::TimePoint now) { now_ = now; }
  void advance(std::chrono::milliseconds by) { now_ += by; }

 private:
  policy::TimePoint now_ = kEpoch;
};

// The obvious implementation of the CounterStore contract, for testing the rules against it.
class MemoryCounterStore final : public policy::CounterStore {
 public:
  bool fail_reserve = false;  // try_reserve reports a backend error
  bool fail_commit = false;   // commit reports a backend error
  std::size_t commits = 0;    // successful commit() calls
  std::size_t open_reservations() const { return holds_.size(); }

  boost::asio::awaitable<policy::ReserveResult> try_reserve(std::string_view key,
                                                            policy::Counter counter,
                                                            std::uint64_t amount,
                                                            std::uint64_t limit,
                                                            policy::TimePoint now) override {
    policy::ReserveResult result;
    if (fail_reserve) {
      result.error = std::make_error_code(std::errc::connection_refused);
      co_return result;
    }
    Series& series = series_[{std::string(key), counter}];
    expire(series, counter, now);
    result.used = committed(series) + series.reserved;
    if (result.used + amount <= limit) {
      result.granted = true;
      result.reservation = {next_id_++, std::string(key), counter, amount};
      series.reserved += amount;
      holds_[result.reservation.id] = amount;
      co_return result;
    }
    // The earliest time the oldest events have left enough room (reservations stay as they are).
    std::uint64_t used = result.used;
    result.frees_at = now + policy::window_of(counter);
    for (const auto& [time, units] : series.events) {
      used -= units;
      if (used + amount <= limit) {
        result.frees_at = time + policy::window_of(counter);
        break;
      }
    }
    co_return result;
  }

  boost::asio::awaitable<std::error_code> commit(policy::Reservation& reservation,
                                                 policy::TimePoint now) override {
    if (fail_commit) {
      co_return std::make_error_code(std::errc::io_error);
    }
    if (!reservation || holds_.erase(reservation.id) == 0) {
      co_return std::error_code{};
    }
    Series& series = series_[{reservation.key, reservation.counter}];
    series.reserved -= reservation.amount;
    series.events.emplace_back(now, reservation.amount);
    reservation = policy::Reservation{};
    ++commits;
    co_return std::error_code{};
  }

  std::size_t unsynced_commits = 0;  // commit_unsynced() calls
  boost::asio::awaitable<std::error_code> commit_unsynced(policy::Reservation& reservation,
                                                          policy::TimePoint now) override {
    ++unsynced_commits;
    co_return co_await commit(reservation, now);
  }

  void release(policy::Reservation& reservation) override {
    if (reservation && holds_.erase(reservation.id) != 0) {
      series_[{reservation.key, reservation.counter}].reserved -= reservation.amount;
    }
    reservation = policy::Reservation{};
  }

  boost::asio::awaitable<policy::Usage> usage(std::string_view key, policy::Counter counter,
                                              policy::TimePoint now) override {
    Series& series = series_[{std::string(key), counter}];
    expire(series, counter, now);
    policy::Usage usage;
    usage.used = committed(series) + series.reserved;
    if (!series.events.empty()) {
      usage.next_free = series.events.front().first + policy::window_of(counter);
    }
    co_return usage;
  }

  // Committed plus reserved units now (synchronous, for assertions).
  std::uint64_t used(std::string_view key, policy::Counter counter, policy::TimePoint now) {
    Series& series = series_[{std::string(key), counter}];
    expire(series, counter, now);
    return committed(series) + series.reserved;
  }

 private:
  struct Series {
    std::deque<std::pair<policy::TimePoint, std::uint64_t>> events;  // committed, oldest first
    std::uint64_t reserved = 0;
  };

  // An event at t counts while now < t + window: a message at t=0 frees at t=60 s.
  static void expire(Series& series, policy::Counter counter, policy::TimePoint now) {
    while (!series.events.empty() &&
           series.events.front().first + policy::window_of(counter) <= now) {
      series.events.pop_front();
    }
  }
  static std::uint64_t committed(const Series& series) {
    std::uint64_t total = 0;
    for (const auto& event : series.events) {
      total += event.second;
    }
    return total;
  }

  std::map<std::pair<std::string, policy::Counter>, Series> series_;
  std::unordered_map<std::uint64_t, std::uint64_t> holds_;
  std::uint64_t next_id_ = 1;
};

class FixedBacklog final : public policy::SenderBacklog {
 public:
  std::size_t backlog_of(std::string_view identity) const override {
    const auto found = waiting.find(std::string(identity));
    return found == waiting.end() ? 0 : found->second;
  }
  std::map<std::string, std::size_t> waiting;
};

// Runs a coroutine on `io` to its end and returns its value (rethrows what it threw).
template <class T>
T run(boost::asio::io_context& io, boost::asio::awaitable<T> awaitable) {
  std::optional<T> result;
  std::exception_ptr failure;
  boost::asio::co_spawn(io, std::move(awaitable), [&](std::exception_ptr error, T value) {
    failure = error;
    result = std::move(value);
  });
  io.restart();
  io.run();
  if (failure) {
    std::rethrow_exception(failure);
  }
  return std::move(*result);
}

// A transaction from `sender` (local@domain, "" for the null sender), identity as the engine
// expects it.
inline policy::Transaction transaction_from(const std::string& sender) {
  policy::Transaction transaction;
  transaction.sender = sender;
  const std::size_t at = sender.rfind('@');
  transaction.sender_local_part = sender.substr(0, at);
  transaction.sender_domain = at == std::string::npos ? "" : sender.substr(at + 1);
  transaction.identity = policy::sender_identity("", sender);
  return transaction;
}

// One engine over a config the test edits first, then build()s.
struct PolicyFixture {
  boost::asio::io_context io;
  FakeClock clock;
  MemoryCounterStore store;
  FixedBacklog backlog;
  config::Config config;
  const policy::AliasDirectory* aliases = nullptr;
  std::unique_ptr<policy::Engine> engine;

  policy::Engine& build() {
    engine = std::make_unique<policy::Engine>(std::make_shared<const config::Config>(config), store,
                                              clock, &backlog, aliases);
    return *engine;
  }

  policy::Verdict mail(policy::TransactionState& state, const policy::Transaction& transaction) {
    return run(io, engine->on_mail(state, transaction));
  }
  // RCPT; on accept the recipient joins transaction.recipients, as the session does.
  policy::Verdict rcpt(policy::TransactionState& state, policy::Transaction& transaction,
                       const std::string& recipient) {
    policy::Verdict verdict = run(io, engine->on_rcpt(state, transaction, recipient));
    if (verdict.accepted()) {
      transaction.recipients.push_back(recipient);
    }
    return verdict;
  }
  policy::Verdict data_end(policy::TransactionState& state,
                           const policy::Transaction& transaction) {
    return run(io, engine->on_data_end(state, transaction));
  }
  std::error_code commit(policy::TransactionState& state) { return run(io, engine->commit(state)); }
  policy::Verdict message(policy::TransactionState& state, const policy::Transaction& transaction,
                          const policy_relay::mime::MessageAnalysis& analysis) {
    return run(io, engine->on_message(state, transaction, analysis));
  }

  // MAIL, `count` RCPTs, end of DATA and commit; the number of recipients accepted, or -1
  // when the MAIL was refused.
  int send(const std::string& sender, int count) {
    policy::TransactionState state;
    policy::Transaction transaction = transaction_from(sender);
    if (!mail(state, transaction).accepted()) {
      return -1;
    }
    for (int i = 0; i < count; ++i) {
      rcpt(state, transaction, "r" + std::to_string(i) + "@example.org");
    }
    if (transaction.recipients.empty() || !data_end(state, transaction).accepted() ||
        commit(state)) {
      return 0;
    }
    return static_cast<int>(transaction.recipients.size());
  }

  std::uint64_t used(const std::string& identity, policy::Counter counter) {
    return store.used(identity, counter, clock.now());
  }
};

}  // namespace test_support
