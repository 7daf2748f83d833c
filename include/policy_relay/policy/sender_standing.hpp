#pragma once

#include <string_view>

#include "policy_relay/policy/accounts.hpp"
#include "policy_relay/policy/catalog.hpp"
#include "policy_relay/policy/suspensions.hpp"
#include "policy_relay/policy/transaction.hpp"
#include "policy_relay/policy/verdict.hpp"

namespace policy_relay::policy {

// Whether a sender may submit at all, before any limit (MAIL): a suspension (POLICY IV.2,
// VII.4) or a disabled account (III.1) gets 550 5.7.1; an account on leave (IV.3) is allowed
// and reported so the session logs it. Immutable per configuration (the directory is the one
// of the reload that built it); the suspensions are live.
class SenderStanding {
 public:
  // Both may be null (no directory, no suspensions). They must outlive this object.
  SenderStanding(const AccountDirectory* directory, const SuspensionStore* suspensions,
                 const Catalog& catalog)
      : directory_(directory), suspensions_(suspensions), catalog_(catalog) {}

  struct Result {
    Verdict verdict;                 // accept, or the refusal (rule=, clause= filled in)
    const Account* leave = nullptr;  // accepted, and the account is on leave (log it)
  };

  // The envelope sender's account and the identity's suspension decide.
  Result on_mail(const Transaction& transaction) const;

  const AccountDirectory* directory() const { return directory_; }

 private:
  const AccountDirectory* directory_;
  const SuspensionStore* suspensions_;
  const Catalog& catalog_;
};

// What the policy saw of each sender, for the abuse detector and `top` (POLICY IV.2). Called on
// the event loop; must not block.
class SenderActivity {
 public:
  virtual ~SenderActivity() = default;
  // A refusal by the policy chain (not by the standing check itself).
  virtual void on_refusal(std::string_view identity, const Verdict& verdict) = 0;
  // A message was accepted (after its 250) with these recipients.
  virtual void on_accept(std::string_view identity, const std::vector<std::string>& recipients) = 0;
};

}  // namespace policy_relay::policy
