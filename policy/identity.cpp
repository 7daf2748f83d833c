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

}  // namespace policy_relay::policy
