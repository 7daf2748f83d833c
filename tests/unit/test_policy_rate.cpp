// POLICY VI.4: messages per minute per sender, rolling 60 s; rate_action queue | defer | reject.
#include <doctest/doctest.h>

#include "policy_test_support.hpp"

using namespace test_support;
using policy::Decision;

namespace {

constexpr const char* kSender = "a@edomex.gob.mx";

PolicyFixture& with_rate(PolicyFixture& f, config::RateAction action, std::uint32_t per_minute) {
  f.config.limits.rate_action = action;
  f.config.limits.messages_per_minute = per_minute;
  f.build();
  return f;
}

}  // namespace

TEST_CASE("defer mode: exactly N messages in a minute pass, the N+1th MAIL gets 451 4.7.1") {
  PolicyFixture f;
  with_rate(f, config::RateAction::defer, 3);
  for (int i = 0; i < 3; ++i) {
    CHECK(f.send(kSender, 1) == 1);
    f.clock.advance(1s);
  }
  policy::TransactionState state;
  const policy::Verdict verdict = f.mail(state, transaction_from(kSender));
  CHECK(verdict.decision == Decision::defer);
  CHECK(verdict.code == 451);
  CHECK(verdict.enhanced == "4.7.1");
  // The first message (t=0) leaves the window at t=60 s.
  CHECK(verdict.text ==
        "Too many messages: at most 3 per minute; try again after 2026-11-29 00:01:00 UTC");
  CHECK(verdict.rule == "messages_per_minute");
  CHECK(verdict.clause == "VI.4");
  CHECK_FALSE(state.active());
  // Another sender is not affected.
  CHECK(f.send("b@edomex.gob.mx", 1) == 1);
}

TEST_CASE("the per-minute window slides: a message at t=0 frees its slot at t=60 s") {
  PolicyFixture f;
  with_rate(f, config::RateAction::defer, 2);
  CHECK(f.send(kSender, 1) == 1);  // t = 0
  f.clock.advance(30s);
  CHECK(f.send(kSender, 1) == 1);  // t = 30 s
  f.clock.set(kEpoch + 59'999ms);
  CHECK(f.send(kSender, 1) == -1);
  f.clock.set(kEpoch + 60s);
  CHECK(f.send(kSender, 1) == 1);  // the t=0 message left; t=30 s and t=60 s count now
  f.clock.set(kEpoch + 89s);
  CHECK(f.send(kSender, 1) == -1);
  f.clock.set(kEpoch + 90s);
  CHECK(f.send(kSender, 1) == 1);
}

TEST_CASE("reject mode: the N+1th MAIL gets 550 5.7.1") {
  PolicyFixture f;
  with_rate(f, config::RateAction::reject, 1);
  CHECK(f.send(kSender, 1) == 1);
  policy::TransactionState state;
  const policy::Verdict verdict = f.mail(state, transaction_from(kSender));
  CHECK(verdict.decision == Decision::reject);
  CHECK(verdict.code == 550);
  CHECK(verdict.enhanced == "5.7.1");
}

TEST_CASE("an open transaction holds its message slot; RSET and refusal give it back") {
  PolicyFixture f;
  with_rate(f, config::RateAction::defer, 1);
  policy::TransactionState first;
  policy::Transaction transaction = transaction_from(kSender);
  REQUIRE(f.mail(first, transaction).accepted());
  CHECK(f.used(kSender, policy::Counter::messages_per_minute) == 1);

  policy::TransactionState second;
  CHECK(f.mail(second, transaction_from(kSender)).code == 451);  // the slot is held

  f.engine->on_reset(first);  // RSET
  CHECK(f.used(kSender, policy::Counter::messages_per_minute) == 0);
  CHECK(f.mail(second, transaction_from(kSender)).accepted());

  // A refusal later in the transaction (oversized DATA) gives it back too.
  f.engine->message_too_big(second);
  CHECK(f.used(kSender, policy::Counter::messages_per_minute) == 0);
  CHECK(f.store.open_reservations() == 0);
}

TEST_CASE("a transaction state destroyed mid-transaction (disconnect) releases its slot") {
  PolicyFixture f;
  with_rate(f, config::RateAction::defer, 1);
  {
    policy::TransactionState state;
    policy::Transaction transaction = transaction_from(kSender);
    REQUIRE(f.mail(state, transaction).accepted());
    REQUIRE(f.rcpt(state, transaction, "x@example.org").accepted());
  }
  CHECK(f.store.open_reservations() == 0);
  CHECK(f.send(kSender, 1) == 1);
}

TEST_CASE("a new MAIL in the same session ends the earlier transaction's hold") {
  PolicyFixture f;
  with_rate(f, config::RateAction::defer, 1);
  policy::TransactionState state;
  REQUIRE(f.mail(state, transaction_from(kSender)).accepted());
  CHECK(f.mail(state, transaction_from(kSender)).accepted());
  CHECK(f.used(kSender, policy::Counter::messages_per_minute) == 1);
}

TEST_CASE("queue mode accepts past the rate and counts nothing") {
  PolicyFixture f;
  with_rate(f, config::RateAction::queue, 2);
  for (int i = 0; i < 5; ++i) {
    CHECK(f.send(kSender, 1) == 1);
  }
  CHECK(f.used(kSender, policy::Counter::messages_per_minute) == 0);
}

TEST_CASE("queue mode: MAIL gets 451 4.7.1 once queue_backlog_per_sender messages wait") {
  PolicyFixture f;
  f.config.limits.queue_backlog_per_sender = 300;
  with_rate(f, config::RateAction::queue, 30);
  policy::TransactionState state;
  f.backlog.waiting[kSender] = 299;
  CHECK(f.mail(state, transaction_from(kSender)).accepted());
  f.backlog.waiting[kSender] = 300;
  const policy::Verdict verdict = f.mail(state, transaction_from("A@EDOMEX.gob.mx"));
  CHECK(verdict.decision == Decision::defer);
  CHECK(verdict.code == 451);
  CHECK(verdict.enhanced == "4.7.1");
  CHECK(verdict.text ==
        "Too many messages from this sender waiting for delivery (at most 300); try again later");
  CHECK(verdict.rule == "messages_per_minute");
  CHECK(f.mail(state, transaction_from("b@edomex.gob.mx")).accepted());
}

TEST_CASE("a counter store failure defers with 451 4.3.0 rather than letting mail through") {
  PolicyFixture f;
  with_rate(f, config::RateAction::defer, 30);
  f.store.fail_reserve = true;
  policy::TransactionState state;
  const policy::Verdict verdict = f.mail(state, transaction_from(kSender));
  CHECK(verdict.code == 451);
  CHECK(verdict.enhanced == "4.3.0");
  CHECK(verdict.text == "Rate counters temporarily unavailable; try again later");
}
