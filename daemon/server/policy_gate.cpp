#include "policy_relay/server/policy_gate.hpp"

#include "policy_relay/log/log.hpp"
#include "policy_relay/policy/identity.hpp"

namespace asio = boost::asio;

namespace policy_relay::server {

PolicyGate::PolicyGate(policy::Engine& engine, std::uint64_t session, std::string client_address,
                       const policy::SenderStanding* standing, policy::SenderActivity* activity)
    : engine_(engine),
      standing_(standing),
      activity_(activity),
      session_(session),
      client_address_(std::move(client_address)) {}

void PolicyGate::log_refusal(std::uint64_t session, std::string_view client, std::string_view from,
                             const smtp::Reply& reply, std::string_view rule,
                             std::string_view clause, std::string_view reference) {
  log::Event event(reply.transient() ? "defer" : "reject", log::Level::info);
  event.add("session", session).add("client", client).add("from", from).add("rule", rule);
  if (!clause.empty()) {
    event.add("clause", clause);
  }
  event.add("code", reply.code);
  if (!reference.empty()) {
    event.add("reference", reference);
  }
  event.add("reply", reply.to_log());
}

smtp::Reply PolicyGate::refusal(const policy::Verdict& verdict) {
  smtp::Reply reply{verdict.code, verdict.enhanced, verdict.text};
  log_refusal(session_, client_address_, transaction_.sender, reply, verdict.rule, verdict.clause,
              verdict.reference);
  if (activity_ != nullptr) {
    activity_->on_refusal(transaction_.identity, verdict);
  }
  return reply;
}

// POLICY III.1, IV.2, IV.3: suspended and disabled senders go no further; leave is logged.
std::optional<smtp::Reply> PolicyGate::standing_refusal() {
  if (standing_ == nullptr) {
    return std::nullopt;
  }
  const policy::SenderStanding::Result standing = standing_->on_mail(transaction_);
  if (!standing.verdict.accepted()) {
    const policy::Verdict& verdict = standing.verdict;
    smtp::Reply reply{verdict.code, verdict.enhanced, verdict.text};
    log_refusal(session_, client_address_, transaction_.sender, reply, verdict.rule,
                verdict.clause);
    return reply;
  }
  if (standing.leave != nullptr) {
    log::Event("account_leave")
        .add("session", session_)
        .add("from", transaction_.sender)
        .add("clause", "IV.3")
        .add("until", standing.leave->until)
        .add("owner", standing.leave->owner);
  }
  return std::nullopt;
}

void PolicyGate::accepted() {
  if (activity_ != nullptr) {
    activity_->on_accept(transaction_.identity, transaction_.recipients);
  }
}

asio::awaitable<smtp::Reply> PolicyGate::on_mail(const smtp::ServerProtocol::Action& action) {
  const smtp::Path& sender = action.argument.path;
  transaction_.auth_user = auth_user_;
  transaction_.auth_senders = auth_senders_;
  transaction_.sender = sender.address;
  transaction_.sender_local_part = sender.local_part;
  transaction_.sender_domain = sender.domain;
  transaction_.identity = policy::sender_identity(transaction_.auth_user, sender.address);
  transaction_.recipients.clear();
  transaction_.declared_size = action.declared_size;
  transaction_.message_size = 0;
  if (auto refused = standing_refusal()) {
    co_return *refused;
  }
  const policy::Verdict verdict = co_await engine_.on_mail(state_, transaction_);
  if (!verdict.accepted()) {
    co_return refusal(verdict);
  }
  co_return smtp::Reply{250, "2.1.0", "Ok"};
}

asio::awaitable<smtp::Reply> PolicyGate::on_rcpt(const smtp::Path& recipient) {
  const policy::Verdict verdict = co_await engine_.on_rcpt(state_, transaction_, recipient.address);
  if (!verdict.accepted()) {
    co_return refusal(verdict);
  }
  transaction_.recipients.push_back(recipient.address);
  co_return smtp::Reply{250, "2.1.5", "Ok"};
}

asio::awaitable<std::optional<smtp::Reply>> PolicyGate::on_data_end(std::uint64_t message_size) {
  transaction_.message_size = message_size;
  const policy::Verdict verdict = co_await engine_.on_data_end(state_, transaction_);
  if (!verdict.accepted()) {
    co_return refusal(verdict);
  }
  co_return std::nullopt;
}

asio::awaitable<std::optional<smtp::Reply>> PolicyGate::on_message(
    const mime::MessageAnalysis& analysis) {
  if (analysis.malformed != 0) {
    // What could be analysed still goes to the rules; the operator learns the structure was off.
    log::Event("mime_malformed", log::Level::warn)
        .add("session", session_)
        .add("from", transaction_.sender)
        .add("malformed", analysis.malformation_names())
        .add("parts", analysis.part_count)
        .add("size", analysis.size);
  }
  const policy::Verdict verdict = co_await engine_.on_message(state_, transaction_, analysis);
  if (!verdict.accepted()) {
    co_return refusal(verdict);
  }
  co_return std::nullopt;
}

std::vector<std::string> PolicyGate::advice_headers() const {
  std::vector<std::string> headers;
  for (const policy::Advice& advice : state_.advice) {
    if (!advice.header.empty() && (advice.action == config::AdviceAction::header ||
                                   advice.action == config::AdviceAction::notify)) {
      headers.push_back("X-Policy-Relay-Advice: " + advice.header);
    }
  }
  return headers;
}

void PolicyGate::log_advice(std::string_view id) {
  static constexpr std::string_view kActions[] = {"off", "log", "header", "notify", "reject"};
  for (const policy::Advice& advice : state_.advice) {
    log::Event event("advice", log::Level::info);
    event.add("session", session_)
        .add("id", id)
        .add("from", transaction_.sender)
        .add("rule", advice.rule)
        .add("clause", advice.clause)
        .add("action", kActions[static_cast<std::size_t>(advice.action)]);
    for (const auto& [key, value] : advice.fields) {
      event.add(key, value);
    }
  }
}

smtp::Reply PolicyGate::message_too_big() {
  return refusal(engine_.message_too_big(state_));
}

bool PolicyGate::needs_commit() const {
  return state_.message || !state_.recipients.empty();
}

bool PolicyGate::commit_is_local_write() const {
  return engine_.commit_is_local_write();
}

asio::awaitable<std::error_code> PolicyGate::commit() {
  co_return co_await engine_.commit(state_);
}

void PolicyGate::describe_accept(log::Event& accept) {
  if (state_.policy != nullptr && state_.policy->exception != nullptr &&
      !state_.exception_rules.empty()) {
    std::string rules;
    for (std::string_view rule : state_.exception_rules) {
      rules += rules.empty() ? "" : ",";
      rules += rule;
    }
    accept.add("reference", state_.policy->exception->reference).add("exception_rules", rules);
  }
}

void PolicyGate::log_quota_warnings() {
  for (const policy::QuotaWarning& warning : state_.quota_warnings) {
    log::Event("quota_warning", log::Level::warn)
        .add("session", session_)
        .add("from", transaction_.sender)
        .add("identity", transaction_.identity)
        .add("rule", "recipients_per_day")
        .add("clause", "VI.4")
        .add("percent", warning.percent)
        .add("used", warning.used)
        .add("limit", warning.limit);
  }
}

void PolicyGate::reset() {
  engine_.on_reset(state_);
}

}  // namespace policy_relay::server
