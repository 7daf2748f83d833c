#include "policy_relay/ops/notify.hpp"

#include <time.h>

#include <string>

#ifdef POLICY_RELAY_HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

namespace policy_relay::ops {

void notify(std::string_view state) {
#ifdef POLICY_RELAY_HAVE_SYSTEMD
  const std::string text(state);
  ::sd_notify(0, text.c_str());
#else
  (void)state;
#endif
}

void notify_reloading() {
  timespec now{};
  ::clock_gettime(CLOCK_MONOTONIC, &now);
  const long long usec = static_cast<long long>(now.tv_sec) * 1000000 + now.tv_nsec / 1000;
  notify("RELOADING=1\nMONOTONIC_USEC=" + std::to_string(usec));
}

std::optional<std::chrono::microseconds> watchdog_interval() {
#ifdef POLICY_RELAY_HAVE_SYSTEMD
  std::uint64_t usec = 0;
  if (::sd_watchdog_enabled(0, &usec) > 0 && usec > 0) {
    return std::chrono::microseconds(usec / 2);
  }
#endif
  return std::nullopt;
}

}  // namespace policy_relay::ops
