#pragma once

#include <boost/json/value.hpp>
#include <string>

namespace policy_relay::ctl {

// One request to the daemon's admin socket (admin/protocol.hpp), with a 60 s deadline on each
// send and receive. Returns the parsed response object, or throws std::runtime_error saying why
// the daemon could not be asked (not running, permission, timeout, malformed answer).
boost::json::value ask_daemon(const std::string& socket_path, const std::string& command,
                              const boost::json::object& args);

}  // namespace policy_relay::ctl
