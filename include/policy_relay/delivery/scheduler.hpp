#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <deque>
#include <functional>
#include <list>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "policy_relay/spool/spool.hpp"
#include "policy_relay/upstream/dsn.hpp"
#include "policy_relay/upstream/upstream.hpp"

namespace policy_relay::delivery {

// Hands spooled messages to the upstream and acts on the result (DESIGN.md "Delivery
// semantics"): 2xx recipients are done; 5xx recipients get one DSN to the sender; 4xx and
// network failures are retried with exponential backoff (retry_min doubling up to retry_max)
// until max_age, then bounced as expired. A message leaves the spool once every recipient is
// done; partial progress is recorded so a restart delivers only to the rest.
// At most `workers` deliveries run at once (upstream.connections). All members run on one
// executor (the event loop); nothing here blocks but the spool's small file operations.
class Scheduler {
 public:
  struct Config {
    std::chrono::milliseconds retry_min = std::chrono::minutes(1);
    std::chrono::milliseconds retry_max = std::chrono::hours(1);
    std::chrono::milliseconds max_age = std::chrono::hours(24 * 5);
    std::uint32_t workers = 4;
    std::string hostname = "localhost";  // HELO of the DSN envelope
  };

  // Builds the DSN (RFC 3464) for `failed` recipients of `original`; `expired` when they failed
  // because max_age passed. std::nullopt when no DSN must be sent.
  using BounceBuilder = std::function<std::optional<upstream::Dsn>(
      const spool::StoredMessage& original, const std::vector<upstream::RecipientResult>& failed,
      bool expired)>;

  Scheduler(boost::asio::any_io_executor executor, spool::Spool& spool,
            upstream::Upstream& upstream, BounceBuilder bounce_builder, Config config);

  // Starts the workers with the messages recovered from the spool, in arrival order.
  void start(std::vector<spool::StoredMessage> recovered);
  // A message committed just now: delivered as soon as a worker is free.
  void enqueue(spool::StoredMessage message);
  // Stops handing out messages; completes when running deliveries end or at `deadline`
  // (what is still running then stays in the spool and is retried after a restart).
  boost::asio::awaitable<void> stop(std::chrono::steady_clock::time_point deadline);

  std::size_t queued() const { return ready_.size() + deferred_.size() + active_; }

 private:
  struct Entry {
    std::string id;
    std::optional<spool::StoredMessage> message;  // kept only while the entry is ready
    std::uint32_t attempts = 0;
  };
  using Clock = std::chrono::steady_clock;

  boost::asio::awaitable<void> worker();
  boost::asio::awaitable<void> deliver(Entry entry);
  boost::asio::awaitable<void> bounce(const spool::StoredMessage& original,
                                      const std::vector<upstream::RecipientResult>& failed,
                                      bool expired);
  void defer(Entry entry, std::chrono::milliseconds delay);
  void move_due_entries();
  void wake_one();

  boost::asio::any_io_executor executor_;
  spool::Spool& spool_;
  upstream::Upstream& upstream_;
  BounceBuilder bounce_builder_;
  Config config_;

  std::deque<Entry> ready_;
  std::multimap<Clock::time_point, Entry> deferred_;
  std::list<boost::asio::steady_timer*> idle_workers_;
  std::size_t active_ = 0;
  std::size_t running_workers_ = 0;
  bool stopping_ = false;
};

}  // namespace policy_relay::delivery
