#include "policy_relay/auth/authenticator.hpp"

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "policy_relay/log/log.hpp"

namespace asio = boost::asio;

namespace policy_relay::auth {
namespace {

constexpr std::size_t kMaxUsersFile = 16 * 1024 * 1024;

std::shared_ptr<const UsersFile> load(const std::string& path, struct ::stat& stat_out) {
  std::ifstream file(path, std::ios::binary);
  if (!file || ::stat(path.c_str(), &stat_out) != 0) {
    throw std::runtime_error("auth.users_file " + path + ": cannot read: " + std::strerror(errno));
  }
  if (static_cast<std::size_t>(stat_out.st_size) > kMaxUsersFile) {
    throw std::runtime_error("auth.users_file " + path + ": larger than 16 MiB");
  }
  std::ostringstream text;
  text << file.rdbuf();
  std::string error;
  auto parsed = UsersFile::parse(text.str(), error);
  if (!parsed) {
    throw std::runtime_error("auth.users_file " + path + ": " + error);
  }
  return std::make_shared<const UsersFile>(std::move(*parsed));
}

bool same_file(const struct ::stat& a, const struct ::stat& b) {
  return a.st_ino == b.st_ino && a.st_dev == b.st_dev && a.st_size == b.st_size &&
         a.st_mtim.tv_sec == b.st_mtim.tv_sec && a.st_mtim.tv_nsec == b.st_mtim.tv_nsec;
}

LoginThrottle::Config throttle_config(const config::AuthConfig& config) {
  LoginThrottle::Config throttle;
  throttle.max_failures = config.max_failures;
  throttle.window = config.failure_window;
  throttle.lockout = config.lockout;
  throttle.base_delay = config.failure_delay;
  throttle.max_delay = config.failure_delay * 8;
  return throttle;
}

// Runs on a helper thread. `users` keeps the entry that `hash` may point into alive; the
// password is wiped before the frame goes.
asio::awaitable<bool> verify_off_loop(std::shared_ptr<const UsersFile> users,
                                      const PasswordHash* hash, std::string password) {
  const bool matches = verify_password(*hash, password);
  if (!password.empty()) {
    OPENSSL_cleanse(password.data(), password.size());
  }
  users.reset();
  co_return matches;
}

// What an unknown user's password is checked against: the default cost with a random salt and a
// random key that no password derives to. Nothing is derived at start-up (it would slow every
// start by one scrypt).
PasswordHash make_dummy_hash() {
  PasswordHash hash;
  hash.salt.resize(16);
  hash.key.resize(32);
  if (RAND_bytes(reinterpret_cast<unsigned char*>(hash.salt.data()), 16) != 1 ||
      RAND_bytes(reinterpret_cast<unsigned char*>(hash.key.data()), 32) != 1) {
    throw std::runtime_error("cannot get random octets");
  }
  return hash;
}

std::string_view key_name(LoginThrottle::Key key) {
  return key == LoginThrottle::Key::address ? "address" : "user";
}

}  // namespace

Authenticator::Authenticator(const config::AuthConfig& config)
    : config_(config),
      users_(load(config.users_file, loaded_stat_)),
      throttle_(throttle_config(config)),
      dummy_(make_dummy_hash()) {}

Authenticator::~Authenticator() {
  pool_.join();
}

void Authenticator::reload_if_changed() {
  struct ::stat now {};
  if (::stat(config_.users_file.c_str(), &now) != 0 || same_file(now, loaded_stat_)) {
    return;
  }
  try {
    users_ = load(config_.users_file, loaded_stat_);
    log::Event("users_reloaded").add("users", static_cast<std::uint64_t>(users_->size()));
  } catch (const std::exception& error) {
    loaded_stat_ = now;  // logged once per change, not at every AUTH
    log::Event("users_reload_failed", log::Level::error)
        .add("error", error.what())
        .add("kept_users", static_cast<std::uint64_t>(users_->size()));
  }
}

asio::awaitable<Authenticator::Result> Authenticator::authenticate(std::uint64_t session,
                                                                   const std::string& client,
                                                                   smtp::Credentials credentials) {
  reload_if_changed();
  Result result;
  result.user = lower_ascii(credentials.username);
  const auto now = LoginThrottle::Clock::now();
  const LoginThrottle::Lock lock = throttle_.check(client, result.user, now);
  if (lock.locked()) {
    result.outcome = Outcome::locked;
    log::Event("auth", log::Level::warn)
        .add("session", session)
        .add("client", client)
        .add("user", result.user)
        .add("result", "locked")
        .add("locked", key_name(lock.key));
    co_return result;
  }

  const std::shared_ptr<const UsersFile> users = users_;  // a reload must not pull it away
  const UserEntry* entry = users->find(result.user);
  const PasswordHash& hash = entry != nullptr ? entry->hash : dummy_;
  const bool valid = co_await asio::co_spawn(
      pool_, verify_off_loop(users, &hash, std::move(credentials.password)), asio::use_awaitable);
  if (valid && entry != nullptr) {
    throttle_.record_success(result.user);
    result.outcome = Outcome::accepted;
    result.sender_addresses = entry->sender_addresses();
    log::Event("auth")
        .add("session", session)
        .add("client", client)
        .add("user", result.user)
        .add("result", "ok");
    co_return result;
  }

  const LoginThrottle::Failure failure =
      throttle_.record_failure(client, result.user, LoginThrottle::Clock::now());
  log::Event("auth", log::Level::warn)
      .add("session", session)
      .add("client", client)
      .add("user", result.user)
      .add("result", "fail")
      .add("known_user", entry != nullptr)
      .add("failures", failure.failures);
  if (failure.lock.locked()) {
    result.outcome = Outcome::locked;
    log::Event("auth_lockout", log::Level::warn)
        .add("session", session)
        .add("client", client)
        .add("user", result.user)
        .add("key", key_name(failure.lock.key))
        .add("seconds",
             static_cast<std::int64_t>(
                 std::chrono::duration_cast<std::chrono::seconds>(config_.lockout).count()));
    co_return result;
  }
  asio::steady_timer delay(co_await asio::this_coro::executor);
  delay.expires_after(failure.delay);
  co_await delay.async_wait(asio::as_tuple(asio::use_awaitable));
  result.outcome = Outcome::refused;
  co_return result;
}

}  // namespace policy_relay::auth
