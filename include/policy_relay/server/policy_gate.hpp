#pragma once

#include <boost/asio/awaitable.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "policy_relay/mime/message_analysis.hpp"
#include "policy_relay/policy/engine.hpp"
#include "policy_relay/policy/sender_standing.hpp"
#include "policy_relay/policy/transaction.hpp"
#include "policy_relay/smtp/reply.hpp"
#include "policy_relay/smtp/server_protocol.hpp"

namespace policy_relay::log {
class Event;
}

namespace policy_relay::server {

// The session's side of the policy engine: turns protocol events into policy::Transaction
// values, verdicts into SMTP replies, and logs every refusal (`reject` / `defer` with rule=,
// clause=, code=, reference=) and quota_warning. Holds the transaction's TransactionState, so
// its reservations go when the session goes.
class PolicyGate {
 public:
  // `standing` (suspensions, account directory) is asked at MAIL before the chain; `activity`
  // hears of every refusal by the chain and every accepted message. Both may be null.
  PolicyGate(policy::Engine& engine, std::uint64_t session, std::string client_address,
             const policy::SenderStanding* standing = nullptr,
             policy::SenderActivity* activity = nullptr);

  // MAIL (the protocol's pending mail action): 250 2.1.0 or the policy's refusal.
  boost::asio::awaitable<smtp::Reply> on_mail(const smtp::ServerProtocol::Action& action);
  // RCPT: 250 2.1.5 or the refusal; an accepted recipient joins the transaction.
  boost::asio::awaitable<smtp::Reply> on_rcpt(const smtp::Path& recipient);
  // End of a whole DATA of `message_size` octets: the refusal, or nullopt to go on and commit.
  boost::asio::awaitable<std::optional<smtp::Reply>> on_data_end(std::uint64_t message_size);
  // Whether the message must be analysed before on_message (an enabled rule reads it).
  bool needs_analysis() const { return engine_.needs_analysis(); }
  // After an accepted on_data_end, with the analysis of the spooled message: the refusal of a
  // message rule, or nullopt (advice() then holds what to log, add and send). Logs
  // `mime_malformed` when the structure was malformed.
  boost::asio::awaitable<std::optional<smtp::Reply>> on_message(
      const mime::MessageAnalysis& analysis);
  // The advice of the accepted message's rules (after on_message).
  const std::vector<policy::Advice>& advice() const { return state_.advice; }
  // The header fields to add to the delivered copy: X-Policy-Relay-Advice per advice whose
  // action is header or notify.
  std::vector<std::string> advice_headers() const;
  // After the accept event: an `advice` event per advice (rule=, clause=, action=, id=).
  void log_advice(std::string_view id);
  const std::string& identity() const { return transaction_.identity; }
  // A DATA stream over max_message_size() (read to its end, nothing stored): 552 5.3.4.
  smtp::Reply message_too_big();
  // Whether commit() has anything to make durable (else the spool commit alone decides).
  bool needs_commit() const;
  // Makes the transaction's counts durable (awaited with the spool commit, before the 250).
  boost::asio::awaitable<std::error_code> commit();
  // policy::Engine::commit_is_local_write().
  bool commit_is_local_write() const;
  // After a successful commit: adds reference= and exception_rules= to the accept event when
  // an exception let the message through (POLICY VI.3: every decision it changes is logged).
  void describe_accept(log::Event& accept);
  // After the accept event: tells the SenderActivity (abuse detector, `top`).
  void accepted();
  // After the accept event: a quota_warning event for each daily-quota threshold (80 %, 95 %)
  // the message crossed.
  void log_quota_warnings();
  // The transaction ended without a message (RSET, EHLO, a refusal at its end, the session
  // ending): every reservation is given back.
  void reset();

  // After a 235: the user and the envelope senders it may use (POLICY VII.1); every later
  // MAIL is checked against them and its limits count against the user.
  void set_authenticated(std::string user, std::vector<std::string> senders) {
    auth_user_ = std::move(user);
    auth_senders_ = std::move(senders);
  }
  // STARTTLS reset the session (RFC 3207 4.2): forget any earlier identity.
  void clear_authenticated() {
    auth_user_.clear();
    auth_senders_.clear();
  }

  bool active() const { return state_.active(); }
  // The largest message the current sender may send (the protocol's per-transaction limit).
  std::uint64_t max_message_size() const { return engine_.max_message_size(state_); }
  const std::string& sender() const { return transaction_.sender; }

  // The `reject` (5xx) / `defer` (4xx) event for any refusal the session gives.
  static void log_refusal(std::uint64_t session, std::string_view client, std::string_view from,
                          const smtp::Reply& reply, std::string_view rule, std::string_view clause,
                          std::string_view reference = {});

 private:
  smtp::Reply refusal(const policy::Verdict& verdict);
  std::optional<smtp::Reply> standing_refusal();

  policy::Engine& engine_;
  const policy::SenderStanding* standing_;
  policy::SenderActivity* activity_;
  std::uint64_t session_;
  std::string client_address_;
  policy::Transaction transaction_;
  policy::TransactionState state_;
  std::string auth_user_;
  std::vector<std::string> auth_senders_;
};

}  // namespace policy_relay::server
