#include <doctest/doctest.h>

#include <random>
#include <vector>

#include "policy_relay/policy/counter_table.hpp"

using namespace policy_relay::policy;
using std::chrono::hours;
using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::seconds;

namespace {

// Fake wall-clock times: an arbitrary day in 2026 plus an offset.
TimePoint at(milliseconds offset) {
  return TimePoint(seconds(1'794'960'000)) + offset;  // a UTC midnight
}
TimePoint at_s(double offset_seconds) {
  return at(milliseconds(static_cast<std::int64_t>(offset_seconds * 1000)));
}

// One accepted unit the way the store does it: reserve, then commit.
bool use(CounterTable& table, std::string_view key, Counter counter, std::uint64_t limit,
         TimePoint now, std::uint64_t amount = 1) {
  if (!table.try_reserve(key, counter, amount, limit, now).granted) {
    return false;
  }
  table.commit_reserved(key, counter, amount, now);
  return true;
}

}  // namespace

TEST_CASE("a 60 s counter grants exactly the limit and refuses the next unit") {
  CounterTable table;
  for (int i = 0; i < 30; ++i) {
    CHECK(use(table, "a@x", Counter::messages_per_minute, 30, at_s(i)));
  }
  const auto refused = table.try_reserve("a@x", Counter::messages_per_minute, 1, 30, at_s(30));
  CHECK_FALSE(refused.granted);
  CHECK(refused.used == 30);
  // Another sender is not affected.
  CHECK(use(table, "b@x", Counter::messages_per_minute, 30, at_s(30)));
}

TEST_CASE("a unit counts for 60 s plus the rest of its second, and not a moment longer") {
  CounterTable table;
  REQUIRE(use(table, "a@x", Counter::messages_per_minute, 1, at_s(100.4)));
  // Bucket [100 s, 101 s) overlaps the window until 101 + 60 = 161 s.
  CHECK(table.usage("a@x", Counter::messages_per_minute, at_s(160.999)).used == 1);
  CHECK(table.usage("a@x", Counter::messages_per_minute, at_s(160.999)).next_free == at_s(161));
  CHECK_FALSE(table.try_reserve("a@x", Counter::messages_per_minute, 1, 1, at_s(160.999)).granted);
  CHECK(table.try_reserve("a@x", Counter::messages_per_minute, 1, 1, at_s(161)).granted);
}

TEST_CASE("a recipient counts for 24 h plus the rest of its minute") {
  CounterTable table;
  REQUIRE(use(table, "a@x", Counter::recipients_per_day, 3, at_s(90), 3));  // minute [60, 120)
  CHECK_FALSE(table.try_reserve("a@x", Counter::recipients_per_day, 1, 3, at_s(86'519)).granted);
  const auto refused = table.try_reserve("a@x", Counter::recipients_per_day, 1, 3, at_s(86'000));
  CHECK(refused.frees_at == at_s(120 + 86'400));
  CHECK(table.try_reserve("a@x", Counter::recipients_per_day, 1, 3, at_s(86'520)).granted);
}

TEST_CASE("frees_at is when enough of the oldest units have left the window") {
  CounterTable table;
  REQUIRE(use(table, "a@x", Counter::recipients_per_day, 10, at_s(0), 4));     // frees at 24h+60
  REQUIRE(use(table, "a@x", Counter::recipients_per_day, 10, at_s(600), 3));   // 24h+660
  REQUIRE(use(table, "a@x", Counter::recipients_per_day, 10, at_s(1200), 3));  // 24h+1260
  const auto day = 86'400;
  auto refused = table.try_reserve("a@x", Counter::recipients_per_day, 5, 10, at_s(1300));
  CHECK_FALSE(refused.granted);
  CHECK(refused.used == 10);
  CHECK(refused.frees_at == at_s(day + 660));  // 4 + 3 must leave for 5 to fit
  refused = table.try_reserve("a@x", Counter::recipients_per_day, 1, 10, at_s(1300));
  CHECK(refused.frees_at == at_s(day + 60));
  // More than the limit never fits.
  CHECK(table.try_reserve("a@x", Counter::recipients_per_day, 11, 10, at_s(1300)).frees_at ==
        TimePoint::max());
  CHECK(table.try_reserve("new@x", Counter::recipients_per_day, 11, 10, at_s(1300)).frees_at ==
        TimePoint::max());
}

TEST_CASE("reserved units count against the limit for every other session until released") {
  CounterTable table;
  // Two sessions of one sender race for the last two of five units.
  REQUIRE(use(table, "a@x", Counter::recipients_per_day, 5, at_s(0), 3));
  CHECK(table.try_reserve("a@x", Counter::recipients_per_day, 1, 5, at_s(1)).granted);  // session 1
  CHECK(table.try_reserve("a@x", Counter::recipients_per_day, 1, 5, at_s(1)).granted);  // session 2
  const auto third = table.try_reserve("a@x", Counter::recipients_per_day, 1, 5, at_s(1));
  CHECK_FALSE(third.granted);
  CHECK(third.used == 5);
  table.unreserve("a@x", Counter::recipients_per_day, 1);  // session 2: RSET
  CHECK(table.try_reserve("a@x", Counter::recipients_per_day, 1, 5, at_s(2)).granted);
  CHECK(table.usage("a@x", Counter::recipients_per_day, at_s(2)).used == 5);
}

TEST_CASE("commit_reserved turns exactly the reserved units into usage at the commit's time") {
  CounterTable table;
  REQUIRE(table.try_reserve("a@x", Counter::messages_per_minute, 2, 3, at_s(0)).granted);
  REQUIRE(table.try_reserve("a@x", Counter::messages_per_minute, 1, 3, at_s(0)).granted);
  table.commit_reserved("a@x", Counter::messages_per_minute, 2, at_s(10));  // the first session
  CHECK(table.usage("a@x", Counter::messages_per_minute, at_s(10)).used == 3);
  table.unreserve("a@x", Counter::messages_per_minute, 1);  // the second one: RSET
  CHECK(table.usage("a@x", Counter::messages_per_minute, at_s(10)).used == 2);
  // Counted from the commit (t = 10 s), not from the reservation (t = 0).
  CHECK(table.usage("a@x", Counter::messages_per_minute, at_s(70.5)).used == 2);
  CHECK(table.usage("a@x", Counter::messages_per_minute, at_s(71)).used == 0);
  CHECK(table.stats().keys == 1);
}

TEST_CASE("a clock that goes back never frees a unit early") {
  CounterTable table;
  REQUIRE(use(table, "a@x", Counter::messages_per_minute, 2, at_s(200)));
  REQUIRE(use(table, "a@x", Counter::messages_per_minute, 2, at_s(150)));  // clock stepped back
  // The second unit counts in the newest bucket: until 261 s, not 211 s.
  CHECK(table.usage("a@x", Counter::messages_per_minute, at_s(230)).used == 2);
  CHECK(table.usage("a@x", Counter::messages_per_minute, at_s(260.9)).used == 2);
  CHECK(table.usage("a@x", Counter::messages_per_minute, at_s(261)).used == 0);
}

TEST_CASE("no exact 60 s window ever holds more than the limit, whatever the arrival times") {
  std::mt19937 random(12345);
  std::uniform_int_distribution<int> gap_ms(0, 4000);
  for (const std::uint64_t limit : {1u, 3u, 7u}) {
    CounterTable table;
    std::vector<std::int64_t> granted_ms;
    std::int64_t now_ms = 0;
    for (int i = 0; i < 600; ++i) {
      now_ms += gap_ms(random);
      if (use(table, "a@x", Counter::messages_per_minute, limit, at(milliseconds(now_ms)))) {
        granted_ms.push_back(now_ms);
      }
    }
    CAPTURE(limit);
    REQUIRE(granted_ms.size() > limit);
    // Sorted grants: any limit + 1 of them span 60 s or more.
    for (std::size_t i = 0; i + limit < granted_ms.size(); ++i) {
      CHECK(granted_ms[i + limit] - granted_ms[i] >= 60'000);
    }
  }
}

TEST_CASE("keys with nothing left in any window are forgotten by the sweeps") {
  CounterTable table;
  for (int i = 0; i < 1000; ++i) {
    use(table, "user" + std::to_string(i) + "@x", Counter::messages_per_minute, 30, at_s(0));
  }
  CHECK(table.stats().keys == 1000);
  table.sweep_all(at_s(30));
  CHECK(table.stats().keys == 1000);  // still counted
  // Incremental sweeps, two slots per operation, reach every key.
  for (int i = 0; i < 2000 && table.stats().keys > 0; ++i) {
    table.sweep_some(at_s(61), 2);
  }
  CHECK(table.stats().keys == 0);
  CHECK(table.stats().buckets == 0);
}

TEST_CASE("a key with an open reservation is kept by the sweep") {
  CounterTable table;
  REQUIRE(table.try_reserve("a@x", Counter::recipients_per_day, 2, 5, at_s(0)).granted);
  table.sweep_all(at_s(100'000));
  CHECK(table.usage("a@x", Counter::recipients_per_day, at_s(100'000)).used == 2);
}

TEST_CASE("buckets that leave the window are dropped and their memory given back") {
  CounterTable table;
  for (int i = 0; i < 1440; ++i) {
    use(table, "a@x", Counter::recipients_per_day, 100'000, at_s(i * 60.0));
  }
  CHECK(table.stats().buckets == 1440);
  CHECK(table.usage("a@x", Counter::recipients_per_day, at_s(86'400 + 60 * 1439)).used == 1);
  CHECK(table.stats().buckets == 1);
  CHECK(table.stats().bucket_capacity <= 16);
}

TEST_CASE("a short window keeps the default number of buckets, each at least 1 s wide") {
  const auto short_minute = scaled_window_spec(Counter::messages_per_minute, seconds(2));
  CHECK(short_minute.window == seconds(2));
  CHECK(short_minute.resolution == seconds(1));
  const auto ten_minutes = scaled_window_spec(Counter::releases_per_minute, minutes(10));
  CHECK(ten_minutes.resolution == seconds(10));
  const auto hour = scaled_window_spec(Counter::recipients_per_day, hours(1));
  CHECK(hour.resolution == seconds(2));
  CHECK_THROWS(validate({seconds(90), seconds(60)}));
  CHECK_THROWS(CounterTable(
      {{{seconds(60), seconds(0)}, {hours(24), minutes(1)}, {seconds(60), seconds(1)}}}));
}
