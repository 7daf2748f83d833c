// The operations sections: [abuse] (POLICY IV.2, automatic suspension) and [admin] (the control
// socket of policy-relayctl).
#include <limits>

#include "sections.hpp"

namespace policy_relay::config::detail {
namespace {

constexpr std::uint32_t kMaxCount = std::numeric_limits<std::uint32_t>::max();

}  // namespace

void read_abuse(Reader& reader, const toml::table& table, AbuseConfig& abuse) {
  for (auto&& [name, node] : table) {
    const std::string key = qualified("abuse", name);
    if (name == "refusals") {
      abuse.refusals = reader.count(node, key, kMaxCount, /*allow_zero=*/true);
    } else if (name == "refusals_window") {
      abuse.refusals_window = reader.positive_duration(node, key);
      if (abuse.refusals_window > std::chrono::hours(24)) {
        reader.fail(node, key, "must not exceed \"24h\"");
      }
    } else if (name == "rate_hits_per_hour") {
      abuse.rate_hits_per_hour = reader.count(node, key, kMaxCount, /*allow_zero=*/true);
    } else if (name == "public_recipients_per_hour") {
      abuse.public_recipients_per_hour = reader.count(node, key, kMaxCount, /*allow_zero=*/true);
    } else {
      reader.unknown(node, key);
    }
  }
}

void read_admin(Reader& reader, const toml::table& table, AdminConfig& admin) {
  for (auto&& [name, node] : table) {
    const std::string key = qualified("admin", name);
    if (name == "socket") {
      admin.socket = reader.non_empty_string(node, key);
      // sockaddr_un.sun_path holds 108 bytes with its terminating NUL.
      if (admin.socket.size() > 107) {
        reader.fail(node, key, "longer than 107 bytes (the limit of a Unix socket path)");
      }
    } else if (name == "request_timeout") {
      admin.request_timeout = reader.positive_duration(node, key);
    } else {
      reader.unknown(node, key);
    }
  }
}

}  // namespace policy_relay::config::detail
