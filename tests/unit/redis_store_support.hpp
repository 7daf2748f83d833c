#pragma once

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <vector>

#include "policy_relay/policy/redis_counter_store.hpp"
#include "redis_test_support.hpp"

namespace policy_relay::test {

inline policy::TimePoint at_seconds(double offset) {
  // A UTC midnight plus an offset (as in the local backend's tests).
  return policy::TimePoint(std::chrono::duration_cast<policy::TimePoint::duration>(
      std::chrono::duration<double>(1'794'960'000.0 + offset)));
}

// Runs one awaitable to completion on `io` and returns its value.
template <typename T>
T run_on(boost::asio::io_context& io, boost::asio::awaitable<T> awaitable) {
  std::optional<T> value;
  boost::asio::co_spawn(io, std::move(awaitable), [&](std::exception_ptr error, T result) {
    if (error) {
      std::rethrow_exception(error);
    }
    value = std::move(result);
  });
  io.restart();
  while (!value) {
    io.run_one_for(std::chrono::seconds(10));
  }
  return std::move(*value);
}

// Runs `io` until `done()` holds (at most `timeout`); returns done().
template <typename Predicate>
bool run_until(boost::asio::io_context& io, Predicate done,
               std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  io.restart();
  while (!done() && std::chrono::steady_clock::now() < deadline) {
    io.run_one_for(std::chrono::milliseconds(20));
  }
  return done();
}

// A RedisCounterStore on a test server, counting with the test's times (server_time off) and
// recording every alert; connected when constructed.
struct RedisStore {
  boost::asio::io_context& io;
  std::vector<policy::RedisAlert> alerts;
  std::unique_ptr<policy::RedisCounterStore> store;

  RedisStore(boost::asio::io_context& io_context, std::uint16_t port,
             policy::RedisCounterStore::Options options = {})
      : io(io_context) {
    options.connection.endpoint.port = port;
    options.connection.command_timeout = std::chrono::milliseconds(500);
    options.connection.connect_timeout = std::chrono::milliseconds(500);
    options.connection.backoff_min = std::chrono::milliseconds(20);
    options.connection.backoff_max = std::chrono::milliseconds(100);
    options.server_time = false;
    options.report = [this](const policy::RedisAlert& alert) { alerts.push_back(alert); };
    store = std::make_unique<policy::RedisCounterStore>(io.get_executor(), std::move(options));
    store->start();
    run_until(io, [this] { return store->available(); });
  }
  ~RedisStore() { store->close(); }

  policy::ReserveResult reserve(std::string_view key, policy::Counter counter, std::uint64_t amount,
                                std::uint64_t limit, policy::TimePoint now) {
    return run_on(io, store->try_reserve(key, counter, amount, limit, now));
  }
  std::error_code commit(policy::Reservation& reservation, policy::TimePoint now) {
    return run_on(io, store->commit(reservation, now));
  }
  policy::Usage usage(std::string_view key, policy::Counter counter, policy::TimePoint now) {
    return run_on(io, store->usage(key, counter, now));
  }
};

}  // namespace policy_relay::test
