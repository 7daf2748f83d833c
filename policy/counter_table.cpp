#include "policy_relay/policy/counter_table.hpp"

#include <algorithm>
#include <limits>
#include <stdexcept>

namespace policy_relay::policy {

namespace {

using std::chrono::seconds;

constexpr std::uint32_t max_count = std::numeric_limits<std::uint32_t>::max();

std::int64_t unix_seconds(TimePoint at) {
  return std::chrono::floor<seconds>(at).time_since_epoch().count();
}

}  // namespace

WindowSpec default_window_spec(Counter counter) {
  return {window_of(counter), resolution_of(counter)};
}

WindowSpec scaled_window_spec(Counter counter, seconds window) {
  const WindowSpec normal = default_window_spec(counter);
  const auto buckets = normal.window / normal.resolution;
  seconds resolution = std::max<seconds>(seconds(1), window / buckets);
  while (window % resolution != seconds(0)) {
    resolution -= seconds(1);  // ends at 1 s at worst
  }
  return {window, resolution};
}

void validate(const WindowSpec& spec) {
  if (spec.resolution < seconds(1) || spec.window < spec.resolution ||
      spec.window % spec.resolution != seconds(0)) {
    throw std::invalid_argument("counter window must be a whole number of buckets of >= 1 s");
  }
}

CounterTable::Specs CounterTable::default_specs() {
  return {default_window_spec(Counter::messages_per_minute),
          default_window_spec(Counter::recipients_per_day),
          default_window_spec(Counter::releases_per_minute)};
}

CounterTable::CounterTable(Specs specs) : specs_(specs) {
  for (const auto& spec : specs_) {
    validate(spec);
  }
}

std::uint32_t CounterTable::bucket_of(Counter counter, TimePoint at) const {
  const std::int64_t resolution = spec(counter).resolution.count();
  const std::int64_t bucket = std::max<std::int64_t>(0, unix_seconds(at)) / resolution;
  return static_cast<std::uint32_t>(std::min<std::int64_t>(bucket, max_count - 1));
}

TimePoint CounterTable::expiry(Counter counter, const Bucket& bucket) const {
  const WindowSpec& s = spec(counter);
  return TimePoint(s.resolution * (static_cast<std::int64_t>(bucket.index) + 1) + s.window);
}

void CounterTable::compact_storage(Window& window) {
  auto& buckets = window.buckets;
  if (window.head == buckets.size()) {
    buckets.clear();
    window.head = 0;
  } else if (window.head >= 8 && window.head * 2 >= buckets.size()) {
    // Each live bucket moves at most once per halving: amortised O(1) per pop.
    buckets.erase(buckets.begin(), buckets.begin() + window.head);
    window.head = 0;
  }
  // Give memory back after a burst, keeping room to grow.
  if (buckets.capacity() > 16 && buckets.capacity() > 4 * buckets.size()) {
    buckets.shrink_to_fit();
  }
}

void CounterTable::push_bucket(Window& window, Bucket bucket) {
  auto& buckets = window.buckets;
  if (buckets.size() == buckets.capacity()) {
    // Grow by half rather than double: a sparse day of buckets wastes less.
    buckets.reserve(buckets.size() + buckets.size() / 2 + 2);
  }
  buckets.push_back(bucket);
}

void CounterTable::prune(Counter counter, Window& window, TimePoint now) const {
  auto& buckets = window.buckets;
  const auto head_before = window.head;
  while (window.head < buckets.size() && expiry(counter, buckets[window.head]) <= now) {
    window.committed -= buckets[window.head].count;
    ++window.head;
  }
  if (window.head != head_before || window.head == buckets.size()) {
    compact_storage(window);
  }
}

TimePoint CounterTable::frees_at(Counter counter, const Window& window, std::uint64_t amount,
                                 std::uint64_t limit, TimePoint now) const {
  if (amount > limit || amount > max_count) {
    return TimePoint::max();
  }
  const std::uint64_t used = window.committed + window.reserved;
  const auto first = window.buckets.begin() + window.head;
  const auto last = window.buckets.end();
  if (used + amount <= limit) {
    return now + spec(counter).resolution;  // refused only because 2^32 units are held open
  }
  const std::uint64_t need = used + amount - limit;
  if (need > window.committed) {
    // Reservations of open transactions hold the rest: not before everything counted expires.
    return first == last ? now + spec(counter).resolution : expiry(counter, *(last - 1));
  }
  std::uint64_t freed = 0;
  for (auto it = first; it != last; ++it) {
    freed += it->count;
    if (freed >= need) {
      return expiry(counter, *it);
    }
  }
  return expiry(counter, *(last - 1));  // not reached: need <= committed
}

CounterTable::Check CounterTable::try_reserve(std::string_view key, Counter counter,
                                              std::uint64_t amount, std::uint64_t limit,
                                              TimePoint now) {
  Check check;
  auto found = keys_.find(key);
  if (found == keys_.end()) {
    if (amount > limit || amount > max_count) {
      check.frees_at = TimePoint::max();
      return check;
    }
    found = keys_.try_emplace(std::string(key)).first;
  }
  Window& window = found->second.windows[index(counter)];
  prune(counter, window, now);
  check.used = window.committed + window.reserved;
  if (amount <= limit && check.used <= limit - amount && amount <= max_count - window.reserved) {
    window.reserved += static_cast<std::uint32_t>(amount);
    check.granted = true;
  } else {
    check.frees_at = frees_at(counter, window, amount, limit, now);
  }
  return check;
}

void CounterTable::unreserve(std::string_view key, Counter counter, std::uint64_t amount) {
  const auto found = keys_.find(key);
  if (found == keys_.end()) {
    return;
  }
  Window& window = found->second.windows[index(counter)];
  window.reserved -= static_cast<std::uint32_t>(std::min<std::uint64_t>(window.reserved, amount));
}

void CounterTable::commit_reserved(std::string_view key, Counter counter, std::uint64_t amount,
                                   TimePoint at) {
  auto found = keys_.find(key);
  if (found == keys_.end()) {
    found = keys_.try_emplace(std::string(key)).first;  // swept meanwhile: count it all the same
  }
  Window& window = found->second.windows[index(counter)];
  window.reserved -= static_cast<std::uint32_t>(std::min<std::uint64_t>(window.reserved, amount));
  add_to(window, counter, amount, at);
}

void CounterTable::add(std::string_view key, Counter counter, std::uint64_t amount, TimePoint at) {
  if (amount == 0) {
    return;
  }
  auto found = keys_.find(key);
  if (found == keys_.end()) {
    found = keys_.try_emplace(std::string(key)).first;
  }
  add_to(found->second.windows[index(counter)], counter, amount, at);
}

void CounterTable::add_to(Window& window, Counter counter, std::uint64_t amount,
                          TimePoint at) const {
  if (amount == 0) {
    return;
  }
  auto& buckets = window.buckets;
  const std::uint32_t bucket = bucket_of(counter, at);
  window.committed += amount;
  if (window.head < buckets.size() && bucket <= buckets.back().index) {
    const std::uint64_t room = max_count - buckets.back().count;
    const auto take = static_cast<std::uint32_t>(std::min(room, amount));
    buckets.back().count += take;
    amount -= take;
  }
  while (amount > 0) {
    // A bucket holds at most 2^32 - 1 units; more units at one index take further buckets.
    const std::uint32_t index_to_use =
        window.head < buckets.size() ? std::max(bucket, buckets.back().index) : bucket;
    const auto take = static_cast<std::uint32_t>(std::min<std::uint64_t>(max_count, amount));
    push_bucket(window, {index_to_use, take});
    amount -= take;
  }
}

Usage CounterTable::usage(std::string_view key, Counter counter, TimePoint now) {
  Usage result;
  const auto found = keys_.find(key);
  if (found == keys_.end()) {
    return result;
  }
  Window& window = found->second.windows[index(counter)];
  prune(counter, window, now);
  result.used = window.committed + window.reserved;
  if (window.head < window.buckets.size()) {
    result.next_free = expiry(counter, window.buckets[window.head]);
  }
  return result;
}

bool CounterTable::prune_key(KeyState& state, TimePoint now) const {
  bool idle = true;
  for (std::size_t i = 0; i < counter_count; ++i) {
    prune(static_cast<Counter>(i), state.windows[i], now);
    idle = idle && state.windows[i].idle();
  }
  return idle;
}

void CounterTable::sweep_some(TimePoint now, std::size_t hash_buckets) {
  if (keys_.empty()) {
    return;
  }
  doomed_.clear();
  for (std::size_t n = 0; n < hash_buckets; ++n) {
    const std::size_t slot = sweep_cursor_++ % keys_.bucket_count();
    for (auto it = keys_.begin(slot); it != keys_.end(slot); ++it) {
      if (prune_key(it->second, now)) {
        doomed_.push_back(it->first);
      }
    }
  }
  for (const auto& key : doomed_) {
    keys_.erase(key);
  }
}

void CounterTable::sweep_all(TimePoint now) {
  for (auto it = keys_.begin(); it != keys_.end();) {
    it = prune_key(it->second, now) ? keys_.erase(it) : std::next(it);
  }
}

void CounterTable::for_each(const Visitor& visit) const {
  for (const auto& [key, state] : keys_) {
    for (std::size_t i = 0; i < counter_count; ++i) {
      const Window& window = state.windows[i];
      if (window.head < window.buckets.size()) {
        const auto counter = static_cast<Counter>(i);
        visit(key, counter, spec(counter).resolution,
              std::span<const Bucket>(window.buckets).subspan(window.head));
      }
    }
  }
}

CounterTable::Stats CounterTable::stats() const {
  Stats stats;
  stats.keys = keys_.size();
  for (const auto& [key, state] : keys_) {
    for (const auto& window : state.windows) {
      stats.buckets += window.buckets.size() - window.head;
      stats.bucket_capacity += window.buckets.capacity();
    }
  }
  return stats;
}

}  // namespace policy_relay::policy
