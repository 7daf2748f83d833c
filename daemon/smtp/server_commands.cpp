// The command handlers of smtp::ServerProtocol (RFC 5321 4.1.1); the state machine core is in
// server_protocol.cpp.
#include <cstdint>
#include <limits>
#include <utility>

#include "policy_relay/smtp/server_protocol.hpp"

namespace policy_relay::smtp {
namespace {

using Kind = ServerProtocol::Action::Kind;

const Reply ok_reply{250, "2.0.0", "Ok"};
const Reply need_hello{503, "5.5.1", "Error: send HELO/EHLO first"};
const Reply need_mail{503, "5.5.1", "Error: need MAIL command"};

}  // namespace

ServerProtocol::Action ServerProtocol::execute(std::string_view line) {
  const CommandLine command = parse_command_line(line);
  switch (command.verb) {
    case Verb::ehlo:
    case Verb::helo:
      return on_hello(command);
    case Verb::mail:
      return on_mail(command.argument);
    case Verb::rcpt:
      return on_rcpt(command.argument);
    case Verb::data:
      return on_data(command.argument);
    case Verb::rset:
      if (!command.argument.empty()) {
        return refuse({501, "5.5.4", "Syntax: RSET"});
      }
      reset_transaction();  // RFC 5321 4.1.1.5
      queue(ok_reply);
      return make_action(Kind::need_input);
    case Verb::noop:
      queue(ok_reply);  // RFC 5321 4.1.1.9: any argument is ignored
      return make_action(Kind::need_input);
    case Verb::quit:
      close_with({221, "2.0.0", "Bye"});  // RFC 5321 4.1.1.10
      return make_action(Kind::need_input);
    case Verb::vrfy:
      if (command.argument.empty()) {
        return refuse({501, "5.5.4", "Syntax: VRFY address"});
      }
      // RFC 5321 3.5.3: 252 when the server will not verify.
      queue({252, "2.5.0", "Cannot VRFY user, but will accept message and attempt delivery"});
      return make_action(Kind::need_input);
    case Verb::expn:
      return refuse({502, "5.5.1", "Error: command not implemented"});
    case Verb::help:
      queue({214, "2.0.0", "Commands: EHLO HELO MAIL RCPT DATA RSET NOOP QUIT VRFY HELP"});
      return make_action(Kind::need_input);
    case Verb::starttls:
      return on_starttls(command.argument);
    case Verb::auth:
      return on_auth(command.argument);
    case Verb::empty:
      return refuse({500, "5.5.2", "Error: bad syntax"});
    case Verb::unknown:
      break;
  }
  return refuse({500, "5.5.1", "Error: command not recognized"});
}

// RFC 5321 4.1.1.1 and 4.1.4: a (second) EHLO or HELO resets the transaction as RSET does.
// Neither reply carries an enhanced code (RFC 2034 3); the EHLO keywords are RFC 1870, RFC
// 6152, RFC 2920, RFC 2034 and RFC 6531.
ServerProtocol::Action ServerProtocol::on_hello(const CommandLine& command) {
  const bool extended = command.verb == Verb::ehlo;
  if (!is_valid_helo_argument(command.argument)) {
    return refuse({501, "5.5.4", extended ? "Syntax: EHLO hostname" : "Syntax: HELO hostname"});
  }
  reset_transaction();
  helo_ = command.argument;
  esmtp_ = extended;
  if (!extended) {
    queue({250, "", config_.hostname});
    return make_action(Kind::need_input);
  }
  std::string keywords = config_.hostname + "\nSIZE " + std::to_string(config_.max_message_size) +
                         "\n8BITMIME\nPIPELINING\nENHANCEDSTATUSCODES\nSMTPUTF8";
  if (config_.starttls && !tls_active_) {
    keywords += "\nSTARTTLS";  // RFC 3207 4
  }
  if (config_.auth && tls_active_) {
    keywords += "\nAUTH " + std::string(SaslServer::mechanisms);  // RFC 4954 3; never before TLS
  }
  queue({250, "", keywords});
  return make_action(Kind::need_input);
}

// RFC 5321 4.1.1.2.
ServerProtocol::Action ServerProtocol::on_mail(std::string_view argument) {
  if (helo_.empty()) {
    return refuse(need_hello);
  }
  if (have_sender_) {
    return refuse({503, "5.5.1", "Error: nested MAIL command"});
  }
  const auto path = strip_prefix(argument, "FROM:");
  if (!path) {
    return refuse({501, "5.5.4", "Syntax: MAIL FROM:<address>"});
  }
  PathParse parsed = parse_path_argument(*path, /*allow_null=*/true, /*allow_utf8=*/false);
  if (parsed.error != PathError::none) {
    return refuse(path_refusal(parsed.error, /*sender=*/true));
  }
  if (config_.auth && tls_active_) {
    // RFC 4954 5: with AUTH offered, MAIL may carry AUTH=; this relay asserts no identity
    // upstream from it, so it is accepted and dropped.
    std::erase_if(parsed.value.parameters,
                  [](const Parameter& parameter) { return parameter.keyword == "AUTH"; });
  }
  // Without refuse_declared_size the session's policy judges SIZE= (any value passes here).
  MailOptionsCheck check = check_mail_parameters(parsed.value.parameters, esmtp_,
                                                 config_.refuse_declared_size
                                                     ? config_.max_message_size
                                                     : std::numeric_limits<std::uint64_t>::max());
  if (check.refusal) {
    return refuse(*check.refusal, check.counts_as_error);
  }
  pending_options_ = std::move(check.options);
  Action action = make_action(Kind::mail);
  action.argument = std::move(parsed.value);
  action.declared_size = pending_options_.declared_size;
  return wait_for(Pending::mail, std::move(action));
}

// RFC 5321 4.1.1.3; no RCPT parameters are advertised.
ServerProtocol::Action ServerProtocol::on_rcpt(std::string_view argument) {
  if (!have_sender_) {
    return refuse(need_mail);
  }
  const auto path = strip_prefix(argument, "TO:");
  if (!path) {
    return refuse({501, "5.5.4", "Syntax: RCPT TO:<address>"});
  }
  PathParse parsed = parse_path_argument(*path, /*allow_null=*/false, smtputf8_);
  if (parsed.error != PathError::none) {
    return refuse(path_refusal(parsed.error, /*sender=*/false));
  }
  if (!parsed.value.parameters.empty()) {
    return refuse(
        {555, "5.5.4", "Unsupported RCPT parameter " + parsed.value.parameters.front().keyword});
  }
  if (recipients_.size() >= config_.max_recipients) {
    // RFC 5321 4.5.3.1.10: the first max_recipients stay accepted; a limit, not an error.
    queue({452, "4.5.3", "Too many recipients"});
    return make_action(Kind::need_input);
  }
  Action action = make_action(Kind::rcpt);
  action.argument = std::move(parsed.value);
  return wait_for(Pending::rcpt, std::move(action));
}

// RFC 5321 4.1.1.4; RFC 2920 3.1: without a valid recipient DATA fails with 554.
ServerProtocol::Action ServerProtocol::on_data(std::string_view argument) {
  if (!argument.empty()) {
    return refuse({501, "5.5.4", "Syntax: DATA"});
  }
  if (!have_sender_) {
    return refuse(need_mail);
  }
  if (recipients_.empty()) {
    return refuse({554, "5.5.1", "No valid recipients"});
  }
  return wait_for(Pending::data_start, make_action(Kind::data_start));
}

}  // namespace policy_relay::smtp
