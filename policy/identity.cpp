#include "policy_relay/policy/identity.hpp"

namespace policy_relay::policy {

std::string sender_identity(std::string_view auth_user, std::string_view envelope_sender) {
  std::string identity(auth_user.empty() ? envelope_sender : auth_user);
  if (auth_user.empty()) {
    for (char& c : identity) {
      if (c >= 'A' && c <= 'Z') {
        c = static_cast<char>(c - 'A' + 'a');
      }
    }
  }
  return identity;
}

bool sender_belongs_to_user(std::string_view auth_user,
                            const std::vector<std::string>& auth_senders,
                            std::string_view envelope_sender) {
  if (auth_user.empty()) {
    return true;
  }
  const std::string sender = sender_identity({}, envelope_sender);  // lower-cased
  for (const std::string& allowed : auth_senders) {
    if (sender_identity({}, allowed) == sender) {
      return true;
    }
  }
  return false;
}

}  // namespace policy_relay::policy
