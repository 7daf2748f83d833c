#pragma once

#include <stdexcept>
#include <string>
#include <string_view>

#include "policy_relay/config/config.hpp"

namespace policy_relay::config {

// A configuration error that names where it is: "FILE:LINE:COLUMN: key 'a.b': what".
class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Parses and validates a TOML file. Unknown keys, wrong types and bad values throw ConfigError
// naming the file, line and key. Every key absent from the file keeps its default.
Config load_file(const std::string& path);

// Same, from text already in memory; `source_name` stands in for the path in errors.
Config load_string(std::string_view toml_text, const std::string& source_name);

// "25MiB", "512KiB", "1GB", "1024" (bytes) -> bytes; throws std::invalid_argument.
std::uint64_t parse_size(std::string_view text);
// "90s", "5m", "24h", "5d", "250ms" -> duration; throws std::invalid_argument.
Duration parse_duration(std::string_view text);

}  // namespace policy_relay::config
