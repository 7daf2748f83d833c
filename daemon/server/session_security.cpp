// The session's TLS and AUTH steps (RFC 3207, RFC 8314, RFC 4954; POLICY VII.1): handshakes
// with a deadline, credentials to the Authenticator, the AUTH requirement at MAIL.
#include <boost/asio/experimental/awaitable_operators.hpp>

#include "policy_relay/auth/authenticator.hpp"
#include "policy_relay/log/log.hpp"
#include "policy_relay/server/session.hpp"
#include "policy_relay/tls/contexts.hpp"
#include "session_stream.hpp"

namespace asio = boost::asio;
using namespace boost::asio::experimental::awaitable_operators;

namespace policy_relay::server {
namespace {

constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);
constexpr auto kCloseNotifyTimeout = std::chrono::seconds(2);

}  // namespace

// The handshake has the command timeout as its deadline. On success the protocol forgets
// everything from before (RFC 3207 4.2); on failure the connection can only be closed.
asio::awaitable<bool> Session::start_tls() {
  timer_.expires_after(config_->server.command_timeout);
  auto result = co_await (stream_->handshake(*services_.tls) || timer_.async_wait(kTuple));
  const bool timed_out = result.index() == 1;
  const boost::system::error_code error = timed_out ? asio::error::timed_out : std::get<0>(result);
  if (error) {
    log::Event("tls_failed", log::Level::warn)
        .add("session", number_)
        .add("client", client_endpoint_)
        .add("error", timed_out ? std::string("handshake timed out") : error.message());
    co_return false;
  }
  protocol_.tls_started();
  policy_.reset();
  policy_.clear_authenticated();
  log::Event("tls")
      .add("session", number_)
      .add("client", client_endpoint_)
      .add("mode", implicit_tls_ ? "implicit" : "starttls")
      .add("cipher", tls::describe_session(stream_->ssl()));
  co_return true;
}

asio::awaitable<void> Session::close_tls() {
  if (!stream_->tls_active()) {
    co_return;
  }
  timer_.expires_after(kCloseNotifyTimeout);
  co_await (stream_->shutdown_tls() || timer_.async_wait(kTuple));
}

// The password leaves the protocol here, goes to the Authenticator's helper thread and is
// wiped there; the log never sees it.
asio::awaitable<void> Session::handle_auth() {
  const policy::Catalog& catalog = services_.policy.catalog();
  smtp::Credentials credentials = std::move(protocol_.credentials());
  const auth::Authenticator::Result result = co_await services_.authenticator->authenticate(
      number_, client_address_, std::move(credentials));
  switch (result.outcome) {
    case auth::Authenticator::Outcome::accepted:
      policy_.set_authenticated(result.user, result.sender_addresses);
      protocol_.resolve({235, "2.7.0", catalog.authentication_succeeded()});
      break;
    case auth::Authenticator::Outcome::refused:
      protocol_.resolve({535, "5.7.8", catalog.authentication_failed()}, /*count_as_error=*/true);
      break;
    case auth::Authenticator::Outcome::locked:
      protocol_.resolve(
          {421, "4.7.0", config_->server.hostname + " " + catalog.authentication_locked()});
      break;
  }
}

// POLICY VII.1, DESIGN.md "Replies": outside server.trusted_networks a client must AUTH before
// MAIL when auth.require is set.
std::optional<smtp::Reply> Session::authentication_refusal(const std::string& sender) {
  if (!config_->auth.require || trusted_ || !protocol_.authenticated_user().empty()) {
    return std::nullopt;
  }
  smtp::Reply reply{530, "5.7.0", services_.policy.catalog().authentication_required()};
  PolicyGate::log_refusal(number_, client_address_, sender, reply, "auth_required", "VII.1");
  return reply;
}

}  // namespace policy_relay::server
