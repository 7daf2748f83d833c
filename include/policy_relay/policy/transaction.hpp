#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "policy_relay/config/config.hpp"
#include "policy_relay/policy/counter_store.hpp"

namespace policy_relay::policy {

struct SenderPolicy;

// What the policy sees of one SMTP transaction: plain values, no SMTP syntax. The session fills
// it in as the transaction goes (DESIGN.md "Data flow").
struct Transaction {
  std::string identity;   // policy::sender_identity(auth_user, sender)
  std::string auth_user;  // "" when the client did not authenticate
  // After AUTH: the envelope senders auth_user may use (its address, its aliases), lower-cased.
  std::vector<std::string> auth_senders;
  std::string sender;                   // envelope sender, "" for the null reverse-path <>
  std::string sender_local_part;        // as written (quotes kept)
  std::string sender_domain;            // as written; "[1.2.3.4]" for an address literal
  std::vector<std::string> recipients;  // accepted so far (the RCPT being decided is not here)
  std::uint64_t declared_size = 0;      // MAIL SIZE=, 0 when not given (RFC 1870)
  std::uint64_t message_size = 0;       // at the end of DATA: octets received
};

// A daily quota threshold (80 % or 95 %) that an accepted message crossed: the session logs
// a `quota_warning` event once the message is committed.
struct QuotaWarning {
  unsigned percent = 0;
  std::uint64_t used = 0;  // recipients counted in the window with this message
  std::uint64_t limit = 0;
};

// What an advice rule (or a rule in "log" mode) decided about an accepted message: the session
// logs it (`advice` event), puts `header` on the delivered copy and sends the notice.
struct Advice {
  std::string_view rule;
  std::string_view clause;
  config::AdviceAction action = config::AdviceAction::log;  // log | header | notify
  std::string header;  // X-Policy-Relay-Advice value, e.g. "bcc; visible-recipients=7; threshold=5"
  std::vector<std::pair<std::string, std::string>> fields;  // logged as key=value
  std::string notice;  // action notify: the body of the advisory mail
};

// The policy's state of one transaction: the counter reservations it holds and what to log
// when it is accepted. Reservations are released on RSET, refusal, a new MAIL and when this
// object is destroyed (disconnect), and committed by Engine::commit() at the end of DATA.
// One per session; reused for each transaction after reset().
class TransactionState {
 public:
  TransactionState() = default;
  ~TransactionState() { reset(); }
  TransactionState(const TransactionState&) = delete;
  TransactionState& operator=(const TransactionState&) = delete;

  // True between an accepted MAIL and the transaction's end (commit or reset).
  bool active() const { return policy != nullptr; }

  // Gives back every reservation still held and forgets the transaction.
  void reset();
  // Releases the recipient reservations from index `keep` on (a refused RCPT's).
  void release_recipients_from(std::size_t keep);

  // Set by the engine at MAIL; rules read and fill the rest.
  CounterStore* store = nullptr;
  const SenderPolicy* policy = nullptr;
  Reservation message;                  // messages_per_minute (rate_action defer / reject)
  std::vector<Reservation> recipients;  // recipients_per_day, one per accepted RCPT
  std::vector<std::string_view> exception_rules;  // rules an exception let through (logged)
  std::vector<QuotaWarning> quota_warnings;
  std::uint32_t public_recipients = 0;  // accepted recipients at public providers (VI.9)
  std::vector<Advice> advice;           // filled at stage_message
};

}  // namespace policy_relay::policy
