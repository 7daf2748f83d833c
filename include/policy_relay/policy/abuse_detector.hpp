#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "policy_relay/policy/counter_store.hpp"
#include "policy_relay/util/string_map.hpp"

// Excessive traffic of one sender (POLICY IV.2: "such mailboxes are disabled automatically"),
// from events the policy engine and the scheduler report. No I/O, no clock of its own: every
// event carries its time, so tests drive it with a fake clock. Single-threaded (event loop).
namespace policy_relay::policy {

struct AbuseThresholds {
  std::uint32_t refusals = 50;  // policy refusals within refusals_window; 0 = off
  std::chrono::milliseconds refusals_window = std::chrono::minutes(10);
  std::uint32_t rate_hits_per_hour = 10;           // 0 = off
  std::uint32_t public_recipients_per_hour = 200;  // 0 = off
};

// Why a sender tripped: the evidence the `suspend` event logs.
struct AbuseTrip {
  std::string trigger;          // refusals | rate_hits | public_recipients
  std::uint64_t count = 0;      // events in the window, this one included
  std::uint64_t threshold = 0;  // the configured value it reached
  std::chrono::seconds window{0};
  TimePoint first{};      // the oldest event counted
  std::string last_rule;  // refusals: the rule of the refusal that tripped it
};

class AbuseDetector {
 public:
  // At most this many senders are watched; past it, senders idle for a window are forgotten
  // first and new ones are not tracked until room frees (memory stays bounded). A full table is
  // swept for room at most once a minute.
  static constexpr std::size_t kMaxSenders = 100'000;

  explicit AbuseDetector(AbuseThresholds thresholds = {}) : thresholds_(thresholds) {}
  // A reload: new thresholds apply to the next event (events so far are kept).
  void configure(AbuseThresholds thresholds) { thresholds_ = thresholds; }

  // A trip is reported once; the sender's history is then cleared (forget()).
  std::optional<AbuseTrip> on_refusal(std::string_view identity, std::string_view rule,
                                      TimePoint now);
  // The per-minute limit refused or paced one of the sender's messages.
  std::optional<AbuseTrip> on_rate_hit(std::string_view identity, TimePoint now);
  // `count` recipients at public providers in one accepted message.
  std::optional<AbuseTrip> on_public_recipients(std::string_view identity, std::uint64_t count,
                                                TimePoint now);
  void forget(std::string_view identity) { senders_.erase(std::string(identity)); }
  std::size_t tracked() const { return senders_.size(); }

 private:
  struct History {
    std::deque<TimePoint> refusals;   // at most thresholds_.refusals entries
    std::deque<TimePoint> rate_hits;  // at most thresholds_.rate_hits_per_hour entries
    std::deque<std::pair<TimePoint, std::uint64_t>> public_recipients;
    std::uint64_t public_total = 0;
    TimePoint last{};
  };

  History* history_of(std::string_view identity, TimePoint now);
  void make_room(TimePoint now);

  AbuseThresholds thresholds_;
  util::StringMap<History> senders_;
  TimePoint next_sweep_{};  // after a sweep that found the table full of active senders
};

// The heaviest senders of the last hour (`policy-relayctl top`): accepted messages and
// recipients per sender in one-minute buckets. Bounded like AbuseDetector.
class SenderTally {
 public:
  static constexpr std::size_t kMaxSenders = 100'000;

  struct Row {
    std::string identity;
    std::uint64_t messages = 0;
    std::uint64_t recipients = 0;
  };

  void add(std::string_view identity, std::uint64_t recipients, TimePoint now);
  // By recipients, then messages, descending; at most `limit` rows.
  std::vector<Row> top(std::size_t limit, TimePoint now);

 private:
  struct Bucket {
    std::int64_t minute = 0;
    std::uint64_t messages = 0;
    std::uint64_t recipients = 0;
  };
  // Oldest first, at most 60: a vector is one allocation per sender where a deque is two.
  using Buckets = std::vector<Bucket>;
  void trim(Buckets& buckets, std::int64_t minute) const;

  util::StringMap<Buckets> senders_;
  // The minute in which a sweep found the table full of live senders (none before).
  std::int64_t full_at_minute_ = std::numeric_limits<std::int64_t>::min();
};

}  // namespace policy_relay::policy
