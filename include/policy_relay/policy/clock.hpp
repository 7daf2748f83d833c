#pragma once

#include <chrono>

namespace policy_relay::policy {

// Time as the policy sees it: injected so that tests drive windows with a fake clock instead
// of sleeping (STYLE.md 3, DESIGN.md "Tests").
class Clock {
 public:
  virtual ~Clock() = default;
  virtual std::chrono::system_clock::time_point now() const = 0;
};

class SystemClock final : public Clock {
 public:
  std::chrono::system_clock::time_point now() const override {
    return std::chrono::system_clock::now();
  }
};

}  // namespace policy_relay::policy
