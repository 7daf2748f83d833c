// policy-relayctl: the operator's command-line tool. check-config, passwd and accounts work on
// files; the other commands ask the running daemon through its admin socket ([admin] socket).
#include <cstdio>
#include <exception>
#include <string>
#include <string_view>
#include <vector>

#include "daemon_commands.hpp"
#include "passwd.hpp"
#include "policy_relay/config/loader.hpp"
#include "policy_relay/version.hpp"

namespace {

constexpr int kOk = 0;
constexpr int kFailed = 1;
constexpr int kUsage = 2;

void print_usage(std::FILE* out) {
  std::fputs(
      "usage: policy-relayctl [--json] [--config FILE] [--socket PATH] COMMAND ...\n"
      "  status                      uptime, connections, queue, deliveries and refusals\n"
      "  usage SENDER                a sender's counts, limits and when they free\n"
      "  top [N]                     the heaviest senders of the last hour\n"
      "  suspend SENDER --reason TEXT   refuse the sender's mail and hold its queue\n"
      "  resume SENDER               lift a suspension; release its held messages\n"
      "  suspensions                 every suspended sender with the evidence\n"
      "  queue list | show ID | retry [ID] | hold ID | release ID | delete ID\n"
      "  reload                      re-read configuration, users, directory, certificate\n"
      "  accounts check              report breaches of POLICY I.1-I.4 in senders.directory\n"
      "  accounts suggest NAME       free alternatives for a taken name\n"
      "  check-config FILE           validate a configuration file\n"
      "  passwd [--file USERS | --config FILE] [--aliases A,B] USER\n"
      "                              set USER's password (from the terminal or stdin)\n"
      "  --help | --version\n"
      "--json prints results as JSON; --config defaults to /etc/policy-relay/policy-relay.toml\n"
      "and names the admin socket unless --socket is given.\n"
      "Exit status: 0 ok, 1 the command failed or was refused, 2 usage error.\n",
      out);
}

int check_config(const char* path) {
  try {
    policy_relay::config::load_file(path);
  } catch (const policy_relay::config::ConfigError& error) {
    std::fprintf(stderr, "%s\n", error.what());
    return kFailed;
  } catch (const std::exception& error) {
    std::fprintf(stderr, "%s: %s\n", path, error.what());
    return kFailed;
  }
  std::printf("%s: ok\n", path);
  return kOk;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    print_usage(stderr);
    return kUsage;
  }
  const std::string_view command = argv[1];
  if (command == "--help" || command == "-h") {
    print_usage(stdout);
    return kOk;
  }
  if (command == "--version") {
    const std::string_view version = policy_relay::version();
    std::printf("policy-relayctl %.*s\n", static_cast<int>(version.size()), version.data());
    return kOk;
  }
  if (command == "check-config") {
    if (argc != 3) {
      std::fputs("policy-relayctl: check-config takes exactly one FILE\n", stderr);
      print_usage(stderr);
      return kUsage;
    }
    return check_config(argv[2]);
  }
  if (command == "passwd") {
    return policy_relay::ctl::passwd(argc, argv, "/etc/policy-relay/policy-relay.toml");
  }
  policy_relay::ctl::Globals globals;
  int next = 1;
  for (; next < argc; ++next) {
    const std::string_view option = argv[next];
    if (option == "--json") {
      globals.json = true;
    } else if ((option == "--config" || option == "--socket") && next + 1 < argc) {
      (option == "--config" ? globals.config : globals.socket) = argv[++next];
    } else if (!option.empty() && option.front() == '-') {
      std::fprintf(stderr, "policy-relayctl: unknown option '%s'\n", argv[next]);
      print_usage(stderr);
      return kUsage;
    } else {
      break;
    }
  }
  if (next >= argc) {
    print_usage(stderr);
    return kUsage;
  }
  const std::string name = argv[next];
  const std::vector<std::string> words(argv + next + 1, argv + argc);
  if (name == "check-config" && words.size() == 1) {
    return check_config(words[0].c_str());
  }
  if (name == "accounts") {
    return policy_relay::ctl::run_accounts_command(globals, words);
  }
  static const std::string_view kDaemonCommands[] = {"status", "usage", "top",         "suspend",
                                                     "resume", "queue", "suspensions", "reload"};
  for (std::string_view known : kDaemonCommands) {
    if (name == known) {
      return policy_relay::ctl::run_daemon_command(globals, name, words);
    }
  }
  std::fprintf(stderr, "policy-relayctl: unknown command '%s'\n", name.c_str());
  print_usage(stderr);
  return kUsage;
}
