#pragma once

#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <vector>

#include "policy_relay/smtp/reply.hpp"
#include "policy_relay/smtp/reply_parser.hpp"

namespace policy_relay::smtp {

// The client side of an SMTP session as a sans-I/O state machine (RFC 5321, with RFC 2920
// PIPELINING, RFC 1870 SIZE, RFC 6152 8BITMIME, RFC 6531 SMTPUTF8, RFC 2034/3463
// ENHANCEDSTATUSCODES). Reply bytes go in with feed(); next() says what the connection must do;
// commands accumulate in an output buffer taken with take_output().
//
// The connection loop (daemon/upstream/smtp_connection.cpp) is:
//   for (;;) { auto a = protocol.next(); write take_output(); switch (a.kind) {
//     need_input:   read with the deadline of awaiting_final_reply(); feed() or end_of_input()
//     ready:        idle: start_message() or quit() (or pool the connection)
//     send_body:    write the dot-stuffed message (DotStuffer) then call body_sent()
//     message_done: read results(); the connection is ready again
//     closed:       close the socket; failure() says why ("" after a normal QUIT)
//   } }
// A network error or timeout is reported with fail(); every recipient of a message in progress
// then gets a 4xx result. So do a 421, an unparsable reply and an unexpected end of input.
//
// With Config::require_starttls the first EHLO is followed by STARTTLS; its 220 makes next()
// return start_tls, the connection handshakes and calls tls_started(), and EHLO is said again
// (RFC 3207 4.2). With Config::auth_mechanism AUTH (RFC 4954) follows that EHLO; ready comes
// only after its 235. Missing STARTTLS or AUTH in the EHLO reply fails the session with 4xx.
class ClientProtocol {
 public:
  struct Config {
    std::string helo_hostname = "localhost";  // EHLO/HELO argument (RFC 5321 4.1.1.1)
    ReplyParser::Config replies{};            // 512 octets a line, 100 lines a reply
    // Commands in flight at once with PIPELINING. RFC 2920 3.5: a client that sends without
    // reading can deadlock with a server that answers without reading; a bounded window keeps
    // the unread replies well under any socket buffer.
    std::size_t pipelining_window = 100;
    // RFC 3207: say STARTTLS after the first EHLO and go on only over TLS (no downgrade: an
    // upstream that does not offer it fails the session).
    bool require_starttls = false;
    // The connection is TLS from the start (RFC 8314 implicit TLS).
    bool tls_active = false;
    // RFC 4954 AUTH before the first MAIL: "" (none), "PLAIN", "LOGIN" or "XOAUTH2" (Microsoft's
    // SASL XOAUTH2; the secret is the OAuth 2.0 access token). The upstream must offer it.
    std::string auth_mechanism;
    std::string auth_username;
  };

  // What EHLO told us (RFC 5321 4.1.1.1, keywords case-insensitive).
  struct Extensions {
    bool esmtp = false;  // EHLO succeeded (else HELO: no extensions)
    bool pipelining = false;
    bool size = false;
    std::uint64_t size_limit = 0;  // SIZE argument; 0 = no fixed limit (RFC 1870 4)
    bool eightbitmime = false;
    bool smtputf8 = false;
    bool enhanced_status_codes = false;
    bool starttls = false;                     // for the TLS issue
    std::vector<std::string> auth_mechanisms;  // for the AUTH issue, upper-cased
  };

  // One transaction. Addresses are without angle brackets; "" as sender is <>.
  struct Message {
    std::string sender;
    std::vector<std::string> recipients;
    std::uint64_t size = 0;     // octets of the message, announced with SIZE= when offered
    bool eightbitmime = false;  // BODY=8BITMIME when offered; sent unchanged otherwise
    // The client asked for SMTPUTF8: SMTPUTF8 is passed on when the upstream offers it.
    bool smtputf8 = false;
    // The envelope cannot be sent without SMTPUTF8 (a non-ASCII address). If the upstream does
    // not offer SMTPUTF8 every recipient fails with 550 5.6.7 at once (RFC 6531 3.2: no
    // downgrade is attempted) and nothing is sent.
    bool requires_smtputf8 = false;
  };

  struct Action {
    // start_tls: the upstream said 220 to STARTTLS; handshake, then tls_started().
    enum class Kind { need_input, ready, send_body, message_done, closed, start_tls };
    Kind kind = Kind::need_input;
  };

  explicit ClientProtocol(Config config);

  void feed(std::string_view bytes);
  // The server closed its side. Before QUIT was answered this is a failure.
  void end_of_input();

  Action next();

  // Starts a transaction; only when next() returned ready. A used connection is reset first
  // (RSET). MAIL, RCPT... and DATA go out in one group with PIPELINING, else one at a time.
  void start_message(Message message);
  // The caller wrote the whole dot-stuffed message, ".\r\n" included (after send_body).
  void body_sent();
  // The password or access token for Config::auth_mechanism; set before the EHLO's reply.
  void set_auth_secret(std::string secret);
  // The handshake after start_tls succeeded: EHLO again (RFC 3207 4.2: what the server said
  // before TLS is forgotten).
  void tls_started();
  // The upstream refused AUTH with a 5xx (e.g. 535 for an expired token); the session closed.
  bool auth_rejected() const { return auth_rejected_; }
  bool tls_active() const { return tls_active_; }

  // Says QUIT; only when next() returned ready. next() returns closed once it is answered.
  void quit();

  // The connection failed (network error, timeout, local error). Every recipient of the message
  // in progress gets `reply` (a 4xx); next() returns closed.
  void fail(const Reply& reply);
  // Same with "451 4.4.1 <what>".
  void fail(std::string_view what);

  std::string take_output();

  // One reply per recipient of the last message, in order: the RCPT refusal, or the reply to
  // DATA or to the end of data for accepted recipients. Complete at message_done and at closed.
  const std::vector<Reply>& results() const { return results_; }
  // The reply to the end of data when the message was accepted (code 0 otherwise).
  const Reply& final_reply() const { return final_reply_; }
  bool message_in_progress() const { return phase_ == Phase::transaction || in_body(); }
  // Replies received for this message apart from the RSET: 0 means the server took nothing
  // of it, so a stale pooled connection may be replaced and the message tried again.
  std::size_t message_replies() const { return message_replies_; }

  const Extensions& extensions() const { return extensions_; }
  // Why the session ended; "" while open and after a normal QUIT.
  const std::string& failure() const { return failure_; }
  // The command whose reply is awaited ("greeting", "EHLO", "RCPT", "end of data"...).
  std::string_view awaiting() const;
  // Waiting for the reply to the end of data (RFC 5321 4.5.3.2.6: the DATA termination timeout).
  bool awaiting_final_reply() const { return phase_ == Phase::final_reply; }
  bool closed() const { return phase_ == Phase::closed; }

 private:
  enum class Phase {
    greeting,
    ehlo,
    helo,
    starttls,
    handshake,
    auth,
    ready,
    transaction,
    body,
    final_reply,
    quit,
    closed
  };
  enum class Command {
    greeting,
    ehlo,
    helo,
    rset,
    mail,
    rcpt,
    data,
    empty_data,
    end_of_data,
    quit,
    starttls,
    auth,
  };
  struct Pending {
    Command command;
    std::size_t recipient = 0;  // rcpt: index into the message's recipients
    std::string line;           // without CRLF
  };

  bool in_body() const { return phase_ == Phase::body || phase_ == Phase::final_reply; }
  void send_ready_commands();
  bool skip_unsent(const Pending& pending) const;
  // Handles one reply to the oldest command in flight; true when next() must report an action.
  bool on_reply(const Pending& command, const Reply& reply, Action& action);
  void on_ehlo_reply(const Reply& reply);
  // client_security.cpp: after a successful EHLO, STARTTLS and AUTH until ready.
  void after_ehlo();
  void on_starttls_reply(const Reply& reply);
  void on_auth_reply(const Reply& reply);
  void on_transaction_reply(const Pending& command, const Reply& reply);
  void give_unanswered(const Reply& reply);
  bool transaction_complete() const;
  void finish_message(Action& action);
  void close_with_failure(const Reply& reply, std::string what);
  void refuse_message(const Reply& reply);

  Config config_;
  Phase phase_ = Phase::greeting;
  ReplyParser parser_;
  Extensions extensions_;
  std::string output_;
  std::deque<Pending> unsent_;
  std::deque<Pending> in_flight_;
  std::string failure_;
  bool used_ = false;
  bool message_done_pending_ = false;

  Message message_;
  std::vector<Reply> results_;
  Reply final_reply_;
  bool mail_refused_ = false;
  std::size_t rcpt_replies_ = 0;
  std::size_t accepted_ = 0;
  std::size_t message_replies_ = 0;

  bool tls_active_ = false;
  bool authenticated_ = false;
  bool auth_rejected_ = false;
  std::string auth_secret_;
  int auth_step_ = 0;  // LOGIN: 334s answered so far
};

// The extensions listed in a successful EHLO reply's text (the lines after the first, as
// ReplyParser joins them with '\n'). Unknown keywords are ignored.
ClientProtocol::Extensions parse_ehlo_extensions(std::string_view reply_text);

}  // namespace policy_relay::smtp
