#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

// The operator's contract (DESIGN.md "The operator's contract"): one TOML file parsed once into
// these plain, immutable structs. Defaults are the policy's values. Sessions hold a
// std::shared_ptr<const Config>; a reload builds a new one.
namespace policy_relay::config {

using Duration = std::chrono::milliseconds;

struct ListenAddress {
  std::string host;    // "127.0.0.1", "::1", "0.0.0.0"
  std::uint16_t port;  // 0 = pick one at bind time (tests); the bound port is logged
};

struct ServerConfig {
  std::vector<ListenAddress> listen{{"127.0.0.1", 2525}};
  std::vector<ListenAddress> listen_tls{};
  std::string hostname = "relay.edomex.gob.mx";
  // CIDR "address/prefix", validated by the loader (no host bits set beyond the prefix).
  std::vector<std::string> trusted_networks{"127.0.0.1/32"};
  std::uint32_t max_connections = 2000;
  std::uint32_t max_connections_per_ip = 50;
  Duration command_timeout = std::chrono::minutes(5);  // RFC 5321 4.5.3.2.7
  Duration data_timeout = std::chrono::minutes(10);    // RFC 5321 4.5.3.2.6
  // Extension: how long SIGTERM waits for transactions in DATA before closing them.
  Duration shutdown_timeout = std::chrono::seconds(30);
  // Extension: protocol errors in one session before "421 4.7.0" and close.
  std::uint32_t max_errors = 10;
};

struct LimitsConfig {
  std::uint64_t max_message_size = 25ull * 1024 * 1024;  // POLICY VI.1
};

struct SpoolConfig {
  std::string directory = "/var/spool/policy-relay";
  Duration max_age = std::chrono::hours(24 * 5);
  std::uint64_t min_free_space = 512ull * 1024 * 1024;
  Duration retry_min = std::chrono::minutes(1);
  Duration retry_max = std::chrono::hours(1);
};

enum class UpstreamMode { smtp, directory };
enum class UpstreamTls { starttls, implicit, none };

struct UpstreamConfig {
  UpstreamMode mode = UpstreamMode::smtp;
  std::string directory;  // mode = "directory": where delivered .eml files go
  std::string host = "smtp.office365.com";
  std::uint16_t port = 587;
  // Only "none" is implemented until the TLS issue: with mode = "smtp" the loader refuses the
  // others, including this default, so a config must say tls = "none" (or mode = "directory").
  UpstreamTls tls = UpstreamTls::starttls;
  std::uint32_t connections = 4;
  // Extension: timeouts for the upstream conversation (RFC 5321 4.5.3.2 client side).
  Duration connect_timeout = std::chrono::seconds(30);
  Duration command_timeout = std::chrono::minutes(5);
  Duration data_timeout = std::chrono::minutes(10);
  // Extension: an idle pooled connection is closed with QUIT after this long.
  Duration idle_timeout = std::chrono::seconds(30);
};

enum class LogFormat { kv, json };

struct LogConfig {
  std::string file = "-";  // "-" = stderr
  LogFormat format = LogFormat::kv;
  std::string level = "info";  // trace | debug | info | warn | error (validated by the loader)
  std::uint64_t max_size = 100ull * 1024 * 1024;
  std::uint32_t max_files = 10;
};

struct MessagesConfig {
  std::string language = "en";  // en | es
};

struct Config {
  std::string source_path;  // the file this was loaded from ("" for defaults)
  ServerConfig server;
  LimitsConfig limits;
  SpoolConfig spool;
  UpstreamConfig upstream;
  LogConfig log;
  MessagesConfig messages;
};

using ConfigPtr = std::shared_ptr<const Config>;

}  // namespace policy_relay::config
