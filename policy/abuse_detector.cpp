#include "policy_relay/policy/abuse_detector.hpp"

#include <algorithm>

namespace policy_relay::policy {
namespace {

constexpr auto kHour = std::chrono::hours(1);

// Keeps the newest `limit` times that are inside (now - window, now]; a trip when `limit` of
// them are.
std::optional<AbuseTrip> count_event(std::deque<TimePoint>& times, std::uint32_t limit,
                                     std::chrono::milliseconds window, TimePoint now,
                                     const char* trigger) {
  times.push_back(now);
  while (!times.empty() && (times.front() <= now - window || times.size() > limit)) {
    times.pop_front();
  }
  if (times.size() < limit) {
    return std::nullopt;
  }
  AbuseTrip trip;
  trip.trigger = trigger;
  trip.count = times.size();
  trip.threshold = limit;
  trip.window = std::chrono::duration_cast<std::chrono::seconds>(window);
  trip.first = times.front();
  return trip;
}

}  // namespace

void AbuseDetector::make_room(TimePoint now) {
  const auto idle = std::max<std::chrono::milliseconds>(thresholds_.refusals_window, kHour);
  std::erase_if(senders_, [&](const auto& entry) { return entry.second.last <= now - idle; });
}

AbuseDetector::History* AbuseDetector::history_of(std::string_view identity, TimePoint now) {
  auto found = senders_.find(identity);
  if (found == senders_.end()) {
    if (senders_.size() >= kMaxSenders) {
      // A sweep reads every sender. When it found no room, the next one waits a minute:
      // otherwise each refusal of a new sender (which a client can cause at will) would
      // rescan a full table.
      if (now < next_sweep_) {
        return nullptr;
      }
      make_room(now);
      if (senders_.size() >= kMaxSenders) {
        next_sweep_ = now + std::chrono::minutes(1);
        return nullptr;
      }
    }
    found = senders_.emplace(std::string(identity), History{}).first;
  }
  found->second.last = now;
  return &found->second;
}

std::optional<AbuseTrip> AbuseDetector::on_refusal(std::string_view identity, std::string_view rule,
                                                   TimePoint now) {
  if (thresholds_.refusals == 0 || identity.empty()) {
    return std::nullopt;
  }
  History* history = history_of(identity, now);
  if (history == nullptr) {
    return std::nullopt;
  }
  auto trip = count_event(history->refusals, thresholds_.refusals, thresholds_.refusals_window, now,
                          "refusals");
  if (trip) {
    trip->last_rule = rule;
    forget(identity);
  }
  return trip;
}

std::optional<AbuseTrip> AbuseDetector::on_rate_hit(std::string_view identity, TimePoint now) {
  if (thresholds_.rate_hits_per_hour == 0 || identity.empty()) {
    return std::nullopt;
  }
  History* history = history_of(identity, now);
  if (history == nullptr) {
    return std::nullopt;
  }
  auto trip =
      count_event(history->rate_hits, thresholds_.rate_hits_per_hour, kHour, now, "rate_hits");
  if (trip) {
    forget(identity);
  }
  return trip;
}

std::optional<AbuseTrip> AbuseDetector::on_public_recipients(std::string_view identity,
                                                             std::uint64_t count, TimePoint now) {
  if (thresholds_.public_recipients_per_hour == 0 || identity.empty() || count == 0) {
    return std::nullopt;
  }
  History* history = history_of(identity, now);
  if (history == nullptr) {
    return std::nullopt;
  }
  auto& events = history->public_recipients;
  events.emplace_back(now, count);
  history->public_total += count;
  while (!events.empty() && events.front().first <= now - kHour) {
    history->public_total -= events.front().second;
    events.pop_front();
  }
  // POLICY IV.2 with VI.9: "more than X public-provider recipients in an hour".
  if (history->public_total <= thresholds_.public_recipients_per_hour) {
    return std::nullopt;
  }
  AbuseTrip trip;
  trip.trigger = "public_recipients";
  trip.count = history->public_total;
  trip.threshold = thresholds_.public_recipients_per_hour;
  trip.window = std::chrono::duration_cast<std::chrono::seconds>(kHour);
  trip.first = events.front().first;
  forget(identity);
  return trip;
}

void SenderTally::trim(Buckets& buckets, std::int64_t minute) const {
  const auto live = std::find_if(buckets.begin(), buckets.end(), [minute](const Bucket& bucket) {
    return bucket.minute > minute - 60;
  });
  buckets.erase(buckets.begin(), live);
}

void SenderTally::add(std::string_view identity, std::uint64_t recipients, TimePoint now) {
  const std::int64_t minute =
      std::chrono::duration_cast<std::chrono::minutes>(now.time_since_epoch()).count();
  auto found = senders_.find(identity);
  if (found == senders_.end()) {
    if (senders_.size() >= kMaxSenders) {
      // Buckets expire a minute at a time: one sweep per minute finds all the room there is,
      // so a table full of live senders costs a new sender nothing until the next minute.
      if (minute == full_at_minute_) {
        return;
      }
      for (auto it = senders_.begin(); it != senders_.end();) {
        trim(it->second, minute);
        it = it->second.empty() ? senders_.erase(it) : std::next(it);
      }
      if (senders_.size() >= kMaxSenders) {
        full_at_minute_ = minute;
        return;
      }
    }
    found = senders_.emplace(std::string(identity), Buckets{}).first;
  }
  auto& buckets = found->second;
  trim(buckets, minute);
  if (buckets.empty() || buckets.back().minute != minute) {
    buckets.push_back({minute, 0, 0});
  }
  buckets.back().messages += 1;
  buckets.back().recipients += recipients;
}

std::vector<SenderTally::Row> SenderTally::top(std::size_t limit, TimePoint now) {
  const std::int64_t minute =
      std::chrono::duration_cast<std::chrono::minutes>(now.time_since_epoch()).count();
  std::vector<Row> rows;
  for (auto it = senders_.begin(); it != senders_.end();) {
    trim(it->second, minute);
    if (it->second.empty()) {
      it = senders_.erase(it);
      continue;
    }
    Row row{it->first, 0, 0};
    for (const Bucket& bucket : it->second) {
      row.messages += bucket.messages;
      row.recipients += bucket.recipients;
    }
    rows.push_back(std::move(row));
    ++it;
  }
  std::sort(rows.begin(), rows.end(), [](const Row& a, const Row& b) {
    return a.recipients != b.recipients ? a.recipients > b.recipients
           : a.messages != b.messages   ? a.messages > b.messages
                                        : a.identity < b.identity;
  });
  if (rows.size() > limit) {
    rows.resize(limit);
  }
  return rows;
}

}  // namespace policy_relay::policy
