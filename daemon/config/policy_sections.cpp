// The sections behind the policy engine: [limits], [senders], [[exceptions]], [state]
// (POLICY I.1, VI.1, VI.3, VI.4, VI.8, VI.9; DESIGN.md "The operator's contract").
#include <algorithm>
#include <array>
#include <string>

#include "policy_relay/policy/redis_client.hpp"
#include "policy_relay/smtp/address.hpp"
#include "sections.hpp"

namespace policy_relay::config::detail {
namespace {

// Upper bounds that keep every limit meaningful and every counter far from overflow.
constexpr std::uint32_t kMaxRecipientsPerMessage = 100'000;
constexpr std::uint32_t kMaxMessagesPerMinute = 1'000'000;
constexpr std::uint32_t kMaxRecipientsPerDay = 100'000'000;
constexpr std::uint32_t kMaxBacklog = 1'000'000;

std::string ascii_lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(), [](char c) {
    return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
  });
  return text;
}

// Reads `name` into `out` when it is one of the [limits] keys an exception may override too;
// false when it is not one of them.
bool read_limit_key(Reader& reader, std::string_view name, const toml::node& node,
                    const std::string& key, LimitOverrides& out) {
  if (name == "max_message_size") {
    out.max_message_size = reader.size(node, key);
  } else if (name == "max_recipients_per_message") {
    out.max_recipients_per_message = reader.count(node, key, kMaxRecipientsPerMessage);
  } else if (name == "messages_per_minute") {
    out.messages_per_minute = reader.count(node, key, kMaxMessagesPerMinute);
  } else if (name == "recipients_per_day") {
    out.recipients_per_day = reader.count(node, key, kMaxRecipientsPerDay);
  } else if (name == "rate_action") {
    out.rate_action =
        static_cast<RateAction>(reader.choice(node, key, {"queue", "defer", "reject"}));
  } else if (name == "daily_action") {
    out.daily_action = static_cast<DailyAction>(reader.choice(node, key, {"defer", "reject"}));
  } else if (name == "queue_backlog_per_sender") {
    out.queue_backlog_per_sender = reader.count(node, key, kMaxBacklog);
  } else {
    return false;
  }
  return true;
}

SenderException read_exception(Reader& reader, const toml::table& table, const std::string& where) {
  SenderException exception;
  for (auto&& [name, node] : table) {
    const std::string key = qualified(where, name);
    if (name == "sender") {
      exception.sender = email_address(reader, node, key);
    } else if (name == "reference") {
      exception.reference = reader.non_empty_string(node, key);
    } else if (name == "allow_protected_lists") {
      exception.allow_protected_lists = reader.boolean(node, key);
    } else if (name == "allow_public_mass_mail") {
      exception.allow_public_mass_mail = reader.boolean(node, key);
    } else if (!read_limit_key(reader, name.str(), node, key, exception.limits)) {
      reader.unknown(node, key);
    }
  }
  // Both are required: an exception must name whom it frees and on whose authority.
  if (exception.sender.empty()) {
    reader.fail(table, where + ".sender", "required (the address this exception applies to)");
  }
  if (exception.reference.empty()) {
    reader.fail(table, where + ".reference",
                "required (the authorisation, logged with every decision it changes)");
  }
  return exception;
}

}  // namespace

std::string email_address(Reader& reader, const toml::node& node, std::string_view key) {
  const std::string value = reader.non_empty_string(node, key);
  const smtp::PathParse parsed =
      smtp::parse_path_argument("<" + value + ">", /*allow_null=*/false, /*allow_utf8=*/true);
  if (parsed.error != smtp::PathError::none || !parsed.value.parameters.empty() ||
      parsed.value.path.address != value || value.find('@') == std::string::npos) {
    reader.fail(node, key, "'" + value + "' is not an e-mail address (local@domain)");
  }
  return ascii_lower(value);
}

void read_limits(Reader& reader, const toml::table& table, LimitsConfig& limits) {
  LimitOverrides values;
  for (auto&& [name, node] : table) {
    const std::string key = qualified("limits", name);
    if (name == "enabled") {
      limits.enabled = reader.boolean(node, key);
    } else if (name == "rate_window") {
      const Duration window = reader.positive_duration(node, key);
      if (window % std::chrono::seconds(1) != Duration::zero() || window > std::chrono::hours(1)) {
        reader.fail(node, key, "must be whole seconds from \"1s\" to \"1h\"");
      }
      limits.rate_window = std::chrono::duration_cast<std::chrono::seconds>(window);
    } else if (!read_limit_key(reader, name.str(), node, key, values)) {
      reader.unknown(node, key);
    }
  }
  limits = values.applied_to(limits);
}

void read_senders(Reader& reader, const toml::table& table, SendersConfig& senders) {
  for (auto&& [name, node] : table) {
    const std::string key = qualified("senders", name);
    if (name == "domains") {
      const toml::array* domains = node.as_array();
      if (domains == nullptr) {
        reader.fail(node, key, "expected an array of domain names such as [\"edomex.gob.mx\"]");
      }
      reader.note(node, key);
      senders.domains.clear();
      for (const toml::node& element : *domains) {
        senders.domains.push_back(ascii_lower(reader.host_name(element, key)));
      }
      if (senders.domains.empty()) {
        reader.fail(node, key, "at least one domain is required (no sender could pass)");
      }
    } else if (name == "max_local_part_length") {
      senders.max_local_part_length = reader.count(node, key, 64);  // RFC 5321 4.5.3.1.1
    } else if (name == "from_mismatch_action") {
      senders.from_mismatch_action =
          static_cast<FromMismatchAction>(reader.choice(node, key, {"off", "log", "reject"}));
    } else if (name == "directory") {
      senders.directory = reader.string(node, key);
    } else {
      reader.unknown(node, key);
    }
  }
}

void read_exceptions(Reader& reader, const toml::node& node,
                     std::vector<SenderException>& exceptions) {
  const toml::array* entries = node.as_array();
  if (entries == nullptr || !entries->is_array_of_tables()) {
    reader.fail(node, "exceptions", "expected [[exceptions]] tables");
  }
  for (std::size_t index = 0; index < entries->size(); ++index) {
    const toml::node& entry = *entries->get(index);
    const std::string where = "exceptions[" + std::to_string(index + 1) + "]";
    SenderException exception = read_exception(reader, *entry.as_table(), where);
    for (const SenderException& earlier : exceptions) {
      if (earlier.sender == exception.sender) {
        reader.fail(entry, where + ".sender",
                    "'" + exception.sender + "' already has an exception; merge the two entries");
      }
    }
    exceptions.push_back(std::move(exception));
  }
}

void read_state(Reader& reader, const toml::table& table, StateConfig& state) {
  for (auto&& [name, node] : table) {
    const std::string key = qualified("state", name);
    if (name == "backend") {
      state.backend = static_cast<StateBackend>(reader.choice(node, key, {"local", "redis"}));
    } else if (name == "redis_url") {
      state.redis_url = reader.non_empty_string(node, key);
      policy::RedisEndpoint endpoint;
      if (std::string error = policy::parse_redis_url(state.redis_url, endpoint); !error.empty()) {
        reader.fail(node, key, error);
      }
    } else if (name == "redis_unavailable") {
      state.redis_unavailable =
          static_cast<RedisUnavailable>(reader.choice(node, key, {"defer", "local"}));
    } else if (name == "redis_password_file") {
      state.redis_password_file = reader.string(node, key);
    } else if (name == "redis_key_prefix") {
      state.redis_key_prefix = reader.string(node, key);
    } else if (name == "redis_connect_timeout") {
      state.redis_connect_timeout = reader.positive_duration(node, key);
    } else if (name == "redis_timeout") {
      state.redis_timeout = reader.positive_duration(node, key);
    } else if (name == "redis_reservation_ttl") {
      state.redis_reservation_ttl = reader.positive_duration(node, key);
    } else if (name == "redis_alert_interval") {
      state.redis_alert_interval = reader.positive_duration(node, key);
    } else if (name == "directory") {
      state.directory = reader.non_empty_string(node, key);
    } else if (name == "counter_sync") {
      state.counter_sync = static_cast<CounterSync>(reader.choice(node, key, {"write", "fsync"}));
    } else {
      reader.unknown(node, key);
    }
  }
}

}  // namespace policy_relay::config::detail
