#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>

#include "policy_relay/policy/counter_store.hpp"
#include "policy_relay/policy/counter_table.hpp"
#include "policy_relay/policy/redis_client.hpp"

// The `redis` counter backend ([state] backend = "redis"): every relay of a cluster counts in
// one Redis, so a sender's limits hold in total, not per relay (issue 7). try_reserve, commit,
// release and usage are each one Lua script (redis_scripts.hpp), loaded once per connection
// and called by EVALSHA (NOSCRIPT: sent again with EVAL, which loads it). Commands are
// pipelined on one connection; nothing blocks the event loop; release() sends and forgets
// (a lost release ends with its lease, state.redis_reservation_ttl).
//
// Redis unreachable (state.redis_unavailable):
//   "defer"  every operation fails with a RedisError: the rules answer 451 4.3.0;
//   "local"  `fallback` (the LocalCounterStore) counts instead: each relay alone, so the
//            cluster may let a sender through once per relay during the outage.
// Either way `report` hears of the outage once when it begins, again every alert_interval
// while it lasts, and once when Redis is back (the daemon logs them at level error / info).
namespace policy_relay::policy {

struct RedisAlert {
  enum class Kind { unavailable, still_unavailable, restored };
  Kind kind = Kind::unavailable;
  std::string reason;
  std::uint64_t failed_operations = 0;  // since the outage began
};

struct RedisCounterStoreOptions {
  RedisClientOptions connection;
  std::string key_prefix = "policy-relay:";
  CounterTable::Specs windows = CounterTable::default_specs();
  std::chrono::milliseconds reservation_ttl{std::chrono::minutes(15)};
  // true: count with Redis's clock (TIME), one clock for every relay; false: the `now` passed
  // to each call (tests with a fake clock).
  bool server_time = true;
  CounterStore* fallback = nullptr;  // redis_unavailable = "local"; null = "defer"
  std::chrono::milliseconds alert_interval{std::chrono::minutes(1)};
  std::function<void(const RedisAlert&)> report;
};

class RedisCounterStore final : public CounterStore {
 public:
  using Options = RedisCounterStoreOptions;

  RedisCounterStore(boost::asio::any_io_executor executor, Options options);
  ~RedisCounterStore() override;

  void start();  // connects (and keeps reconnecting with backoff)
  // Drops the connection for good (before the executor's io_context is destroyed); later
  // calls behave as if Redis were unreachable.
  void close();
  bool available() const { return client_ && client_->ready(); }

  boost::asio::awaitable<ReserveResult> try_reserve(std::string_view key, Counter counter,
                                                    std::uint64_t amount, std::uint64_t limit,
                                                    TimePoint now) override;
  boost::asio::awaitable<std::error_code> commit(Reservation& reservation, TimePoint now) override;
  // One script call (redis_scripts::count) instead of a reserve and a commit.
  boost::asio::awaitable<ReserveResult> try_count(std::string_view key, Counter counter,
                                                  std::uint64_t amount, std::uint64_t limit,
                                                  TimePoint now) override;
  void release(Reservation& reservation) override;
  boost::asio::awaitable<Usage> usage(std::string_view key, Counter counter,
                                      TimePoint now) override;
  // Marks are plain Redis strings (SET ... PX ttl NX / GET / DEL) under KEY_PREFIX "mark:".
  boost::asio::awaitable<MarkResult> put_mark(std::string_view name, std::string_view value,
                                              std::chrono::seconds ttl, bool only_if_absent,
                                              TimePoint now) override;
  boost::asio::awaitable<MarkLookup> get_mark(std::string_view name, TimePoint now) override;
  boost::asio::awaitable<std::error_code> erase_mark(std::string_view name, TimePoint now) override;

  struct Stats {
    std::uint64_t operations = 0;  // script calls answered by Redis
    std::uint64_t failures = 0;    // operations Redis did not answer (or answered with an error)
    std::uint64_t fallbacks = 0;   // operations the local fallback served
    std::uint64_t outages = 0;
  };
  Stats stats() const { return stats_; }

  // The two keys of one sender's counter (for tests and operators: redis-cli HGETALL KEY).
  std::string counter_key(std::string_view identity, Counter counter) const;

  // The cluster's other shared state (ops::RedisSuspensionStore) on the same connection: one
  // Redis command, with KEY_PREFIX prepended to the key by the caller (key_prefix()). No local
  // fallback: an error says Redis did not answer (outages are reported as for the counters).
  boost::asio::awaitable<std::pair<std::error_code, RedisValue>> shared_command(
      std::vector<std::string> command) {
    return run(std::move(command));
  }
  const std::string& key_prefix() const { return options_.key_prefix; }

 private:
  enum class Script { reserve, commit, release, usage, count };
  static constexpr int kScripts = 5;
  using Result = std::pair<std::error_code, RedisValue>;

  std::vector<std::string> script_command(Script script, std::string_view identity, Counter counter,
                                          TimePoint now,
                                          std::initializer_list<std::string> arguments) const;
  boost::asio::awaitable<Result> run(std::vector<std::string> command);
  void load_scripts();
  void on_connection(bool up, const std::string& why);
  void failed(const std::string& reason);
  void succeeded();
  std::string reservation_name(std::uint64_t id) const;
  std::string mark_key(std::string_view name) const;

  boost::asio::any_io_executor executor_;
  Options options_;
  std::unique_ptr<RedisClient> client_;
  std::string instance_;  // unique per process: reservation ids never collide across relays
  std::string shas_[kScripts];
  std::uint64_t next_reservation_ = 1;
  std::unordered_map<std::uint64_t, Reservation> fallback_holds_;  // our id -> fallback's
  bool outage_ = false;
  std::chrono::steady_clock::time_point last_alert_{};
  std::uint64_t outage_failures_ = 0;
  Stats stats_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);  // for callbacks posted late
};

}  // namespace policy_relay::policy
