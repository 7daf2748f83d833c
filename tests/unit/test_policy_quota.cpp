// POLICY VI.4: recipients per day per sender, rolling 24 h, reserved at RCPT and committed with
// the message; daily_action defer | reject; quota_warning at 80 % and 95 %.
#include <doctest/doctest.h>

#include "policy_test_support.hpp"

using namespace test_support;
using policy::Counter;
using policy::Decision;

namespace {

constexpr const char* kSender = "a@edomex.gob.mx";

}  // namespace

TEST_CASE(
    "exactly recipients_per_day recipients pass; the next RCPT gets 451 4.7.1 with the time") {
  PolicyFixture f;
  f.config.limits.recipients_per_day = 5;
  f.build();
  CHECK(f.send(kSender, 3) == 3);  // t = 0
  f.clock.advance(1h);
  CHECK(f.send(kSender, 2) == 2);  // t = 1 h: 5 of 5 spent

  policy::TransactionState state;
  policy::Transaction transaction = transaction_from(kSender);
  REQUIRE(f.mail(state, transaction).accepted());
  const policy::Verdict verdict = f.rcpt(state, transaction, "late@example.org");
  CHECK(verdict.decision == Decision::defer);
  CHECK(verdict.code == 451);
  CHECK(verdict.enhanced == "4.7.1");
  // One unit frees when the t=0 message leaves the window.
  CHECK(verdict.text ==
        "Daily quota of 5 recipients reached; enough quota frees at 2026-11-30 00:00:00 UTC");
  CHECK(verdict.rule == "recipients_per_day");
  CHECK(verdict.clause == "VI.4");
  CHECK(state.recipients.empty());
  CHECK(f.used(kSender, Counter::recipients_per_day) == 5);
}

TEST_CASE("the daily window slides: recipients at t=0 free at t=24 h") {
  PolicyFixture f;
  f.config.limits.recipients_per_day = 4;
  f.build();
  CHECK(f.send(kSender, 4) == 4);
  f.clock.set(kEpoch + 24h - 1s);
  CHECK(f.send(kSender, 1) == 0);
  f.clock.set(kEpoch + 24h);
  CHECK(f.send(kSender, 5) == 4);
}

TEST_CASE("daily_action reject: the recipient over the quota gets 550 5.7.1") {
  PolicyFixture f;
  f.config.limits.recipients_per_day = 1;
  f.config.limits.daily_action = config::DailyAction::reject;
  f.build();
  policy::TransactionState state;
  policy::Transaction transaction = transaction_from(kSender);
  REQUIRE(f.mail(state, transaction).accepted());
  CHECK(f.rcpt(state, transaction, "one@example.org").accepted());
  const policy::Verdict verdict = f.rcpt(state, transaction, "two@example.org");
  CHECK(verdict.decision == Decision::reject);
  CHECK(verdict.code == 550);
  CHECK(verdict.enhanced == "5.7.1");
  CHECK(transaction.recipients.size() == 1);
}

TEST_CASE("recipient units are held until the message is accepted and given back on RSET") {
  PolicyFixture f;
  f.config.limits.recipients_per_day = 10;
  f.build();
  policy::TransactionState state;
  policy::Transaction transaction = transaction_from(kSender);
  REQUIRE(f.mail(state, transaction).accepted());
  for (int i = 0; i < 4; ++i) {
    REQUIRE(f.rcpt(state, transaction, "r" + std::to_string(i) + "@example.org").accepted());
  }
  CHECK(f.used(kSender, Counter::recipients_per_day) == 4);
  CHECK(f.store.commits == 0);
  f.engine->on_reset(state);
  CHECK(f.used(kSender, Counter::recipients_per_day) == 0);
  CHECK(f.store.open_reservations() == 0);
}

TEST_CASE("a refused RCPT gives back only its own unit") {
  PolicyFixture f;
  f.config.limits.recipients_per_day = 10;
  f.config.limits.max_recipients_per_message = 2;
  f.build();
  policy::TransactionState state;
  policy::Transaction transaction = transaction_from(kSender);
  REQUIRE(f.mail(state, transaction).accepted());
  REQUIRE(f.rcpt(state, transaction, "a@example.org").accepted());
  REQUIRE(f.rcpt(state, transaction, "b@example.org").accepted());
  CHECK(f.rcpt(state, transaction, "c@example.org").code == 452);
  CHECK(f.used(kSender, Counter::recipients_per_day) == 2);
  CHECK_FALSE(f.commit(state));
  CHECK(f.used(kSender, Counter::recipients_per_day) == 2);
  CHECK(f.store.open_reservations() == 0);
}

TEST_CASE("two sessions of one sender racing for the last units never overshoot") {
  PolicyFixture f;
  f.config.limits.recipients_per_day = 3;
  f.build();
  policy::TransactionState a;
  policy::TransactionState b;
  policy::Transaction ta = transaction_from(kSender);
  policy::Transaction tb = transaction_from("A@Edomex.Gob.Mx");  // the same identity
  REQUIRE(f.mail(a, ta).accepted());
  REQUIRE(f.mail(b, tb).accepted());
  // Interleaved RCPTs: whoever reserves first gets the unit.
  CHECK(f.rcpt(a, ta, "1@example.org").accepted());
  CHECK(f.rcpt(b, tb, "2@example.org").accepted());
  CHECK(f.rcpt(a, ta, "3@example.org").accepted());
  CHECK(f.rcpt(b, tb, "4@example.org").code == 451);
  CHECK(f.rcpt(a, ta, "5@example.org").code == 451);
  // Both finish: exactly the limit is spent.
  CHECK_FALSE(f.commit(a));
  CHECK_FALSE(f.commit(b));
  CHECK(f.used(kSender, Counter::recipients_per_day) == 3);

  // If one of them gives up instead, its units go to the other.
  f.clock.advance(24h);
  REQUIRE(f.mail(a, ta).accepted());
  REQUIRE(f.mail(b, tb).accepted());
  ta.recipients.clear();
  tb.recipients.clear();
  CHECK(f.rcpt(a, ta, "1@example.org").accepted());
  CHECK(f.rcpt(a, ta, "2@example.org").accepted());
  CHECK(f.rcpt(a, ta, "3@example.org").accepted());
  CHECK(f.rcpt(b, tb, "4@example.org").code == 451);
  f.engine->on_reset(a);
  CHECK(f.rcpt(b, tb, "4@example.org").accepted());
}

TEST_CASE("commit makes every reservation usage and leaves nothing to release") {
  PolicyFixture f;
  f.config.limits.rate_action = config::RateAction::defer;
  f.build();
  policy::TransactionState state;
  policy::Transaction transaction = transaction_from(kSender);
  REQUIRE(f.mail(state, transaction).accepted());
  for (int i = 0; i < 50; ++i) {
    REQUIRE(f.rcpt(state, transaction, "r" + std::to_string(i) + "@example.org").accepted());
  }
  CHECK_FALSE(f.commit(state));
  CHECK(f.store.commits == 51);  // the message slot and 50 recipients, committed concurrently
  CHECK(f.store.open_reservations() == 0);
  CHECK(state.recipients.empty());
  CHECK_FALSE(state.message);
  state.reset();
  CHECK(f.used(kSender, Counter::recipients_per_day) == 50);
  CHECK(f.used(kSender, Counter::messages_per_minute) == 1);
}

TEST_CASE("a failed commit reports the error and gives the reservations back") {
  PolicyFixture f;
  f.build();
  policy::TransactionState state;
  policy::Transaction transaction = transaction_from(kSender);
  REQUIRE(f.mail(state, transaction).accepted());
  REQUIRE(f.rcpt(state, transaction, "a@example.org").accepted());
  REQUIRE(f.rcpt(state, transaction, "b@example.org").accepted());
  f.store.fail_commit = true;
  CHECK(f.commit(state));
  CHECK(f.store.open_reservations() == 0);
  CHECK(f.used(kSender, Counter::recipients_per_day) == 0);
}

TEST_CASE("quota_warning is due when a message crosses 80 % and 95 % of the daily quota") {
  PolicyFixture f;
  f.config.limits.recipients_per_day = 20;  // thresholds: 16 and 19 recipients
  f.build();
  CHECK(f.send(kSender, 15) == 15);
  policy::TransactionState state;
  policy::Transaction transaction = transaction_from(kSender);
  REQUIRE(f.mail(state, transaction).accepted());
  REQUIRE(f.rcpt(state, transaction, "a@example.org").accepted());
  REQUIRE(state.quota_warnings.size() == 1);
  CHECK(state.quota_warnings[0].percent == 80);
  CHECK(state.quota_warnings[0].used == 16);
  CHECK(state.quota_warnings[0].limit == 20);
  REQUIRE(f.rcpt(state, transaction, "b@example.org").accepted());
  REQUIRE(f.rcpt(state, transaction, "c@example.org").accepted());
  CHECK(state.quota_warnings.size() == 1);
  REQUIRE(f.rcpt(state, transaction, "d@example.org").accepted());
  REQUIRE(state.quota_warnings.size() == 2);
  CHECK(state.quota_warnings[1].percent == 95);
  CHECK(state.quota_warnings[1].used == 19);
  // Given back: the warnings go with the transaction; the next crossing warns again.
  f.engine->on_reset(state);
  CHECK(state.quota_warnings.empty());
  transaction.recipients.clear();
  REQUIRE(f.mail(state, transaction).accepted());
  REQUIRE(f.rcpt(state, transaction, "a@example.org").accepted());
  CHECK(state.quota_warnings.size() == 1);
}

TEST_CASE("counter_sync write commits the counts without waiting for a disk sync; fsync waits") {
  {
    PolicyFixture f;
    f.build();  // default: [state] counter_sync = "write"
    CHECK(f.send(kSender, 2) == 2);
    CHECK(f.store.unsynced_commits > 0);
    CHECK(f.store.commits == f.store.unsynced_commits);
  }
  {
    PolicyFixture f;
    f.config.state.counter_sync = config::CounterSync::fsync;
    f.build();
    CHECK(f.send(kSender, 2) == 2);
    CHECK(f.store.unsynced_commits == 0);
    CHECK(f.store.commits > 0);
  }
}
