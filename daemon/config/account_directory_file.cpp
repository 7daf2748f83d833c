#include "policy_relay/config/account_directory_file.hpp"

#include <toml++/toml.h>

#include <fstream>
#include <sstream>

#include "policy_relay/config/loader.hpp"
#include "reader.hpp"

namespace policy_relay::config {
namespace {

constexpr std::size_t kMaxFileSize = 16 * 1024 * 1024;  // a directory of ~100k accounts

std::string date_of(detail::Reader& reader, const toml::node& node, const std::string& key) {
  if (const auto* date = node.as_date()) {
    const toml::date& d = date->get();
    char text[16];
    std::snprintf(text, sizeof text, "%04d-%02d-%02d", static_cast<int>(d.year),
                  static_cast<int>(d.month), static_cast<int>(d.day));
    return text;
  }
  reader.fail(node, key, "expected a date such as 2027-01-31");
}

policy::Account read_account(detail::Reader& reader, const toml::table& table,
                             const std::string& where) {
  policy::Account account;
  account.line = static_cast<std::uint32_t>(table.source().begin.line);
  bool has_until = false;
  bool has_since = false;
  for (auto&& [name, node] : table) {
    const std::string key = where + "." + std::string(name.str());
    if (name == "address") {
      account.address = reader.non_empty_string(node, key);
      const auto at = account.address.find('@');
      if (at == std::string::npos || at == 0 || at + 1 == account.address.size() ||
          account.address.find_first_of(" \t\r\n<>") != std::string::npos) {
        reader.fail(node, key, "'" + account.address + "' is not an address (name@domain)");
      }
    } else if (name == "kind") {
      account.kind = static_cast<policy::AccountKind>(
          reader.choice(node, key, {"personal", "generic", "program"}));
    } else if (name == "owner") {
      account.owner = reader.string(node, key);
    } else if (name == "position") {
      account.position = reader.string(node, key);
    } else if (name == "unit") {
      account.unit = reader.string(node, key);
    } else if (name == "agency") {
      account.agency = reader.string(node, key);
    } else if (name == "status") {
      account.status = static_cast<policy::AccountStatus>(
          reader.choice(node, key, {"active", "leave", "disabled"}));
      reader.note(node, key);
    } else if (name == "until") {
      account.until = date_of(reader, node, key);
      has_until = true;
    } else if (name == "since") {
      account.since = date_of(reader, node, key);
      has_since = true;
    } else if (name == "reason") {
      account.reason = reader.string(node, key);
    } else {
      reader.unknown(node, key);
    }
  }
  if (account.address.empty()) {
    reader.fail(table, where + ".address", "required");
  }
  if (account.status == policy::AccountStatus::leave && !has_until) {
    reader.fail(table, where + ".until", "required with status = \"leave\" (POLICY IV.3)");
  }
  if (account.status == policy::AccountStatus::disabled && (!has_since || account.reason.empty())) {
    reader.fail(table, where + (has_since ? ".reason" : ".since"),
                "since and reason are required with status = \"disabled\" (POLICY III.1)");
  }
  return account;
}

}  // namespace

policy::AccountDirectory parse_account_directory(std::string_view text, const std::string& source) {
  detail::Reader reader(source);
  toml::table root;
  try {
    root = toml::parse(text, source);
  } catch (const toml::parse_error& error) {
    throw ConfigError(reader.locate(error.source().begin, error.description()));
  }
  std::vector<policy::Account> accounts;
  for (auto&& [name, node] : root) {
    if (name != "account") {
      reader.unknown(node, name.str());
    }
    const toml::array* entries = node.as_array();
    if (entries == nullptr || !entries->is_array_of_tables()) {
      reader.fail(node, "account", "expected [[account]] tables");
    }
    for (std::size_t i = 0; i < entries->size(); ++i) {
      accounts.push_back(read_account(reader, *entries->get(i)->as_table(),
                                      "account[" + std::to_string(i + 1) + "]"));
    }
  }
  return policy::AccountDirectory(source, std::move(accounts));
}

policy::AccountDirectory load_account_directory(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) {
    throw ConfigError(path + ": cannot open the account directory (senders.directory)");
  }
  std::ostringstream text;
  text << file.rdbuf();
  if (text.str().size() > kMaxFileSize) {
    throw ConfigError(path + ": larger than 16 MiB; is this the right file?");
  }
  return parse_account_directory(text.str(), path);
}

}  // namespace policy_relay::config
