// [tls], [auth], [upstream.oauth2] and the rules that tie them to [server] and [upstream]
// (POLICY VII.1, VII.3: passwords and tokens never cross a network in clear).
#include <limits>

#include "sections.hpp"

namespace policy_relay::config::detail {
void read_tls(Reader& reader, const toml::table& table, TlsConfig& tls) {
  for (auto&& [name, node] : table) {
    const std::string key = qualified("tls", name);
    if (name == "certificate") {
      tls.certificate = reader.string(node, key);
    } else if (name == "private_key") {
      tls.private_key = reader.string(node, key);
    } else {
      reader.unknown(node, key);
    }
  }
}

void read_auth(Reader& reader, const toml::table& table, AuthConfig& auth) {
  for (auto&& [name, node] : table) {
    const std::string key = qualified("auth", name);
    if (name == "users_file") {
      auth.users_file = reader.string(node, key);
    } else if (name == "require") {
      auth.require = reader.boolean(node, key);
    } else if (name == "max_failures") {
      auth.max_failures = reader.count(node, key, 1000);
    } else if (name == "failure_window") {
      auth.failure_window = reader.positive_duration(node, key);
    } else if (name == "lockout") {
      auth.lockout = reader.positive_duration(node, key);
    } else if (name == "failure_delay") {
      auth.failure_delay = reader.positive_duration(node, key);
      if (auth.failure_delay > std::chrono::seconds(30)) {
        reader.fail(node, key, "must not exceed 30s (clients give up)");
      }
    } else {
      reader.unknown(node, key);
    }
  }
}

void read_oauth2(Reader& reader, const toml::table& table, OAuth2Config& oauth2) {
  for (auto&& [name, node] : table) {
    const std::string key = qualified("upstream.oauth2", name);
    if (name == "token_url") {
      oauth2.token_url = reader.string(node, key);
      if (!oauth2.token_url.empty() && !oauth2.token_url.starts_with("https://")) {
        reader.fail(node, key, "must be an https:// URL (the client secret travels in it)");
      }
    } else if (name == "client_id") {
      oauth2.client_id = reader.string(node, key);
    } else if (name == "client_secret_file") {
      oauth2.client_secret_file = reader.string(node, key);
    } else if (name == "scope") {
      oauth2.scope = reader.non_empty_string(node, key);
    } else {
      reader.unknown(node, key);
    }
  }
}

void check_security(const Reader& reader, const Config& config) {
  const TlsConfig& tls = config.tls;
  if (tls.certificate.empty() != tls.private_key.empty()) {
    const bool key_missing = tls.private_key.empty();
    const std::string key = key_missing ? "tls.private_key" : "tls.certificate";
    reader.fail_at(reader.position_of(key, {"tls.certificate", "tls.private_key"}), key,
                   "tls.certificate and tls.private_key go together");
  }
  if (!config.server.listen_tls.empty() && tls.certificate.empty()) {
    reader.fail_at(reader.position_of("server.listen_tls"), "server.listen_tls",
                   "implicit TLS needs tls.certificate and tls.private_key");
  }
  if (!config.auth.users_file.empty() && tls.certificate.empty()) {
    reader.fail_at(reader.position_of("auth.users_file"), "auth.users_file",
                   "AUTH is offered only over TLS: set tls.certificate and tls.private_key");
  }

  const UpstreamConfig& upstream = config.upstream;
  if (upstream.mode != UpstreamMode::smtp || upstream.auth == UpstreamAuth::none) {
    return;
  }
  const auto where = reader.position_of("upstream.auth", {"upstream"});
  // DESIGN.md's default is the production one (XOAUTH2 to Microsoft 365): say so when the
  // operator did not write upstream.auth, so that a missing key is not a riddle.
  const std::string by_default =
      reader.seen("upstream.auth")
          ? ""
          : " (upstream.auth is \"xoauth2\" unless set; an upstream without AUTH needs "
            "auth = \"none\")";
  if (upstream.tls == UpstreamTls::none) {
    reader.fail_at(where, "upstream.auth",
                   "needs upstream.tls = \"starttls\" or \"implicit\": credentials never go in "
                   "plaintext" +
                       by_default);
  }
  if (upstream.username.empty()) {
    reader.fail_at(where, "upstream.username", "required with upstream.auth" + by_default);
  }
  if (upstream.auth == UpstreamAuth::xoauth2) {
    const OAuth2Config& oauth2 = upstream.oauth2;
    if (oauth2.token_url.empty() || oauth2.client_id.empty() || oauth2.client_secret_file.empty()) {
      reader.fail_at(
          reader.position_of("upstream.oauth2", {"upstream.auth"}), "upstream.oauth2",
          "auth = \"xoauth2\" needs token_url, client_id and client_secret_file" + by_default);
    }
  } else if (upstream.password_file.empty()) {
    reader.fail_at(where, "upstream.password_file", "required with auth = \"plain\" or \"login\"");
  }
}

}  // namespace policy_relay::config::detail
