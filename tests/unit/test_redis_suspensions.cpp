// Suspensions shared through Redis (issue 7: "suspensions ... live there too"): what one relay
// suspends, every relay refuses; the first record wins; a damaged record still suspends.
#include <doctest/doctest.h>

#include "policy_relay/ops/redis_suspensions.hpp"
#include "policy_relay/ops/state_files.hpp"
#include "redis_store_support.hpp"

namespace asio = boost::asio;
using namespace policy_relay;
using ops::RedisSuspensionStore;
using policy::Suspension;

namespace {

Suspension suspension_of(std::string identity, std::string reason) {
  Suspension suspension;
  suspension.identity = std::move(identity);
  suspension.reason = std::move(reason);
  suspension.source = "operator";
  suspension.since = 1'794'960'000;
  return suspension;
}

// Two relays sharing one redis-server: each its counter store and suspension store; b reads
// Redis again every `b_refresh`.
struct TwoRelays {
  explicit TwoRelays(std::chrono::milliseconds b_refresh = RedisSuspensionStore::kDefaultRefresh)
      : b(io.get_executor(), *redis_b.store, b_refresh) {}
  test::RedisServer server;
  asio::io_context io;
  test::RedisStore redis_a{io, server.port()};
  test::RedisStore redis_b{io, server.port()};
  RedisSuspensionStore a{io.get_executor(), *redis_a.store};
  RedisSuspensionStore b;
};

}  // namespace

TEST_CASE("redis suspensions: one relay suspends, the other learns it; resume lifts it for all") {
  TwoRelays relays;
  asio::io_context& io = relays.io;
  RedisSuspensionStore& a = relays.a;
  RedisSuspensionStore& b = relays.b;
  std::vector<std::string> lifted_for_a;
  std::vector<std::string> lifted_for_b;
  a.set_on_lifted([&](const std::string& identity) { lifted_for_a.push_back(identity); });
  b.set_on_lifted([&](const std::string& identity) { lifted_for_b.push_back(identity); });

  CHECK_FALSE(test::run_on(io, a.suspend(suspension_of("juan@edomex.gob.mx", "leaked"))));
  REQUIRE(a.find("juan@edomex.gob.mx") != nullptr);
  CHECK(b.find("juan@edomex.gob.mx") == nullptr);  // until b reads Redis again
  CHECK_FALSE(test::run_on(io, b.refresh()));
  const Suspension* seen = b.find("juan@edomex.gob.mx");
  REQUIRE(seen != nullptr);
  CHECK(seen->reason == "leaked");
  CHECK(seen->source == "operator");
  CHECK(seen->since == 1'794'960'000);

  // A second suspension of the same sender keeps the first record, on both relays.
  CHECK_FALSE(test::run_on(io, b.suspend(suspension_of("juan@edomex.gob.mx", "again"))));
  CHECK(b.find("juan@edomex.gob.mx")->reason == "leaked");
  CHECK(b.list().size() == 1);

  bool existed = false;
  CHECK_FALSE(test::run_on(io, b.resume("juan@edomex.gob.mx", existed)));
  CHECK(existed);
  CHECK(b.find("juan@edomex.gob.mx") == nullptr);
  CHECK(a.find("juan@edomex.gob.mx") != nullptr);  // a's copy until its next read
  CHECK_FALSE(test::run_on(io, a.refresh()));
  CHECK(a.find("juan@edomex.gob.mx") == nullptr);
  // a learns the lift from Redis and is told (to release what it held); b lifted it itself.
  CHECK(lifted_for_a == std::vector<std::string>{"juan@edomex.gob.mx"});
  CHECK(lifted_for_b.empty());
  existed = true;
  CHECK_FALSE(test::run_on(io, a.resume("juan@edomex.gob.mx", existed)));
  CHECK_FALSE(existed);
}

TEST_CASE("redis suspensions: the refresh loop picks up changes; a damaged record suspends") {
  TwoRelays relays(std::chrono::milliseconds(50));
  asio::io_context& io = relays.io;
  RedisSuspensionStore& a = relays.a;
  RedisSuspensionStore& b = relays.b;
  b.start();
  CHECK_FALSE(test::run_on(io, a.suspend(suspension_of("ana@edomex.gob.mx", "abuse"))));
  CHECK(test::run_until(io, [&] { return b.find("ana@edomex.gob.mx") != nullptr; }));

  // Someone wrote garbage into the hash: the sender stays suspended, never silently lifted.
  std::vector<std::string> garbage{"HSET", relays.redis_a.store->key_prefix() + "suspensions",
                                   "pepe@edomex.gob.mx", "{not json"};
  CHECK_FALSE(test::run_on(io, relays.redis_a.store->shared_command(std::move(garbage))).first);
  CHECK(test::run_until(io, [&] { return b.find("pepe@edomex.gob.mx") != nullptr; }));
  CHECK(b.find("pepe@edomex.gob.mx")->reason == "damaged record in Redis");
  CHECK(b.list().size() == 2);

  // Redis gone: the last copy stays in force; changes fail and say so.
  relays.server.stop();
  CHECK(test::run_on(io, b.suspend(suspension_of("otro@edomex.gob.mx", "x"))));
  CHECK(b.find("ana@edomex.gob.mx") != nullptr);
  b.stop();
  test::run_until(
      io, [] { return false; }, std::chrono::milliseconds(100));
}
