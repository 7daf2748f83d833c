// [advice], [mass_mail] and senders.from_mismatch_action (POLICY VI.8, VI.9, VI.11, VI.12,
// VII.1): defaults, values, and errors that name file:line:column and key.
#include <doctest/doctest.h>

#include <string>
#include <string_view>

#include "config_test_support.hpp"
#include "policy_relay/config/loader.hpp"

namespace config = policy_relay::config;

using config_test::error_of;
using config_test::kLocalUpstream;
using config_test::load;

TEST_CASE("advice and mass-mail defaults are DESIGN.md's") {
  const config::Config defaults;
  CHECK(defaults.advice.bcc_threshold == 5);
  CHECK(defaults.advice.bcc_action == config::AdviceAction::header);
  CHECK(defaults.advice.attachment_threshold == 1024 * 1024);
  CHECK(defaults.advice.attachment_action == config::AdviceAction::log);
  CHECK(defaults.advice.notify_from == "postmaster@edomex.gob.mx");
  CHECK(defaults.mass_mail.max_public_recipients == 20);
  CHECK(defaults.mass_mail.public_domains.size() == 8);
  CHECK(defaults.mass_mail.protected_lists.empty());
  CHECK(defaults.senders.from_mismatch_action == config::FromMismatchAction::log);
}

TEST_CASE("[advice], [mass_mail] and from_mismatch_action are read, lists lower-cased") {
  const config::Config loaded = load(
      "[advice]\nbcc_threshold = 7\nbcc_action = \"notify\"\nattachment_threshold = \"2MiB\"\n"
      "attachment_action = \"reject\"\nnotify_from = \"Avisos@Edomex.gob.mx\"\n"
      "[mass_mail]\npublic_domains = [\"GMail.com\", \"proton.me\"]\nmax_public_recipients = 3\n"
      "protected_lists = [\"Todos@edomex.gob.mx\"]\n"
      "[senders]\nfrom_mismatch_action = \"reject\"\n");
  CHECK(loaded.advice.bcc_threshold == 7);
  CHECK(loaded.advice.bcc_action == config::AdviceAction::notify);
  CHECK(loaded.advice.attachment_threshold == 2 * 1024 * 1024);
  CHECK(loaded.advice.attachment_action == config::AdviceAction::reject);
  CHECK(loaded.advice.notify_from == "avisos@edomex.gob.mx");
  CHECK(loaded.mass_mail.public_domains == std::vector<std::string>{"gmail.com", "proton.me"});
  CHECK(loaded.mass_mail.max_public_recipients == 3);
  CHECK(loaded.mass_mail.protected_lists == std::vector<std::string>{"todos@edomex.gob.mx"});
  CHECK(loaded.senders.from_mismatch_action == config::FromMismatchAction::reject);
  CHECK(load("[advice]\nbcc_action = \"off\"\n").advice.bcc_action == config::AdviceAction::off);
}

TEST_CASE("bad advice and mass-mail values name file, line, column and key") {
  CHECK(error_of("[advice]\nbcc_action = \"shout\"\n") ==
        "test.toml:5:14: key 'advice.bcc_action': 'shout' is not one of \"off\", \"log\", "
        "\"header\", \"notify\" or \"reject\"");
  CHECK(error_of("[advice]\nbcc_threshold = 0\n")
            .rfind("test.toml:5:17: key 'advice.bcc_threshold'", 0) == 0);
  CHECK(error_of("[advice]\nattachment_threshold = \"lots\"\n")
            .rfind("test.toml:5:24: key 'advice.attachment_threshold'", 0) == 0);
  CHECK(error_of("[advice]\nnotify_from = \"not an address\"\n")
            .rfind("test.toml:5:15: key 'advice.notify_from'", 0) == 0);
  CHECK(error_of("[advice]\nbcc = 5\n") == "test.toml:5:7: key 'advice.bcc': unknown key");
  CHECK(error_of("[mass_mail]\npublic_domains = \"gmail.com\"\n")
            .rfind("test.toml:5:18: key 'mass_mail.public_domains'", 0) == 0);
  CHECK(error_of("[mass_mail]\npublic_domains = [\"bad domain\"]\n")
            .rfind("test.toml:5:19: key 'mass_mail.public_domains'", 0) == 0);
  CHECK(error_of("[mass_mail]\nprotected_lists = [\"todos\"]\n")
            .rfind("test.toml:5:20: key 'mass_mail.protected_lists'", 0) == 0);
  CHECK(error_of("[senders]\nfrom_mismatch_action = \"warn\"\n")
            .rfind("test.toml:5:24: key 'senders.from_mismatch_action'", 0) == 0);
}
