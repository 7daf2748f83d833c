#include "policy_relay/policy/transaction.hpp"

namespace policy_relay::policy {

void TransactionState::reset() {
  if (store != nullptr) {
    store->release(message);
    for (Reservation& reservation : recipients) {
      store->release(reservation);
    }
  }
  message = Reservation{};
  recipients.clear();
  exception_rules.clear();
  quota_warnings.clear();
  public_recipients = 0;
  advice.clear();
  policy = nullptr;
}

void TransactionState::release_recipients_from(std::size_t keep) {
  while (recipients.size() > keep) {
    if (store != nullptr) {
      store->release(recipients.back());
    }
    recipients.pop_back();
  }
}

}  // namespace policy_relay::policy
