#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "policy_relay/smtp/address.hpp"
#include "policy_relay/smtp/command_parser.hpp"
#include "policy_relay/smtp/data_reader.hpp"
#include "policy_relay/smtp/reply.hpp"
#include "policy_relay/smtp/sasl_server.hpp"

namespace policy_relay::smtp {

// The server side of an SMTP session as a sans-I/O state machine (RFC 5321, with RFC 1870 SIZE,
// RFC 6152 8BITMIME, RFC 2920 PIPELINING, RFC 2034/3463 ENHANCEDSTATUSCODES, RFC 6531
// SMTPUTF8, RFC 3207 STARTTLS, RFC 4954 AUTH PLAIN/LOGIN). Bytes go in with feed(); next() says
// what the session must do; replies accumulate in an output buffer that the session writes out with
// take_output().
//
// The session loop (daemon/server/session.cpp) is:
//   for (;;) switch (auto a = protocol.next(); a.kind) {
//     need_input: write take_output(); read with the deadline of in_data(); feed() or close
//     mail / rcpt / data_start / data_end: decide, then resolve(reply)
//     data_chunk: append a.data to the spool file
//     close: write take_output(), close the connection
//   }
// Input is consumed one command at a time, so a pipelined batch is answered in order and
// nothing after a command that waits for a decision is lost (RFC 2920 3.1). The session reads
// only when next() asks for input and should also flush when pending_output() grows, so
// neither buffer grows without bound.
class ServerProtocol {
 public:
  struct Config {
    std::string hostname = "localhost";
    std::uint64_t max_message_size = 25ull * 1024 * 1024;  // advertised in EHLO SIZE
    std::size_t max_command_line = 512;                    // RFC 5321 4.5.3.1.4, CRLF included
    std::size_t max_text_line = 1000;                      // RFC 5321 4.5.3.1.6, CRLF included
    std::uint32_t max_errors = 10;            // then "421 4.7.0" and close; 0: no limit
    std::uint32_t max_recipients = 1000;      // hard bound per transaction: "452 4.5.3"
    std::size_t data_chunk_size = 64 * 1024;  // largest data_chunk handed out
    // false: a MAIL SIZE= over max_message_size is not refused here but handed to the session
    // (Action::declared_size), whose policy refuses it with its own reply and log line.
    bool refuse_declared_size = true;
    // RFC 3207: offer STARTTLS (a certificate is configured). The session does the handshake.
    bool starttls = false;
    // RFC 4954: offer and accept AUTH PLAIN LOGIN, only once TLS is active (POLICY VII.1).
    bool auth = false;
    // The session began with TLS (implicit TLS, RFC 8314): no STARTTLS, AUTH at once.
    bool tls_active = false;
  };

  // ok, too_big (552 5.3.4), bare_line_ending (554 5.6.0), line_too_long (500 5.5.2).
  using DataOutcome = smtp::DataOutcome;

  struct Action {
    enum class Kind {
      need_input,  // nothing left to do with buffered input: flush output, read, feed()
      mail,        // MAIL accepted syntactically: path/parameters in `argument`; resolve()
      rcpt,        // RCPT accepted syntactically: path in `argument`; resolve()
      data_start,  // DATA with at least one recipient: open the spool file; resolve() 354 or 4xx
      data_chunk,  // message octets, dot-unstuffed, CRLF line ends: store `data`; no resolve()
      data_end,    // "<CRLF>.<CRLF>" seen: `outcome` says whether the message is whole; resolve()
      starttls,    // STARTTLS accepted: flush output (the 220), handshake, then tls_started()
      auth,        // AUTH credentials complete: verify credentials(); resolve() 235/535/421
      close,       // flush output, then close the connection
    };
    Kind kind = Kind::need_input;
    PathArgument argument;                  // mail, rcpt
    std::uint64_t declared_size = 0;        // mail: SIZE=, 0 when not given (RFC 1870)
    std::string_view data;                  // data_chunk: valid until the next call on the protocol
    DataOutcome outcome = DataOutcome::ok;  // data_end
    Reply suggested;  // data_end with outcome != ok: the refusal the protocol recommends
  };

  explicit ServerProtocol(Config config);

  // Appends received bytes. Call only after next() returned need_input.
  void feed(std::string_view bytes);
  // The peer closed its side: anything buffered that is not a whole line is discarded.
  // next() then returns close.
  void end_of_input();

  Action next();

  // Answers the decision that the last mail, rcpt, data_start or data_end action waits for.
  // A 2xx/3xx reply applies the command (sender set, recipient added, DATA begun, transaction
  // completed); a 4xx/5xx leaves the state as before (and counts toward max_errors only when
  // `count_as_error`). A 421 reply also closes the session. Any reply to data_end ends the
  // transaction (sender and recipients cleared, HELO kept): the text was consumed either way.
  void resolve(const Reply& reply, bool count_as_error = false);

  // The TLS handshake after a starttls action succeeded. RFC 3207 4.2: the session state
  // (HELO, extensions, transaction) is reset as if the connection had just opened; the client
  // must say EHLO again. Input received before the handshake was already discarded when the
  // STARTTLS was accepted (CVE-2011-0411: nothing pipelined after STARTTLS is executed).
  void tls_started();
  // The credentials of the pending auth action (moved out by the session to verify them).
  Credentials& credentials() { return sasl_.credentials(); }

  // The largest message the current transaction may carry, for senders whose limit differs
  // from Config::max_message_size (which EHLO advertises and which must be the largest any
  // sender has). Call after the MAIL was accepted; the transaction's end restores the default.
  // A DATA stream over it is read to its end unstored and data_end reports too_big.
  void limit_message_size(std::uint64_t octets);
  std::uint64_t message_size_limit() const { return message_size_limit_; }

  // Ends the session with this reply (421 4.3.2 at shutdown, 421 4.4.2 at a timeout): the reply
  // is queued and next() returns close.
  void terminate(const Reply& reply);

  std::string take_output();
  std::size_t pending_output() const { return output_.size(); }

  bool in_data() const;         // reading message text: use the DATA timeout
  bool in_transaction() const;  // between an accepted MAIL and the end of the transaction
  bool awaiting_decision() const;
  bool closed() const;
  // Received octets held inside the protocol (an unprocessed partial command line, message text
  // not yet handed out). Bounded by max_command_line, max_text_line and data_chunk_size plus
  // what one feed() brought, whatever the peer sends.
  std::size_t buffered_octets() const;

  // What the client said so far (for logs, the Received header and the envelope).
  const std::string& helo() const { return helo_; }
  bool esmtp() const { return esmtp_; }
  const Path& sender() const { return sender_; }
  const std::vector<Path>& recipients() const { return recipients_; }
  const std::string& body_type() const { return body_type_; }  // "", "7BIT", "8BITMIME"
  bool smtputf8() const { return smtputf8_; }
  std::uint64_t message_size() const { return message_size_; }  // octets of the last DATA
  bool tls_active() const { return tls_active_; }
  // The user a 235 accepted ("" before); set by resolve() with a 2xx to the auth action.
  const std::string& authenticated_user() const { return authenticated_user_; }

 private:
  // Implementation state; see daemon/smtp/server_protocol.cpp.
  enum class State { command, auth, data, closed };
  enum class Pending { none, mail, rcpt, data_start, data_end, starttls, auth };
  enum class Framing { line, need_more, handled };

  // Handlers return an action to hand out, or need_input when they only queued a reply.
  static Action make_action(Action::Kind kind);
  Framing frame_command_line(std::string_view& line);
  bool skip_long_line();
  Action execute(std::string_view line);
  Action on_hello(const CommandLine& command);
  Action on_mail(std::string_view argument);
  Action on_rcpt(std::string_view argument);
  Action on_data(std::string_view argument);
  Action on_starttls(std::string_view argument);
  Action on_auth(std::string_view argument);
  Action on_auth_response(std::string_view line);
  Action after_sasl_step(const SaslServer::Step& step);
  Action step_data();
  Action wait_for(Pending pending, Action action);
  void queue(const Reply& reply);
  Action refuse(const Reply& reply, bool counts_as_error = true);
  void count_error();
  void close_with(const Reply& reply);
  void reset_transaction();

  Config config_;
  State state_ = State::command;
  Pending pending_ = Pending::none;
  Action pending_action_;  // returned again by next() until resolve()
  MailOptions pending_options_;
  std::string input_;
  std::size_t input_pos_ = 0;
  std::string output_;
  DataReader data_reader_;
  bool input_ended_ = false;
  bool discarding_long_line_ = false;
  bool discard_after_cr_ = false;
  std::uint32_t errors_ = 0;

  std::string helo_;
  bool esmtp_ = false;
  bool have_sender_ = false;
  Path sender_;
  std::vector<Path> recipients_;
  std::string body_type_;
  bool smtputf8_ = false;
  std::uint64_t message_size_ = 0;
  std::uint64_t declared_size_ = 0;
  std::uint64_t message_size_limit_ = 0;  // this transaction's; Config::max_message_size outside
  bool tls_active_ = false;
  SaslServer sasl_;
  std::string auth_user_candidate_;  // the pending auth action's user name
  std::string authenticated_user_;
};

}  // namespace policy_relay::smtp
