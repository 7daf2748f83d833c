#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

// The operator's contract (DESIGN.md "The operator's contract"): one TOML file parsed once into
// these plain, immutable structs. Defaults are the policy's values. Sessions hold a
// std::shared_ptr<const Config>; a reload builds a new one.
namespace policy_relay::config {

using Duration = std::chrono::milliseconds;

struct ListenAddress {
  std::string host;    // "127.0.0.1", "::1", "0.0.0.0"
  std::uint16_t port;  // 0 = pick one at bind time (tests); the bound port is logged
};

struct ServerConfig {
  std::vector<ListenAddress> listen{{"127.0.0.1", 2525}};
  std::vector<ListenAddress> listen_tls{};
  std::string hostname = "relay.edomex.gob.mx";
  // CIDR "address/prefix", validated by the loader (no host bits set beyond the prefix).
  std::vector<std::string> trusted_networks{"127.0.0.1/32"};
  std::uint32_t max_connections = 2000;
  std::uint32_t max_connections_per_ip = 50;
  Duration command_timeout = std::chrono::minutes(5);  // RFC 5321 4.5.3.2.7
  Duration data_timeout = std::chrono::minutes(10);    // RFC 5321 4.5.3.2.6
  // Extension: how long SIGTERM waits for transactions in DATA before closing them.
  Duration shutdown_timeout = std::chrono::seconds(30);
  // Extension: protocol errors in one session before "421 4.7.0" and close.
  std::uint32_t max_errors = 10;
  // A HAProxy PROXY v1/v2 header comes first on every connection, and only from
  // proxy_networks (others are closed); its source address is then the client's for
  // everything (trusted networks, per-IP limits, login throttling, logs).
  bool proxy_protocol = false;
  std::vector<std::string> proxy_networks{"127.0.0.1/32"};  // CIDR, validated by the loader
  Duration proxy_timeout = std::chrono::seconds(10);        // extension: deadline for the header
};

// [tls]: the server certificate for STARTTLS and implicit TLS (RFC 3207, RFC 8314).
struct TlsConfig {
  std::string certificate;  // PEM chain, leaf first; "" = no STARTTLS, no implicit TLS
  std::string private_key;  // PEM
};

// [auth]: SMTP AUTH (RFC 4954) and failed-login throttling (POLICY VII.1).
struct AuthConfig {
  std::string users_file;  // "" = nobody can AUTH (written by `policy-relayctl passwd`)
  bool require = true;     // clients outside server.trusted_networks must AUTH before MAIL
  // Extensions: failures per client address and per user within failure_window before a
  // lockout; each failure waits failure_delay, doubling up to 8x.
  std::uint32_t max_failures = 5;
  Duration failure_window = std::chrono::minutes(15);
  Duration lockout = std::chrono::minutes(15);
  Duration failure_delay = std::chrono::seconds(1);
};

// What the per-minute limit does to the message over it (POLICY VI.4).
enum class RateAction {
  queue,   // accept; the scheduler paces delivery (MAIL gets 451 4.7.1 past the backlog)
  defer,   // MAIL gets 451 4.7.1
  reject,  // MAIL gets 550 5.7.1
};
// What the daily recipient quota does to the recipient over it (POLICY VI.4).
enum class DailyAction { defer, reject };  // RCPT gets 451 4.7.1 / 550 5.7.1

// Per sender identity (the AUTH user, else the lower-cased envelope sender).
struct LimitsConfig {
  // Extension, for benchmarks and emergencies: false runs no policy rule at all (no sender
  // checks, no counters); max_message_size and max_recipients_per_message stay protocol bounds.
  bool enabled = true;
  std::uint64_t max_message_size = 25ull * 1024 * 1024;  // POLICY VI.1
  std::uint32_t max_recipients_per_message = 500;        // POLICY VI.3, VI.4
  std::uint32_t messages_per_minute = 30;                // POLICY VI.4, rolling 60 s
  std::uint32_t recipients_per_day = 10000;              // POLICY VI.4, rolling 24 h
  RateAction rate_action = RateAction::queue;
  DailyAction daily_action = DailyAction::defer;
  std::uint32_t queue_backlog_per_sender = 300;  // rate_action = "queue": messages waiting
  // Extension, for tests and staging: the length of the messages_per_minute window (also the
  // queue pacing's). The policy's is 60 s; whole seconds, 1 s .. 1 h; not per exception.
  std::chrono::seconds rate_window{60};
};

// The [limits] keys one [[exceptions]] entry sets; the others come from [limits].
struct LimitOverrides {
  std::optional<std::uint64_t> max_message_size;
  std::optional<std::uint32_t> max_recipients_per_message;
  std::optional<std::uint32_t> messages_per_minute;
  std::optional<std::uint32_t> recipients_per_day;
  std::optional<RateAction> rate_action;
  std::optional<DailyAction> daily_action;
  std::optional<std::uint32_t> queue_backlog_per_sender;

  // `base` with the keys set here replaced.
  LimitsConfig applied_to(LimitsConfig base) const {
    base.max_message_size = max_message_size.value_or(base.max_message_size);
    base.max_recipients_per_message =
        max_recipients_per_message.value_or(base.max_recipients_per_message);
    base.messages_per_minute = messages_per_minute.value_or(base.messages_per_minute);
    base.recipients_per_day = recipients_per_day.value_or(base.recipients_per_day);
    base.rate_action = rate_action.value_or(base.rate_action);
    base.daily_action = daily_action.value_or(base.daily_action);
    base.queue_backlog_per_sender =
        queue_backlog_per_sender.value_or(base.queue_backlog_per_sender);
    return base;
  }
};

// An authorised sender (POLICY VI.3, VI.8, VI.9): `reference` (the authorisation's number) is
// logged with every decision the exception changes.
struct SenderException {
  std::string sender;  // lower-cased (ASCII); matched against the sender identity
  std::string reference;
  LimitOverrides limits;
  bool allow_protected_lists = false;   // POLICY VI.8
  bool allow_public_mass_mail = false;  // POLICY VI.9
};

// What the header From rule does when From is not the sender identity (POLICY VII.1).
enum class FromMismatchAction { off, log, reject };

// POLICY I.1: who may appear as envelope sender.
struct SendersConfig {
  std::vector<std::string> domains{"edomex.gob.mx"};  // lower-cased
  std::uint32_t max_local_part_length = 20;           // characters (UTF-8 code points)
  FromMismatchAction from_mismatch_action = FromMismatchAction::log;  // POLICY VII.1
  // The account directory (POLICY I.2-I.4, III.1, IV.3): "" = none (every sender is active).
  std::string directory;
};

// What an advice rule does with a message it advises on (POLICY VI.11, VI.12). Each action
// includes the ones before it: header also logs, notify also adds the header.
enum class AdviceAction {
  off,
  log,     // an `advice` event
  header,  // X-Policy-Relay-Advice on the delivered copy
  notify,  // one advisory mail to the sender per rule and rolling 24 h
  reject,  // 550 5.7.1 at the end of DATA; nothing is delivered
};

struct AdviceConfig {
  std::uint32_t bcc_threshold = 5;  // POLICY VI.11: more than this many To + Cc addresses
  AdviceAction bcc_action = AdviceAction::header;
  std::uint64_t attachment_threshold = 1024 * 1024;  // POLICY VI.12: decoded octets
  AdviceAction attachment_action = AdviceAction::log;
  std::string notify_from = "postmaster@edomex.gob.mx";  // envelope and header From of notices
};

// POLICY VI.8, VI.9.
struct MassMailConfig {
  // Lower-cased; a domain also covers its subdomains.
  std::vector<std::string> public_domains{"gmail.com", "hotmail.com",  "outlook.com", "live.com",
                                          "yahoo.com", "yahoo.com.mx", "icloud.com",  "aol.com"};
  std::uint32_t max_public_recipients = 20;
  std::vector<std::string> protected_lists;  // addresses, lower-cased
};

enum class StateBackend { local, redis };
// What the redis backend does while Redis cannot be reached (issue 7).
enum class RedisUnavailable {
  defer,  // every counted command gets 451 4.3.0
  local,  // count in the local journal instead (each relay alone) and log loudly
};

// What the 250 for a message waits for, of the counts it consumed (extension key
// [state] counter_sync).
enum class CounterSync {
  write,  // written to the journal: they survive kill -9 and any crash of the daemon; the
          // journal is synced to disk right after, in groups, without holding the reply
  fsync,  // also synced to disk: they survive a power loss too (costs throughput)
};

// Where the rate and quota counters (and marks) live.
struct StateConfig {
  StateBackend backend = StateBackend::local;
  // local: the counters journal; redis with redis_unavailable = "local": the fallback's.
  std::string directory = "/var/lib/policy-relay";
  CounterSync counter_sync = CounterSync::write;
  std::string redis_url = "redis://127.0.0.1:6379/0";  // or "unix:/PATH?db=N"; validated
  RedisUnavailable redis_unavailable = RedisUnavailable::defer;
  // Extensions of the redis backend:
  std::string redis_password_file;                 // AUTH with the file's first line; "" = none
  std::string redis_key_prefix = "policy-relay:";  // several clusters may share one Redis
  Duration redis_connect_timeout = std::chrono::seconds(2);
  Duration redis_timeout = std::chrono::seconds(1);  // deadline for each reply
  // How long an open transaction's hold lives without its relay (a relay that dies cannot
  // leak units for longer).
  Duration redis_reservation_ttl = std::chrono::minutes(15);
  Duration redis_alert_interval = std::chrono::minutes(1);  // reminder while Redis is down
};

struct SpoolConfig {
  std::string directory = "/var/spool/policy-relay";
  Duration max_age = std::chrono::hours(24 * 5);
  std::uint64_t min_free_space = 512ull * 1024 * 1024;
  Duration retry_min = std::chrono::minutes(1);
  Duration retry_max = std::chrono::hours(1);
};

enum class UpstreamMode { smtp, directory };
enum class UpstreamTls { starttls, implicit, none };
enum class UpstreamAuth { none, plain, login, xoauth2 };

// [upstream.oauth2]: the OAuth 2.0 client-credentials flow (RFC 6749 4.4) for XOAUTH2.
struct OAuth2Config {
  std::string token_url;  // https://login.microsoftonline.com/TENANT/oauth2/v2.0/token
  std::string client_id;
  std::string client_secret_file;  // the secret is read from this file, never from the config
  std::string scope = "https://outlook.office365.com/.default";
};

struct UpstreamConfig {
  UpstreamMode mode = UpstreamMode::smtp;
  std::string directory;  // mode = "directory": where delivered .eml files go
  std::string host = "smtp.office365.com";
  std::uint16_t port = 587;
  // starttls | implicit: the certificate is verified (ca_file or the system store) and must
  // name `host`; without TLS nothing is sent (never a downgrade). none: plaintext.
  UpstreamTls tls = UpstreamTls::starttls;
  std::string ca_file;  // "" = the system store
  UpstreamAuth auth = UpstreamAuth::xoauth2;
  std::string username;       // plain, login; xoauth2: the mailbox the token acts for
  std::string password_file;  // plain, login: the password, read from this file
  OAuth2Config oauth2;
  std::uint32_t connections = 4;
  // Extension: timeouts for the upstream conversation (RFC 5321 4.5.3.2 client side).
  Duration connect_timeout = std::chrono::seconds(30);
  Duration command_timeout = std::chrono::minutes(5);
  Duration data_timeout = std::chrono::minutes(10);
  // Extension: an idle pooled connection is closed with QUIT after this long.
  Duration idle_timeout = std::chrono::seconds(30);
};

enum class LogFormat { kv, json };

struct LogConfig {
  std::string file = "-";  // "-" = stderr
  LogFormat format = LogFormat::kv;
  std::string level = "info";  // trace | debug | info | warn | error (validated by the loader)
  std::uint64_t max_size = 100ull * 1024 * 1024;
  std::uint32_t max_files = 10;
};

// [abuse]: automatic suspension (POLICY IV.2). 0 disables a trigger.
struct AbuseConfig {
  std::uint32_t refusals = 50;                          // policy refusals of one sender ...
  Duration refusals_window = std::chrono::minutes(10);  // ... within this window
  std::uint32_t rate_hits_per_hour = 10;           // times the per-minute limit was hit in one hour
  std::uint32_t public_recipients_per_hour = 200;  // recipients at public providers in one hour
};

// [admin]: the control socket policy-relayctl talks to (JSON lines).
struct AdminConfig {
  std::string socket = "/run/policy-relay/admin.sock";  // mode 0660, the service's group
  // Extension: how long one request may take to arrive and its reply to leave.
  Duration request_timeout = std::chrono::seconds(10);
};

struct MessagesConfig {
  std::string language = "en";  // en | es
};

struct Config {
  std::string source_path;  // the file this was loaded from ("" for defaults)
  ServerConfig server;
  TlsConfig tls;
  AuthConfig auth;
  LimitsConfig limits;
  SendersConfig senders;
  AdviceConfig advice;
  MassMailConfig mass_mail;
  std::vector<SenderException> exceptions;
  StateConfig state;
  SpoolConfig spool;
  UpstreamConfig upstream;
  LogConfig log;
  AbuseConfig abuse;
  AdminConfig admin;
  MessagesConfig messages;
};

using ConfigPtr = std::shared_ptr<const Config>;

}  // namespace policy_relay::config
