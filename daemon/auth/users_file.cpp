#include "policy_relay/auth/users_file.hpp"

#include <algorithm>

namespace policy_relay::auth {
namespace {

constexpr std::size_t kMaxName = 255;  // RFC 4616 2: authcid is at most 255 octets

std::vector<std::string_view> split(std::string_view text, char separator) {
  std::vector<std::string_view> parts;
  for (;;) {
    const std::size_t end = text.find(separator);
    parts.push_back(text.substr(0, end));
    if (end == std::string_view::npos) {
      return parts;
    }
    text.remove_prefix(end + 1);
  }
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) {
    text.remove_prefix(1);
  }
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t' || text.back() == '\r')) {
    text.remove_suffix(1);
  }
  return text;
}

// Printable ASCII or UTF-8, no blanks, no ':' or ','.
bool is_valid_name(std::string_view name) {
  return !name.empty() && name.size() <= kMaxName &&
         std::none_of(name.begin(), name.end(), [](char c) {
           const auto octet = static_cast<unsigned char>(c);
           return octet <= 0x20 || octet == 0x7f || c == ':' || c == ',';
         });
}

bool is_address(std::string_view text) {
  const std::size_t at = text.rfind('@');
  return at != std::string_view::npos && at > 0 && at + 1 < text.size();
}

}  // namespace

std::string lower_ascii(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') {
      c = static_cast<char>(c - 'A' + 'a');
    }
  }
  return out;
}

std::vector<std::string> UserEntry::sender_addresses() const {
  std::vector<std::string> addresses;
  if (is_address(name)) {
    addresses.push_back(name);
  }
  addresses.insert(addresses.end(), aliases.begin(), aliases.end());
  return addresses;
}

std::optional<UsersFile> UsersFile::parse(std::string_view text, std::string& error) {
  UsersFile file;
  std::size_t number = 0;
  for (std::string_view line : split(text, '\n')) {
    ++number;
    line = trim(line);
    if (line.empty() || line.front() == '#') {
      continue;
    }
    const auto where = "line " + std::to_string(number) + ": ";
    const std::vector<std::string_view> fields = split(line, ':');
    if (fields.size() < 2 || fields.size() > 3) {
      error = where + "expected USER:HASH or USER:HASH:ALIAS,...";
      return std::nullopt;
    }
    UserEntry entry;
    entry.name = lower_ascii(trim(fields[0]));
    if (!is_valid_name(entry.name)) {
      error = where + "the user name is empty, too long or has blanks, ':' or ','";
      return std::nullopt;
    }
    auto hash = parse_password_hash(trim(fields[1]));
    if (!hash) {
      error = where + "the password hash is not $scrypt$ln=N,r=N,p=N$SALT$KEY";
      return std::nullopt;
    }
    entry.hash = std::move(*hash);
    if (fields.size() == 3 && !trim(fields[2]).empty()) {
      for (std::string_view alias : split(fields[2], ',')) {
        alias = trim(alias);
        if (!is_valid_name(alias) || !is_address(alias)) {
          error = where + "alias '" + std::string(alias.substr(0, 64)) + "' is not an address";
          return std::nullopt;
        }
        entry.aliases.push_back(lower_ascii(alias));
      }
    }
    const std::string name = entry.name;
    if (!file.users_.emplace(name, std::move(entry)).second) {
      error = where + "user '" + name + "' appears twice";
      return std::nullopt;
    }
  }
  return file;
}

const UserEntry* UsersFile::find(std::string_view user) const {
  const auto found = users_.find(lower_ascii(user));
  return found == users_.end() ? nullptr : &found->second;
}

std::string with_user(std::string_view text, std::string_view user, std::string_view hash,
                      const std::optional<std::vector<std::string>>& aliases) {
  const std::string name = lower_ascii(user);
  std::string out;
  bool replaced = false;
  std::vector<std::string_view> lines = split(text, '\n');
  if (!lines.empty() && lines.back().empty()) {
    lines.pop_back();  // the final newline
  }
  const auto make_line = [&](std::string_view kept_aliases) {
    std::string line = name + ":" + std::string(hash);
    std::string alias_text;
    if (aliases) {
      for (const std::string& alias : *aliases) {
        alias_text += alias_text.empty() ? "" : ",";
        alias_text += lower_ascii(alias);
      }
    } else {
      alias_text = std::string(kept_aliases);
    }
    if (!alias_text.empty()) {
      line += ":" + alias_text;
    }
    return line;
  };
  for (std::string_view line : lines) {
    const std::string_view trimmed = trim(line);
    const std::vector<std::string_view> fields = split(trimmed, ':');
    if (!replaced && !trimmed.empty() && trimmed.front() != '#' &&
        lower_ascii(trim(fields[0])) == name) {
      out += make_line(fields.size() == 3 ? trim(fields[2]) : std::string_view());
      replaced = true;
    } else {
      out += line;
    }
    out += '\n';
  }
  if (!replaced) {
    out += make_line({});
    out += '\n';
  }
  return out;
}

}  // namespace policy_relay::auth
