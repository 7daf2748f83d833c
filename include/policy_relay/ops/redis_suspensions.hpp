#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "policy_relay/policy/redis_counter_store.hpp"
#include "policy_relay/policy/suspensions.hpp"

// Suspensions shared by every relay of a cluster (POLICY IV.2, VII.4; issue 7: "suspensions
// ... live there too"): one Redis hash, KEY_PREFIX "suspensions", field = sender identity,
// value = the record as one JSON object (ops::encode_suspension). Redis keeps it (appendonly
// on the server makes it durable); a suspension never expires, `resume` deletes the field.
//
// find() and list() answer from memory, as at every MAIL they must: a copy of the hash read
// again every `refresh` (and after each change made here), so a suspension made on one relay
// holds on every other within `refresh`. While Redis is unreachable the last copy stays in
// force and suspend()/resume() fail with the error (the operator's command says so).
namespace policy_relay::ops {

class RedisSuspensionStore final : public policy::SuspensionStore {
 public:
  static constexpr std::chrono::milliseconds kDefaultRefresh{1000};

  RedisSuspensionStore(boost::asio::any_io_executor executor, policy::RedisCounterStore& redis,
                       std::chrono::milliseconds refresh = kDefaultRefresh);
  ~RedisSuspensionStore() override;

  // Starts reading the hash every `refresh`; stop() ends it (before the event loop is gone).
  void start();
  void stop();

  const policy::Suspension* find(std::string_view identity) const override;
  std::vector<policy::Suspension> list() const override;
  boost::asio::awaitable<std::error_code> suspend(policy::Suspension suspension) override;
  boost::asio::awaitable<std::error_code> resume(std::string identity, bool& existed) override;

  // Reads the whole hash into memory now (what the refresh loop does every `refresh`).
  boost::asio::awaitable<std::error_code> refresh();

  // Called by refresh() for each sender whose suspension another relay lifted (this relay's
  // own resume() does not call it): the caller releases what it held for that sender.
  using Lifted = std::function<void(const std::string& identity)>;
  void set_on_lifted(Lifted on_lifted) { on_lifted_ = std::move(on_lifted); }

 private:
  boost::asio::awaitable<void> refresh_loop();
  std::string key() const;

  boost::asio::any_io_executor executor_;
  policy::RedisCounterStore& redis_;
  std::chrono::milliseconds refresh_every_;
  boost::asio::steady_timer timer_;
  std::map<std::string, policy::Suspension, std::less<>> known_;
  Lifted on_lifted_;
  // Changes made here; a read of the hash that a change overtook is not applied.
  std::uint64_t changes_ = 0;
  bool running_ = false;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace policy_relay::ops
