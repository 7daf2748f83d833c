// POLICY I.1 (sender address), VI.1 (message size), VI.3 (recipients per message).
#include <doctest/doctest.h>

#include "policy_test_support.hpp"

using namespace test_support;
using policy::Decision;

TEST_CASE("a sender in senders.domains with a short enough name passes") {
  PolicyFixture f;
  f.build();
  policy::TransactionState state;
  CHECK(f.mail(state, transaction_from("juan.perez@edomex.gob.mx")).accepted());
  CHECK(state.active());
  CHECK(f.mail(state, transaction_from("Juan.Perez@EDOMEX.GOB.MX")).accepted());
}

TEST_CASE("the null sender is refused from clients with 550 5.7.1") {
  PolicyFixture f;
  f.build();
  policy::TransactionState state;
  const policy::Verdict verdict = f.mail(state, transaction_from(""));
  CHECK(verdict.decision == Decision::reject);
  CHECK(verdict.code == 550);
  CHECK(verdict.enhanced == "5.7.1");
  CHECK(verdict.text == "Null sender not accepted from clients");
  CHECK(verdict.rule == "sender_address");
  CHECK(verdict.clause == "I.1");
  CHECK_FALSE(state.active());
}

TEST_CASE("a sender outside senders.domains is refused with 550 5.7.1 naming the domains") {
  PolicyFixture f;
  f.config.senders.domains = {"edomex.gob.mx", "isem.gob.mx"};
  f.build();
  policy::TransactionState state;
  for (const char* sender :
       {"a@gmail.com", "a@sub.edomex.gob.mx", "a@edomex.gob.mx.evil.com", "a@[10.0.0.1]"}) {
    CAPTURE(sender);
    const policy::Verdict verdict = f.mail(state, transaction_from(sender));
    CHECK(verdict.code == 550);
    CHECK(verdict.enhanced == "5.7.1");
    CHECK(verdict.text ==
          "Sender address not allowed: the domain must be edomex.gob.mx or isem.gob.mx");
    CHECK(verdict.rule == "sender_address");
  }
  CHECK(f.mail(state, transaction_from("a@isem.gob.mx")).accepted());
}

TEST_CASE("a local part of exactly max_local_part_length characters passes, one more is refused") {
  PolicyFixture f;
  f.build();
  policy::TransactionState state;
  CHECK(f.mail(state, transaction_from(std::string(20, 'a') + "@edomex.gob.mx")).accepted());
  const policy::Verdict verdict =
      f.mail(state, transaction_from(std::string(21, 'a') + "@edomex.gob.mx"));
  CHECK(verdict.code == 550);
  CHECK(verdict.enhanced == "5.7.1");
  CHECK(verdict.text ==
        "Sender address not allowed: the name before @ has more than 20 characters");
  // Characters, not octets: 20 two-octet characters still pass.
  std::string accented;
  for (int i = 0; i < 20; ++i) {
    accented += "\xc3\xb1";  // n with tilde
  }
  CHECK(f.mail(state, transaction_from(accented + "@edomex.gob.mx")).accepted());
  CHECK_FALSE(f.mail(state, transaction_from(accented + "a@edomex.gob.mx")).accepted());
}

TEST_CASE("SIZE= of exactly max_message_size passes at MAIL, one octet more gets 552 5.3.4") {
  PolicyFixture f;
  f.config.limits.max_message_size = 1000;
  f.build();
  policy::TransactionState state;
  policy::Transaction transaction = transaction_from("a@edomex.gob.mx");
  transaction.declared_size = 1000;
  CHECK(f.mail(state, transaction).accepted());
  transaction.declared_size = 1001;
  const policy::Verdict verdict = f.mail(state, transaction);
  CHECK(verdict.decision == Decision::reject);
  CHECK(verdict.code == 552);
  CHECK(verdict.enhanced == "5.3.4");
  CHECK(verdict.text == "Message size exceeds fixed limit of 1000 bytes");
  CHECK(verdict.rule == "max_message_size");
  CHECK(verdict.clause == "VI.1");
  CHECK(verdict.reference.empty());
}

TEST_CASE(
    "a message of exactly max_message_size passes at the end of DATA, one octet more does not") {
  PolicyFixture f;
  f.config.limits.max_message_size = 1000;
  f.build();
  policy::TransactionState state;
  policy::Transaction transaction = transaction_from("a@edomex.gob.mx");
  REQUIRE(f.mail(state, transaction).accepted());
  REQUIRE(f.rcpt(state, transaction, "b@example.org").accepted());
  transaction.message_size = 1000;
  CHECK(f.data_end(state, transaction).accepted());
  transaction.message_size = 1001;
  const policy::Verdict verdict = f.data_end(state, transaction);
  CHECK(verdict.code == 552);
  CHECK(verdict.enhanced == "5.3.4");
  CHECK_FALSE(state.active());  // a refusal at the end ends the transaction
}

TEST_CASE("the oversized-DATA refusal names the sender's limit and ends the transaction") {
  PolicyFixture f;
  f.config.limits.max_message_size = 1000;
  config::SenderException big;
  big.sender = "big@edomex.gob.mx";
  big.reference = "DGSEI 1";
  big.limits.max_message_size = 5000;
  f.config.exceptions.push_back(big);
  policy::Engine& engine = f.build();
  CHECK(engine.senders().largest_message_size() == 5000);

  policy::TransactionState state;
  CHECK(engine.max_message_size(state) == 1000);  // no transaction yet: [limits]
  REQUIRE(f.mail(state, transaction_from("big@edomex.gob.mx")).accepted());
  CHECK(engine.max_message_size(state) == 5000);
  const policy::Verdict verdict = engine.message_too_big(state);
  CHECK(verdict.code == 552);
  CHECK(verdict.text == "Message size exceeds fixed limit of 5000 bytes");
  CHECK(verdict.rule == "max_message_size");
  CHECK(verdict.reference == "DGSEI 1");
  CHECK_FALSE(state.active());

  REQUIRE(f.mail(state, transaction_from("small@edomex.gob.mx")).accepted());
  CHECK(engine.max_message_size(state) == 1000);
  CHECK(engine.message_too_big(state).reference.empty());
}

TEST_CASE("recipient max_recipients_per_message + 1 gets 452 4.5.3 and the first ones stay") {
  PolicyFixture f;
  f.config.limits.max_recipients_per_message = 500;
  f.build();
  policy::TransactionState state;
  policy::Transaction transaction = transaction_from("a@edomex.gob.mx");
  REQUIRE(f.mail(state, transaction).accepted());
  for (int i = 0; i < 500; ++i) {
    REQUIRE(f.rcpt(state, transaction, "r" + std::to_string(i) + "@example.org").accepted());
  }
  const policy::Verdict verdict = f.rcpt(state, transaction, "r500@example.org");
  CHECK(verdict.decision == Decision::defer);
  CHECK(verdict.code == 452);
  CHECK(verdict.enhanced == "4.5.3");
  CHECK(verdict.text == "Too many recipients: at most 500 per message");
  CHECK(verdict.rule == "max_recipients_per_message");
  CHECK(verdict.clause == "VI.3");
  CHECK(transaction.recipients.size() == 500);
  CHECK(state.recipients.size() == 500);  // their daily units are still held
  CHECK(f.data_end(state, transaction).accepted());
  CHECK_FALSE(f.commit(state));
  CHECK(f.used("a@edomex.gob.mx", policy::Counter::recipients_per_day) == 500);
}
