#pragma once

#include <boost/asio/awaitable.hpp>
#include <string_view>

#include "policy_relay/mime/message_analysis.hpp"
#include "policy_relay/policy/aliases.hpp"
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
  const SenderBacklog* backlog;   // null when the daemon has no scheduler (tests)
  const AliasDirectory* aliases;  // null: no identity has aliases
  TimePoint now;
};

// The stages of a transaction a rule can take part in (bit set).
// stage_message: after the end of DATA, with the analysis of the message (Engine::on_message).
enum Stage : unsigned {
  stage_mail = 1u << 0,
  stage_rcpt = 1u << 1,
  stage_data_end = 1u << 2,
  stage_message = 1u << 3,
};

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
  // Whether the rule has anything to do under `config` (its action is not "off"): the engine
  // analyses a message only when a stage_message rule is enabled.
  virtual bool enabled(const config::Config&) const { return true; }

  // Whether the hooks may wait (on the counter store). The Engine calls the awaitable on_*
  // hooks of a rule that waits and the plain check_* hooks of one that does not, which then
  // costs no coroutine frame per call. A rule overrides one kind, never both.
  virtual bool waits() const { return false; }

  // MAIL: the sender and the declared size are known.
  virtual Verdict check_mail(RuleContext& context);
  // RCPT: transaction.recipients holds those accepted so far; `recipient` is being decided.
  virtual Verdict check_rcpt(RuleContext& context, std::string_view recipient);
  // End of DATA: transaction.message_size is set.
  virtual Verdict check_data_end(RuleContext& context);
  // After the end of DATA, with the message analysed from the spool (issue 5).
  virtual Verdict check_message(RuleContext& context, const mime::MessageAnalysis& analysis);

  // The same stages for a rule that waits(). By default they return the check_* verdict.
  virtual boost::asio::awaitable<Verdict> on_mail(RuleContext& context);
  virtual boost::asio::awaitable<Verdict> on_rcpt(RuleContext& context, std::string_view recipient);
  virtual boost::asio::awaitable<Verdict> on_data_end(RuleContext& context);
  virtual boost::asio::awaitable<Verdict> on_message(RuleContext& context,
                                                     const mime::MessageAnalysis& analysis);

 protected:
  // A refusal by this rule with its name and clause filled in.
  Verdict refuse(Decision decision, int code, std::string_view enhanced, std::string text) const;
};

}  // namespace policy_relay::policy
