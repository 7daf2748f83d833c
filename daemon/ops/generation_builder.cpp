#include "policy_relay/ops/generation_builder.hpp"

#include <fstream>
#include <sstream>
#include <stdexcept>

#include "policy_relay/auth/authenticator.hpp"
#include "policy_relay/auth/network_list.hpp"
#include "policy_relay/auth/users_file.hpp"
#include "policy_relay/config/account_directory_file.hpp"
#include "policy_relay/delivery/scheduler.hpp"
#include "policy_relay/policy/engine.hpp"
#include "policy_relay/tls/contexts.hpp"

namespace policy_relay::ops {
namespace {

// Owns what one generation's SessionServices points to.
struct Resources {
  std::unique_ptr<boost::asio::ssl::context> tls;
  std::shared_ptr<auth::Authenticator> authenticator;
  std::unique_ptr<auth::NetworkList> trusted_networks;
  std::unique_ptr<policy::AccountDirectory> directory;
  std::unique_ptr<policy::Engine> engine;
  std::unique_ptr<policy::SenderStanding> standing;
};

bool same_auth(const config::AuthConfig& a, const config::AuthConfig& b) {
  return a.users_file == b.users_file && a.require == b.require &&
         a.max_failures == b.max_failures && a.failure_window == b.failure_window &&
         a.lockout == b.lockout && a.failure_delay == b.failure_delay;
}

// The users file must parse; its errors name the line, never its content (hashes).
void validate_users_file(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) {
    throw std::runtime_error(path + ": cannot open (auth.users_file)");
  }
  std::ostringstream text;
  text << file.rdbuf();
  std::string error;
  if (!auth::UsersFile::parse(text.str(), error)) {
    throw std::runtime_error(path + ":" + (error.rfind("line ", 0) == 0 ? error.substr(5) : error));
  }
}

}  // namespace

server::GenerationPtr build_generation(config::ConfigPtr config, const server::Generation* previous,
                                       const SharedServices& shared) {
  auto resources = std::make_shared<Resources>();
  resources->tls = tls::make_server_context(config->tls);
  const Resources* before = previous != nullptr && previous->resources
                                ? static_cast<const Resources*>(previous->resources.get())
                                : nullptr;
  if (!config->auth.users_file.empty()) {
    if (before != nullptr && before->authenticator &&
        same_auth(previous->config->auth, config->auth)) {
      validate_users_file(config->auth.users_file);
      resources->authenticator = before->authenticator;  // it re-reads the file when it changes
    } else {
      resources->authenticator = std::make_shared<auth::Authenticator>(config->auth);
    }
  }
  resources->trusted_networks =
      std::make_unique<auth::NetworkList>(auth::NetworkList::from(config->server.trusted_networks));
  if (!config->senders.directory.empty()) {
    resources->directory = std::make_unique<policy::AccountDirectory>(
        config::load_account_directory(config->senders.directory));
  }
  resources->engine =
      std::make_unique<policy::Engine>(config, shared.counters, shared.clock, &shared.scheduler);
  resources->standing = std::make_unique<policy::SenderStanding>(
      resources->directory.get(), shared.suspensions, resources->engine->catalog());

  server::SessionServices services{shared.spool,
                                   shared.scheduler,
                                   *resources->engine,
                                   resources->tls.get(),
                                   resources->authenticator.get(),
                                   resources->trusted_networks.get(),
                                   shared.notifier,
                                   resources->standing.get(),
                                   shared.activity};
  return std::make_shared<server::Generation>(
      server::Generation{std::move(config), services, std::move(resources)});
}

}  // namespace policy_relay::ops
