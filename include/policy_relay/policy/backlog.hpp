#pragma once

#include <cstddef>
#include <string_view>

namespace policy_relay::policy {

// How many accepted messages of one sender still wait for delivery (rate_action = "queue":
// POLICY VI.4, "past queue_backlog_per_sender, MAIL gets 451 4.7.1"). Implemented over the
// delivery scheduler by the daemon; `identity` is policy::sender_identity() of the message.
class SenderBacklog {
 public:
  virtual ~SenderBacklog() = default;
  virtual std::size_t backlog_of(std::string_view identity) const = 0;
};

}  // namespace policy_relay::policy
