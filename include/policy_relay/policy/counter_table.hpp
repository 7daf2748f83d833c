#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "policy_relay/policy/counter_store.hpp"
#include "policy_relay/util/string_map.hpp"

// The in-memory part of the local counter backend: per key and counter, a sparse, sorted run of
// fixed-width time buckets. No I/O, no threads, no clock: every call takes `now`.
//
// How a window counts (README "How windows count"): a unit used at time t falls in the bucket
// [k * res, (k + 1) * res) that holds t, and that whole bucket counts for as long as any part of
// it is inside the window (now - window, now], that is until (k + 1) * res + window. So a unit
// counts for at least `window` and at most `window + res` after it was used: the counter may
// refuse up to one bucket early, and never allows more than the limit in any exact window.
namespace policy_relay::policy {

inline constexpr std::size_t counter_count = 3;

struct WindowSpec {
  std::chrono::seconds window;
  std::chrono::seconds resolution;  // bucket width: at least 1 s, divides `window`
};

// window_of() / resolution_of().
WindowSpec default_window_spec(Counter counter);
// A window of another length with the same number of buckets as the default (at least 1 s wide):
// for tests and the short windows an operator may configure (`limits.rate_window`).
WindowSpec scaled_window_spec(Counter counter, std::chrono::seconds window);
// Throws std::invalid_argument when `spec` breaks the rules above.
void validate(const WindowSpec& spec);

struct Bucket {
  std::uint32_t index = 0;  // bucket number since the epoch: start = index * resolution
  std::uint32_t count = 0;
};

class CounterTable {
 public:
  using Specs = std::array<WindowSpec, counter_count>;
  static Specs default_specs();

  explicit CounterTable(Specs specs = default_specs());

  const WindowSpec& spec(Counter counter) const { return specs_[index(counter)]; }

  struct Check {
    bool granted = false;
    std::uint64_t used = 0;  // committed + reserved in the window, before this request
    TimePoint frees_at{};    // when refused: see CounterStore; TimePoint::max() = never fits
  };
  // If used + amount <= limit, adds `amount` to the key's reserved units and grants.
  Check try_reserve(std::string_view key, Counter counter, std::uint64_t amount,
                    std::uint64_t limit, TimePoint now);
  // Gives back reserved units (the caller tracks what it reserved).
  void unreserve(std::string_view key, Counter counter, std::uint64_t amount);
  // unreserve() and add() in one lookup: reserved units become used at `at` (a commit).
  void commit_reserved(std::string_view key, Counter counter, std::uint64_t amount, TimePoint at);
  // Counts `amount` units used at `at` (a commit, or a journal entry at replay). A time older
  // than the key's newest bucket is counted in that bucket (the clock went back: count longer).
  void add(std::string_view key, Counter counter, std::uint64_t amount, TimePoint at);
  Usage usage(std::string_view key, Counter counter, TimePoint now);

  // Amortised clean-up: visits the keys of the next `hash_buckets` slots of the key map, drops
  // their expired buckets and forgets keys with nothing counted or reserved.
  void sweep_some(TimePoint now, std::size_t hash_buckets);
  std::size_t key_count() const { return keys_.size(); }
  // The same over every key (before a snapshot, and in tests).
  void sweep_all(TimePoint now);

  // Every live bucket run, key by key (call sweep_all first to skip expired ones).
  using Visitor = std::function<void(std::string_view key, Counter counter,
                                     std::chrono::seconds resolution, std::span<const Bucket>)>;
  void for_each(const Visitor& visit) const;

  struct Stats {
    std::size_t keys = 0;
    std::size_t buckets = 0;          // live buckets
    std::size_t bucket_capacity = 0;  // allocated bucket slots
  };
  Stats stats() const;

  // Expiry of a bucket: the first instant at which it no longer counts.
  TimePoint expiry(Counter counter, const Bucket& bucket) const;

 private:
  // 40 bytes: memory per sender is what bounds the table (README "How windows count").
  struct Window {
    std::vector<Bucket> buckets;  // sorted by index; [head, size) are live
    std::uint32_t head = 0;
    std::uint32_t reserved = 0;   // open reservations never hold more than 2^32 - 1 units
    std::uint64_t committed = 0;  // sum of live counts
    bool idle() const { return committed == 0 && reserved == 0; }
  };
  struct KeyState {
    std::array<Window, counter_count> windows;
  };
  using Map = util::StringMap<KeyState>;

  static std::size_t index(Counter counter) { return static_cast<std::size_t>(counter); }
  std::uint32_t bucket_of(Counter counter, TimePoint at) const;
  void prune(Counter counter, Window& window, TimePoint now) const;
  static void compact_storage(Window& window);
  static void push_bucket(Window& window, Bucket bucket);
  void add_to(Window& window, Counter counter, std::uint64_t amount, TimePoint at) const;
  TimePoint frees_at(Counter counter, const Window& window, std::uint64_t amount,
                     std::uint64_t limit, TimePoint now) const;
  bool prune_key(KeyState& state, TimePoint now) const;  // true when the key can be forgotten

  Specs specs_;
  Map keys_;
  std::size_t sweep_cursor_ = 0;
  std::vector<std::string> doomed_;  // reused by sweeps
};

}  // namespace policy_relay::policy
