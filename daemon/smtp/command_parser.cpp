#include "policy_relay/smtp/command_parser.hpp"

#include <algorithm>
#include <array>
#include <limits>
#include <utility>

namespace policy_relay::smtp {
namespace {

bool is_blank(char c) {
  return c == ' ' || c == '\t';
}

char to_upper(char c) {
  return c >= 'a' && c <= 'z' ? static_cast<char>(c - 32) : c;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) { return to_upper(x) == y; });
}

constexpr std::array<std::pair<std::string_view, Verb>, 13> verbs{{
    {"EHLO", Verb::ehlo},
    {"HELO", Verb::helo},
    {"MAIL", Verb::mail},
    {"RCPT", Verb::rcpt},
    {"DATA", Verb::data},
    {"RSET", Verb::rset},
    {"NOOP", Verb::noop},
    {"QUIT", Verb::quit},
    {"VRFY", Verb::vrfy},
    {"EXPN", Verb::expn},
    {"HELP", Verb::help},
    {"STARTTLS", Verb::starttls},
    {"AUTH", Verb::auth},
}};

// SIZE value: 1*DIGIT (RFC 1870 3); a number beyond 64 bits saturates, so it is over any limit.
std::optional<std::uint64_t> parse_size(const std::optional<std::string>& value) {
  if (!value || value->empty() ||
      !std::all_of(value->begin(), value->end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return std::nullopt;
  }
  std::uint64_t size = 0;
  for (const char c : *value) {
    const auto digit = static_cast<std::uint64_t>(c - '0');
    if (size > (std::numeric_limits<std::uint64_t>::max() - digit) / 10) {
      return std::numeric_limits<std::uint64_t>::max();
    }
    size = size * 10 + digit;
  }
  return size;
}

MailOptionsCheck refuse(MailOptionsCheck check, Reply reply, bool counts_as_error = true) {
  check.refusal = std::move(reply);
  check.counts_as_error = counts_as_error;
  return check;
}

}  // namespace

CommandLine parse_command_line(std::string_view line) {
  while (!line.empty() && is_blank(line.back())) {
    line.remove_suffix(1);
  }
  if (line.empty()) {
    return {Verb::empty, {}};
  }
  const std::size_t verb_end = std::min(line.find_first_of(" \t"), line.size());
  std::string_view argument = line.substr(verb_end);
  while (!argument.empty() && is_blank(argument.front())) {
    argument.remove_prefix(1);
  }
  const std::string_view verb = line.substr(0, verb_end);
  for (const auto& [name, kind] : verbs) {
    if (iequals(verb, name)) {
      return {kind, argument};
    }
  }
  return {Verb::unknown, argument};
}

std::optional<std::string_view> strip_prefix(std::string_view argument, std::string_view prefix) {
  if (argument.size() < prefix.size() || !iequals(argument.substr(0, prefix.size()), prefix)) {
    return std::nullopt;
  }
  return argument.substr(prefix.size());
}

bool is_valid_helo_argument(std::string_view argument) {
  return argument.starts_with('[') ? is_valid_address_literal(argument)
                                   : is_valid_domain(argument, /*allow_underscore=*/true);
}

MailOptionsCheck check_mail_parameters(const std::vector<Parameter>& parameters, bool esmtp,
                                       std::uint64_t max_message_size) {
  MailOptionsCheck check;
  bool seen_size = false;
  for (const Parameter& parameter : parameters) {
    const std::string& keyword = parameter.keyword;
    if (!esmtp) {
      return refuse(std::move(check), {555, "5.5.4", "MAIL parameters need EHLO"});
    }
    if (keyword == "SIZE") {
      const auto size = parse_size(parameter.value);
      if (!size || seen_size) {
        return refuse(std::move(check), {501, "5.5.4", "Bad SIZE parameter"});
      }
      if (*size > max_message_size) {
        return refuse(
            std::move(check),
            {552, "5.3.4",
             "Message size exceeds fixed limit of " + std::to_string(max_message_size) + " bytes"},
            false);
      }
      seen_size = true;
      check.options.declared_size = *size;
    } else if (keyword == "BODY") {
      std::string type = parameter.value.value_or("");
      std::transform(type.begin(), type.end(), type.begin(), to_upper);
      if ((type != "7BIT" && type != "8BITMIME") || !check.options.body_type.empty()) {
        return refuse(std::move(check), {501, "5.5.4", "Bad BODY parameter"});
      }
      check.options.body_type = type;
    } else if (keyword == "SMTPUTF8") {
      if (parameter.value || check.options.smtputf8) {
        return refuse(std::move(check), {501, "5.5.4", "Bad SMTPUTF8 parameter"});
      }
      check.options.smtputf8 = true;
    } else {
      // The keyword is esmtp-keyword syntax (letters, digits, '-'), safe to echo.
      return refuse(std::move(check), {555, "5.5.4", "Unsupported MAIL parameter " + keyword});
    }
  }
  return check;
}

Reply path_refusal(PathError error, bool sender) {
  const char* code = sender ? "5.1.7" : "5.1.3";
  switch (error) {
    case PathError::utf8_without_smtputf8:
      return {553, "5.6.7", "UTF-8 address requires SMTPUTF8"};
    case PathError::too_long:
      return {501, code, sender ? "Sender address too long" : "Recipient address too long"};
    case PathError::bad_parameter:
      return {501, "5.5.4", "Bad parameter syntax"};
    case PathError::none:
    case PathError::syntax:
    case PathError::null_not_allowed:
      break;
  }
  return {501, code, sender ? "Bad sender address syntax" : "Bad recipient address syntax"};
}

}  // namespace policy_relay::smtp
