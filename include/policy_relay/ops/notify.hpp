#pragma once

#include <chrono>
#include <optional>
#include <string_view>

// The service manager's notification protocol (sd_notify(3); systemd Type=notify). Without
// NOTIFY_SOCKET in the environment every call does nothing.
namespace policy_relay::ops {

// "READY=1", "STOPPING=1", "WATCHDOG=1", "STATUS=..." (several lines allowed).
void notify(std::string_view state);
// RELOADING=1 with MONOTONIC_USEC (what systemd 253+ expects for a reload).
void notify_reloading();
// How often to send WATCHDOG=1 (half of WatchdogSec), when the manager asked for it.
std::optional<std::chrono::microseconds> watchdog_interval();

}  // namespace policy_relay::ops
