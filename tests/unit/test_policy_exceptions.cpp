// POLICY VI.3, VI.8, VI.9: [[exceptions]] override limits for one sender and their reference is
// logged with every decision they change; [limits] enabled = false turns the chain off.
#include <doctest/doctest.h>

#include "policy_test_support.hpp"

using namespace test_support;
using policy::Counter;

namespace {

config::SenderException exception_for(const std::string& sender, const std::string& reference) {
  config::SenderException exception;
  exception.sender = sender;
  exception.reference = reference;
  return exception;
}

}  // namespace

TEST_CASE("an exception sender passes limits that stop everyone else, and the change is noted") {
  PolicyFixture f;
  f.config.limits.max_recipients_per_message = 3;
  config::SenderException authorised = exception_for("comunicacion@edomex.gob.mx", "DGSEI 42");
  authorised.limits.max_recipients_per_message = 5;
  f.config.exceptions.push_back(authorised);
  f.build();
  CHECK(f.engine->senders().largest_recipient_count() == 5);

  CHECK(f.send("other@edomex.gob.mx", 5) == 3);

  policy::TransactionState state;
  policy::Transaction transaction = transaction_from("Comunicacion@edomex.gob.mx");
  REQUIRE(f.mail(state, transaction).accepted());
  for (int i = 0; i < 3; ++i) {
    REQUIRE(f.rcpt(state, transaction, "r" + std::to_string(i) + "@example.org").accepted());
  }
  CHECK(state.exception_rules.empty());  // nothing the defaults would have refused yet
  REQUIRE(f.rcpt(state, transaction, "r3@example.org").accepted());
  REQUIRE(f.rcpt(state, transaction, "r4@example.org").accepted());
  CHECK(state.exception_rules == std::vector<std::string_view>{"max_recipients_per_message"});
  const policy::Verdict refused = f.rcpt(state, transaction, "r5@example.org");
  CHECK(refused.code == 452);
  CHECK(refused.text == "Too many recipients: at most 5 per message");
  CHECK(refused.reference == "DGSEI 42");
}

TEST_CASE("a refusal an exception's limit decides carries its reference; other rules' do not") {
  PolicyFixture f;
  config::SenderException limited = exception_for("lab@edomex.gob.mx", "DGSEI 9");
  limited.limits.recipients_per_day = 1;
  limited.limits.daily_action = config::DailyAction::reject;
  f.config.exceptions.push_back(limited);
  f.build();
  policy::TransactionState state;
  policy::Transaction transaction = transaction_from("lab@edomex.gob.mx");
  REQUIRE(f.mail(state, transaction).accepted());
  REQUIRE(f.rcpt(state, transaction, "a@example.org").accepted());
  const policy::Verdict quota = f.rcpt(state, transaction, "b@example.org");
  CHECK(quota.code == 550);
  CHECK(quota.rule == "recipients_per_day");
  CHECK(quota.reference == "DGSEI 9");

  policy::Transaction big = transaction_from("lab@edomex.gob.mx");
  big.declared_size = f.config.limits.max_message_size + 1;
  const policy::Verdict size = f.mail(state, big);
  CHECK(size.code == 552);
  CHECK(size.reference.empty());  // the exception does not touch max_message_size
}

TEST_CASE("an exception raises the daily quota and the per-minute rate for its sender only") {
  PolicyFixture f;
  f.config.limits.recipients_per_day = 2;
  f.config.limits.messages_per_minute = 1;
  f.config.limits.rate_action = config::RateAction::defer;
  config::SenderException bulk = exception_for("boletin@edomex.gob.mx", "DGE 2026/7");
  bulk.limits.recipients_per_day = 4;
  bulk.limits.messages_per_minute = 2;
  f.config.exceptions.push_back(bulk);
  f.build();

  CHECK(f.send("boletin@edomex.gob.mx", 3) == 3);
  CHECK(f.send("boletin@edomex.gob.mx", 3) == 1);
  CHECK(f.send("boletin@edomex.gob.mx", 1) == -1);  // third message in the minute
  CHECK(f.send("otro@edomex.gob.mx", 3) == 2);
  CHECK(f.send("otro@edomex.gob.mx", 1) == -1);

  f.clock.advance(1min);
  policy::TransactionState state;
  policy::Transaction transaction = transaction_from("boletin@edomex.gob.mx");
  const policy::Verdict quota = [&] {
    REQUIRE(f.mail(state, transaction).accepted());
    return f.rcpt(state, transaction, "x@example.org");
  }();
  CHECK(quota.code == 451);
  CHECK(quota.text ==
        "Daily quota of 4 recipients reached; enough quota frees at 2026-11-30 00:00:00 UTC");
  CHECK(quota.reference == "DGE 2026/7");
}

TEST_CASE("exception rules noted on accept cover the size, rate and quota rules") {
  PolicyFixture f;
  f.config.limits.max_message_size = 100;
  f.config.limits.recipients_per_day = 1;
  f.config.limits.messages_per_minute = 1;
  f.config.limits.rate_action = config::RateAction::defer;
  config::SenderException wide = exception_for("wide@edomex.gob.mx", "R");
  wide.limits.max_message_size = 1000;
  wide.limits.recipients_per_day = 10;
  wide.limits.messages_per_minute = 10;
  f.config.exceptions.push_back(wide);
  f.build();
  CHECK(f.send("wide@edomex.gob.mx", 1) == 1);

  policy::TransactionState state;
  policy::Transaction transaction = transaction_from("wide@edomex.gob.mx");
  transaction.declared_size = 500;
  REQUIRE(f.mail(state, transaction).accepted());
  REQUIRE(f.rcpt(state, transaction, "a@example.org").accepted());
  transaction.message_size = 500;
  REQUIRE(f.data_end(state, transaction).accepted());
  CHECK(state.exception_rules == std::vector<std::string_view>{"max_message_size",
                                                               "messages_per_minute",
                                                               "recipients_per_day"});
}

TEST_CASE("with [limits] enabled = false every stage accepts and nothing is counted") {
  PolicyFixture f;
  f.config.limits.enabled = false;
  f.config.limits.recipients_per_day = 1;
  f.config.limits.max_recipients_per_message = 1;
  f.config.limits.rate_action = config::RateAction::reject;
  f.config.limits.messages_per_minute = 1;
  f.build();
  policy::TransactionState state;
  policy::Transaction transaction = transaction_from("");  // even the null sender
  CHECK(f.mail(state, transaction).accepted());
  CHECK_FALSE(state.active());
  for (int i = 0; i < 5; ++i) {
    CHECK(f.rcpt(state, transaction, "r" + std::to_string(i) + "@example.org").accepted());
  }
  CHECK(f.data_end(state, transaction).accepted());
  CHECK_FALSE(f.commit(state));
  CHECK(f.store.commits == 0);
  CHECK(f.store.open_reservations() == 0);
  CHECK(f.engine->max_message_size(state) == f.config.limits.max_message_size);
  CHECK(f.engine->message_too_big(state).code == 552);
}

TEST_CASE("the sender identity is the AUTH user, else the lower-cased envelope sender") {
  CHECK(policy::sender_identity("", "Juan.Perez@EDOMEX.gob.mx") == "juan.perez@edomex.gob.mx");
  CHECK(policy::sender_identity("jperez", "Juan.Perez@EDOMEX.gob.mx") == "jperez");
  CHECK(policy::sender_identity("", "\xc3\x91u@edomex.gob.mx") == "\xc3\x91u@edomex.gob.mx");
}
