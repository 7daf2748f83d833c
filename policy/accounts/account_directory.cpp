#include <algorithm>

#include "policy_relay/policy/accounts.hpp"

namespace policy_relay::policy {
namespace {

std::string lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(), [](char c) {
    return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
  });
  return out;
}

}  // namespace

std::string_view name_of(AccountKind kind) {
  switch (kind) {
    case AccountKind::personal:
      return "personal";
    case AccountKind::generic:
      return "generic";
    case AccountKind::program:
      return "program";
  }
  return "personal";
}

std::string_view name_of(AccountStatus status) {
  switch (status) {
    case AccountStatus::active:
      return "active";
    case AccountStatus::leave:
      return "leave";
    case AccountStatus::disabled:
      return "disabled";
  }
  return "active";
}

std::string_view Account::local_part() const {
  const std::string_view view(address);
  return view.substr(0, std::min(view.rfind('@'), view.size()));
}

std::string_view Account::domain() const {
  const std::string_view view(address);
  const auto at = view.rfind('@');
  return at == std::string_view::npos ? std::string_view() : view.substr(at + 1);
}

AccountDirectory::AccountDirectory(std::string source, std::vector<Account> accounts)
    : source_(std::move(source)), accounts_(std::move(accounts)) {
  for (std::size_t i = 0; i < accounts_.size(); ++i) {
    accounts_[i].address = lower(accounts_[i].address);
    index_.emplace(accounts_[i].address, i);  // the first entry wins
  }
}

const Account* AccountDirectory::find(std::string_view address) const {
  const auto found = index_.find(lower(address));
  return found == index_.end() ? nullptr : &accounts_[found->second];
}

}  // namespace policy_relay::policy
