#pragma once

// Private to the config loader: typed, validated reads of TOML nodes. Every failure throws
// ConfigError "FILE:LINE:COL: key 'section.key': what is wrong", with the position of the
// offending node (toml++ source().begin).

#include <toml++/toml.h>
#include <initializer_list>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "policy_relay/config/config.hpp"
#include "policy_relay/config/loader.hpp"

namespace policy_relay::config::detail {

class Reader {
 public:
  explicit Reader(std::string source_name) : source_name_(std::move(source_name)) {}

  [[noreturn]] void fail(const toml::node& node, std::string_view key, std::string_view what) const;
  [[noreturn]] void fail_at(toml::source_position where, std::string_view key,
                            std::string_view what) const;
  // "FILE:LINE:COL: what" for errors that are not about one key (TOML syntax errors).
  std::string locate(toml::source_position where, std::string_view what) const;

  // A key of a later version's contract (DESIGN.md): refused so that no operator believes a
  // limit or feature is in force when this build ignores it.
  [[noreturn]] void reserved(const toml::node& node, std::string_view key) const;
  [[noreturn]] void unknown(const toml::node& node, std::string_view key) const;

  // Remembers where `key` was written, for checks that involve several keys.
  void note(const toml::node& node, std::string_view key);
  bool seen(std::string_view key) const { return positions_.find(key) != positions_.end(); }
  // Where `key` was written; else the first of `fallbacks` that was; else line 1, column 1.
  toml::source_position position_of(std::string_view key,
                                    std::initializer_list<std::string_view> fallbacks = {}) const;

  const toml::table& table(const toml::node& node, std::string_view key);
  std::string string(const toml::node& node, std::string_view key);
  std::string non_empty_string(const toml::node& node, std::string_view key);
  bool boolean(const toml::node& node, std::string_view key);
  // A string such as "25MiB" or a plain integer of bytes; must be > 0 unless `allow_zero`.
  std::uint64_t size(const toml::node& node, std::string_view key, bool allow_zero = false);
  // A string such as "90s"; must be > 0.
  Duration positive_duration(const toml::node& node, std::string_view key);
  // An integer in 1 .. max (0 .. max with `allow_zero`).
  std::uint32_t count(const toml::node& node, std::string_view key, std::uint32_t max,
                      bool allow_zero = false);
  std::uint16_t port(const toml::node& node, std::string_view key);
  // Index of the node's string value in `choices`; names the choices when it is none of them.
  std::size_t choice(const toml::node& node, std::string_view key,
                     std::initializer_list<std::string_view> choices);
  // A DNS host name (letters, digits, '-', dot-separated labels): it goes into SMTP replies.
  std::string host_name(const toml::node& node, std::string_view key);
  // ["127.0.0.1:25", "[::1]:25"]: IP literals only, port 0..65535 (0 = ephemeral).
  std::vector<ListenAddress> listen_addresses(const toml::node& node, std::string_view key);
  // ["10.0.0.0/8", "::1/128"]: address/prefix with no bits set beyond the prefix.
  std::vector<std::string> networks(const toml::node& node, std::string_view key);

 private:
  const toml::array& array(const toml::node& node, std::string_view key);

  std::string source_name_;
  std::map<std::string, toml::source_position, std::less<>> positions_;
};

// Parses "host:port" or "[v6]:port"; returns an error text, empty on success.
std::string parse_listen_address(std::string_view text, ListenAddress& out);
// Checks "address/prefix"; returns an error text, empty on success.
std::string check_network(std::string_view text);

}  // namespace policy_relay::config::detail
