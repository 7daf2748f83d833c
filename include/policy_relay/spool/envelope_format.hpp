#pragma once

#include <string>
#include <string_view>
#include <system_error>

#include "policy_relay/envelope.hpp"

// The envelope block at the head of every spool file:
//   policy-relay-spool 1\n
//   id ID\n  sender ADDR\n  rcpt ADDR\n ...  body TYPE\n  smtputf8 0|1\n
//   client IP\n  helo NAME\n  auth USER\n  received UNIX-SECONDS\n
//   \n                       (then the message octets)
// Values run to the end of the line; an envelope value holding CR, LF or NUL is refused.
namespace policy_relay::spool {

inline constexpr std::string_view spool_magic = "policy-relay-spool 1";
inline constexpr std::size_t max_envelope_block = 1024 * 1024;

// Appends the block (ending in the blank line) to `out`; EINVAL for a value with CR/LF/NUL.
std::error_code serialize_envelope(const Envelope& envelope, std::string& out);

// Parses a block; `block` must end right after the blank line.
std::error_code parse_envelope(std::string_view block, Envelope& out);

}  // namespace policy_relay::spool
