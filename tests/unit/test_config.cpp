#include <doctest/doctest.h>

#include <cstdio>
#include <filesystem>
#include <string>
#include <string_view>

#include "config_test_support.hpp"
#include "policy_relay/config/loader.hpp"

namespace config = policy_relay::config;
using namespace std::chrono_literals;

using config_test::error_of_exactly;
using config_test::kLocalUpstream;
using config_test::load_exactly;

TEST_CASE("defaults are the policy's values") {
  const config::Config defaults;
  CHECK(defaults.server.listen.size() == 1);
  CHECK(defaults.server.listen[0].host == "127.0.0.1");
  CHECK(defaults.server.listen[0].port == 2525);
  CHECK(defaults.server.listen_tls.empty());
  CHECK(defaults.server.trusted_networks == std::vector<std::string>{"127.0.0.1/32"});
  CHECK(defaults.server.max_connections == 2000);
  CHECK(defaults.server.max_connections_per_ip == 50);
  CHECK(defaults.server.command_timeout == 5min);
  CHECK(defaults.server.data_timeout == 10min);
  CHECK(defaults.limits.max_message_size == 25ull * 1024 * 1024);
  CHECK(defaults.spool.max_age == 120h);
  CHECK(defaults.spool.min_free_space == 512ull * 1024 * 1024);
  CHECK(defaults.spool.retry_min == 1min);
  CHECK(defaults.spool.retry_max == 1h);
  CHECK(defaults.upstream.mode == config::UpstreamMode::smtp);
  CHECK(defaults.upstream.port == 587);
  CHECK(defaults.upstream.connections == 4);
  CHECK(defaults.log.file == "-");
  CHECK(defaults.log.format == config::LogFormat::kv);
  CHECK(defaults.log.level == "info");
  CHECK(defaults.log.max_size == 100ull * 1024 * 1024);
  CHECK(defaults.log.max_files == 10);
  CHECK(defaults.messages.language == "en");
}

TEST_CASE("keys absent from the file keep their defaults") {
  const config::Config loaded = load_exactly(kLocalUpstream);
  const config::Config defaults;
  CHECK(loaded.source_path == "test.toml");
  CHECK(loaded.server.hostname == defaults.server.hostname);
  CHECK(loaded.server.max_connections == defaults.server.max_connections);
  CHECK(loaded.limits.max_message_size == defaults.limits.max_message_size);
  CHECK(loaded.spool.directory == defaults.spool.directory);
  CHECK(loaded.log.level == defaults.log.level);
  CHECK(loaded.upstream.mode == config::UpstreamMode::directory);
  CHECK(loaded.upstream.directory == "out");
}

TEST_CASE("every implemented key is read") {
  const config::Config c = load_exactly(R"(
[server]
listen = ["0.0.0.0:587", "[::1]:0"]
listen_tls = []
hostname = "relay.example.org"
trusted_networks = ["10.0.0.0/8", "::1/128", "192.168.1.7/32"]
max_connections = 300
max_connections_per_ip = 7
command_timeout = "90s"
data_timeout = "3m"
shutdown_timeout = "250ms"
max_errors = 3

[limits]
max_message_size = "10MiB"

[spool]
directory = "/tmp/spool"
max_age = "2d"
min_free_space = 0
retry_min = "30s"
retry_max = "2h"

[upstream]
mode = "smtp"
directory = "unused"
host = "mx.example.org"
port = 2525
tls = "none"
auth = "none"
connections = 9
connect_timeout = "5s"
command_timeout = "1m"
data_timeout = "4m"
idle_timeout = "10s"

[log]
file = "/var/log/relay.log"
format = "json"
level = "debug"
max_size = 1048576
max_files = 3

[messages]
language = "es"
)");
  REQUIRE(c.server.listen.size() == 2);
  CHECK(c.server.listen[0].host == "0.0.0.0");
  CHECK(c.server.listen[0].port == 587);
  CHECK(c.server.listen[1].host == "::1");
  CHECK(c.server.listen[1].port == 0);
  CHECK(c.server.listen_tls.empty());
  CHECK(c.server.hostname == "relay.example.org");
  CHECK(c.server.trusted_networks ==
        std::vector<std::string>{"10.0.0.0/8", "::1/128", "192.168.1.7/32"});
  CHECK(c.server.max_connections == 300);
  CHECK(c.server.max_connections_per_ip == 7);
  CHECK(c.server.command_timeout == 90s);
  CHECK(c.server.data_timeout == 3min);
  CHECK(c.server.shutdown_timeout == 250ms);
  CHECK(c.server.max_errors == 3);
  CHECK(c.limits.max_message_size == 10ull * 1024 * 1024);
  CHECK(c.spool.directory == "/tmp/spool");
  CHECK(c.spool.max_age == 48h);
  CHECK(c.spool.min_free_space == 0);
  CHECK(c.spool.retry_min == 30s);
  CHECK(c.spool.retry_max == 2h);
  CHECK(c.upstream.mode == config::UpstreamMode::smtp);
  CHECK(c.upstream.directory == "unused");
  CHECK(c.upstream.host == "mx.example.org");
  CHECK(c.upstream.port == 2525);
  CHECK(c.upstream.tls == config::UpstreamTls::none);
  CHECK(c.upstream.connections == 9);
  CHECK(c.upstream.connect_timeout == 5s);
  CHECK(c.upstream.command_timeout == 1min);
  CHECK(c.upstream.data_timeout == 4min);
  CHECK(c.upstream.idle_timeout == 10s);
  CHECK(c.log.file == "/var/log/relay.log");
  CHECK(c.log.format == config::LogFormat::json);
  CHECK(c.log.level == "debug");
  CHECK(c.log.max_size == 1048576);
  CHECK(c.log.max_files == 3);
  CHECK(c.messages.language == "es");
}

TEST_CASE("a bad value names the file, line, column and key") {
  struct Case {
    std::string_view toml;
    std::string_view message;
  };
  const Case cases[] = {
      {"[server]\nlisten = [\"127.0.0.1:99999\"]\n",
       "test.toml:2:11: key 'server.listen': port '99999' is not a number in 0..65535"},
      {"[server]\nlisten = [\"localhost:25\"]\n",
       "test.toml:2:11: key 'server.listen': 'localhost' is not an IP address (host names are "
       "not resolved here)"},
      {"[server]\nlisten = [\"::1:25\"]\n",
       "test.toml:2:11: key 'server.listen': write an IPv6 listen address in brackets, e.g. "
       "\"[::1]:2525\""},
      {"[server]\nlisten = [\"127.0.0.1:25\", 25]\n",
       "test.toml:2:27: key 'server.listen': expected strings such as \"127.0.0.1:2525\", found "
       "an integer"},
      {"[server]\nlisten = \"127.0.0.1:25\"\n",
       "test.toml:2:10: key 'server.listen': expected an array, found a string"},
      {"[server]\nlisten_tls = [\"127.0.0.1:465\"]\n",
       "test.toml:2:14: key 'server.listen_tls': implicit TLS needs tls.certificate and "
       "tls.private_key"},
      {"[server]\nhostname = \"relay\\r\\nevil\"\n",
       "test.toml:2:12: key 'server.hostname': 'relay\r\nevil' is not a valid host name "
       "(letters, digits, '-' and '.')"},
      {"[server]\nhostname = \"-bad.example\"\n",
       "test.toml:2:12: key 'server.hostname': '-bad.example' is not a valid host name"},
      {"[server]\ntrusted_networks = [\"10.1.2.3/8\"]\n",
       "test.toml:2:21: key 'server.trusted_networks': '10.1.2.3/8' has address bits set beyond "
       "the /8 prefix"},
      {"[server]\ntrusted_networks = [\"10.0.0.0\"]\n",
       "test.toml:2:21: key 'server.trusted_networks': '10.0.0.0' is not in CIDR notation (e.g. "
       "\"10.0.0.0/8\", \"::1/128\")"},
      {"[server]\ntrusted_networks = [\"10.0.0.0/33\"]\n",
       "test.toml:2:21: key 'server.trusted_networks': prefix length '33' is not in 0..32"},
      {"[server]\ntrusted_networks = [\"fe80::/129\"]\n",
       "test.toml:2:21: key 'server.trusted_networks': prefix length '129' is not in 0..128"},
      {"[server]\ntrusted_networks = [\"10.0.0.300/32\"]\n",
       "test.toml:2:21: key 'server.trusted_networks': '10.0.0.300' is not an IP address"},
      {"[server]\nmax_connections = 0\n",
       "test.toml:2:19: key 'server.max_connections': 0 is out of range (1..4294967295)"},
      {"[server]\nmax_connections_per_ip = -5\n",
       "test.toml:2:26: key 'server.max_connections_per_ip': -5 is out of range (1..4294967295)"},
      {"[server]\ncommand_timeout = 300\n",
       "test.toml:2:19: key 'server.command_timeout': expected a duration such as \"90s\" or "
       "\"5m\", found an integer"},
      {"[server]\ndata_timeout = \"0s\"\n",
       "test.toml:2:16: key 'server.data_timeout': must be greater than zero"},
      {"[limits]\nmax_message_size = \"25MB!\"\n",
       "test.toml:2:20: key 'limits.max_message_size': '25MB!' has an unknown size unit (use B, "
       "KiB, MiB, GiB, TiB, KB, MB, GB or TB, e.g. \"25MiB\")"},
      {"[limits]\nmax_message_size = -1\n",
       "test.toml:2:20: key 'limits.max_message_size': a size cannot be negative"},
      {"[limits]\nmax_message_size = 0\n",
       "test.toml:2:20: key 'limits.max_message_size': must be greater than zero"},
      {"[spool]\ndirectory = \"\"\n", "test.toml:2:13: key 'spool.directory': must not be empty"},
      {"[spool]\nmax_age = \"5 days\"\n",
       "test.toml:2:11: key 'spool.max_age': '5 days' has an unknown duration unit (use ms, s, m, "
       "h or d)"},
      {"[upstream]\nmode = \"lmtp\"\n",
       "test.toml:2:8: key 'upstream.mode': 'lmtp' is not one of \"smtp\" or \"directory\""},
      {"[upstream]\ntls = \"ssl\"\n",
       "test.toml:2:7: key 'upstream.tls': 'ssl' is not one of \"starttls\", \"implicit\" or "
       "\"none\""},
      {"[upstream]\nport = 0\n",
       "test.toml:2:8: key 'upstream.port': 0 is out of range (1..65535)"},
      {"[upstream]\nport = \"25\"\n",
       "test.toml:2:8: key 'upstream.port': expected an integer, found a string"},
      {"[upstream]\nconnections = 0\n",
       "test.toml:2:15: key 'upstream.connections': 0 is out of range (1..1000)"},
      {"[log]\nformat = \"text\"\n",
       "test.toml:2:10: key 'log.format': 'text' is not one of \"kv\" or \"json\""},
      {"[log]\nlevel = \"verbose\"\n",
       "test.toml:2:9: key 'log.level': 'verbose' is not one of \"trace\", \"debug\", \"info\", "
       "\"warn\" or \"error\""},
      {"[log]\nmax_files = 0\n",
       "test.toml:2:13: key 'log.max_files': 0 is out of range (1..1000)"},
      {"[messages]\nlanguage = \"fr\"\n",
       "test.toml:2:12: key 'messages.language': 'fr' is not one of \"en\" or \"es\""},
      {"server = 1\n", "test.toml:1:10: key 'server': expected a table, found an integer"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.toml);
    CHECK(error_of_exactly(c.toml) == c.message);
  }
}

TEST_CASE("an unknown key or section is an error naming it") {
  CHECK(error_of_exactly("[server]\nlisen = [\"127.0.0.1:25\"]\n") ==
        "test.toml:2:9: key 'server.lisen': unknown key");
  CHECK(error_of_exactly("\n\n[spools]\ndirectory = \"x\"\n") ==
        "test.toml:3:1: key 'spools': unknown section");
  CHECK(error_of_exactly("hostname = \"x\"\n") == "test.toml:1:12: key 'hostname': unknown key");
  CHECK(error_of_exactly("[upstream]\nmode = \"directory\"\ndirectory = \"o\"\nretries = 3\n") ==
        "test.toml:4:11: key 'upstream.retries': unknown key");
}

TEST_CASE("PROXY protocol keys: off by default, networks validated, a deadline for the header") {
  const config::Config defaults = load_exactly(kLocalUpstream);
  CHECK_FALSE(defaults.server.proxy_protocol);
  CHECK(defaults.server.proxy_networks == std::vector<std::string>{"127.0.0.1/32"});
  CHECK(defaults.server.proxy_timeout == std::chrono::seconds(10));
  const config::Config c = config_test::load(
      "[server]\nproxy_protocol = true\nproxy_networks = [\"10.0.0.0/8\", \"2001:db8::/32\"]\n"
      "proxy_timeout = \"2s\"\n");
  CHECK(c.server.proxy_protocol);
  CHECK(c.server.proxy_networks.size() == 2);
  CHECK(c.server.proxy_timeout == std::chrono::seconds(2));
  CHECK(error_of_exactly("[server]\nproxy_networks = [\"10.0.0.0/33\"]\n")
            .find("key 'server.proxy_networks'") != std::string::npos);
  CHECK(error_of_exactly("[server]\nproxy_protocol = \"yes\"\n")
            .find("key 'server.proxy_protocol'") != std::string::npos);
}

TEST_CASE("[abuse], [admin] and senders.directory are read with file:line errors") {
  const config::Config c = config_test::load(
      "[senders]\ndirectory = \"accounts.toml\"\n[abuse]\nrefusals = 0\nrefusals_window = \"5m\"\n"
      "rate_hits_per_hour = 3\npublic_recipients_per_hour = 40\n[admin]\nsocket = \"/run/a.sock\"\n"
      "request_timeout = \"2s\"\n");
  CHECK(c.senders.directory == "accounts.toml");
  CHECK(c.abuse.refusals == 0);
  CHECK(c.abuse.refusals_window == std::chrono::minutes(5));
  CHECK(c.abuse.rate_hits_per_hour == 3);
  CHECK(c.abuse.public_recipients_per_hour == 40);
  CHECK(c.admin.socket == "/run/a.sock");
  CHECK(c.admin.request_timeout == std::chrono::seconds(2));
  CHECK(error_of_exactly("[abuse]\nrefusals = -1\n") ==
        "test.toml:2:12: key 'abuse.refusals': -1 is out of range (0..4294967295)");
  CHECK(error_of_exactly("[abuse]\nrefusals_window = \"2d\"\n") ==
        "test.toml:2:19: key 'abuse.refusals_window': must not exceed \"24h\"");
  CHECK(error_of_exactly("\n[admin]\nsockets = \"x\"\n") ==
        "test.toml:3:11: key 'admin.sockets': unknown key");
  CHECK(error_of_exactly("[admin]\nsocket = \"\"\n") ==
        "test.toml:2:10: key 'admin.socket': must not be empty");
}

TEST_CASE("a TOML syntax error names the file, line and column") {
  const std::string message = error_of_exactly("[server]\nlisten = [\n");
  CHECK(message.rfind("test.toml:2:", 0) == 0);
  CHECK(message.find("end-of-file") != std::string::npos);
  CHECK(
      error_of_exactly("[server]\nhostname = \"a\"\nhostname = \"b\"\n").rfind("test.toml:3:", 0) ==
      0);
}

TEST_CASE("TLS and AUTH keys are read and their combinations checked") {
  // DESIGN.md's defaults: tls = "starttls", auth = "xoauth2" (Microsoft 365), so a file that
  // says nothing of the upstream must give the XOAUTH2 settings, and the error says why.
  CHECK(config::Config{}.upstream.auth == config::UpstreamAuth::xoauth2);
  CHECK(error_of_exactly("") ==
        "test.toml:1:1: key 'upstream.username': required with upstream.auth (upstream.auth is "
        "\"xoauth2\" unless set; an upstream without AUTH needs auth = \"none\")");
  CHECK(error_of_exactly("[upstream]\ntls = \"none\"\n")
            .find("needs upstream.tls = \"starttls\" or \"implicit\": credentials never go in "
                  "plaintext (upstream.auth is \"xoauth2\" unless set") != std::string::npos);
  CHECK(error_of_exactly("[upstream]\ntls = \"none\"\nauth = \"none\"\n").empty());
  CHECK(error_of_exactly("[upstream]\nusername = \"relay@edomex.gob.mx\"\n")
            .find("needs token_url, client_id and client_secret_file (upstream.auth is") !=
        std::string::npos);
  const config::Config c = config::load_string(
      "[server]\nlisten_tls = [\"127.0.0.1:465\"]\n[tls]\ncertificate = \"c.pem\"\n"
      "private_key = \"k.pem\"\n[auth]\nusers_file = \"users\"\nrequire = false\n"
      "max_failures = 3\nlockout = \"10s\"\nfailure_delay = \"100ms\"\n"
      "[upstream]\ntls = \"implicit\"\nca_file = \"ca.pem\"\nauth = \"xoauth2\"\n"
      "username = \"relay@example.org\"\n[upstream.oauth2]\n"
      "token_url = \"https://login.example/t\"\nclient_id = \"id\"\n"
      "client_secret_file = \"secret\"\n",
      "test.toml");
  CHECK(c.server.listen_tls.size() == 1);
  CHECK(c.tls.certificate == "c.pem");
  CHECK(c.auth.users_file == "users");
  CHECK_FALSE(c.auth.require);
  CHECK(c.auth.max_failures == 3);
  CHECK(c.auth.lockout == std::chrono::seconds(10));
  CHECK(c.auth.failure_delay == std::chrono::milliseconds(100));
  CHECK(c.upstream.tls == config::UpstreamTls::implicit);
  CHECK(c.upstream.auth == config::UpstreamAuth::xoauth2);
  CHECK(c.upstream.oauth2.scope == "https://outlook.office365.com/.default");

  CHECK(error_of_exactly("[tls]\ncertificate = \"c.pem\"\n") ==
        "test.toml:2:15: key 'tls.private_key': tls.certificate and tls.private_key go together");
  CHECK(error_of_exactly("[auth]\nusers_file = \"u\"\n") ==
        "test.toml:2:14: key 'auth.users_file': AUTH is offered only over TLS: set "
        "tls.certificate and tls.private_key");
  CHECK(error_of_exactly("[upstream]\ntls = \"none\"\nauth = \"plain\"\nusername = \"u\"\n"
                         "password_file = \"p\"\n") ==
        "test.toml:3:8: key 'upstream.auth': needs upstream.tls = \"starttls\" or \"implicit\": "
        "credentials never go in plaintext");
  CHECK(error_of_exactly("[upstream]\nauth = \"login\"\nusername = \"u\"\n") ==
        "test.toml:2:8: key 'upstream.password_file': required with auth = \"plain\" or \"login\"");
  CHECK(error_of_exactly("[upstream]\nauth = \"xoauth2\"\nusername = \"u\"\n")
            .find("needs token_url, client_id and client_secret_file") != std::string::npos);
  CHECK(error_of_exactly("[upstream.oauth2]\ntoken_url = \"http://x/t\"\n")
            .find("must be an https:// URL") != std::string::npos);
}

TEST_CASE("settings that contradict each other are refused") {
  const std::string local(kLocalUpstream);
  CHECK(error_of_exactly("[upstream]\nmode = \"directory\"\n") ==
        "test.toml:2:8: key 'upstream.directory': required when upstream.mode = \"directory\"");
  CHECK(error_of_exactly(local + "[spool]\nretry_min = \"2h\"\n") ==
        "test.toml:5:13: key 'spool.retry_min': must not exceed spool.retry_max");
  CHECK(error_of_exactly(local + "[spool]\nretry_min = \"5m\"\nretry_max = \"5m\"\n").empty());
  CHECK(error_of_exactly(local + "[server]\nlisten = []\n") ==
        "test.toml:5:10: key 'server.listen': at least one listen address is required");
  CHECK(error_of_exactly(local + "[server]\nmax_connections = 10\nmax_connections_per_ip = 11\n") ==
        "test.toml:6:26: key 'server.max_connections_per_ip': must not exceed "
        "server.max_connections (10)");
}

TEST_CASE("a size may be a plain integer of bytes") {
  const std::string text = std::string(kLocalUpstream) + "[limits]\nmax_message_size = 1000\n";
  CHECK(load_exactly(text).limits.max_message_size == 1000);
}

TEST_CASE("a file that cannot be read is an error naming it") {
  try {
    config::load_file("/nonexistent/policy-relay.toml");
    FAIL("expected an error");
  } catch (const config::ConfigError& error) {
    CHECK(std::string(error.what()) ==
          "/nonexistent/policy-relay.toml: cannot open: No such file or directory");
  }
}

TEST_CASE("the first-run config in conf/ loads and is local only") {
  const config::Config c = config::load_file(POLICY_RELAY_SOURCE_DIR "/conf/policy-relay.toml");
  REQUIRE(c.server.listen.size() == 1);
  CHECK(c.server.listen[0].host == "127.0.0.1");
  CHECK(c.server.listen[0].port == 2525);
  CHECK(c.server.hostname == "localhost");
  CHECK(c.server.trusted_networks == std::vector<std::string>{"127.0.0.1/32", "::1/128"});
  CHECK(c.spool.directory == "run/spool");
  CHECK(c.upstream.mode == config::UpstreamMode::directory);
  CHECK(c.upstream.directory == "run/outbox");
  CHECK(c.log.file == "-");
  CHECK(c.log.format == config::LogFormat::kv);
}
