#include "policy_relay/policy/counter_store.hpp"

#include <boost/asio/awaitable.hpp>

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
