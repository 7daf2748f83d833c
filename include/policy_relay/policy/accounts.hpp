#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

// The account directory (POLICY I.2-I.4, III.1, IV.1, IV.3): who owns each address, what kind
// of account it is and whether it may send. Plain values, no I/O: the daemon loads the file
// (senders.directory) and swaps the whole directory at each reload.
namespace policy_relay::policy {

enum class AccountKind { personal, generic, program };  // POLICY I.2
enum class AccountStatus { active, leave, disabled };   // POLICY III.1, IV.3

std::string_view name_of(AccountKind kind);
std::string_view name_of(AccountStatus status);

struct Account {
  std::string address;  // lower-cased local@domain
  AccountKind kind = AccountKind::personal;
  std::string owner;     // the responsible public servant (POLICY I.4)
  std::string position;  // their position ...
  std::string unit;      // ... and administrative unit
  std::string agency;    // the agency's initials, e.g. "DGSEI" (generic names, I.3 counts)
  AccountStatus status = AccountStatus::active;
  std::string until;       // leave: the return date, "YYYY-MM-DD"
  std::string since;       // disabled: since when, "YYYY-MM-DD"
  std::string reason;      // disabled: why (separation, misuse ...)
  std::uint32_t line = 0;  // where the entry starts in the file (reports)

  std::string_view local_part() const;
  std::string_view domain() const;
};

class AccountDirectory {
 public:
  AccountDirectory() = default;
  AccountDirectory(std::string source, std::vector<Account> accounts);

  // The entry for an address (any ASCII case); the first one when it is listed twice.
  const Account* find(std::string_view address) const;
  const std::vector<Account>& accounts() const { return accounts_; }
  const std::string& source() const { return source_; }

 private:
  std::string source_;
  std::vector<Account> accounts_;
  std::unordered_map<std::string, std::size_t> index_;
};

// One breach of POLICY I.1-I.4 found by check_accounts (`policy-relayctl accounts check`).
struct AccountBreach {
  std::string address;
  std::uint32_t line = 0;
  std::string rule;    // name_length | domain | personal_name | generic_name | program_name |
                       // generic_per_agency | program_per_agency | personal_per_owner |
                       // duplicate | responsible
  std::string clause;  // I.1 .. I.4
  std::string detail;  // one sentence for the operator
};

struct AccountRules {
  std::uint32_t max_local_part_length = 20;           // POLICY I.1 (senders.max_local_part_length)
  std::vector<std::string> domains{"edomex.gob.mx"};  // senders.domains
  std::uint32_t max_generic_per_agency = 2;           // POLICY I.3
  std::uint32_t max_program_per_agency = 3;           // POLICY I.3
  std::uint32_t max_personal_per_owner = 1;           // POLICY I.3
};

// Every breach, in file order. Disabled accounts (bajas) count for duplicates only.
std::vector<AccountBreach> check_accounts(const AccountDirectory& directory,
                                          const AccountRules& rules);

// Whether a local part has the shape of its kind (POLICY I.2): personal "first.lastname"
// (letters, one dot, optional digits after the last name), generic "gem" + the agency's
// initials (optional digits; the agency's initials when `agency` is given), program letters
// and digits without a dot.
bool name_fits_kind(std::string_view local_part, AccountKind kind, std::string_view agency = {});

// The kind a name's shape suggests: "gem..." generic, "a.b" personal, else program.
AccountKind kind_of_name(std::string_view local_part);

// Up to `count` free alternatives for a taken `name` (local part or address; POLICY I.3
// "duplicates get an alternative name"): same kind, within max_local_part_length, not in the
// directory. Empty when `name` itself is free.
std::vector<std::string> suggest_names(const AccountDirectory& directory, const AccountRules& rules,
                                       std::string_view name, std::size_t count = 5);

}  // namespace policy_relay::policy
