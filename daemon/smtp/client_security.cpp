// STARTTLS (RFC 3207) and AUTH (RFC 4954: PLAIN, LOGIN, XOAUTH2) for smtp::ClientProtocol.
// Nothing goes in plaintext that the configuration wants protected: a missing STARTTLS or
// AUTH mechanism fails the session (4xx for the message, which stays queued).
#include <openssl/crypto.h>

#include <algorithm>

#include "policy_relay/smtp/base64.hpp"
#include "policy_relay/smtp/client_protocol.hpp"

namespace policy_relay::smtp {
namespace {

bool is_2xx(const Reply& reply) {
  return reply.code >= 200 && reply.code < 300;
}

void wipe(std::string& secret) {
  if (!secret.empty()) {
    OPENSSL_cleanse(secret.data(), secret.size());
  }
  secret.clear();
}

}  // namespace

void ClientProtocol::set_auth_secret(std::string secret) {
  wipe(auth_secret_);
  auth_secret_ = std::move(secret);
}

void ClientProtocol::tls_started() {
  if (phase_ != Phase::handshake) {
    return;
  }
  tls_active_ = true;
  extensions_ = Extensions{};
  phase_ = Phase::ehlo;
  unsent_.push_back(Pending{Command::ehlo, 0, "EHLO " + config_.helo_hostname});
}

void ClientProtocol::after_ehlo() {
  if (config_.require_starttls && !tls_active_) {
    if (!extensions_.starttls) {
      const std::string what =
          "Upstream does not offer STARTTLS; not sending in plaintext (upstream.tls = starttls)";
      close_with_failure(Reply{451, "4.7.0", what}, what);
      return;
    }
    phase_ = Phase::starttls;
    unsent_.push_back(Pending{Command::starttls, 0, "STARTTLS"});
    return;
  }
  if (config_.auth_mechanism.empty() || authenticated_) {
    phase_ = Phase::ready;
    return;
  }
  const auto& offered = extensions_.auth_mechanisms;
  if (std::find(offered.begin(), offered.end(), config_.auth_mechanism) == offered.end()) {
    const std::string what = "Upstream does not offer AUTH " + config_.auth_mechanism;
    close_with_failure(Reply{451, "4.7.0", what}, what);
    return;
  }
  phase_ = Phase::auth;
  auth_step_ = 0;
  std::string line = "AUTH " + config_.auth_mechanism;
  if (config_.auth_mechanism == "PLAIN") {
    std::string message = '\0' + config_.auth_username + '\0' + auth_secret_;
    line += " " + base64_encode(message);  // RFC 4616 with an initial response (RFC 4954 4)
    wipe(message);
  } else if (config_.auth_mechanism == "XOAUTH2") {
    // Microsoft's form: base64("user=" user ^A "auth=Bearer " token ^A ^A).
    std::string message =
        "user=" + config_.auth_username + "\x01" + "auth=Bearer " + auth_secret_ + "\x01\x01";
    line += " " + base64_encode(message);
    wipe(message);
  }
  unsent_.push_back(Pending{Command::auth, 0, std::move(line)});
}

void ClientProtocol::on_starttls_reply(const Reply& reply) {
  if (reply.code != 220) {
    const std::string what = "Upstream refused STARTTLS: " + describe(reply);
    close_with_failure(Reply{451, "4.7.0", what}, what);
    return;
  }
  if (parser_.buffered() > 0) {
    // Octets after the 220 would be read as if they came over TLS (CVE-2011-0411, client side).
    const std::string what = "Upstream sent data after its 220 to STARTTLS";
    close_with_failure(Reply{451, "4.7.0", what}, what);
    return;
  }
  phase_ = Phase::handshake;
}

void ClientProtocol::on_auth_reply(const Reply& reply) {
  if (reply.code == 334) {
    std::string line;
    if (config_.auth_mechanism == "LOGIN" && auth_step_ == 0) {
      line = base64_encode(config_.auth_username);
    } else if (config_.auth_mechanism == "LOGIN" && auth_step_ == 1) {
      line = base64_encode(auth_secret_);
    }
    // XOAUTH2: a 334 carries the error as base64 JSON; an empty line asks for the final 5xx.
    ++auth_step_;
    if (auth_step_ > 2) {
      const std::string what = "Upstream AUTH exchange did not end";
      close_with_failure(Reply{451, "4.7.0", what}, what);
      return;
    }
    unsent_.push_back(Pending{Command::auth, 0, std::move(line)});
    return;
  }
  if (is_2xx(reply)) {
    authenticated_ = true;
    phase_ = Phase::ready;
    return;
  }
  auth_rejected_ = reply.permanent();
  const std::string what =
      "Upstream refused AUTH " + config_.auth_mechanism + ": " + describe(reply);
  close_with_failure(Reply{451, "4.7.0", what}, what);
}

}  // namespace policy_relay::smtp
