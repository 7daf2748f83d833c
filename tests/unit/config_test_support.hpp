#pragma once

// Loading config text in the config tests: as a whole file, or after the few lines every
// loadable file needs, and the error a text gets.

#include <string>
#include <string_view>

#include "policy_relay/config/loader.hpp"

namespace config_test {

namespace config = policy_relay::config;

// The smallest file that loads: upstream mode "directory" (the default, SMTP with TLS, needs
// more settings). Three lines: errors in text after it are reported from line 4.
inline constexpr std::string_view kLocalUpstream =
    "[upstream]\nmode = \"directory\"\ndirectory = \"out\"\n";

// `text` as the whole file "test.toml".
inline config::Config load_exactly(std::string_view text) {
  return config::load_string(text, "test.toml");
}

// `text` after kLocalUpstream.
inline config::Config load(std::string_view text) {
  return load_exactly(std::string(kLocalUpstream) + std::string(text));
}

// The ConfigError message for `text` (whole file, or after kLocalUpstream), or "" when it loads.
inline std::string error_of_exactly(std::string_view text) {
  try {
    load_exactly(text);
  } catch (const config::ConfigError& error) {
    return error.what();
  }
  return "";
}

inline std::string error_of(std::string_view text) {
  return error_of_exactly(std::string(kLocalUpstream) + std::string(text));
}

}  // namespace config_test
