#pragma once

// Private to the config loader: one function per implemented section; each reads every key of
// its table into `out` and throws ConfigError on an unknown, reserved or invalid key.

#include <toml++/toml.h>

#include "policy_relay/config/config.hpp"
#include "reader.hpp"

namespace policy_relay::config::detail {

// "section.key", the name every diagnostic uses for a key.
std::string qualified(std::string_view section, const toml::key& key);

void read_server(Reader& reader, const toml::table& table, ServerConfig& out);
void read_spool(Reader& reader, const toml::table& table, SpoolConfig& out);
void read_upstream(Reader& reader, const toml::table& table, UpstreamConfig& out);
// security_sections.cpp
void read_tls(Reader& reader, const toml::table& table, TlsConfig& out);
void read_auth(Reader& reader, const toml::table& table, AuthConfig& out);
void read_oauth2(Reader& reader, const toml::table& table, OAuth2Config& out);
// Cross-key rules of [tls], [auth] and [upstream] TLS/AUTH.
void check_security(const Reader& reader, const Config& config);

void read_log(Reader& reader, const toml::table& table, LogConfig& out);
void read_messages(Reader& reader, const toml::table& table, MessagesConfig& out);

// policy_sections.cpp
void read_limits(Reader& reader, const toml::table& table, LimitsConfig& out);
void read_senders(Reader& reader, const toml::table& table, SendersConfig& out);
// `node` is the [[exceptions]] array of tables.
void read_exceptions(Reader& reader, const toml::node& node, std::vector<SenderException>& out);
void read_state(Reader& reader, const toml::table& table, StateConfig& out);
// One address as it may follow "MAIL FROM:" (without the brackets), lower-cased (ASCII).
std::string email_address(Reader& reader, const toml::node& node, std::string_view key);

// message_policy_sections.cpp
void read_advice(Reader& reader, const toml::table& table, AdviceConfig& out);
void read_mass_mail(Reader& reader, const toml::table& table, MassMailConfig& out);

// ops_sections.cpp
void read_abuse(Reader& reader, const toml::table& table, AbuseConfig& out);
void read_admin(Reader& reader, const toml::table& table, AdminConfig& out);

}  // namespace policy_relay::config::detail
