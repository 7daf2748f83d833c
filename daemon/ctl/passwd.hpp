#pragma once

namespace policy_relay::ctl {

// `policy-relayctl passwd [--file USERS | --config FILE] [--aliases A,B] USER`; argv[1] is
// "passwd". Returns the exit status (0 ok, 1 failed, 2 usage).
int passwd(int argc, char** argv, const char* default_config);

}  // namespace policy_relay::ctl
