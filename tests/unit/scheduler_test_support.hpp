#pragma once

// Shared by the scheduler tests: a scripted upstream, a spool in a temporary directory and a
// scheduler on one io_context, driven until a condition holds (5 s deadline).

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
#include "policy_relay/policy/local_counter_store.hpp"
#include "policy_relay/spool/spool.hpp"
#include "temp_dir.hpp"

namespace scheduler_test {

namespace asio = boost::asio;
namespace fs = std::filesystem;
using namespace policy_relay;

struct TempDir : test_support::TempDir {
  TempDir() : test_support::TempDir("sched") {}
};

// An upstream that answers from a script: each call pops the next rule, which maps a recipient
// to the reply it gets. Records what it was asked to deliver.
class ScriptedUpstream : public upstream::Upstream {
 public:
  using Rule = std::function<smtp::Reply(const std::string& recipient)>;
  std::deque<Rule> script;
  std::vector<std::pair<std::string, std::vector<std::string>>> calls;  // sender, recipients
  std::vector<std::chrono::steady_clock::time_point> call_times;

  asio::awaitable<upstream::DeliveryResult> deliver(const spool::StoredMessage& message,
                                                    std::vector<std::string> recipients) override {
    calls.emplace_back(message.envelope.sender, recipients);
    call_times.push_back(std::chrono::steady_clock::now());
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

inline Envelope envelope_for(std::vector<std::string> recipients, std::int64_t received_at) {
  Envelope envelope;
  envelope.sender = "a@edomex.gob.mx";
  envelope.recipients = std::move(recipients);
  envelope.client_address = "127.0.0.1";
  envelope.helo = "client";
  envelope.received_at = received_at;
  return envelope;
}

inline std::int64_t now_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Queue pacing for a Fixture: a LocalCounterStore whose releases window is `window`.
struct PacingSetup {
  std::uint32_t limit = 0;  // messages per window for every sender; 0 = no pacing
  std::chrono::seconds window{1};
  fs::path state_directory;  // empty: under the fixture's temporary directory
};

struct Fixture {
  TempDir dir;
  asio::io_context io;
  spool::Spool spool{{dir.path.string(), 0}};
  ScriptedUpstream upstream;
  std::unique_ptr<policy::LocalCounterStore> store;
  int bounces = 0;
  bool last_bounce_expired = false;
  delivery::Scheduler scheduler;

  explicit Fixture(delivery::Scheduler::Config config = fast_config(), PacingSetup pacing = {})
      : store(make_store(pacing)),
        scheduler(io.get_executor(), spool, upstream, bounce_builder(),
                  with_pacing(config, pacing)) {}

  std::unique_ptr<policy::LocalCounterStore> make_store(const PacingSetup& pacing) {
    if (pacing.limit == 0) {
      return nullptr;
    }
    policy::LocalCounterStore::Options options;
    options.windows[static_cast<std::size_t>(policy::Counter::releases_per_minute)] =
        policy::scaled_window_spec(policy::Counter::releases_per_minute, pacing.window);
    const fs::path state =
        pacing.state_directory.empty() ? dir.path / "state" : pacing.state_directory;
    return std::make_unique<policy::LocalCounterStore>(state.string(), io.get_executor(), options);
  }

  delivery::Scheduler::Config with_pacing(delivery::Scheduler::Config config,
                                          const PacingSetup& pacing) {
    if (store) {
      config.pacing.store = store.get();
      config.pacing.limit = [limit = pacing.limit](const std::string&) { return limit; };
    }
    return config;
  }

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

  // Stores and enqueues the messages one after the other: they arrive in this order.
  void submit_in_order(std::vector<Envelope> envelopes) {
    asio::co_spawn(
        io,
        [this, envelopes]() mutable -> asio::awaitable<void> {
          for (auto& envelope : envelopes) {
            REQUIRE_FALSE(
                co_await spool.store(envelope, "Subject: x\r\n\r\nbody\r\n", io.get_executor()));
            spool::StoredMessage stored;
            REQUIRE_FALSE(spool.load(envelope.id, stored));
            scheduler.enqueue(std::move(stored));
          }
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

}  // namespace scheduler_test
