#pragma once

#include <sys/stat.h>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/thread_pool.hpp>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "policy_relay/auth/login_throttle.hpp"
#include "policy_relay/auth/users_file.hpp"
#include "policy_relay/config/config.hpp"
#include "policy_relay/smtp/sasl_server.hpp"

namespace policy_relay::auth {

// Verifies AUTH credentials against auth.users_file with the failed-login throttle (POLICY
// VII.1). The file is read again when it changes on disk (`policy-relayctl passwd` takes effect
// at the next AUTH, VII.4); a file that no longer parses is logged and the last good one kept.
// scrypt runs on two helper threads, never on the event loop. Every attempt is logged as
// `auth` (result=ok|fail|locked) and every lockout as `auth_lockout`; never a password.
// Single-threaded use: every call on the event loop's thread.
class Authenticator {
 public:
  enum class Outcome {
    accepted,  // 235 2.7.0
    refused,   // 535 5.7.8, after the throttle's delay
    locked,    // 421 4.7.0 and close: the address or the user is locked out
  };
  struct Result {
    Outcome outcome = Outcome::refused;
    std::string user;                           // lower-cased
    std::vector<std::string> sender_addresses;  // accepted: whom the user may send as
  };

  // Loads the users file; throws std::runtime_error saying why when it cannot be read or
  // parsed (start-up).
  explicit Authenticator(const config::AuthConfig& config);
  ~Authenticator();

  boost::asio::awaitable<Result> authenticate(std::uint64_t session, const std::string& client,
                                              smtp::Credentials credentials);

 private:
  void reload_if_changed();

  config::AuthConfig config_;
  std::shared_ptr<const UsersFile> users_;
  struct ::stat loaded_stat_ {};
  LoginThrottle throttle_;
  PasswordHash dummy_;  // verified for unknown users, so timing does not tell who exists
  boost::asio::thread_pool pool_{2};
};

}  // namespace policy_relay::auth
