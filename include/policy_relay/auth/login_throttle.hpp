#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>

// Failed-login throttling (POLICY VII.1), sans-I/O with the time passed in. Failures are counted
// per client address and per user name within `window`; each failure is answered after a delay
// that doubles (base_delay, 2x, 4x ... up to max_delay); the max_failures-th failure of either
// key locks that key for `lockout`: AUTH then gets "421 4.7.0" and the connection is closed,
// whatever the password. A successful login clears its user's count (not the address's: one
// valid account must not reset a guessing run against others).
namespace policy_relay::auth {

class LoginThrottle {
 public:
  using Clock = std::chrono::steady_clock;
  using TimePoint = Clock::time_point;
  using Duration = std::chrono::milliseconds;

  struct Config {
    std::uint32_t max_failures = 5;
    Duration window = std::chrono::minutes(15);
    Duration lockout = std::chrono::minutes(15);
    Duration base_delay = std::chrono::seconds(1);
    Duration max_delay = std::chrono::seconds(8);
    std::size_t max_keys = 100000;  // memory bound: expired keys go first, then any
  };

  enum class Key { none, address, user };

  struct Lock {
    Key key = Key::none;  // which key is locked; none: not locked
    TimePoint until{};
    bool locked() const { return key != Key::none; }
  };

  struct Failure {
    Duration delay{0};       // wait this long before the 535
    Lock lock;               // this failure locked a key: 421 instead of 535
    std::uint32_t failures;  // the larger of the two counts after this failure
  };

  explicit LoginThrottle(Config config) : config_(config) {}

  // Before verifying: is the address (and the user, when not "") locked out now?
  Lock check(std::string_view address, std::string_view user, TimePoint now);
  Failure record_failure(std::string_view address, std::string_view user, TimePoint now);
  void record_success(std::string_view user);

  std::size_t keys() const { return entries_.size(); }

 private:
  struct Entry {
    std::uint32_t failures = 0;
    TimePoint first_failure{};
    TimePoint locked_until{};
  };
  static std::string key_of(Key key, std::string_view name);
  bool locked(const std::string& key, TimePoint now) const;
  // Counts one failure; true when it locked the key.
  bool count(const std::string& key, TimePoint now, std::uint32_t& failures);
  void make_room(TimePoint now);

  Config config_;
  std::unordered_map<std::string, Entry> entries_;
};

}  // namespace policy_relay::auth
