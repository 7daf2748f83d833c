#pragma once

#include <string_view>

namespace policy_relay::policy {

// Which addresses a sender identity may write in the header From besides its own (POLICY
// VII.1). The users file of the AUTH issue (issue 4) implements it; without one, an identity
// has no alias and only its own address aligns.
class AliasDirectory {
 public:
  virtual ~AliasDirectory() = default;
  // Whether `address` (lower-cased local@domain) is one of `identity`'s aliases.
  virtual bool is_alias_of(std::string_view identity, std::string_view address) const = 0;
};

}  // namespace policy_relay::policy
