#include <doctest/doctest.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <deque>
#include <filesystem>
#include <functional>

#include "policy_relay/delivery/scheduler.hpp"
#include "policy_relay/spool/spool.hpp"

namespace asio = boost::asio;
namespace fs = std::filesystem;
using namespace policy_relay;

namespace {

struct TempDir {
  fs::path path;
  TempDir() {
    char pattern[] = "/tmp/policy-relay-sched-XXXXXX";
    path = ::mkdtemp(pattern);
  }
  ~TempDir() { fs::remove_all(path); }
};

// An upstream that answers from a script: each call pops the next rule, which maps a recipient
// to the reply it gets. Records what it was asked to deliver.
class ScriptedUpstream : public upstream::Upstream {
 public:
  using Rule = std::function<smtp::Reply(const std::string& recipient)>;
  std::deque<Rule> script;
  std::vector<std::pair<std::string, std::vector<std::string>>> calls;  // sender, recipients

  asio::awaitable<upstream::DeliveryResult> deliver(const spool::StoredMessage& message,
                                                    std::vector<std::string> recipients) override {
    calls.emplace_back(message.envelope.sender, recipients);
    Rule rule = script.empty() ? Rule([](const std::string&) {
      return smtp::Reply{250, "2.0.0", "Ok"};
    })
                               : script.front();
    if (!script.empty()) {
      script.pop_front();
    }
    upstream::DeliveryResult result;
    for (const auto& recipient : recipients) {
      result.recipients.push_back({recipient, rule(recipient)});
    }
    result.summary = "scripted";
    co_return result;
  }
  void shutdown() override {}
};

Envelope envelope_for(std::vector<std::string> recipients, std::int64_t received_at) {
  Envelope envelope;
  envelope.sender = "a@edomex.gob.mx";
  envelope.recipients = std::move(recipients);
  envelope.client_address = "127.0.0.1";
  envelope.helo = "client";
  envelope.received_at = received_at;
  return envelope;
}

std::int64_t now_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

struct Fixture {
  TempDir dir;
  asio::io_context io;
  spool::Spool spool{{dir.path.string(), 0}};
  ScriptedUpstream upstream;
  int bounces = 0;
  bool last_bounce_expired = false;
  delivery::Scheduler scheduler;

  explicit Fixture(delivery::Scheduler::Config config = fast_config())
      : scheduler(io.get_executor(), spool, upstream, bounce_builder(), config) {}

  static delivery::Scheduler::Config fast_config() {
    delivery::Scheduler::Config config;
    config.retry_min = std::chrono::milliseconds(50);
    config.retry_max = std::chrono::milliseconds(100);
    config.workers = 2;
    return config;
  }

  delivery::Scheduler::BounceBuilder bounce_builder() {
    return [this](const spool::StoredMessage& original,
                  const std::vector<upstream::RecipientResult>& failed,
                  bool expired) -> std::optional<upstream::Dsn> {
      ++bounces;
      last_bounce_expired = expired;
      upstream::Dsn dsn;
      dsn.envelope.sender = "";
      dsn.envelope.recipients = {original.envelope.sender};
      dsn.message = "Subject: failed " + failed.front().recipient + "\r\n\r\nreport\r\n";
      return dsn;
    };
  }

  // Stores a message the way a session does, then hands it to the scheduler.
  void submit(Envelope envelope) {
    asio::co_spawn(
        io,
        [this, envelope]() mutable -> asio::awaitable<void> {
          REQUIRE_FALSE(
              co_await spool.store(envelope, "Subject: x\r\n\r\nbody\r\n", io.get_executor()));
          spool::StoredMessage stored;
          REQUIRE_FALSE(spool.load(envelope.id, stored));
          scheduler.enqueue(std::move(stored));
        },
        asio::detached);
  }

  // Runs the loop until `done` or a 5 s deadline; then stops the scheduler.
  bool run_until(const std::function<bool()>& done) {
    bool reached = false;
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
          asio::steady_timer poll(io);
          const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
          while (!(reached = done()) && std::chrono::steady_clock::now() < deadline) {
            poll.expires_after(std::chrono::milliseconds(5));
            co_await poll.async_wait(asio::use_awaitable);
          }
          co_await scheduler.stop(std::chrono::steady_clock::now() + std::chrono::seconds(1));
        },
        asio::detached);
    io.run();
    return reached;
  }

  std::size_t queue_files() const {
    return static_cast<std::size_t>(
        std::distance(fs::directory_iterator(dir.path / "queue"), fs::directory_iterator()));
  }
};

}  // namespace

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
