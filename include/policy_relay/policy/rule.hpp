#pragma once

#include <boost/asio/awaitable.hpp>
#include <string_view>

#include "policy_relay/policy/catalog.hpp"
#include "policy_relay/policy/counter_store.hpp"
#include "policy_relay/policy/sender_policy.hpp"
#include "policy_relay/policy/transaction.hpp"
#include "policy_relay/policy/verdict.hpp"

namespace policy_relay::policy {

class SenderBacklog;

// Everything a rule may look at while deciding one stage; valid for that call only.
struct RuleContext {
  const config::Config& config;
  const Transaction& transaction;
  TransactionState& state;
  const SenderPolicy& sender;    // the limits in force for this sender
  const SenderPolicy& defaults;  // [limits] alone: what would apply without an exception
  CounterStore& store;
  const Catalog& catalog;
  const SenderBacklog* backlog;  // null when the daemon has no scheduler (tests)
  TimePoint now;
};

// The stages of a transaction a rule can take part in (bit set).
enum Stage : unsigned { stage_mail = 1u << 0, stage_rcpt = 1u << 1, stage_data_end = 1u << 2 };

// One policy rule (STYLE.md 2): it implements the hooks of the stages it names in stages();
// the Engine calls no other. A hook returns accept or the refusal; reservations it takes go
// into the TransactionState (and are released by it), never into the rule, which is shared
// by every session.
class Rule {
 public:
  virtual ~Rule() = default;
  virtual std::string_view name() const = 0;    // the log's rule=
  virtual std::string_view clause() const = 0;  // the log's clause= (POLICY.md)
  virtual unsigned stages() const = 0;

  // MAIL: the sender and the declared size are known.
  virtual boost::asio::awaitable<Verdict> on_mail(RuleContext& context);
  // RCPT: transaction.recipients holds those accepted so far; `recipient` is being decided.
  virtual boost::asio::awaitable<Verdict> on_rcpt(RuleContext& context, std::string_view recipient);
  // End of DATA: transaction.message_size is set.
  virtual boost::asio::awaitable<Verdict> on_data_end(RuleContext& context);

 protected:
  // A refusal by this rule with its name and clause filled in.
  Verdict refuse(Decision decision, int code, std::string_view enhanced, std::string text) const;
};

}  // namespace policy_relay::policy
