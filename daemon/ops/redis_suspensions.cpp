#include "policy_relay/ops/redis_suspensions.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "policy_relay/log/log.hpp"
#include "policy_relay/ops/state_files.hpp"

namespace asio = boost::asio;

namespace policy_relay::ops {

namespace {

constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);
constexpr std::string_view kDamaged = "damaged record in Redis";

}  // namespace

RedisSuspensionStore::RedisSuspensionStore(asio::any_io_executor executor,
                                           policy::RedisCounterStore& redis,
                                           std::chrono::milliseconds refresh)
    : executor_(std::move(executor)), redis_(redis), refresh_every_(refresh), timer_(executor_) {}

RedisSuspensionStore::~RedisSuspensionStore() {
  *alive_ = false;
}

std::string RedisSuspensionStore::key() const {
  return redis_.key_prefix() + "suspensions";
}

void RedisSuspensionStore::start() {
  if (running_) {
    return;
  }
  running_ = true;
  asio::co_spawn(executor_, refresh_loop(), asio::detached);
}

void RedisSuspensionStore::stop() {
  running_ = false;
  timer_.cancel();
}

asio::awaitable<void> RedisSuspensionStore::refresh_loop() {
  const auto alive = alive_;
  while (*alive && running_) {
    co_await refresh();
    if (!*alive || !running_) {
      break;
    }
    timer_.expires_after(refresh_every_);
    co_await timer_.async_wait(kTuple);
  }
}

asio::awaitable<std::error_code> RedisSuspensionStore::refresh() {
  const auto alive = alive_;
  const std::uint64_t changes_before = changes_;
  std::vector<std::string> command{"HGETALL", key()};
  const auto result = co_await redis_.shared_command(std::move(command));
  const auto& [error, reply] = result;
  if (!*alive || error) {
    co_return error;  // on error the last copy stays in force; the store logs the outage
  }
  if (changes_ != changes_before) {
    co_return std::error_code{};  // read before a change of ours: the next read has it
  }
  if (reply.type != policy::RedisValue::Type::array) {
    co_return make_error_code(policy::RedisError::server_error);
  }
  std::map<std::string, policy::Suspension, std::less<>> fresh;
  for (std::size_t i = 0; i + 1 < reply.elements.size(); i += 2) {
    policy::Suspension suspension;
    const std::string& field = reply.elements[i].text;
    if (std::string why = decode_suspension(reply.elements[i + 1].text, suspension);
        !why.empty() || suspension.identity != field) {
      // Kept in force under its field name: a damaged record must not lift a suspension.
      // Logged when first seen, not at every read.
      if (const auto seen = known_.find(field);
          seen == known_.end() || seen->second.reason != kDamaged) {
        log::Event("suspension_damaged", log::Level::error)
            .add("identity", field)
            .add("store", key())
            .add("error", why.empty() ? "identity differs from its field" : why);
      }
      suspension = policy::Suspension{};
      suspension.identity = field;
      suspension.reason = std::string(kDamaged);
      suspension.source = "operator";
    }
    fresh.insert_or_assign(field, std::move(suspension));
  }
  std::vector<std::string> lifted;
  for (const auto& [identity, suspension] : known_) {
    if (!fresh.contains(identity)) {
      lifted.push_back(identity);
    }
  }
  known_ = std::move(fresh);
  for (const std::string& identity : lifted) {
    if (on_lifted_) {
      on_lifted_(identity);
    }
  }
  co_return std::error_code{};
}

const policy::Suspension* RedisSuspensionStore::find(std::string_view identity) const {
  const auto found = known_.find(identity);
  return found == known_.end() ? nullptr : &found->second;
}

std::vector<policy::Suspension> RedisSuspensionStore::list() const {
  std::vector<policy::Suspension> all;
  all.reserve(known_.size());
  for (const auto& [identity, suspension] : known_) {
    all.push_back(suspension);
  }
  return all;
}

asio::awaitable<std::error_code> RedisSuspensionStore::suspend(policy::Suspension suspension) {
  const auto alive = alive_;
  const std::string identity = suspension.identity;
  // HSETNX: a suspension already there (from any relay) keeps its first record.
  std::vector<std::string> command{"HSETNX", key(), identity, encode_suspension(suspension)};
  const auto result = co_await redis_.shared_command(std::move(command));
  const auto& [error, reply] = result;
  if (!*alive || error) {
    co_return error;
  }
  ++changes_;
  if (reply.integer == 1) {
    known_.insert_or_assign(identity, std::move(suspension));
    co_return std::error_code{};
  }
  co_return co_await refresh();  // someone else's record: learn it
}

asio::awaitable<std::error_code> RedisSuspensionStore::resume(std::string identity, bool& existed) {
  const auto alive = alive_;
  std::vector<std::string> command{"HDEL", key(), identity};
  const auto result = co_await redis_.shared_command(std::move(command));
  const auto& [error, reply] = result;
  if (!*alive || error) {
    co_return error;
  }
  ++changes_;
  existed = reply.integer == 1 || known_.contains(identity);
  known_.erase(identity);
  co_return std::error_code{};
}

}  // namespace policy_relay::ops
