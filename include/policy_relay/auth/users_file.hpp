#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "policy_relay/auth/password_hash.hpp"

// auth.users_file (POLICY VII.1, VII.2): who may AUTH and which envelope senders each may use.
// One user per line, written by `policy-relayctl passwd`:
//   USER:HASH[:ALIAS,ALIAS...]
// USER is the login name, normally the user's address; HASH is a password_hash.hpp hash;
// ALIASes are further addresses the user may send as. Blank lines and lines starting with '#'
// are ignored. Names and aliases are matched without regard to ASCII case.
namespace policy_relay::auth {

struct UserEntry {
  std::string name;  // lower-cased
  PasswordHash hash;
  std::vector<std::string> aliases;  // lower-cased addresses

  // The envelope senders this user may use (POLICY VII.1): the name when it is an address,
  // and the aliases.
  std::vector<std::string> sender_addresses() const;
};

class UsersFile {
 public:
  // Parses the whole file; on the first bad line returns nullopt and sets `error` to
  // "line N: what is wrong" (never the line's text: it holds a hash).
  static std::optional<UsersFile> parse(std::string_view text, std::string& error);

  const UserEntry* find(std::string_view user) const;
  std::size_t size() const { return users_.size(); }

 private:
  std::map<std::string, UserEntry, std::less<>> users_;
};

// `text` with USER's line replaced (or appended when USER has none) by USER:HASH[:ALIASES].
// `aliases` nullopt keeps the aliases of the existing line. Comments and other lines are kept.
std::string with_user(std::string_view text, std::string_view user, std::string_view hash,
                      const std::optional<std::vector<std::string>>& aliases);

// ASCII lower case; user names and addresses compare this way.
std::string lower_ascii(std::string_view text);

}  // namespace policy_relay::auth
