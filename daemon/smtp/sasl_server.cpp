#include "policy_relay/smtp/sasl_server.hpp"

#include <openssl/crypto.h>

#include <algorithm>
#include <utility>

#include "policy_relay/smtp/base64.hpp"

namespace policy_relay::smtp {
namespace {

constexpr std::string_view kUsernamePrompt = "VXNlcm5hbWU6";  // "Username:"
constexpr std::string_view kPasswordPrompt = "UGFzc3dvcmQ6";  // "Password:"
// RFC 4616 2: authcid and passwd are at most 255 octets each (authzid likewise).
constexpr std::size_t kMaxField = 255;

void wipe(std::string& secret) {
  if (!secret.empty()) {
    OPENSSL_cleanse(secret.data(), secret.size());
  }
  secret.clear();
}

bool equal_ignoring_ascii_case(std::string_view a, std::string_view b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(), [](char x, char y) {
    const auto upper = [](char c) { return c >= 'a' && c <= 'z' ? static_cast<char>(c - 32) : c; };
    return upper(x) == upper(y);
  });
}

}  // namespace

Credentials::Credentials(Credentials&& other) noexcept
    : username(std::move(other.username)), password(std::move(other.password)) {
  other.clear();
}

Credentials& Credentials::operator=(Credentials&& other) noexcept {
  if (this != &other) {
    clear();
    username = std::move(other.username);
    password = std::move(other.password);
    other.clear();
  }
  return *this;
}

Credentials::~Credentials() {
  clear();
}

void Credentials::clear() {
  username.clear();
  wipe(password);
}

void SaslServer::reset() {
  mechanism_ = Mechanism::none;
  credentials_.clear();
}

SaslServer::Step SaslServer::refuse(int code, std::string_view enhanced, std::string text) {
  reset();
  Step step;
  step.outcome = Outcome::refused;
  step.refusal = Reply{code, std::string(enhanced), std::move(text)};
  return step;
}

// RFC 4954 4: "AUTH mechanism [initial-response]"; "=" is an empty initial response.
SaslServer::Step SaslServer::start(std::string_view argument) {
  reset();
  const std::size_t space = argument.find(' ');
  const std::string_view mechanism = argument.substr(0, space);
  std::string_view initial =
      space == std::string_view::npos ? std::string_view() : argument.substr(space + 1);
  const bool has_initial = space != std::string_view::npos;
  if (mechanism.empty() ||
      (has_initial && (initial.empty() || initial.find(' ') != std::string_view::npos))) {
    return refuse(501, "5.5.4", "Syntax: AUTH mechanism [initial-response]");
  }
  if (has_initial && initial == "=") {
    initial = "";
  }
  if (equal_ignoring_ascii_case(mechanism, "PLAIN")) {
    mechanism_ = Mechanism::plain;
    if (!has_initial) {
      Step step;
      step.outcome = Outcome::challenge;  // an empty challenge: "334 "
      return step;
    }
    return take_plain(initial);
  }
  if (equal_ignoring_ascii_case(mechanism, "LOGIN")) {
    mechanism_ = Mechanism::login_username;
    if (!has_initial) {
      Step step;
      step.outcome = Outcome::challenge;
      step.challenge = std::string(kUsernamePrompt);
      return step;
    }
    return take_login_username(initial);  // what many clients send as LOGIN's initial response
  }
  return refuse(504, "5.5.4", "Unrecognized authentication type");
}

SaslServer::Step SaslServer::respond(std::string_view line) {
  if (line == "*") {
    return refuse(501, "5.7.0", "Authentication cancelled");  // RFC 4954 4
  }
  switch (mechanism_) {
    case Mechanism::plain:
      return take_plain(line);
    case Mechanism::login_username:
      return take_login_username(line);
    case Mechanism::login_password:
      return take_login_password(line);
    case Mechanism::none:
      break;
  }
  return refuse(503, "5.5.1", "Error: no authentication in progress");
}

// RFC 4616 2: [authzid] NUL authcid NUL passwd. An authorization identity other than the
// authentication identity (acting for someone else) is not supported: 535.
SaslServer::Step SaslServer::take_plain(std::string_view encoded) {
  std::optional<std::string> message = base64_decode(encoded);
  if (!message) {
    return refuse(501, "5.5.2", "Cannot decode response");
  }
  const std::size_t first = message->find('\0');
  const std::size_t second =
      first == std::string::npos ? std::string::npos : message->find('\0', first + 1);
  if (second == std::string::npos || message->find('\0', second + 1) != std::string::npos) {
    wipe(*message);
    return refuse(501, "5.5.2", "Malformed PLAIN response");
  }
  const std::string_view text(*message);
  const std::string_view authzid = text.substr(0, first);
  const std::string_view authcid = text.substr(first + 1, second - first - 1);
  const std::string_view password = text.substr(second + 1);
  if (authcid.empty() || authcid.size() > kMaxField || password.size() > kMaxField ||
      authzid.size() > kMaxField) {
    wipe(*message);
    return refuse(501, "5.5.2", "Malformed PLAIN response");
  }
  const bool proxy = !authzid.empty() && authzid != authcid;
  credentials_.username = std::string(authcid);
  credentials_.password = std::string(password);
  wipe(*message);
  if (proxy) {
    return refuse(535, "5.7.8", "Authentication credentials invalid");
  }
  mechanism_ = Mechanism::none;
  Step step;
  step.outcome = Outcome::credentials;
  return step;
}

SaslServer::Step SaslServer::take_login_username(std::string_view encoded) {
  std::optional<std::string> username = base64_decode(encoded);
  if (!username) {
    return refuse(501, "5.5.2", "Cannot decode response");
  }
  if (username->empty() || username->size() > kMaxField ||
      username->find('\0') != std::string::npos) {
    return refuse(501, "5.5.2", "Malformed LOGIN response");
  }
  credentials_.username = std::move(*username);
  mechanism_ = Mechanism::login_password;
  Step step;
  step.outcome = Outcome::challenge;
  step.challenge = std::string(kPasswordPrompt);
  return step;
}

SaslServer::Step SaslServer::take_login_password(std::string_view encoded) {
  std::optional<std::string> password = base64_decode(encoded);
  if (!password) {
    return refuse(501, "5.5.2", "Cannot decode response");
  }
  if (password->size() > kMaxField || password->find('\0') != std::string::npos) {
    wipe(*password);
    return refuse(501, "5.5.2", "Malformed LOGIN response");
  }
  credentials_.password = std::move(*password);
  wipe(*password);
  mechanism_ = Mechanism::none;
  Step step;
  step.outcome = Outcome::credentials;
  return step;
}

}  // namespace policy_relay::smtp
