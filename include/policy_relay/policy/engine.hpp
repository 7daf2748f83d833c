#pragma once

#include <array>
#include <boost/asio/awaitable.hpp>
#include <memory>
#include <string_view>
#include <system_error>
#include <vector>

#include "policy_relay/config/config.hpp"
#include "policy_relay/policy/catalog.hpp"
#include "policy_relay/policy/clock.hpp"
#include "policy_relay/policy/counter_store.hpp"
#include "policy_relay/policy/rule.hpp"
#include "policy_relay/policy/sender_policy.hpp"
#include "policy_relay/policy/transaction.hpp"
#include "policy_relay/policy/verdict.hpp"

namespace policy_relay::policy {

class SenderBacklog;

// Runs the chain of rules at each stage of a transaction and stops at the first refusal
// (DESIGN.md "Data flow"; STYLE.md 2). One Engine per configuration, shared by every session;
// the per-transaction state lives in the session's TransactionState. All calls run on the one
// event loop that the CounterStore runs on. With [limits] enabled = false every stage accepts
// and nothing is counted.
//
// The session's calls, per transaction:
//   on_mail -> on_rcpt ... -> on_data_end -> [on_message] -> commit (with the spool commit,
//   before the 250); on_message only when needs_analysis()
//   on_reset whenever the transaction ends otherwise (RSET, EHLO, refusal at the end, close)
class Engine {
 public:
  // `config`, `store`, `clock`, `backlog` and `aliases` (both may be null) must outlive the
  // Engine.
  Engine(config::ConfigPtr config, CounterStore& store, const Clock& clock,
         const SenderBacklog* backlog = nullptr, const AliasDirectory* aliases = nullptr);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // MAIL. Resets `state` first (a new MAIL ends any earlier transaction); on accept the
  // transaction is active and holds what the MAIL rules reserved, on refusal nothing.
  boost::asio::awaitable<Verdict> on_mail(TransactionState& state, const Transaction& transaction);
  // RCPT. On refusal whatever this RCPT reserved is given back; the earlier recipients stay.
  boost::asio::awaitable<Verdict> on_rcpt(TransactionState& state, const Transaction& transaction,
                                          std::string_view recipient);
  // End of DATA with the whole message received. A refusal resets `state`.
  boost::asio::awaitable<Verdict> on_data_end(TransactionState& state,
                                              const Transaction& transaction);
  // Makes the transaction's counts durable (CounterStore::commit_all of every reservation).
  // Afterwards `state` holds nothing to release, whatever the result; on an error the message
  // must not be acknowledged.
  boost::asio::awaitable<std::error_code> commit(TransactionState& state);
  // Whether commit() is a write to the local journal and nothing more ([state] backend =
  // "local", counter_sync = "write"): no disk sync, no network, nothing worth overlapping with
  // the spool commit.
  bool commit_is_local_write() const {
    return config_->state.backend == config::StateBackend::local &&
           config_->state.counter_sync == config::CounterSync::write;
  }
  // After an accepted on_data_end, with the message analysed (mime::MessageScanner over the
  // spooled message): the message rules (POLICY VI.11, VI.12, VII.1). A refusal resets
  // `state`; on accept, state.advice holds what the session logs, adds and sends.
  boost::asio::awaitable<Verdict> on_message(TransactionState& state,
                                             const Transaction& transaction,
                                             const mime::MessageAnalysis& analysis);
  // Whether any enabled rule reads the message (else on_message is not worth its scan).
  bool needs_analysis() const { return needs_analysis_; }
  // Whether an advice rule may add a header to the delivered copy (action header or notify):
  // the spool then reserves room for it.
  bool may_add_headers() const { return may_add_headers_; }
  // The transaction ended without a message: every reservation is given back.
  void on_reset(TransactionState& state) { state.reset(); }

  // The largest message this transaction's sender may send (after an accepted MAIL; before,
  // the [limits] value).
  std::uint64_t max_message_size(const TransactionState& state) const;
  // The refusal for a DATA stream that went past max_message_size (the protocol read it to
  // its end and stored nothing). Resets `state`.
  Verdict message_too_big(TransactionState& state);

  bool enabled() const { return config_->limits.enabled; }
  const SenderPolicies& senders() const { return senders_; }
  const Catalog& catalog() const { return catalog_; }

 private:
  RuleContext context(TransactionState& state, const Transaction& transaction);

  config::ConfigPtr config_;
  CounterStore& store_;
  const Clock& clock_;
  const SenderBacklog* backlog_;
  const AliasDirectory* aliases_;
  SenderPolicies senders_;
  Catalog catalog_;
  std::vector<std::unique_ptr<Rule>> chain_;
  // chain_'s rules of each stage, in order, with whether each waits (Rule::waits).
  struct StageRule {
    Rule* rule;
    bool waits;
  };
  enum StageIndex : std::size_t { kMail, kRcpt, kDataEnd, kMessage, kStageCount };
  std::array<std::vector<StageRule>, kStageCount> stage_rules_;
  bool needs_analysis_ = false;
  bool may_add_headers_ = false;
};

}  // namespace policy_relay::policy
