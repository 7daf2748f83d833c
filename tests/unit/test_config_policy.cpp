// [limits], [senders], [[exceptions]] and [state]: the policy's part of the config.
#include <doctest/doctest.h>

#include <string>
#include <string_view>

#include "config_test_support.hpp"
#include "policy_relay/config/loader.hpp"

namespace config = policy_relay::config;

using config_test::error_of;
using config_test::kLocalUpstream;
using config_test::load;

TEST_CASE("policy defaults are the policy's values") {
  const config::Config defaults;
  CHECK(defaults.limits.enabled);
  CHECK(defaults.limits.max_message_size == 26'214'400);
  CHECK(defaults.limits.max_recipients_per_message == 500);
  CHECK(defaults.limits.messages_per_minute == 30);
  CHECK(defaults.limits.recipients_per_day == 10000);
  CHECK(defaults.limits.rate_action == config::RateAction::queue);
  CHECK(defaults.limits.daily_action == config::DailyAction::defer);
  CHECK(defaults.limits.queue_backlog_per_sender == 300);
  CHECK(defaults.limits.rate_window == std::chrono::seconds(60));
  CHECK(defaults.senders.domains == std::vector<std::string>{"edomex.gob.mx"});
  CHECK(defaults.senders.max_local_part_length == 20);
  CHECK(defaults.exceptions.empty());
  CHECK(defaults.state.backend == config::StateBackend::local);
  CHECK(defaults.state.directory == "/var/lib/policy-relay");
}

TEST_CASE("every policy key is read") {
  const config::Config c = load(R"(
[limits]
enabled = false
max_message_size = "10MiB"
max_recipients_per_message = 50
messages_per_minute = 3
recipients_per_day = 100
rate_action = "reject"
daily_action = "reject"
queue_backlog_per_sender = 7
rate_window = "2s"

[senders]
domains = ["edomex.gob.mx", "Sub.EDOMEX.gob.mx"]
max_local_part_length = 30

[[exceptions]]
sender = "Comunicacion@edomex.gob.mx"
reference = "DGSEI/DGE 123/2026"
max_recipients_per_message = 2000
recipients_per_day = 50000
allow_protected_lists = true
allow_public_mass_mail = true

[[exceptions]]
sender = "boletin@edomex.gob.mx"
reference = "DGSEI 7"
max_message_size = "30MiB"
messages_per_minute = 100
rate_action = "defer"
daily_action = "defer"
queue_backlog_per_sender = 1000

[state]
backend = "local"
directory = "/tmp/state"
)");
  CHECK_FALSE(c.limits.enabled);
  CHECK(c.limits.max_message_size == 10ull * 1024 * 1024);
  CHECK(c.limits.max_recipients_per_message == 50);
  CHECK(c.limits.messages_per_minute == 3);
  CHECK(c.limits.recipients_per_day == 100);
  CHECK(c.limits.rate_action == config::RateAction::reject);
  CHECK(c.limits.daily_action == config::DailyAction::reject);
  CHECK(c.limits.queue_backlog_per_sender == 7);
  CHECK(c.limits.rate_window == std::chrono::seconds(2));
  CHECK(c.senders.domains == std::vector<std::string>{"edomex.gob.mx", "sub.edomex.gob.mx"});
  CHECK(c.senders.max_local_part_length == 30);
  REQUIRE(c.exceptions.size() == 2);
  const config::SenderException& first = c.exceptions[0];
  CHECK(first.sender == "comunicacion@edomex.gob.mx");
  CHECK(first.reference == "DGSEI/DGE 123/2026");
  CHECK(first.limits.max_recipients_per_message == 2000u);
  CHECK(first.limits.recipients_per_day == 50000u);
  CHECK_FALSE(first.limits.max_message_size.has_value());
  CHECK_FALSE(first.limits.rate_action.has_value());
  CHECK(first.allow_protected_lists);
  CHECK(first.allow_public_mass_mail);
  const config::SenderException& second = c.exceptions[1];
  CHECK(second.limits.max_message_size == 30ull * 1024 * 1024);
  CHECK(second.limits.messages_per_minute == 100u);
  CHECK(second.limits.rate_action == config::RateAction::defer);
  CHECK(second.limits.daily_action == config::DailyAction::defer);
  CHECK(second.limits.queue_backlog_per_sender == 1000u);
  CHECK_FALSE(second.allow_protected_lists);
  CHECK(c.state.directory == "/tmp/state");
}

TEST_CASE("an exception's limits are its overrides over [limits], in any order in the file") {
  const config::Config c = load(R"(
[[exceptions]]
sender = "a@edomex.gob.mx"
reference = "R1"
recipients_per_day = 20

[limits]
recipients_per_day = 10
messages_per_minute = 5
)");
  REQUIRE(c.exceptions.size() == 1);
  const config::LimitsConfig effective = c.exceptions[0].limits.applied_to(c.limits);
  CHECK(effective.recipients_per_day == 20);
  CHECK(effective.messages_per_minute == 5);
  CHECK(effective.max_recipients_per_message == 500);
}

TEST_CASE("bad limit values are errors naming the line and key") {
  const std::pair<std::string_view, std::string_view> cases[] = {
      {"[limits]\nmax_recipients_per_message = 0\n",
       "test.toml:5:30: key 'limits.max_recipients_per_message': 0 is out of range (1..100000)"},
      {"[limits]\nmax_recipients_per_message = 100001\n",
       "test.toml:5:30: key 'limits.max_recipients_per_message': 100001 is out of range "
       "(1..100000)"},
      {"[limits]\nmessages_per_minute = -1\n",
       "test.toml:5:23: key 'limits.messages_per_minute': -1 is out of range (1..1000000)"},
      {"[limits]\nmessages_per_minute = \"30\"\n",
       "test.toml:5:23: key 'limits.messages_per_minute': expected an integer, found a string"},
      {"[limits]\nrecipients_per_day = 0\n",
       "test.toml:5:22: key 'limits.recipients_per_day': 0 is out of range (1..100000000)"},
      {"[limits]\nqueue_backlog_per_sender = 0\n",
       "test.toml:5:28: key 'limits.queue_backlog_per_sender': 0 is out of range (1..1000000)"},
      {"[limits]\nrate_action = \"drop\"\n",
       "test.toml:5:15: key 'limits.rate_action': 'drop' is not one of \"queue\", \"defer\" or "
       "\"reject\""},
      {"[limits]\ndaily_action = \"queue\"\n",
       "test.toml:5:16: key 'limits.daily_action': 'queue' is not one of \"defer\" or \"reject\""},
      {"[limits]\nenabled = 1\n",
       "test.toml:5:11: key 'limits.enabled': expected true or false, found an integer"},
      {"[limits]\nmessages_per_hour = 5\n",
       "test.toml:5:21: key 'limits.messages_per_hour': unknown key"},
      {"[limits]\nrate_window = \"1500ms\"\n",
       "test.toml:5:15: key 'limits.rate_window': must be whole seconds from \"1s\" to \"1h\""},
      {"[limits]\nrate_window = \"2h\"\n",
       "test.toml:5:15: key 'limits.rate_window': must be whole seconds from \"1s\" to \"1h\""},
      {"[[exceptions]]\nsender = \"a@b.c\"\nreference = \"R\"\nrate_window = \"2s\"\n",
       "test.toml:7:15: key 'exceptions[1].rate_window': unknown key"},
  };
  for (const auto& [toml, expected] : cases) {
    CAPTURE(toml);
    CHECK(error_of(toml) == expected);
  }
}

TEST_CASE("bad [senders] values are errors") {
  CHECK(error_of("[senders]\ndomains = []\n") ==
        "test.toml:5:11: key 'senders.domains': at least one domain is required (no sender "
        "could pass)");
  CHECK(error_of("[senders]\ndomains = \"edomex.gob.mx\"\n") ==
        "test.toml:5:11: key 'senders.domains': expected an array of domain names such as "
        "[\"edomex.gob.mx\"]");
  CHECK(error_of("[senders]\ndomains = [\"bad domain\"]\n") ==
        "test.toml:5:12: key 'senders.domains': 'bad domain' is not a valid host name (letters, "
        "digits, '-' and '.')");
  CHECK(error_of("[senders]\nmax_local_part_length = 0\n") ==
        "test.toml:5:25: key 'senders.max_local_part_length': 0 is out of range (1..64)");
  CHECK(error_of("[senders]\nmax_local_part_length = 65\n") ==
        "test.toml:5:25: key 'senders.max_local_part_length': 65 is out of range (1..64)");
}

TEST_CASE("bad [[exceptions]] entries are errors") {
  CHECK(error_of("[[exceptions]]\nreference = \"R\"\n") ==
        "test.toml:4:1: key 'exceptions[1].sender': required (the address this exception "
        "applies to)");
  CHECK(error_of("[[exceptions]]\nsender = \"a@edomex.gob.mx\"\n") ==
        "test.toml:4:1: key 'exceptions[1].reference': required (the authorisation, logged with "
        "every decision it changes)");
  CHECK(error_of("[[exceptions]]\nsender = \"not an address\"\nreference = \"R\"\n") ==
        "test.toml:5:10: key 'exceptions[1].sender': 'not an address' is not an e-mail address "
        "(local@domain)");
  CHECK(error_of("[[exceptions]]\nsender = \"<a@b.c>\"\nreference = \"R\"\n") ==
        "test.toml:5:10: key 'exceptions[1].sender': '<a@b.c>' is not an e-mail address "
        "(local@domain)");
  CHECK(error_of("[[exceptions]]\nsender = \"a@b.c\"\nreference = \"R\"\n"
                 "[[exceptions]]\nsender = \"A@b.c\"\nreference = \"S\"\n") ==
        "test.toml:7:1: key 'exceptions[2].sender': 'a@b.c' already has an exception; merge the "
        "two entries");
  CHECK(error_of("[[exceptions]]\nsender = \"a@b.c\"\nreference = \"R\"\nenabled = false\n") ==
        "test.toml:7:11: key 'exceptions[1].enabled': unknown key");
  CHECK(
      error_of("[[exceptions]]\nsender = \"a@b.c\"\nreference = \"R\"\nrecipients_per_day = 0\n") ==
      "test.toml:7:22: key 'exceptions[1].recipients_per_day': 0 is out of range "
      "(1..100000000)");
  CHECK(error_of("[exceptions]\nsender = \"a@b.c\"\n") ==
        "test.toml:4:1: key 'exceptions': expected [[exceptions]] tables");
}

TEST_CASE("[state] chooses the local or the redis backend") {
  CHECK(load("[state]\nbackend = \"local\"\ndirectory = \"run/state\"\n").state.directory ==
        "run/state");
  CHECK(load("").state.backend == config::StateBackend::local);
  CHECK(load("[state]\nbackend = \"redis\"\n").state.backend == config::StateBackend::redis);
  CHECK(error_of("[state]\nbackend = \"memory\"\n") ==
        "test.toml:5:11: key 'state.backend': 'memory' is not one of \"local\" or \"redis\"");
  CHECK(error_of("[state]\ndirectory = \"\"\n") ==
        "test.toml:5:13: key 'state.directory': must not be empty");
}

TEST_CASE("[state] counter_sync says what the 250 waits for, write by default") {
  CHECK(load("").state.counter_sync == config::CounterSync::write);
  CHECK(load("[state]\ncounter_sync = \"fsync\"\n").state.counter_sync ==
        config::CounterSync::fsync);
  CHECK(load("[state]\ncounter_sync = \"write\"\n").state.counter_sync ==
        config::CounterSync::write);
  CHECK(error_of("[state]\ncounter_sync = \"never\"\n") ==
        "test.toml:5:16: key 'state.counter_sync': 'never' is not one of \"write\" or \"fsync\"");
}

TEST_CASE("[state] redis keys: URL, fallback, password file, prefix, timeouts") {
  const auto defaults = load("").state;
  CHECK(defaults.redis_url == "redis://127.0.0.1:6379/0");
  CHECK(defaults.redis_unavailable == config::RedisUnavailable::defer);
  CHECK(defaults.redis_key_prefix == "policy-relay:");
  CHECK(defaults.redis_timeout == std::chrono::seconds(1));
  const auto state = load(
                         "[state]\nbackend = \"redis\"\nredis_url = \"unix:/run/redis.sock?db=2\"\n"
                         "redis_unavailable = \"local\"\nredis_password_file = \"/etc/pw\"\n"
                         "redis_key_prefix = \"gem:\"\nredis_timeout = \"250ms\"\n"
                         "redis_connect_timeout = \"3s\"\nredis_reservation_ttl = \"5m\"\n"
                         "redis_alert_interval = \"30s\"\n")
                         .state;
  CHECK(state.redis_url == "unix:/run/redis.sock?db=2");
  CHECK(state.redis_unavailable == config::RedisUnavailable::local);
  CHECK(state.redis_password_file == "/etc/pw");
  CHECK(state.redis_key_prefix == "gem:");
  CHECK(state.redis_timeout == std::chrono::milliseconds(250));
  CHECK(state.redis_connect_timeout == std::chrono::seconds(3));
  CHECK(state.redis_reservation_ttl == std::chrono::minutes(5));
  CHECK(state.redis_alert_interval == std::chrono::seconds(30));
  CHECK(error_of("[state]\nredis_unavailable = \"ignore\"\n") ==
        "test.toml:5:21: key 'state.redis_unavailable': 'ignore' is not one of \"defer\" or "
        "\"local\"");
  CHECK(error_of("[state]\nredis_url = \"redis://redis.example:6379/0\"\n") ==
        "test.toml:5:13: key 'state.redis_url': the host must be an IP address (names are not "
        "resolved, so no lookup blocks)");
  CHECK(error_of("[state]\nredis_url = \"redis://:secret@127.0.0.1:6379\"\n") ==
        "test.toml:5:13: key 'state.redis_url': no password in the URL: put it in "
        "state.redis_password_file");
  CHECK(error_of("[state]\nredis_timeout = \"0s\"\n").find("state.redis_timeout") !=
        std::string::npos);
}
