#pragma once

#include <cstdint>
#include <string>

namespace policy_relay::util {

// RFC 5322 3.3 date-time in UTC, e.g. "Sun, 29 Nov 2026 04:40:35 +0000" (Received headers,
// DSN Date and Arrival-Date fields).
std::string format_rfc5322_date(std::int64_t unix_seconds);

}  // namespace policy_relay::util
