#pragma once

#include <string>
#include <string_view>

#include "policy_relay/smtp/reply.hpp"

namespace policy_relay::smtp {

// A user name and password from an AUTH exchange. The password is wiped when this goes.
struct Credentials {
  Credentials() = default;
  Credentials(const Credentials&) = delete;
  Credentials& operator=(const Credentials&) = delete;
  Credentials(Credentials&& other) noexcept;
  Credentials& operator=(Credentials&& other) noexcept;
  ~Credentials();
  void clear();

  std::string username;
  std::string password;
};

// The server side of one SMTP AUTH exchange (RFC 4954) for PLAIN (RFC 4616) and LOGIN, as a
// sans-I/O state machine: start() takes the AUTH command's argument, respond() each line the
// client sends after a 334. Every step ends in a challenge (send "334 <challenge>"), the
// credentials to verify, or a refusal:
//   504 5.5.4 unknown mechanism, 501 5.5.4 syntax, 501 5.5.2 bad base64 or a malformed PLAIN
//   message, 501 5.7.0 the client cancelled with "*" (RFC 4954 4).
class SaslServer {
 public:
  enum class Outcome { challenge, credentials, refused };
  struct Step {
    Outcome outcome = Outcome::refused;
    std::string challenge;  // base64, for "334 "
    Reply refusal;
  };

  // The mechanisms EHLO advertises ("AUTH PLAIN LOGIN").
  static constexpr std::string_view mechanisms = "PLAIN LOGIN";

  Step start(std::string_view argument);
  Step respond(std::string_view line);

  // Valid after a step with Outcome::credentials; moved out by the caller.
  Credentials& credentials() { return credentials_; }
  bool in_progress() const { return mechanism_ != Mechanism::none; }
  void reset();

 private:
  enum class Mechanism { none, plain, login_username, login_password };
  Step take_plain(std::string_view encoded);
  Step take_login_username(std::string_view encoded);
  Step take_login_password(std::string_view encoded);
  Step refuse(int code, std::string_view enhanced, std::string text);

  Mechanism mechanism_ = Mechanism::none;
  Credentials credentials_;
};

}  // namespace policy_relay::smtp
