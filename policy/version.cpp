#include "policy_relay/version.hpp"

namespace policy_relay {

std::string_view version() {
  return "0.1.0";
}

}  // namespace policy_relay
