#pragma once

#include <string>
#include <vector>

namespace policy_relay::ctl {

struct Globals {
  bool json = false;   // --json: print the daemon's result as one JSON document
  std::string socket;  // --socket PATH, else [admin] socket of --config
  std::string config = "/etc/policy-relay/policy-relay.toml";
};

// The commands answered by the running daemon (status, usage, top, suspend, resume,
// suspensions, queue ..., reload). `args` are the words after the command name.
// Returns the exit status: 0 ok, 1 the daemon refused or could not be asked, 2 usage.
int run_daemon_command(const Globals& globals, const std::string& command,
                       const std::vector<std::string>& args);

// accounts check | accounts suggest NAME: read the directory named by senders.directory.
int run_accounts_command(const Globals& globals, const std::vector<std::string>& args);

}  // namespace policy_relay::ctl
