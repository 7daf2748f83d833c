// Queue pacing (rate_action = "queue", POLICY VI.4): the scheduler hands at most N messages of
// one sender to the upstream in any window, in arrival order, without holding up other senders.
// Windows of 1 s (bucket 1 s) keep these tests short; the store counts them as it counts 60 s.
#include <doctest/doctest.h>

#include "scheduler_test_support.hpp"

using namespace scheduler_test;
using std::chrono::milliseconds;
using std::chrono::seconds;
using std::chrono::steady_clock;

namespace {

std::vector<Envelope> messages_from(const std::string& sender, int count,
                                    const std::string& tag = "r") {
  std::vector<Envelope> envelopes;
  for (int i = 0; i < count; ++i) {
    Envelope envelope = envelope_for({tag + std::to_string(i) + "@example.org"}, now_seconds());
    envelope.sender = sender;
    envelopes.push_back(std::move(envelope));
  }
  return envelopes;
}

// Any `limit` + 1 consecutive hand-overs span at least `window`.
void check_spacing(const std::vector<steady_clock::time_point>& times, std::size_t limit,
                   milliseconds window) {
  for (std::size_t i = 0; i + limit < times.size(); ++i) {
    CAPTURE(i);
    CHECK(times[i + limit] - times[i] >= window);
  }
}

}  // namespace

TEST_CASE("a paced sender's messages reach the upstream at most N per window, in arrival order") {
  Fixture f(Fixture::fast_config(), PacingSetup{2, seconds(1), {}});
  f.scheduler.start({});
  f.submit_in_order(messages_from("a@edomex.gob.mx", 4));
  CHECK(f.run_until([&] { return f.upstream.calls.size() == 4; }));
  REQUIRE(f.upstream.calls.size() == 4);
  for (int i = 0; i < 4; ++i) {
    CHECK(f.upstream.calls[i].second.front() == "r" + std::to_string(i) + "@example.org");
  }
  check_spacing(f.upstream.call_times, 2, milliseconds(1000));
  CHECK(f.scheduler.backlog("a@edomex.gob.mx") == 0);
}

TEST_CASE("other senders are not held up behind a paced one") {
  Fixture f(Fixture::fast_config(), PacingSetup{1, seconds(60), {}});
  f.scheduler.start({});
  auto envelopes = messages_from("a@edomex.gob.mx", 3, "a");
  auto other = messages_from("b@edomex.gob.mx", 1, "b");
  envelopes.push_back(other.front());
  f.submit_in_order(envelopes);
  CHECK(f.run_until(
      [&] { return f.upstream.calls.size() == 2 && f.scheduler.backlog("a@edomex.gob.mx") == 2; }));
  REQUIRE(f.upstream.calls.size() == 2);
  CHECK(f.upstream.calls[0].second.front() == "a0@example.org");
  CHECK(f.upstream.calls[1].second.front() == "b0@example.org");
}

TEST_CASE("messages from the null sender are never paced") {
  Fixture f(Fixture::fast_config(), PacingSetup{1, seconds(60), {}});
  f.scheduler.start({});
  f.submit_in_order(messages_from("", 3));
  CHECK(f.run_until([&] { return f.upstream.calls.size() == 3; }));
}

TEST_CASE("backlog counts a sender's messages not yet released, under its identity") {
  Fixture f(Fixture::fast_config(), PacingSetup{1, seconds(60), {}});
  f.scheduler.start({});
  auto envelopes = messages_from("Mixed.Case@EDOMEX.gob.mx", 4);
  envelopes[3].auth_user = "operator7";  // an authenticated submission counts for its user
  f.submit_in_order(envelopes);
  CHECK(f.run_until([&] {
    return f.upstream.calls.size() == 2 && f.scheduler.backlog("mixed.case@edomex.gob.mx") == 2;
  }));
  CHECK(f.scheduler.backlog("operator7") == 0);
  CHECK(f.scheduler.backlog("nobody@edomex.gob.mx") == 0);
  CHECK(f.scheduler.queued() == 2);
}

TEST_CASE("a retry is a hand-over too: it waits for a free slot in the window") {
  Fixture f(Fixture::fast_config(), PacingSetup{1, seconds(1), {}});
  f.upstream.script.push_back([](const std::string&) {
    return smtp::Reply{451, "4.3.0", "later"};
  });
  f.scheduler.start({});
  f.submit_in_order(messages_from("a@edomex.gob.mx", 1));
  CHECK(f.run_until([&] { return f.upstream.calls.size() == 2 && f.queue_files() == 0; }));
  REQUIRE(f.upstream.call_times.size() == 2);
  // retry_min is 50 ms, but the window holds the second hand-over for a second.
  CHECK(f.upstream.call_times[1] - f.upstream.call_times[0] >= milliseconds(1000));
}

TEST_CASE("the release window survives a restart of the scheduler and its store") {
  TempDir state;
  {
    Fixture before(Fixture::fast_config(), PacingSetup{2, seconds(60), state.path / "state"});
    before.scheduler.start({});
    before.submit_in_order(messages_from("a@edomex.gob.mx", 2));
    REQUIRE(before.run_until([&] { return before.upstream.calls.size() == 2; }));
  }
  Fixture after(Fixture::fast_config(), PacingSetup{2, seconds(60), state.path / "state"});
  after.scheduler.start({});
  after.submit_in_order(messages_from("a@edomex.gob.mx", 1));
  const auto started = steady_clock::now();
  after.run_until([&] { return steady_clock::now() - started > milliseconds(500); });
  CHECK(after.upstream.calls.empty());
  CHECK(after.scheduler.backlog("a@edomex.gob.mx") == 1);
}
