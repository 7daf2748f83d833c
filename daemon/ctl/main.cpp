// policy-relayctl: the operator's command-line tool. This version checks configuration files
// and sets passwords in auth.users_file; the commands that talk to a running daemon come with
// the admin socket.
#include <cstdio>
#include <exception>
#include <string_view>

#include "passwd.hpp"
#include "policy_relay/config/loader.hpp"
#include "policy_relay/version.hpp"

namespace {

constexpr int kOk = 0;
constexpr int kFailed = 1;
constexpr int kUsage = 2;

void print_usage(std::FILE* out) {
  std::fputs(
      "usage: policy-relayctl check-config FILE   validate a configuration file\n"
      "       policy-relayctl passwd [--file USERS | --config FILE] [--aliases A,B] USER\n"
      "                                           set USER's password (read from the terminal\n"
      "                                           or stdin, never from arguments)\n"
      "       policy-relayctl --help | --version\n"
      "\n"
      "Exit status: 0 ok, 1 the check failed, 2 usage error or command not available.\n",
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
  if (!command.empty() && command.front() == '-') {
    std::fprintf(stderr, "policy-relayctl: unknown option '%s'\n", argv[1]);
    print_usage(stderr);
    return kUsage;
  }
  std::fprintf(stderr, "policy-relayctl: '%s' is not available in this version\n", argv[1]);
  return kUsage;
}
