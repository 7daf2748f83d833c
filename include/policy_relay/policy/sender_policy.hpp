#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "policy_relay/config/config.hpp"
#include "policy_relay/util/string_map.hpp"

namespace policy_relay::policy {

// Which [limits] keys an [[exceptions]] entry overrides (bits of SenderPolicy::overridden).
inline constexpr std::uint32_t key_max_message_size = 1u << 0;
inline constexpr std::uint32_t key_max_recipients_per_message = 1u << 1;
inline constexpr std::uint32_t key_messages_per_minute = 1u << 2;
inline constexpr std::uint32_t key_recipients_per_day = 1u << 3;
inline constexpr std::uint32_t key_rate_action = 1u << 4;
inline constexpr std::uint32_t key_daily_action = 1u << 5;
inline constexpr std::uint32_t key_queue_backlog_per_sender = 1u << 6;

// The limits in force for one sender identity: [limits], or [limits] with one exception's
// overrides applied (POLICY VI.3, VI.8, VI.9).
struct SenderPolicy {
  config::LimitsConfig limits;
  const config::SenderException* exception = nullptr;  // null: no exception for this sender
  std::uint32_t overridden = 0;                        // LimitKey bits the exception sets

  bool overrides(std::uint32_t keys) const { return (overridden & keys) != 0; }
  // The authorisation to log with a decision on `keys`: the exception's reference when it
  // overrides one of them, else empty.
  std::string_view reference_for(std::uint32_t keys) const;
};

// Every sender's limits, resolved once per configuration (immutable, shared by all sessions).
class SenderPolicies {
 public:
  // `config` must outlive this object (its exceptions are referenced, not copied).
  explicit SenderPolicies(const config::Config& config);

  // The policy for a sender identity (policy::sender_identity): its exception's, or defaults().
  const SenderPolicy& find(std::string_view identity) const;
  const SenderPolicy& defaults() const { return defaults_; }

  // The largest message size and recipient count any sender may use: the protocol's bounds
  // (EHLO SIZE, the hard recipient bound) must admit them.
  std::uint64_t largest_message_size() const { return largest_message_size_; }
  std::uint32_t largest_recipient_count() const { return largest_recipient_count_; }

 private:
  SenderPolicy defaults_;
  util::StringMap<SenderPolicy> exceptions_;
  std::uint64_t largest_message_size_ = 0;
  std::uint32_t largest_recipient_count_ = 0;
};

}  // namespace policy_relay::policy
