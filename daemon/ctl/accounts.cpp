// `policy-relayctl accounts check` and `accounts suggest NAME` (POLICY I.1-I.4): read the
// directory named by senders.directory of --config and apply policy/accounts.hpp.
#include <boost/json.hpp>
#include <cstdio>

#include "daemon_commands.hpp"
#include "policy_relay/config/account_directory_file.hpp"
#include "policy_relay/config/loader.hpp"

namespace json = boost::json;

namespace policy_relay::ctl {

int run_accounts_command(const Globals& globals, const std::vector<std::string>& words) {
  const bool check = words.size() == 1 && words[0] == "check";
  const bool suggest = words.size() == 2 && words[0] == "suggest";
  if (!check && !suggest) {
    std::fputs("policy-relayctl: usage: accounts check | accounts suggest NAME\n", stderr);
    return 2;
  }
  policy::AccountRules rules;
  policy::AccountDirectory directory;
  try {
    const config::Config config = config::load_file(globals.config);
    if (config.senders.directory.empty()) {
      std::fprintf(stderr, "policy-relayctl: %s sets no senders.directory\n",
                   globals.config.c_str());
      return 1;
    }
    rules.max_local_part_length = config.senders.max_local_part_length;
    rules.domains = config.senders.domains;
    directory = config::load_account_directory(config.senders.directory);
  } catch (const std::exception& error) {
    std::fprintf(stderr, "policy-relayctl: %s\n", error.what());
    return 1;
  }
  if (suggest) {
    const auto names = policy::suggest_names(directory, rules, words[1]);
    if (globals.json) {
      json::array list;
      for (const auto& name : names) {
        list.emplace_back(name);
      }
      std::printf("%s\n", json::serialize(json::object{{"name", words[1]},
                                                       {"taken", !names.empty()},
                                                       {"suggestions", std::move(list)}})
                              .c_str());
    } else if (names.empty()) {
      std::printf("%s is free\n", words[1].c_str());
    } else {
      std::printf("%s is taken; free alternatives:\n", words[1].c_str());
      for (const auto& name : names) {
        std::printf("  %s\n", name.c_str());
      }
    }
    return 0;
  }
  const auto breaches = policy::check_accounts(directory, rules);
  if (globals.json) {
    json::array list;
    for (const auto& b : breaches) {
      list.push_back(json::object{{"address", b.address},
                                  {"line", b.line},
                                  {"rule", b.rule},
                                  {"clause", b.clause},
                                  {"detail", b.detail}});
    }
    std::printf("%s\n", json::serialize(json::object{{"directory", directory.source()},
                                                     {"accounts", directory.accounts().size()},
                                                     {"breaches", std::move(list)}})
                            .c_str());
  } else {
    for (const auto& b : breaches) {
      std::printf("%s:%u: %s: %s [%s, POLICY %s]\n", directory.source().c_str(), b.line,
                  b.address.c_str(), b.detail.c_str(), b.rule.c_str(), b.clause.c_str());
    }
    std::printf("%zu account(s), %zu breach(es)\n", directory.accounts().size(), breaches.size());
  }
  return breaches.empty() ? 0 : 1;
}

}  // namespace policy_relay::ctl
