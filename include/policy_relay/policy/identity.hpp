#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace policy_relay::policy {

// The sender identity every limit counts against (DESIGN.md "Delivery semantics"): the AUTH
// user when the client authenticated, else the envelope sender lower-cased (ASCII letters only;
// UTF-8 octets are kept as they are). The scheduler's per-sender pacing and backlog use the
// same key, so both sides of "queue" mode agree on who a sender is.
std::string sender_identity(std::string_view auth_user, std::string_view envelope_sender);

// POLICY VII.1: after AUTH the envelope sender must be one of `auth_senders` (ASCII case
// ignored). Without AUTH (trusted networks) any sender passes here.
bool sender_belongs_to_user(std::string_view auth_user,
                            const std::vector<std::string>& auth_senders,
                            std::string_view envelope_sender);

}  // namespace policy_relay::policy
