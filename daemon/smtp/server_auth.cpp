// STARTTLS (RFC 3207) and AUTH (RFC 4954) for smtp::ServerProtocol. The session does the TLS
// handshake and verifies credentials; this file keeps the sequencing rules.
#include "policy_relay/smtp/server_protocol.hpp"

namespace policy_relay::smtp {
namespace {

using Kind = ServerProtocol::Action::Kind;

}  // namespace

// RFC 3207 4: "220 Ready to start TLS". Everything the client sent after the STARTTLS line is
// thrown away here, before the handshake (CVE-2011-0411, RFC 3207 6).
ServerProtocol::Action ServerProtocol::on_starttls(std::string_view argument) {
  if (tls_active_) {
    return refuse({503, "5.5.1", "Error: TLS already active"});
  }
  if (!config_.starttls) {
    return refuse({502, "5.5.1", "Error: TLS not available"});
  }
  if (!argument.empty()) {
    return refuse({501, "5.5.4", "Syntax: STARTTLS"});
  }
  if (have_sender_) {
    return refuse({503, "5.5.1", "Error: STARTTLS not permitted during a mail transaction"});
  }
  queue({220, "2.0.0", "Ready to start TLS"});
  input_.clear();
  input_pos_ = 0;
  discarding_long_line_ = false;
  discard_after_cr_ = false;
  return wait_for(Pending::starttls, make_action(Kind::starttls));
}

// RFC 4954 4. AUTH is neither offered nor accepted before TLS (POLICY VII.1: passwords never
// cross the network in clear).
ServerProtocol::Action ServerProtocol::on_auth(std::string_view argument) {
  if (!tls_active_) {
    return refuse({530, "5.7.0", "Must issue a STARTTLS command first"});
  }
  if (!config_.auth) {
    return refuse({502, "5.5.1", "Error: authentication not enabled"});
  }
  if (helo_.empty() || !esmtp_) {
    return refuse({503, "5.5.1", "Error: send EHLO first"});
  }
  if (!authenticated_user_.empty()) {
    return refuse({503, "5.5.1", "Error: already authenticated"});
  }
  if (have_sender_) {
    return refuse({503, "5.5.1", "Error: AUTH not permitted during a mail transaction"});
  }
  return after_sasl_step(sasl_.start(argument));
}

ServerProtocol::Action ServerProtocol::on_auth_response(std::string_view line) {
  state_ = State::command;
  return after_sasl_step(sasl_.respond(line));
}

ServerProtocol::Action ServerProtocol::after_sasl_step(const SaslServer::Step& step) {
  switch (step.outcome) {
    case SaslServer::Outcome::challenge:
      output_ += "334 " + step.challenge + "\r\n";  // RFC 4954 4: "334" SP [base64] CRLF
      state_ = State::auth;
      return make_action(Kind::need_input);
    case SaslServer::Outcome::credentials:
      auth_user_candidate_ = sasl_.credentials().username;
      return wait_for(Pending::auth, make_action(Kind::auth));
    case SaslServer::Outcome::refused:
      break;
  }
  return refuse(step.refusal);
}

}  // namespace policy_relay::smtp
