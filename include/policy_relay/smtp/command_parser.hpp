#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "policy_relay/smtp/address.hpp"
#include "policy_relay/smtp/reply.hpp"

// Pure parsers for SMTP command lines (RFC 5321 4.1) and the MAIL parameters this server
// implements (RFC 1870 SIZE, RFC 6152 BODY, RFC 6531 SMTPUTF8): a string in, a result out.
namespace policy_relay::smtp {

enum class Verb {
  ehlo,
  helo,
  mail,
  rcpt,
  data,
  rset,
  noop,
  quit,
  vrfy,
  expn,
  help,
  starttls,
  auth,
  empty,    // a blank line
  unknown,  // anything else (BDAT, TURN, garbage)
};

struct CommandLine {
  Verb verb = Verb::unknown;
  std::string_view argument;  // after the verb and its blanks, trailing blanks removed
};

// Splits one command line (its CRLF removed) into verb and argument. Verbs are
// case-insensitive (RFC 5321 2.4) and end at a space or tab.
CommandLine parse_command_line(std::string_view line);

// `argument` without a case-insensitive `prefix` ("FROM:", "TO:"), or nullopt.
std::optional<std::string_view> strip_prefix(std::string_view argument, std::string_view prefix);

// EHLO/HELO argument: Domain or address-literal (RFC 5321 4.1.1.1), '_' tolerated in labels.
bool is_valid_helo_argument(std::string_view argument);

struct MailOptions {
  std::uint64_t declared_size = 0;  // SIZE=, 0 when not given (RFC 1870 6)
  std::string body_type;            // "", "7BIT" or "8BITMIME"
  bool smtputf8 = false;
};

struct MailOptionsCheck {
  MailOptions options;
  std::optional<Reply> refusal;  // the first parameter that cannot be accepted
  bool counts_as_error = true;   // false for a SIZE over the limit (a limit, not a client error)
};

// Validates the MAIL parameters. Extension parameters need EHLO (RFC 5321 4.1.1.11); unknown
// ones get 555 5.5.4; SIZE over `max_message_size` gets 552 5.3.4 at once (RFC 1870 6.2).
MailOptionsCheck check_mail_parameters(const std::vector<Parameter>& parameters, bool esmtp,
                                       std::uint64_t max_message_size);

// The refusal for a path that parse_path_argument() rejected, for MAIL (`sender`) or RCPT.
Reply path_refusal(PathError error, bool sender);

}  // namespace policy_relay::smtp
