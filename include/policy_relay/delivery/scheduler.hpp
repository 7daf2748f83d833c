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
#include <set>
#include <string>
#include <vector>

#include "policy_relay/delivery/sender_queues.hpp"
#include "policy_relay/policy/backlog.hpp"
#include "policy_relay/policy/clock.hpp"
#include "policy_relay/policy/counter_store.hpp"
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
//
// Pacing (rate_action = "queue", POLICY VI.4): at most limit(identity) messages of one sender
// identity are handed to the upstream in any window of the store's releases_per_minute counter
// (60 s; a shorter one in tests). Each hand-over, retries included, is counted in the store just
// before the delivery starts, so the window holds across restarts (and across kill -9: the
// count is written before the upstream sees the message). The rest wait in SenderQueues in
// arrival order; other senders pass them. DSNs (sender <>) are never paced.
class Scheduler final : public policy::SenderBacklog {
 public:
  struct Pacing {
    policy::CounterStore* store = nullptr;  // null: nothing is paced
    // Messages per window for a sender identity (its messages_per_minute, exceptions
    // included); 0 = not paced. Asked again at each release, so a reload applies at once.
    std::function<std::uint32_t(const std::string& identity)> limit;
    const policy::Clock* clock = nullptr;  // the windows' wall clock; null = the system clock
    // A store failure (unreachable backend) holds the sender's queue this long, then retries.
    std::chrono::milliseconds error_backoff = std::chrono::seconds(5);
  };

  struct Config {
    std::chrono::milliseconds retry_min = std::chrono::minutes(1);
    std::chrono::milliseconds retry_max = std::chrono::hours(1);
    std::chrono::milliseconds max_age = std::chrono::hours(24 * 5);
    std::uint32_t workers = 4;
    std::string hostname = "localhost";  // HELO of the DSN envelope
    Pacing pacing;
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

  std::size_t queued() const { return ready_.size() + deferred_.size() + active_ + paced_.size(); }
  // Messages of a sender identity (policy::sender_identity) accepted and not yet released to
  // the upstream: its pacing backlog (queue_backlog_per_sender). 0 when it is not paced.
  std::size_t backlog(std::string_view identity) const { return paced_.backlog(identity); }
  std::size_t backlog_of(std::string_view identity) const override { return backlog(identity); }

  // --- the operator's queue (scheduler_admin.cpp; `policy-relayctl queue ...`) -------------
  // Whether a message must wait instead of being delivered: held by the operator (queue hold)
  // or its sender suspended (POLICY IV.2). Asked when a message is about to be handed to the
  // upstream; a held message stays in the spool, parked, until released.
  using HoldCheck = std::function<bool(const std::string& id, std::string_view identity)>;
  void set_hold_check(HoldCheck check) { hold_check_ = std::move(check); }
  // A sender's pacing window was full (the rate limit was hit in queue mode).
  void set_on_rate_hit(std::function<void(const std::string& identity)> hook) {
    on_rate_hit_ = std::move(hook);
  }

  struct EntryView {
    std::string id;
    std::string state;  // ready | paced | deferred | active | held
    std::uint32_t attempts = 0;
    std::int64_t next_attempt_ms = -1;  // deferred: from now
  };
  std::vector<EntryView> snapshot() const;
  bool contains(const std::string& id) const;
  // Parks a waiting message at once (ready or deferred); false when it is not waiting.
  bool hold_now(const std::string& id);
  // Releases parked messages for which `matches(id, identity)` holds; returns how many.
  std::size_t release_held(
      const std::function<bool(const std::string&, std::string_view)>& matches);
  // Makes deferred messages due now: one ("" = all); returns how many.
  std::size_t retry_now(const std::string& id);
  enum class RemoveResult { removed, not_found, in_delivery };
  // Takes a waiting or parked message out of the queue and the spool (no DSN).
  RemoveResult remove(const std::string& id);

 private:
  using Entry = QueuedMessage;
  using Clock = std::chrono::steady_clock;

  void add_new(Entry entry);
  boost::asio::awaitable<void> worker();
  boost::asio::awaitable<void> release(Entry entry);
  boost::asio::awaitable<void> deliver(Entry entry);
  boost::asio::awaitable<void> deliver_loaded(Entry entry);
  // Parks `entry` when hold_check_ says so; true when it did.
  bool park_if_held(Entry& entry, std::string_view identity);
  boost::asio::awaitable<void> bounce(const spool::StoredMessage& original,
                                      const std::vector<upstream::RecipientResult>& failed,
                                      bool expired);
  void defer(Entry entry, std::chrono::milliseconds delay);
  void move_due_entries();
  void wake_one();
  std::optional<Clock::time_point> next_wake() const;
  policy::TimePoint wall_now() const;

  boost::asio::any_io_executor executor_;
  spool::Spool& spool_;
  upstream::Upstream& upstream_;
  BounceBuilder bounce_builder_;
  Config config_;

  std::deque<Entry> ready_;  // not paced
  SenderQueues paced_;
  bool paced_turn_ = false;  // workers alternate between ready_ and paced_ when both have work
  std::multimap<Clock::time_point, Entry> deferred_;
  std::list<boost::asio::steady_timer*> idle_workers_;
  std::map<std::string, Entry> held_;  // parked by hold_check_
  std::set<std::string> active_ids_;   // being handed to the upstream now
  HoldCheck hold_check_;
  std::function<void(const std::string&)> on_rate_hit_;
  std::size_t active_ = 0;
  std::size_t running_workers_ = 0;
  bool stopping_ = false;
};

}  // namespace policy_relay::delivery
