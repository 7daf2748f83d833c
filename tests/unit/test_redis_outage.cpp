// The Redis backend when Redis is away: defer (errors), local (fallback counting), deadlines,
// reconnection, alerts; and marks on both backends (issue 7 item 1).
#include <doctest/doctest.h>

#include <filesystem>

#include "policy_relay/policy/local_counter_store.hpp"
#include "redis_store_support.hpp"
#include "temp_dir.hpp"

namespace asio = boost::asio;
using namespace policy_relay;
using namespace policy_relay::policy;
using test::at_seconds;

namespace {

struct TempDir : test_support::TempDir {
  TempDir() : test_support::TempDir("outage") {}
};

}  // namespace

TEST_CASE("redis defer mode: an unreachable Redis is an error, reported once, then recovery") {
  test::RedisServer server;
  asio::io_context io;
  test::RedisStore redis(io, server.port());
  REQUIRE(redis.store->available());
  server.stop();
  for (int i = 0; i < 3; ++i) {
    auto result = redis.reserve("u@x", Counter::messages_per_minute, 1, 5, at_seconds(i));
    CHECK(result.error);
    CHECK_FALSE(result.granted);
  }
  REQUIRE_FALSE(redis.alerts.empty());
  CHECK(redis.alerts.front().kind == RedisAlert::Kind::unavailable);
  for (std::size_t i = 1; i < redis.alerts.size(); ++i) {
    CHECK(redis.alerts[i].kind != RedisAlert::Kind::unavailable);  // once per outage
  }
  server.start();  // same port: the client reconnects with backoff
  REQUIRE(test::run_until(io, [&] { return redis.store->available(); }));
  auto result = redis.reserve("u@x", Counter::messages_per_minute, 1, 5, at_seconds(10));
  CHECK_FALSE(result.error);
  CHECK(result.granted);
  CHECK(redis.alerts.back().kind == RedisAlert::Kind::restored);
  CHECK(redis.store->stats().outages == 1);
}

TEST_CASE("redis: a Redis that stops answering fails each wait at its deadline, never hangs") {
  test::RedisServer server;
  asio::io_context io;
  test::RedisStore redis(io, server.port());
  server.pause();  // SIGSTOP: connected, silent
  const auto started = std::chrono::steady_clock::now();
  auto result = redis.reserve("h@x", Counter::messages_per_minute, 1, 5, at_seconds(0));
  CHECK(result.error);
  CHECK(std::chrono::steady_clock::now() - started < std::chrono::seconds(9));
  server.resume();
  REQUIRE(test::run_until(io, [&] { return redis.store->available(); }));
  CHECK(redis.reserve("h@x", Counter::messages_per_minute, 1, 5, at_seconds(1)).granted);
}

TEST_CASE("redis local mode: the fallback counts while Redis is away, reminders repeat") {
  test::RedisServer server;
  asio::io_context io;
  TempDir directory;
  LocalCounterStore::Options local_options;
  local_options.start_time = at_seconds(0);
  LocalCounterStore local(directory.path.string(), io.get_executor(), local_options);
  RedisCounterStore::Options options;
  options.fallback = &local;
  options.alert_interval = std::chrono::milliseconds(0);  // every failure reminds
  test::RedisStore redis(io, server.port(), options);
  // A hold taken in Redis, committed after Redis went away: counted locally instead.
  auto before = redis.reserve("f@x", Counter::messages_per_minute, 1, 3, at_seconds(0));
  REQUIRE(before.granted);
  server.stop();
  CHECK_FALSE(redis.commit(before.reservation, at_seconds(0)));
  for (int i = 0; i < 3; ++i) {
    auto result = redis.reserve("f@x", Counter::messages_per_minute, 1, 3, at_seconds(1));
    CHECK_FALSE(result.error);
    if (i < 2) {
      REQUIRE(result.granted);
      CHECK_FALSE(redis.commit(result.reservation, at_seconds(1)));
    } else {
      CHECK_FALSE(result.granted);  // the local count holds the limit on this relay
    }
  }
  CHECK(test::run_on(io, local.usage("f@x", Counter::messages_per_minute, at_seconds(1))).used ==
        3);
  REQUIRE(redis.alerts.size() >= 2);
  CHECK(redis.alerts[0].kind == RedisAlert::Kind::unavailable);
  CHECK(redis.alerts[1].kind == RedisAlert::Kind::still_unavailable);
  CHECK(redis.store->stats().fallbacks >= 4);
  // A fallback hold released after Redis is back goes back to the fallback.
  auto held = redis.reserve("g@x", Counter::recipients_per_day, 2, 5, at_seconds(2));
  REQUIRE(held.granted);
  server.start();
  REQUIRE(test::run_until(io, [&] { return redis.store->available(); }));
  redis.store->release(held.reservation);
  CHECK(test::run_on(io, local.usage("g@x", Counter::recipients_per_day, at_seconds(2))).used == 0);
  CHECK(redis.reserve("f@x", Counter::messages_per_minute, 1, 3, at_seconds(3)).granted);
  CHECK(redis.alerts.back().kind == RedisAlert::Kind::restored);
  local.drain();
}

TEST_CASE("marks: test-and-set is atomic across relays, values expire, erase removes") {
  test::RedisServer server;
  asio::io_context io;
  test::RedisStore a(io, server.port());
  test::RedisStore b(io, server.port());
  const auto now = at_seconds(0);
  const auto first =
      test::run_on(io, a.store->put_mark("notify:bcc:s@x", "1", std::chrono::hours(24), true, now));
  const auto second =
      test::run_on(io, b.store->put_mark("notify:bcc:s@x", "1", std::chrono::hours(24), true, now));
  CHECK_FALSE(first.error);
  CHECK(first.stored);
  CHECK_FALSE(second.error);
  CHECK_FALSE(second.stored);  // notified once, by one relay
  CHECK(test::run_on(io, b.store->put_mark("suspended:s@x", "abuse IV.2", std::chrono::seconds(0),
                                           false, now))
            .stored);
  CHECK(test::run_on(io, a.store->get_mark("suspended:s@x", now)).value == "abuse IV.2");
  CHECK_FALSE(test::run_on(io, a.store->get_mark("suspended:t@x", now)).value);
  CHECK_FALSE(test::run_on(io, a.store->erase_mark("suspended:s@x", now)));
  CHECK_FALSE(test::run_on(io, b.store->get_mark("suspended:s@x", now)).value);
  server.stop();
  CHECK(test::run_on(io, a.store->get_mark("notify:bcc:s@x", now)).error);  // defer mode
}

TEST_CASE("local marks: test-and-set, expiry by the clock, and they survive a restart") {
  TempDir directory;
  asio::io_context io;
  LocalCounterStore::Options options;
  options.start_time = at_seconds(0);
  {
    LocalCounterStore store(directory.path.string(), io.get_executor(), options);
    const auto day = std::chrono::hours(24);
    CHECK(test::run_on(io, store.put_mark("notify:s@x", "1", day, true, at_seconds(0))).stored);
    CHECK_FALSE(
        test::run_on(io, store.put_mark("notify:s@x", "1", day, true, at_seconds(10))).stored);
    CHECK(test::run_on(io, store.put_mark("suspended:s@x", "IV.2", std::chrono::seconds(0), false,
                                          at_seconds(10)))
              .stored);
    CHECK(test::run_on(
              io, store.put_mark("gone:s@x", "x", std::chrono::seconds(0), false, at_seconds(10)))
              .stored);
    CHECK_FALSE(test::run_on(io, store.erase_mark("gone:s@x", at_seconds(11))));
    store.drain();
  }
  // Replayed from the journal (no clean shutdown needed: written before each call completed).
  options.start_time = at_seconds(20);
  LocalCounterStore store(directory.path.string(), io.get_executor(), options);
  CHECK(test::run_on(io, store.get_mark("notify:s@x", at_seconds(20))).value == "1");
  CHECK(test::run_on(io, store.get_mark("suspended:s@x", at_seconds(20))).value == "IV.2");
  CHECK_FALSE(test::run_on(io, store.get_mark("gone:s@x", at_seconds(20))).value);
  // A day later the notify mark is gone and may be set again.
  const auto later = at_seconds(86400 + 1);
  CHECK_FALSE(test::run_on(io, store.get_mark("notify:s@x", later)).value);
  CHECK(test::run_on(io, store.put_mark("notify:s@x", "1", std::chrono::hours(24), true, later))
            .stored);
  store.drain();
}
