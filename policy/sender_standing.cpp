#include "policy_relay/policy/sender_standing.hpp"

namespace policy_relay::policy {

SenderStanding::Result SenderStanding::on_mail(const Transaction& transaction) const {
  Result result;
  if (suspensions_ != nullptr && !transaction.identity.empty() &&
      suspensions_->find(transaction.identity) != nullptr) {
    result.verdict = {Decision::reject, 550,    "5.7.1", catalog_.sender_suspended(),
                      "suspended",      "IV.2", {}};
    return result;
  }
  if (directory_ == nullptr || transaction.sender.empty()) {
    return result;
  }
  const Account* account = directory_->find(transaction.sender);
  if (account == nullptr && !transaction.auth_user.empty()) {
    account = directory_->find(transaction.auth_user);
  }
  if (account == nullptr) {
    return result;
  }
  if (account->status == AccountStatus::disabled) {
    result.verdict = {Decision::reject,   550,     "5.7.1", catalog_.account_disabled(),
                      "account_disabled", "III.1", {}};
  } else if (account->status == AccountStatus::leave) {
    result.leave = account;
  }
  return result;
}

}  // namespace policy_relay::policy
