#include "policy_relay/policy/counter_store.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <vector>

namespace policy_relay::policy {

// POLICY VI.4: messages per minute over a rolling 60 s, recipients per day over a rolling 24 h
// (as Exchange Online counts them). The resolution is the width of one counting bucket.
std::chrono::seconds window_of(Counter counter) {
  switch (counter) {
    case Counter::recipients_per_day:
      return std::chrono::hours(24);
    case Counter::messages_per_minute:
    case Counter::releases_per_minute:
      break;
  }
  return std::chrono::seconds(60);
}

std::chrono::seconds resolution_of(Counter counter) {
  switch (counter) {
    case Counter::recipients_per_day:
      return std::chrono::minutes(1);
    case Counter::messages_per_minute:
    case Counter::releases_per_minute:
      break;
  }
  return std::chrono::seconds(1);
}

boost::asio::awaitable<ReserveResult> CounterStore::try_count(std::string_view key, Counter counter,
                                                              std::uint64_t amount,
                                                              std::uint64_t limit, TimePoint now) {
  ReserveResult result = co_await try_reserve(key, counter, amount, limit, now);
  if (result.granted) {
    result.error = co_await commit_unsynced(result.reservation, now);
    result.reservation = Reservation{};
  }
  co_return result;
}

boost::asio::awaitable<std::error_code> CounterStore::commit_all(
    std::span<Reservation* const> reservations, TimePoint now, bool durable) {
  const auto commit_one = [this, now, durable](Reservation& reservation) {
    return durable ? commit(reservation, now) : commit_unsynced(reservation, now);
  };
  if (reservations.empty()) {
    co_return std::error_code{};
  }
  if (reservations.size() == 1) {
    co_return co_await commit_one(*reservations.front());
  }
  const auto executor = co_await boost::asio::this_coro::executor;
  using Operation = decltype(boost::asio::co_spawn(executor, commit_one(*reservations.front()),
                                                   boost::asio::deferred));
  std::vector<Operation> operations;
  operations.reserve(reservations.size());
  for (Reservation* reservation : reservations) {
    operations.push_back(
        boost::asio::co_spawn(executor, commit_one(*reservation), boost::asio::deferred));
  }
  auto [order, exceptions, errors] =
      co_await boost::asio::experimental::make_parallel_group(std::move(operations))
          .async_wait(boost::asio::experimental::wait_for_all(), boost::asio::use_awaitable);
  std::error_code result;
  for (std::size_t i = 0; i < errors.size() && !result; ++i) {
    result = exceptions[i] ? std::make_error_code(std::errc::io_error) : errors[i];
  }
  co_return result;
}

boost::asio::awaitable<MarkResult> CounterStore::put_mark(std::string_view, std::string_view,
                                                          std::chrono::seconds, bool, TimePoint) {
  co_return MarkResult{false, std::make_error_code(std::errc::operation_not_supported)};
}

boost::asio::awaitable<MarkLookup> CounterStore::get_mark(std::string_view, TimePoint) {
  co_return MarkLookup{std::nullopt, std::make_error_code(std::errc::operation_not_supported)};
}

boost::asio::awaitable<std::error_code> CounterStore::erase_mark(std::string_view, TimePoint) {
  co_return std::make_error_code(std::errc::operation_not_supported);
}

}  // namespace policy_relay::policy
