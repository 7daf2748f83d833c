#pragma once

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
//   on_mail -> on_rcpt ... -> on_data_end -> commit (with the spool commit, before the 250)
//   on_reset whenever the transaction ends otherwise (RSET, EHLO, refusal at the end, close)
class Engine {
 public:
  // `config`, `store`, `clock` and `backlog` (may be null) must outlive the Engine.
  Engine(config::ConfigPtr config, CounterStore& store, const Clock& clock,
         const SenderBacklog* backlog = nullptr);
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
  // Makes the transaction's counts durable (CounterStore::commit of every reservation, run
  // concurrently). Afterwards `state` holds nothing to release, whatever the result; on an
  // error the message must not be acknowledged.
  boost::asio::awaitable<std::error_code> commit(TransactionState& state);
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
  SenderPolicies senders_;
  Catalog catalog_;
  std::vector<std::unique_ptr<Rule>> chain_;
};

}  // namespace policy_relay::policy
