#include "policy_relay/auth/login_throttle.hpp"

#include <algorithm>

namespace policy_relay::auth {

std::string LoginThrottle::key_of(Key key, std::string_view name) {
  std::string text(key == Key::address ? "a:" : "u:");
  text += name;
  return text;
}

bool LoginThrottle::locked(const std::string& key, TimePoint now) const {
  const auto found = entries_.find(key);
  return found != entries_.end() && found->second.locked_until > now;
}

LoginThrottle::Lock LoginThrottle::check(std::string_view address, std::string_view user,
                                         TimePoint now) {
  for (const Key key : {Key::address, Key::user}) {
    const std::string_view name = key == Key::address ? address : user;
    if (name.empty()) {
      continue;
    }
    const auto found = entries_.find(key_of(key, name));
    if (found != entries_.end() && found->second.locked_until > now) {
      return Lock{key, found->second.locked_until};
    }
  }
  return Lock{};
}

bool LoginThrottle::count(const std::string& key, TimePoint now, std::uint32_t& failures) {
  auto found = entries_.find(key);
  if (found == entries_.end()) {
    make_room(now);
    found = entries_.emplace(key, Entry{}).first;
  }
  Entry& entry = found->second;
  if (entry.failures == 0 || now - entry.first_failure > config_.window) {
    entry.failures = 0;
    entry.first_failure = now;
  }
  ++entry.failures;
  failures = entry.failures;
  if (config_.max_failures != 0 && entry.failures >= config_.max_failures) {
    entry.failures = 0;  // the lockout starts a fresh count when it ends
    entry.locked_until = now + config_.lockout;
    return true;
  }
  return false;
}

LoginThrottle::Failure LoginThrottle::record_failure(std::string_view address,
                                                     std::string_view user, TimePoint now) {
  Failure failure;
  std::uint32_t address_failures = 0;
  std::uint32_t user_failures = 0;
  const bool address_locked = count(key_of(Key::address, address), now, address_failures);
  const bool user_locked = !user.empty() && count(key_of(Key::user, user), now, user_failures);
  failure.failures = std::max(address_failures, user_failures);
  if (address_locked) {
    failure.lock = Lock{Key::address, now + config_.lockout};
  } else if (user_locked) {
    failure.lock = Lock{Key::user, now + config_.lockout};
  }
  Duration delay = config_.base_delay;
  for (std::uint32_t i = 1; i < failure.failures && delay < config_.max_delay; ++i) {
    delay *= 2;
  }
  failure.delay = std::min(delay, config_.max_delay);
  return failure;
}

void LoginThrottle::record_success(std::string_view user) {
  // check() refused a locked user before its password was verified: no lock is lost here.
  entries_.erase(key_of(Key::user, user));
}

void LoginThrottle::make_room(TimePoint now) {
  if (entries_.size() < config_.max_keys) {
    return;
  }
  std::erase_if(entries_, [&](const auto& item) {
    const Entry& entry = item.second;
    return entry.locked_until <= now && now - entry.first_failure > config_.window;
  });
  if (entries_.size() >= config_.max_keys) {
    entries_.erase(entries_.begin());  // under a flood: forget someone rather than grow
  }
}

}  // namespace policy_relay::auth
