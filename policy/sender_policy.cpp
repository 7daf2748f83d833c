#include "policy_relay/policy/sender_policy.hpp"

#include <algorithm>

namespace policy_relay::policy {
namespace {

std::uint32_t overridden_keys(const config::LimitOverrides& overrides) {
  std::uint32_t keys = 0;
  keys |= overrides.max_message_size ? key_max_message_size : 0;
  keys |= overrides.max_recipients_per_message ? key_max_recipients_per_message : 0;
  keys |= overrides.messages_per_minute ? key_messages_per_minute : 0;
  keys |= overrides.recipients_per_day ? key_recipients_per_day : 0;
  keys |= overrides.rate_action ? key_rate_action : 0;
  keys |= overrides.daily_action ? key_daily_action : 0;
  keys |= overrides.queue_backlog_per_sender ? key_queue_backlog_per_sender : 0;
  return keys;
}

}  // namespace

std::string_view SenderPolicy::reference_for(std::uint32_t keys) const {
  return exception != nullptr && overrides(keys) ? std::string_view(exception->reference)
                                                 : std::string_view();
}

SenderPolicies::SenderPolicies(const config::Config& config) {
  defaults_.limits = config.limits;
  largest_message_size_ = config.limits.max_message_size;
  largest_recipient_count_ = config.limits.max_recipients_per_message;
  for (const config::SenderException& exception : config.exceptions) {
    SenderPolicy policy;
    policy.limits = exception.limits.applied_to(config.limits);
    policy.exception = &exception;
    policy.overridden = overridden_keys(exception.limits);
    largest_message_size_ = std::max(largest_message_size_, policy.limits.max_message_size);
    largest_recipient_count_ =
        std::max(largest_recipient_count_, policy.limits.max_recipients_per_message);
    exceptions_.emplace(exception.sender, policy);
  }
}

const SenderPolicy& SenderPolicies::find(std::string_view identity) const {
  if (exceptions_.empty()) {
    return defaults_;
  }
  const auto found = exceptions_.find(identity);
  return found == exceptions_.end() ? defaults_ : found->second;
}

}  // namespace policy_relay::policy
