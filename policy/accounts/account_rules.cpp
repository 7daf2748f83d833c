// POLICY I.1-I.4 applied to the account directory: name shapes, counts per agency and per
// owner, duplicates, and free alternatives for a taken name.
#include <algorithm>
#include <map>
#include <set>

#include "policy_relay/policy/accounts.hpp"

namespace policy_relay::policy {
namespace {

bool is_lower_letter(char c) {
  return c >= 'a' && c <= 'z';
}
bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

std::string lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(), [](char c) {
    return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
  });
  return out;
}

// Letters, then optional digits only at the end.
bool letters_then_digits(std::string_view text, bool allow_digits) {
  std::size_t i = 0;
  while (i < text.size() && is_lower_letter(text[i])) {
    ++i;
  }
  if (i == 0) {
    return false;
  }
  while (allow_digits && i < text.size() && is_digit(text[i])) {
    ++i;
  }
  return i == text.size();
}

std::string name_length_detail(std::string_view local, std::uint32_t limit) {
  return "the name '" + std::string(local) + "' has " + std::to_string(local.size()) +
         " characters; at most " + std::to_string(limit);
}

}  // namespace

bool name_fits_kind(std::string_view local, AccountKind kind, std::string_view agency) {
  switch (kind) {
    case AccountKind::personal: {
      const auto dot = local.find('.');
      return dot != std::string_view::npos && letters_then_digits(local.substr(0, dot), false) &&
             letters_then_digits(local.substr(dot + 1), true);
    }
    case AccountKind::generic: {
      if (!local.starts_with("gem") || !letters_then_digits(local.substr(3), true)) {
        return false;
      }
      if (agency.empty()) {
        return true;
      }
      const std::string initials = lower(agency);
      std::string_view rest = local.substr(3);
      return rest.starts_with(initials) &&
             std::all_of(rest.begin() + static_cast<std::ptrdiff_t>(initials.size()), rest.end(),
                         is_digit);
    }
    case AccountKind::program:
      return !local.empty() && is_lower_letter(local.front()) &&
             std::all_of(local.begin(), local.end(),
                         [](char c) { return is_lower_letter(c) || is_digit(c); });
  }
  return false;
}

AccountKind kind_of_name(std::string_view local) {
  if (local.find('.') != std::string_view::npos) {
    return AccountKind::personal;
  }
  return local.starts_with("gem") ? AccountKind::generic : AccountKind::program;
}

std::vector<AccountBreach> check_accounts(const AccountDirectory& directory,
                                          const AccountRules& rules) {
  std::vector<AccountBreach> breaches;
  auto report = [&](const Account& account, std::string rule, std::string clause,
                    std::string detail) {
    breaches.push_back(
        {account.address, account.line, std::move(rule), std::move(clause), std::move(detail)});
  };
  std::map<std::string, const Account*> first_of_address;
  std::map<std::string, std::vector<const Account*>> generic_by_agency;
  std::map<std::string, std::vector<const Account*>> program_by_agency;
  std::map<std::string, std::vector<const Account*>> personal_by_owner;

  for (const Account& account : directory.accounts()) {
    const std::string_view local = account.local_part();
    if (local.size() > rules.max_local_part_length) {
      report(account, "name_length", "I.1", name_length_detail(local, rules.max_local_part_length));
    }
    const std::string domain = lower(account.domain());
    if (std::find(rules.domains.begin(), rules.domains.end(), domain) == rules.domains.end()) {
      report(account, "domain", "I.1", "the domain '" + domain + "' is not in senders.domains");
    }
    if (!name_fits_kind(local, account.kind, account.agency)) {
      switch (account.kind) {
        case AccountKind::personal:
          report(account, "personal_name", "I.2",
                 "a personal account is named first.lastname, not '" + std::string(local) + "'");
          break;
        case AccountKind::generic:
          report(account, "generic_name", "I.2",
                 "a generic account is named gem + the agency's initials (gem" +
                     lower(account.agency) + "), not '" + std::string(local) + "'");
          break;
        case AccountKind::program:
          report(account, "program_name", "I.2",
                 "a program account is named with letters and digits only, not '" +
                     std::string(local) + "'");
          break;
      }
    }
    if (account.owner.empty() || account.position.empty() || account.unit.empty()) {
      report(account, "responsible", "I.4",
             "owner, position and unit of the responsible public servant are required");
    }
    const auto [earlier, inserted] = first_of_address.emplace(account.address, &account);
    if (!inserted) {
      report(account, "duplicate", "I.3",
             "listed again (first at line " + std::to_string(earlier->second->line) +
                 "); give it an alternative name");
    }
    if (account.status == AccountStatus::disabled || !inserted) {
      continue;
    }
    if (account.kind == AccountKind::generic) {
      generic_by_agency[lower(account.agency)].push_back(&account);
    } else if (account.kind == AccountKind::program) {
      program_by_agency[lower(account.agency)].push_back(&account);
    } else if (!account.owner.empty()) {
      personal_by_owner[lower(account.owner)].push_back(&account);
    }
  }

  auto over = [&](const std::map<std::string, std::vector<const Account*>>& groups,
                  std::uint32_t limit, const char* rule, const char* what, const char* per) {
    for (const auto& [group, members] : groups) {
      for (std::size_t i = limit; i < members.size(); ++i) {
        report(*members[i], rule, "I.3",
               std::string("more than ") + std::to_string(limit) + " " + what + " for " + per +
                   " '" + (group.empty() ? std::string("(none)") : group) + "' (" +
                   std::to_string(members.size()) + ")");
      }
    }
  };
  over(generic_by_agency, rules.max_generic_per_agency, "generic_per_agency", "generic accounts",
       "agency");
  over(program_by_agency, rules.max_program_per_agency, "program_per_agency", "program accounts",
       "agency");
  over(personal_by_owner, rules.max_personal_per_owner, "personal_per_owner", "personal account",
       "owner");
  std::stable_sort(breaches.begin(), breaches.end(),
                   [](const AccountBreach& a, const AccountBreach& b) { return a.line < b.line; });
  return breaches;
}

std::vector<std::string> suggest_names(const AccountDirectory& directory, const AccountRules& rules,
                                       std::string_view name, std::size_t count) {
  std::string wanted = lower(name);
  std::string domain = rules.domains.empty() ? std::string() : rules.domains.front();
  if (const auto at = wanted.find('@'); at != std::string::npos) {
    domain = wanted.substr(at + 1);
    wanted.resize(at);
  }
  auto taken = [&](const std::string& local) {
    return directory.find(local + "@" + domain) != nullptr;
  };
  if (!taken(wanted)) {
    return {};
  }
  const AccountKind kind = kind_of_name(wanted);
  // The name without trailing digits: "juan.perez2" and "juan.perez" share a stem.
  std::string stem = wanted;
  while (!stem.empty() && is_digit(stem.back())) {
    stem.pop_back();
  }
  std::vector<std::string> candidates;
  if (kind == AccountKind::personal) {
    // Initials first ("j.perez", "jperez" is not personal), then numbered names.
    const auto dot = stem.find('.');
    const std::string first = stem.substr(0, dot);
    const std::string last = stem.substr(dot + 1);
    if (first.size() > 1) {
      candidates.push_back(first.substr(0, 1) + "." + last);
    }
    candidates.push_back(first + "." + last.substr(0, 1) + last);
  }
  for (int n = 1; n <= 99 && candidates.size() < 200; ++n) {
    candidates.push_back(stem + std::to_string(n));
  }
  std::vector<std::string> free;
  std::set<std::string> seen;
  for (const std::string& candidate : candidates) {
    if (free.size() >= count) {
      break;
    }
    if (candidate.size() > rules.max_local_part_length || !seen.insert(candidate).second ||
        !name_fits_kind(candidate, kind) || taken(candidate)) {
      continue;
    }
    free.push_back(candidate + "@" + domain);
  }
  return free;
}

}  // namespace policy_relay::policy
