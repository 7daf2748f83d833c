// Loads the operator's TOML file (DESIGN.md "The operator's contract") into an immutable Config:
// syntax errors, unknown keys, keys of later versions and bad values all stop the load with an
// error naming file, line, column and key; absent keys keep their defaults.
#include "policy_relay/config/loader.hpp"

#include <toml++/toml.h>
#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

#include "reader.hpp"
#include "sections.hpp"

namespace policy_relay::config {
namespace {

// A config file is a few KiB; anything this large is a wrong path (/dev/zero, a log file).
constexpr std::size_t kMaxFileSize = 1024 * 1024;

void read_sections(detail::Reader& reader, const toml::table& root, Config& config) {
  for (auto&& [name, node] : root) {
    const std::string_view section = name.str();
    if (section == "server") {
      detail::read_server(reader, reader.table(node, section), config.server);
    } else if (section == "tls") {
      detail::read_tls(reader, reader.table(node, section), config.tls);
    } else if (section == "auth") {
      detail::read_auth(reader, reader.table(node, section), config.auth);
    } else if (section == "limits") {
      detail::read_limits(reader, reader.table(node, section), config.limits);
    } else if (section == "senders") {
      detail::read_senders(reader, reader.table(node, section), config.senders);
    } else if (section == "advice") {
      detail::read_advice(reader, reader.table(node, section), config.advice);
    } else if (section == "mass_mail") {
      detail::read_mass_mail(reader, reader.table(node, section), config.mass_mail);
    } else if (section == "exceptions") {
      detail::read_exceptions(reader, node, config.exceptions);
    } else if (section == "state") {
      detail::read_state(reader, reader.table(node, section), config.state);
    } else if (section == "spool") {
      detail::read_spool(reader, reader.table(node, section), config.spool);
    } else if (section == "upstream") {
      detail::read_upstream(reader, reader.table(node, section), config.upstream);
    } else if (section == "log") {
      detail::read_log(reader, reader.table(node, section), config.log);
    } else if (section == "abuse") {
      detail::read_abuse(reader, reader.table(node, section), config.abuse);
    } else if (section == "admin") {
      detail::read_admin(reader, reader.table(node, section), config.admin);
    } else if (section == "messages") {
      detail::read_messages(reader, reader.table(node, section), config.messages);
    } else if (node.is_table()) {
      reader.fail(node, section, "unknown section");
    } else {
      reader.unknown(node, section);
    }
  }
}

// Rules that involve more than one key, or a key's default.
void check_consistency(const detail::Reader& reader, const Config& config) {
  const ServerConfig& server = config.server;
  if (server.listen.empty() && server.listen_tls.empty()) {
    reader.fail_at(reader.position_of("server.listen", {"server"}), "server.listen",
                   "at least one listen address is required");
  }
  if (server.max_connections_per_ip > server.max_connections) {
    reader.fail_at(
        reader.position_of("server.max_connections_per_ip", {"server"}),
        "server.max_connections_per_ip",
        "must not exceed server.max_connections (" + std::to_string(server.max_connections) + ")");
  }

  const SpoolConfig& spool = config.spool;
  if (spool.retry_min > spool.retry_max) {
    reader.fail_at(reader.position_of("spool.retry_min", {"spool.retry_max", "spool"}),
                   "spool.retry_min", "must not exceed spool.retry_max");
  }

  const UpstreamConfig& upstream = config.upstream;
  if (upstream.mode == UpstreamMode::directory && upstream.directory.empty()) {
    reader.fail_at(reader.position_of("upstream.directory", {"upstream.mode"}),
                   "upstream.directory", "required when upstream.mode = \"directory\"");
  }
  detail::check_security(reader, config);
}

}  // namespace

Config load_string(std::string_view toml_text, const std::string& source_name) {
  detail::Reader reader(source_name);
  toml::table root;
  try {
    root = toml::parse(toml_text, source_name);
  } catch (const toml::parse_error& error) {
    throw ConfigError(reader.locate(error.source().begin, error.description()));
  }
  Config config;
  config.source_path = source_name;
  read_sections(reader, root, config);
  check_consistency(reader, config);
  return config;
}

Config load_file(const std::string& path) {
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> file(std::fopen(path.c_str(), "rb"),
                                                       &std::fclose);
  if (!file) {
    throw ConfigError(path + ": cannot open: " + std::strerror(errno));
  }
  std::string text;
  std::array<char, 8192> buffer;
  while (std::size_t n = std::fread(buffer.data(), 1, buffer.size(), file.get())) {
    text.append(buffer.data(), n);
    if (text.size() > kMaxFileSize) {
      throw ConfigError(path + ": larger than 1 MiB; is this the right file?");
    }
  }
  if (std::ferror(file.get())) {
    throw ConfigError(path + ": cannot read: " + std::strerror(errno));
  }
  return load_string(text, path);
}

}  // namespace policy_relay::config
