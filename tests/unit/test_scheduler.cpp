#include <doctest/doctest.h>

#include "scheduler_test_support.hpp"

using namespace scheduler_test;

TEST_CASE("a delivered message leaves the spool") {
  Fixture f;
  f.scheduler.start({});
  f.submit(envelope_for({"b@example.org"}, now_seconds()));
  CHECK(f.run_until([&] { return f.upstream.calls.size() == 1 && f.queue_files() == 0; }));
  CHECK(f.bounces == 0);
}

TEST_CASE("a temporary failure is retried and then delivered") {
  Fixture f;
  f.upstream.script.push_back([](const std::string&) {
    return smtp::Reply{451, "4.3.0", "later"};
  });
  f.scheduler.start({});
  f.submit(envelope_for({"b@example.org"}, now_seconds()));
  CHECK(f.run_until([&] { return f.upstream.calls.size() == 2 && f.queue_files() == 0; }));
  CHECK(f.bounces == 0);
}

TEST_CASE("a permanent failure of one recipient bounces it and delivers the others once") {
  Fixture f;
  f.upstream.script.push_back([](const std::string& recipient) {
    return recipient == "bad@example.org" ? smtp::Reply{550, "5.1.1", "no such user"}
                                          : smtp::Reply{250, "2.0.0", "Ok"};
  });
  f.scheduler.start({});
  f.submit(envelope_for({"good@example.org", "bad@example.org"}, now_seconds()));
  // The original, then the DSN to the sender: two deliveries, nothing left queued.
  CHECK(f.run_until([&] { return f.upstream.calls.size() == 2 && f.queue_files() == 0; }));
  CHECK(f.bounces == 1);
  REQUIRE(f.upstream.calls.size() == 2);
  CHECK(f.upstream.calls[1].first.empty());  // the DSN comes from <>
  CHECK(f.upstream.calls[1].second == std::vector<std::string>{"a@edomex.gob.mx"});
}

TEST_CASE("after a partial delivery only the remaining recipients are retried") {
  Fixture f;
  f.upstream.script.push_back([](const std::string& recipient) {
    return recipient == "slow@example.org" ? smtp::Reply{452, "4.2.2", "mailbox full"}
                                           : smtp::Reply{250, "2.0.0", "Ok"};
  });
  f.scheduler.start({});
  f.submit(envelope_for({"fast@example.org", "slow@example.org"}, now_seconds()));
  CHECK(f.run_until([&] { return f.upstream.calls.size() == 2 && f.queue_files() == 0; }));
  REQUIRE(f.upstream.calls.size() == 2);
  CHECK(f.upstream.calls[1].second == std::vector<std::string>{"slow@example.org"});
}

TEST_CASE("a message past spool.max_age is bounced as expired instead of retried") {
  auto config = Fixture::fast_config();
  config.max_age = std::chrono::hours(1);
  Fixture f(config);
  f.upstream.script.push_back([](const std::string&) { return smtp::Reply{451, "4.4.1", "down"}; });
  f.scheduler.start({});
  f.submit(envelope_for({"b@example.org"}, now_seconds() - 2 * 3600));
  CHECK(f.run_until([&] { return f.bounces == 1 && f.queue_files() == 0; }));
  CHECK(f.last_bounce_expired);
}

TEST_CASE("a failed message from the null sender is dropped, never bounced") {
  Fixture f;
  f.upstream.script.push_back([](const std::string&) { return smtp::Reply{550, "5.1.1", "no"}; });
  f.scheduler.start({});
  auto envelope = envelope_for({"b@example.org"}, now_seconds());
  envelope.sender = "";
  f.submit(envelope);
  CHECK(f.run_until([&] { return f.upstream.calls.size() == 1 && f.queue_files() == 0; }));
  CHECK(f.bounces == 0);
}

TEST_CASE("messages recovered at start are delivered in arrival order") {
  TempDir dir;
  std::vector<std::string> ids;
  {
    Fixture writer;
    for (int i = 0; i < 3; ++i) {
      Envelope envelope = envelope_for({"r" + std::to_string(i) + "@example.org"}, now_seconds());
      asio::io_context io;
      asio::co_spawn(
          io,
          [&]() -> asio::awaitable<void> {
            REQUIRE_FALSE(co_await writer.spool.store(envelope, "x\r\n", io.get_executor()));
          },
          asio::detached);
      io.run();
      ids.push_back(envelope.id);
    }
    fs::copy(writer.dir.path / "queue", dir.path / "queue");
  }
  asio::io_context io;
  spool::Spool spool({dir.path.string(), 0});
  ScriptedUpstream upstream;
  auto config = Fixture::fast_config();
  config.workers = 1;
  delivery::Scheduler scheduler(io.get_executor(), spool, upstream, nullptr, config);
  scheduler.start(spool.recover());
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        asio::steady_timer poll(io);
        for (int i = 0; i < 200 && upstream.calls.size() < 3; ++i) {
          poll.expires_after(std::chrono::milliseconds(5));
          co_await poll.async_wait(asio::use_awaitable);
        }
        co_await scheduler.stop(std::chrono::steady_clock::now() + std::chrono::seconds(1));
      },
      asio::detached);
  io.run();
  REQUIRE(upstream.calls.size() == 3);
  for (int i = 0; i < 3; ++i) {
    CHECK(upstream.calls[i].second.front() == "r" + std::to_string(i) + "@example.org");
  }
}
