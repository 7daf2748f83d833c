#pragma once

#include "policy_relay/config/config.hpp"
#include "policy_relay/policy/clock.hpp"
#include "policy_relay/policy/counter_store.hpp"
#include "policy_relay/policy/sender_standing.hpp"
#include "policy_relay/policy/suspensions.hpp"
#include "policy_relay/server/server.hpp"

namespace policy_relay::delivery {
class Scheduler;
}
namespace policy_relay::spool {
class Spool;
}

namespace policy_relay::ops {

// What every generation shares (outlives them all).
struct SharedServices {
  spool::Spool& spool;
  delivery::Scheduler& scheduler;
  policy::CounterStore& counters;
  const policy::Clock& clock;
  const policy::SuspensionStore* suspensions = nullptr;
  policy::SenderActivity* activity = nullptr;
  server::AdviceNotifier* notifier = nullptr;
};

// Builds everything a configuration decides for new sessions: the policy engine, the server
// TLS context (reads the certificate and key), the authenticator (reads and validates
// auth.users_file; kept from `previous` when [auth] did not change, so the failed-login
// throttle survives a reload), the trusted networks and the account directory
// (senders.directory). Throws config::ConfigError or std::runtime_error naming the file that
// is wrong; nothing is half-applied.
server::GenerationPtr build_generation(config::ConfigPtr config, const server::Generation* previous,
                                       const SharedServices& shared);

}  // namespace policy_relay::ops
