#include "policy_relay/policy/engine.hpp"

#include <algorithm>
#include <array>

#include "policy_relay/policy/identity.hpp"
#include "rules/rules.hpp"

namespace asio = boost::asio;

namespace policy_relay::policy {
namespace {

// The chain, in the order a client meets the refusals: who the sender is, how big the message
// is, how many recipients and to whom, then the counters (which reserve units, so they go last: a
// refusal by a later rule would only have to give their units back).
std::vector<std::unique_ptr<Rule>> make_chain() {
  std::vector<std::unique_ptr<Rule>> chain;
  chain.push_back(rules::make_sender_address());
  chain.push_back(rules::make_message_size());
  chain.push_back(rules::make_recipients_per_message());
  chain.push_back(rules::make_protected_lists());
  chain.push_back(rules::make_public_mass_mail());
  chain.push_back(rules::make_messages_per_minute());
  chain.push_back(rules::make_recipients_per_day());
  // After the end of DATA, on the analysed message: refusals first, then the advice.
  chain.push_back(rules::make_from_alignment());
  chain.push_back(rules::make_bcc_advice());
  chain.push_back(rules::make_attachment_advice());
  return chain;
}

}  // namespace

Engine::Engine(config::ConfigPtr config, CounterStore& store, const Clock& clock,
               const SenderBacklog* backlog, const AliasDirectory* aliases)
    : config_(std::move(config)),
      store_(store),
      clock_(clock),
      backlog_(backlog),
      aliases_(aliases),
      senders_(*config_),
      catalog_(language_from_name(config_->messages.language)),
      chain_(make_chain()) {
  constexpr std::array<unsigned, kStageCount> kStageBits{stage_mail, stage_rcpt, stage_data_end,
                                                         stage_message};
  for (std::size_t stage = 0; stage < kStageCount; ++stage) {
    for (const auto& rule : chain_) {
      if ((rule->stages() & kStageBits[stage]) != 0) {
        stage_rules_[stage].push_back({rule.get(), rule->waits()});
      }
    }
  }
  needs_analysis_ = config_->limits.enabled &&
                    std::any_of(chain_.begin(), chain_.end(), [this](const auto& rule) {
                      return (rule->stages() & stage_message) != 0 && rule->enabled(*config_);
                    });
  const auto adds_header = [](config::AdviceAction action) {
    return action == config::AdviceAction::header || action == config::AdviceAction::notify;
  };
  may_add_headers_ = needs_analysis_ && (adds_header(config_->advice.bcc_action) ||
                                         adds_header(config_->advice.attachment_action));
}

Engine::~Engine() = default;

RuleContext Engine::context(TransactionState& state, const Transaction& transaction) {
  return RuleContext{*config_, transaction, state,    *state.policy, senders_.defaults(),
                     store_,   catalog_,    backlog_, aliases_,      clock_.now()};
}

asio::awaitable<Verdict> Engine::on_mail(TransactionState& state, const Transaction& transaction) {
  state.reset();
  // POLICY VII.1 is a security rule, not a limit: it holds with [limits] enabled = false too.
  if (!sender_belongs_to_user(transaction.auth_user, transaction.auth_senders,
                              transaction.sender)) {
    Verdict verdict;
    verdict.decision = Decision::reject;
    verdict.code = 550;
    verdict.enhanced = "5.7.1";
    verdict.text = catalog_.sender_not_owned(transaction.auth_user);
    verdict.rule = "sender_identity";
    verdict.clause = "VII.1";
    co_return verdict;
  }
  if (!enabled()) {
    co_return Verdict::accept();
  }
  state.store = &store_;
  state.policy = &senders_.find(transaction.identity);
  RuleContext context = this->context(state, transaction);
  for (const StageRule& entry : stage_rules_[kMail]) {
    Verdict verdict;
    if (entry.waits) {
      verdict = co_await entry.rule->on_mail(context);
    } else {
      verdict = entry.rule->check_mail(context);
    }
    if (!verdict.accepted()) {
      state.reset();
      co_return verdict;
    }
  }
  co_return Verdict::accept();
}

asio::awaitable<Verdict> Engine::on_rcpt(TransactionState& state, const Transaction& transaction,
                                         std::string_view recipient) {
  if (!state.active()) {
    co_return Verdict::accept();  // the chain is off ([limits] enabled = false)
  }
  const std::size_t reserved = state.recipients.size();
  const std::size_t warnings = state.quota_warnings.size();
  const std::uint32_t public_recipients = state.public_recipients;
  RuleContext context = this->context(state, transaction);
  for (const StageRule& entry : stage_rules_[kRcpt]) {
    Verdict verdict;
    if (entry.waits) {
      verdict = co_await entry.rule->on_rcpt(context, recipient);
    } else {
      verdict = entry.rule->check_rcpt(context, recipient);
    }
    if (!verdict.accepted()) {
      state.release_recipients_from(reserved);
      state.quota_warnings.resize(warnings);
      state.public_recipients = public_recipients;
      co_return verdict;
    }
  }
  co_return Verdict::accept();
}

asio::awaitable<Verdict> Engine::on_data_end(TransactionState& state,
                                             const Transaction& transaction) {
  if (!state.active()) {
    co_return Verdict::accept();
  }
  RuleContext context = this->context(state, transaction);
  for (const StageRule& entry : stage_rules_[kDataEnd]) {
    Verdict verdict;
    if (entry.waits) {
      verdict = co_await entry.rule->on_data_end(context);
    } else {
      verdict = entry.rule->check_data_end(context);
    }
    if (!verdict.accepted()) {
      state.reset();
      co_return verdict;
    }
  }
  co_return Verdict::accept();
}

asio::awaitable<Verdict> Engine::on_message(TransactionState& state, const Transaction& transaction,
                                            const mime::MessageAnalysis& analysis) {
  state.advice.clear();
  if (!state.active()) {
    co_return Verdict::accept();
  }
  RuleContext context = this->context(state, transaction);
  for (const StageRule& entry : stage_rules_[kMessage]) {
    Verdict verdict;
    if (entry.waits) {
      verdict = co_await entry.rule->on_message(context, analysis);
    } else {
      verdict = entry.rule->check_message(context, analysis);
    }
    if (!verdict.accepted()) {
      state.reset();
      co_return verdict;
    }
  }
  co_return Verdict::accept();
}

asio::awaitable<std::error_code> Engine::commit(TransactionState& state) {
  std::vector<Reservation*> held;
  if (state.message) {
    held.push_back(&state.message);
  }
  for (Reservation& reservation : state.recipients) {
    held.push_back(&reservation);
  }
  const TimePoint now = clock_.now();
  // [state] counter_sync: "write" makes the counts survive kill -9 before the 250 and leaves
  // the disk sync to the store's background group sync; "fsync" waits for it too.
  const bool synced = config_->state.counter_sync == config::CounterSync::fsync;
  const std::error_code result = co_await store_.commit_all(held, now, synced);
  if (result) {
    // Whatever did not become usage is given back (release is idempotent).
    for (Reservation* reservation : held) {
      store_.release(*reservation);
    }
  }
  state.message = Reservation{};
  state.recipients.clear();
  co_return result;
}

std::uint64_t Engine::max_message_size(const TransactionState& state) const {
  return state.active() ? state.policy->limits.max_message_size : config_->limits.max_message_size;
}

Verdict Engine::message_too_big(TransactionState& state) {
  static const Transaction kNone;
  if (!state.active()) {
    state.policy = &senders_.defaults();  // the chain is off: still say which limit applied
    RuleContext context = this->context(state, kNone);
    Verdict verdict = rules::message_too_big(context);
    state.policy = nullptr;
    return verdict;
  }
  RuleContext context = this->context(state, kNone);
  Verdict verdict = rules::message_too_big(context);
  state.reset();
  return verdict;
}

}  // namespace policy_relay::policy
