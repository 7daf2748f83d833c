#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "policy_relay/admin/admin_server.hpp"
#include "policy_relay/admin/protocol.hpp"
#include "policy_relay/ops/generation_builder.hpp"
#include "policy_relay/ops/redis_suspensions.hpp"
#include "policy_relay/ops/state_files.hpp"
#include "policy_relay/policy/abuse_detector.hpp"
#include "policy_relay/policy/sender_standing.hpp"

namespace policy_relay::ops {

// The daemon's operations side: live reload (SIGHUP, `policy-relayctl reload`), the admin
// socket and its commands, suspensions and the abuse detector (POLICY IV.2), held messages,
// and the service manager's notifications (READY, RELOADING, STOPPING, WATCHDOG). Lives on
// the event loop; owned by main() next to the server and the scheduler.
class Operations final : public policy::SenderActivity {
 public:
  struct Parts {
    boost::asio::io_context& io;
    std::string config_path;
    delivery::Scheduler& scheduler;
    spool::Spool& spool;
    policy::CounterStore& counters;
    const policy::Clock& clock;
    server::AdviceNotifier* notifier = nullptr;  // advice action "notify" (built at start)
    // state.backend = "redis": suspensions live there (RedisSuspensionStore), shared by the
    // cluster; else in the file under [state] directory.
    policy::RedisCounterStore* redis = nullptr;
  };

  // Loads the suspensions and held messages under [state] directory (throws when damaged).
  Operations(Parts parts, const config::Config& config);
  ~Operations() override;

  // For build_generation: the services every generation shares (suspensions, this activity).
  SharedServices shared();
  // Starts the admin socket and the watchdog; tells the scheduler what is held. Call after the
  // listeners are bound and the spool recovered; sends READY=1. `server` must outlive this.
  void start(server::Server& server);
  // SIGTERM: STOPPING=1, admin socket closed.
  void stop();

  struct ReloadResult {
    std::string error;                          // "" on success
    std::vector<std::string> restart_required;  // changed keys a reload cannot apply
  };
  // Re-reads the configuration, the users file, the account directory and the TLS certificate;
  // swaps them in for new sessions only if all are valid. Logs `reload`.
  ReloadResult reload(std::string_view trigger);

  // policy::SenderActivity
  void on_refusal(std::string_view identity, const policy::Verdict& verdict) override;
  void on_accept(std::string_view identity, const std::vector<std::string>& recipients) override;

 private:
  void register_commands();
  void register_queue_commands();
  void on_rate_hit(const std::string& identity);
  void tripped(std::string_view identity, const policy::AbuseTrip& trip);
  boost::asio::awaitable<void> suspend_for_abuse(policy::Suspension suspension);
  boost::asio::awaitable<void> watchdog(std::chrono::microseconds interval);
  bool held(const std::string& id, std::string_view identity) const;
  // A suspension ended (resume here, or lifted on another relay: `source` "shared"): the
  // abuse detector forgets the sender, what was held for it is released; logs `resume`.
  // Returns how many messages were released.
  std::size_t after_resume(const std::string& identity, std::string_view source);
  const config::Config& config() const;

  Parts parts_;
  server::Server* server_ = nullptr;
  std::unique_ptr<policy::SuspensionStore> suspensions_;
  RedisSuspensionStore* shared_suspensions_ = nullptr;  // suspensions_, when in Redis
  HeldMessages held_;
  policy::AbuseDetector abuse_;
  policy::SenderTally tally_;
  admin::Dispatcher dispatcher_;
  std::unique_ptr<admin::AdminServer> admin_;
  std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
  std::uint64_t reloads_ = 0;
  bool stopping_ = false;
};

}  // namespace policy_relay::ops
