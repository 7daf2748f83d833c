// The Redis counter backend against a real redis-server: the Lua scripts' semantics, parity
// with the local backend, leases, expiry, NOSCRIPT (issue 7 item 1).
#include <doctest/doctest.h>

#include <filesystem>

#include "policy_relay/policy/local_counter_store.hpp"
#include "redis_store_support.hpp"

namespace asio = boost::asio;
using namespace policy_relay;
using namespace policy_relay::policy;
using test::at_seconds;

namespace {

std::pair<std::error_code, RedisValue> raw(asio::io_context& io, RedisClient& client,
                                           std::vector<std::string> command) {
  return test::run_on(io, client.command(std::move(command)));
}

struct RawClient {
  RedisClient client;
  RawClient(asio::io_context& io, std::uint16_t port) : client(io.get_executor(), options(port)) {
    client.start();
    test::run_until(io, [this] { return client.ready(); });
  }
  static RedisClientOptions options(std::uint16_t port) {
    RedisClientOptions options;
    options.endpoint.port = port;
    return options;
  }
};

}  // namespace

TEST_CASE("redis: two relays sharing one Redis grant exactly the limit between them") {
  test::RedisServer server;
  asio::io_context io;
  test::RedisStore a(io, server.port());
  test::RedisStore b(io, server.port());
  const auto now = at_seconds(10);
  std::vector<Reservation> held;  // held[i] was granted by relay i % 2 (a, b, a, ...)
  int granted = 0;
  for (int i = 0; i < 10; ++i) {
    auto& relay = i % 2 == 0 ? a : b;
    auto result = relay.reserve("s@edomex.gob.mx", Counter::messages_per_minute, 1, 5, now);
    REQUIRE_FALSE(result.error);
    if (result.granted) {
      ++granted;
      held.push_back(result.reservation);
    } else {
      CHECK(result.used == 5);
    }
  }
  CHECK(granted == 5);
  // Commit three, release two: two units come back, for either relay.
  for (int i = 0; i < 3; ++i) {
    CHECK_FALSE((i % 2 == 0 ? a : b).commit(held[i], now));
  }
  b.store->release(held[3]);
  a.store->release(held[4]);
  CHECK(a.usage("s@edomex.gob.mx", Counter::messages_per_minute, now).used <= 4);
  CHECK(b.usage("s@edomex.gob.mx", Counter::messages_per_minute, now).used == 3);
  CHECK(a.reserve("s@edomex.gob.mx", Counter::messages_per_minute, 2, 5, now).granted);
  CHECK_FALSE(b.reserve("s@edomex.gob.mx", Counter::messages_per_minute, 1, 5, now).granted);
  CHECK(a.store->stats().failures == 0);
  CHECK(a.alerts.empty());
}

TEST_CASE("redis: counts exactly like the local backend, bucket by bucket") {
  test::RedisServer server;
  asio::io_context io;
  test::RedisStore redis(io, server.port());
  char pattern[] = "/tmp/policy-relay-parity-XXXXXX";
  const std::filesystem::path directory = ::mkdtemp(pattern);
  LocalCounterStore::Options options;
  options.start_time = at_seconds(0);
  {
    LocalCounterStore local(directory.string(), io.get_executor(), options);
    // A day of traffic for one sender on both counters, with refusals, releases and a clock
    // that steps back once: every answer (granted, used, frees_at) must be the same.
    const double times[] = {0.4,   0.9,   1.2,   30,    59.9,  60.5,  61.0,  61.2,
                            90,    119.5, 121.1, 3600,  3599,  43200, 86400, 86400.6,
                            86459, 86461, 86520, 90000, 90000, 90061};
    int step = 0;
    for (double t : times) {
      const auto now = at_seconds(t);
      for (Counter counter : {Counter::messages_per_minute, Counter::recipients_per_day}) {
        CAPTURE(t);
        CAPTURE(static_cast<int>(counter));
        const std::uint64_t limit = counter == Counter::messages_per_minute ? 3 : 7;
        const std::uint64_t amount = counter == Counter::messages_per_minute ? 1 : 2;
        auto from_local = test::run_on(io, local.try_reserve("p@x", counter, amount, limit, now));
        auto from_redis = redis.reserve("p@x", counter, amount, limit, now);
        REQUIRE_FALSE(from_redis.error);
        CHECK(from_local.granted == from_redis.granted);
        CHECK(from_local.used == from_redis.used);
        if (!from_local.granted) {
          CHECK(std::chrono::floor<std::chrono::seconds>(from_local.frees_at) ==
                from_redis.frees_at);
          continue;
        }
        if (++step % 4 == 0) {  // every fourth grant is given back
          local.release(from_local.reservation);
          redis.store->release(from_redis.reservation);
        } else {
          CHECK_FALSE(test::run_on(io, local.commit(from_local.reservation, now)));
          CHECK_FALSE(redis.commit(from_redis.reservation, now));
        }
        const auto local_usage = test::run_on(io, local.usage("p@x", counter, now));
        const auto redis_usage = redis.usage("p@x", counter, now);
        CHECK(local_usage.used == redis_usage.used);
        CHECK(local_usage.next_free == redis_usage.next_free);
      }
    }
    local.drain();
  }
  std::filesystem::remove_all(directory);
}

TEST_CASE("redis: try_count answers like the local backend and takes no hold") {
  test::RedisServer server;
  asio::io_context io;
  test::RedisStore redis(io, server.port());
  RawClient raw_client(io, server.port());
  char pattern[] = "/tmp/policy-relay-count-XXXXXX";
  const std::filesystem::path directory = ::mkdtemp(pattern);
  LocalCounterStore::Options options;
  options.start_time = at_seconds(0);
  {
    LocalCounterStore local(directory.string(), io.get_executor(), options);
    const double times[] = {0.2, 0.5, 0.9, 1.1, 30, 59.9, 60.4, 61.0, 61.3, 62, 125, 125.5};
    for (double t : times) {
      CAPTURE(t);
      const auto now = at_seconds(t);
      const auto from_local =
          test::run_on(io, local.try_count("c@x", Counter::releases_per_minute, 1, 3, now));
      const auto from_redis =
          test::run_on(io, redis.store->try_count("c@x", Counter::releases_per_minute, 1, 3, now));
      REQUIRE_FALSE(from_redis.error);
      CHECK_FALSE(from_redis.reservation);
      CHECK(from_local.granted == from_redis.granted);
      CHECK(from_local.used == from_redis.used);
      if (!from_local.granted) {
        CHECK(std::chrono::floor<std::chrono::seconds>(from_local.frees_at) == from_redis.frees_at);
      }
      CHECK(test::run_on(io, local.usage("c@x", Counter::releases_per_minute, now)).used ==
            redis.usage("c@x", Counter::releases_per_minute, now).used);
    }
    local.drain();
  }
  std::filesystem::remove_all(directory);
  // No hold was taken: the lease set of the counter does not exist.
  const std::string key = redis.store->counter_key("c@x", Counter::releases_per_minute);
  CHECK(raw(io, raw_client.client, {"EXISTS", key + ":leases"}).second.integer == 0);
}

TEST_CASE("redis: a hold of a relay that died ends with its lease; a commit after it counts") {
  test::RedisServer server;
  asio::io_context io;
  RedisCounterStore::Options options;
  options.reservation_ttl = std::chrono::seconds(30);
  test::RedisStore dead(io, server.port(), options);
  test::RedisStore alive(io, server.port(), options);
  auto held = dead.reserve("d@x", Counter::recipients_per_day, 5, 5, at_seconds(0));
  REQUIRE(held.granted);
  dead.store->close();  // the relay is gone: nobody releases its hold
  CHECK_FALSE(alive.reserve("d@x", Counter::recipients_per_day, 1, 5, at_seconds(29)).granted);
  auto after = alive.reserve("d@x", Counter::recipients_per_day, 5, 5, at_seconds(30.5));
  CHECK(after.granted);
  CHECK(after.used == 0);
  // A commit whose lease ended still counts its units: never fewer than were granted.
  auto late = alive.reserve("l@x", Counter::messages_per_minute, 1, 10, at_seconds(0));
  REQUIRE(late.granted);
  CHECK_FALSE(alive.commit(late.reservation, at_seconds(40)));
  CHECK(alive.usage("l@x", Counter::messages_per_minute, at_seconds(40)).used == 1);
}

TEST_CASE("redis: keys expire by themselves when their last bucket and lease are gone") {
  test::RedisServer server;
  asio::io_context io;
  test::RedisStore redis(io, server.port());
  RawClient raw_client(io, server.port());
  const auto now = at_seconds(100.2);
  auto result = redis.reserve("e@x", Counter::messages_per_minute, 1, 10, now);
  REQUIRE(result.granted);
  REQUIRE_FALSE(redis.commit(result.reservation, now));
  const std::string key = redis.store->counter_key("e@x", Counter::messages_per_minute);
  const auto ttl = raw(io, raw_client.client, {"PTTL", key}).second.integer;
  // Bucket 100 counts until 101 + 60 s: 60.8 s from 100.2.
  CHECK(ttl > 60'000);
  CHECK(ttl <= 60'800);
  // Only a lease: the keys live as long as the lease (15 min by default).
  auto lease = redis.reserve("f@x", Counter::recipients_per_day, 1, 10, now);
  REQUIRE(lease.granted);
  const std::string day_key = redis.store->counter_key("f@x", Counter::recipients_per_day);
  const auto lease_ttl = raw(io, raw_client.client, {"PTTL", day_key + ":leases"}).second.integer;
  CHECK(lease_ttl > 14 * 60'000);
  CHECK(lease_ttl <= 15 * 60'000);
  // Released and pruned: nothing is left.
  redis.store->release(lease.reservation);
  redis.usage("f@x", Counter::recipients_per_day, now);  // after the release on the same pipe
  CHECK(raw(io, raw_client.client, {"EXISTS", day_key + ":leases"}).second.integer == 0);
  CHECK(raw(io, raw_client.client, {"HGET", day_key, "r"}).second.text == "0");
}

TEST_CASE("redis: scripts flushed from the server (NOSCRIPT) are sent again") {
  test::RedisServer server;
  asio::io_context io;
  test::RedisStore redis(io, server.port());
  RawClient raw_client(io, server.port());
  // Let the SCRIPT LOADs of the connection land, then flush them.
  REQUIRE(redis.reserve("n@x", Counter::messages_per_minute, 1, 2, at_seconds(0)).granted);
  REQUIRE_FALSE(raw(io, raw_client.client, {"SCRIPT", "FLUSH"}).first);
  auto result = redis.reserve("n@x", Counter::messages_per_minute, 1, 2, at_seconds(1));
  CHECK_FALSE(result.error);
  CHECK(result.granted);
  CHECK(result.used == 1);
  CHECK_FALSE(redis.commit(result.reservation, at_seconds(1)));
  CHECK(redis.usage("n@x", Counter::messages_per_minute, at_seconds(1)).used == 2);
  CHECK(redis.store->stats().failures == 0);
}

TEST_CASE("redis: counting with Redis's own clock (the daemon's default)") {
  test::RedisServer server;
  asio::io_context io;
  RedisCounterStore::Options options;
  test::RedisStore redis(io, server.port(), options);
  // RedisStore turns server_time off; a second store with it on:
  options.connection.endpoint.port = server.port();
  options.server_time = true;
  RedisCounterStore clocked(io.get_executor(), options);
  clocked.start();
  REQUIRE(test::run_until(io, [&] { return clocked.available(); }));
  const auto wrong_clock = at_seconds(-1e9);  // ignored: Redis's TIME counts
  auto first =
      test::run_on(io, clocked.try_reserve("t@x", Counter::messages_per_minute, 1, 1, wrong_clock));
  REQUIRE(first.granted);
  CHECK_FALSE(test::run_on(io, clocked.commit(first.reservation, wrong_clock)));
  auto second =
      test::run_on(io, clocked.try_reserve("t@x", Counter::messages_per_minute, 1, 1, wrong_clock));
  CHECK_FALSE(second.granted);
  const auto now = std::chrono::system_clock::now();
  CHECK(second.frees_at > now + std::chrono::seconds(58));
  CHECK(second.frees_at < now + std::chrono::seconds(63));
  clocked.close();
}
