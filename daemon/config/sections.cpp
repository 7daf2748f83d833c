// One reader per implemented section of the operator's contract (DESIGN.md). Keys that a later
// version implements are refused by name (Reader::reserved), everything else is unknown.
#include "sections.hpp"

#include <array>
#include <limits>

namespace policy_relay::config::detail {
namespace {

constexpr std::uint32_t kMaxCount = std::numeric_limits<std::uint32_t>::max();

template <std::size_t N>
bool is_one_of(std::string_view name, const std::array<std::string_view, N>& names) {
  for (std::string_view candidate : names) {
    if (name == candidate) {
      return true;
    }
  }
  return false;
}

}  // namespace

std::string qualified(std::string_view section, const toml::key& key) {
  std::string name(section);
  name += '.';
  name += key.str();
  return name;
}

void read_server(Reader& reader, const toml::table& table, ServerConfig& server) {
  for (auto&& [name, node] : table) {
    const std::string key = qualified("server", name);
    if (name == "listen") {
      server.listen = reader.listen_addresses(node, key);
    } else if (name == "listen_tls") {
      server.listen_tls = reader.listen_addresses(node, key);
      reader.note(node, key);
    } else if (name == "hostname") {
      server.hostname = reader.host_name(node, key);
    } else if (name == "trusted_networks") {
      server.trusted_networks = reader.networks(node, key);
    } else if (name == "max_connections") {
      server.max_connections = reader.count(node, key, kMaxCount);
    } else if (name == "max_connections_per_ip") {
      server.max_connections_per_ip = reader.count(node, key, kMaxCount);
    } else if (name == "command_timeout") {
      server.command_timeout = reader.positive_duration(node, key);
    } else if (name == "data_timeout") {
      server.data_timeout = reader.positive_duration(node, key);
    } else if (name == "shutdown_timeout") {
      server.shutdown_timeout = reader.positive_duration(node, key);
    } else if (name == "max_errors") {
      server.max_errors = reader.count(node, key, kMaxCount);
    } else if (name == "proxy_protocol") {
      server.proxy_protocol = reader.boolean(node, key);
    } else if (name == "proxy_networks") {
      server.proxy_networks = reader.networks(node, key);
    } else if (name == "proxy_timeout") {
      server.proxy_timeout = reader.positive_duration(node, key);
    } else {
      reader.unknown(node, key);
    }
  }
}

void read_spool(Reader& reader, const toml::table& table, SpoolConfig& spool) {
  for (auto&& [name, node] : table) {
    const std::string key = qualified("spool", name);
    if (name == "directory") {
      spool.directory = reader.non_empty_string(node, key);
    } else if (name == "max_age") {
      spool.max_age = reader.positive_duration(node, key);
    } else if (name == "min_free_space") {
      spool.min_free_space = reader.size(node, key, /*allow_zero=*/true);
    } else if (name == "retry_min") {
      spool.retry_min = reader.positive_duration(node, key);
    } else if (name == "retry_max") {
      spool.retry_max = reader.positive_duration(node, key);
    } else {
      reader.unknown(node, key);
    }
  }
}

void read_upstream(Reader& reader, const toml::table& table, UpstreamConfig& upstream) {
  for (auto&& [name, node] : table) {
    const std::string key = qualified("upstream", name);
    if (name == "mode") {
      upstream.mode = static_cast<UpstreamMode>(reader.choice(node, key, {"smtp", "directory"}));
    } else if (name == "directory") {
      upstream.directory = reader.string(node, key);
    } else if (name == "host") {
      upstream.host = reader.host_name(node, key);
    } else if (name == "port") {
      upstream.port = reader.port(node, key);
    } else if (name == "tls") {
      upstream.tls =
          static_cast<UpstreamTls>(reader.choice(node, key, {"starttls", "implicit", "none"}));
      reader.note(node, key);
    } else if (name == "ca_file") {
      upstream.ca_file = reader.string(node, key);
    } else if (name == "auth") {
      upstream.auth = static_cast<UpstreamAuth>(
          reader.choice(node, key, {"none", "plain", "login", "xoauth2"}));
      reader.note(node, key);
    } else if (name == "username") {
      upstream.username = reader.string(node, key);
    } else if (name == "password_file") {
      upstream.password_file = reader.string(node, key);
    } else if (name == "oauth2") {
      read_oauth2(reader, reader.table(node, key), upstream.oauth2);
    } else if (name == "connections") {
      upstream.connections = reader.count(node, key, 1000);
    } else if (name == "connect_timeout") {
      upstream.connect_timeout = reader.positive_duration(node, key);
    } else if (name == "command_timeout") {
      upstream.command_timeout = reader.positive_duration(node, key);
    } else if (name == "data_timeout") {
      upstream.data_timeout = reader.positive_duration(node, key);
    } else if (name == "idle_timeout") {
      upstream.idle_timeout = reader.positive_duration(node, key);
    } else {
      reader.unknown(node, key);
    }
  }
}

void read_log(Reader& reader, const toml::table& table, LogConfig& log) {
  for (auto&& [name, node] : table) {
    const std::string key = qualified("log", name);
    if (name == "file") {
      log.file = reader.non_empty_string(node, key);
    } else if (name == "format") {
      log.format = static_cast<LogFormat>(reader.choice(node, key, {"kv", "json"}));
    } else if (name == "level") {
      static constexpr std::array<std::string_view, 5> kLevels{"trace", "debug", "info", "warn",
                                                               "error"};
      log.level = kLevels[reader.choice(node, key, {"trace", "debug", "info", "warn", "error"})];
    } else if (name == "max_size") {
      log.max_size = reader.size(node, key);
    } else if (name == "max_files") {
      log.max_files = reader.count(node, key, 1000);
    } else {
      reader.unknown(node, key);
    }
  }
}

void read_messages(Reader& reader, const toml::table& table, MessagesConfig& messages) {
  for (auto&& [name, node] : table) {
    const std::string key = qualified("messages", name);
    if (name == "language") {
      static constexpr std::array<std::string_view, 2> kLanguages{"en", "es"};
      messages.language = kLanguages[reader.choice(node, key, {"en", "es"})];
    } else {
      reader.unknown(node, key);
    }
  }
}

}  // namespace policy_relay::config::detail
