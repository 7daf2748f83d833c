#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "policy_relay/envelope.hpp"

// The envelope block at the head of every spool file:
//   policy-relay-spool 1\n
//   id ID\n  sender ADDR\n  rcpt ADDR\n ...  body TYPE\n  smtputf8 0|1\n
//   client IP\n  helo NAME\n  auth USER\n
//   length NNNNNNNNNNNNNNNNNNNN\n  (the message octets that follow: 20 digits, patched in place
//                                   at the commit, see Spool::commit)
//   received UNIX-SECONDS\n  header FIELD\n ...
//   pad SPACES\n            (optional: a record reserved at open, rewritten in place later,
//                            like Postfix's fixed-size queue file records)
//   \n                       (then the message octets; the file may be longer: a reused file
//                            keeps its old length, see Spool::Config::max_stale_tail)
// Values run to the end of the line; an envelope value holding CR, LF or NUL is refused.
// A block without `length` (written before it existed) means "to the end of the file".
namespace policy_relay::spool {

inline constexpr std::string_view spool_magic = "policy-relay-spool 1";
inline constexpr std::size_t max_envelope_block = 1024 * 1024;

// Appends the block (ending in the blank line) to `out`; EINVAL for a value with CR/LF/NUL.
// `reserve` > 0 adds a pad record of exactly that many octets (at least min_reserved_record)
// just before the blank line.
std::error_code serialize_envelope(const Envelope& envelope, std::string& out,
                                   std::size_t reserve = 0);
// The same, and `length_offset` receives where the `length` digits (zero) begin in `out`.
std::error_code serialize_envelope(const Envelope& envelope, std::string& out, std::size_t reserve,
                                   std::size_t& length_offset);

inline constexpr std::size_t length_digits = 20;
// The `length` value as written into the block: exactly length_digits decimal digits.
std::string format_length(std::uint64_t length);

inline constexpr std::size_t min_reserved_record = 5;  // "pad \n"

// The records that replace a reserved one of `size` octets: "header FIELD\n" per field, then a
// pad record for the rest. EINVAL for a field with CR/LF/NUL, EMSGSIZE when they do not fit.
std::error_code fill_reserved_record(const std::vector<std::string>& headers, std::size_t size,
                                     std::string& out);

// Parses a block; `block` must end right after the blank line. `length` receives the recorded
// message length, or nothing for a block without one.
std::error_code parse_envelope(std::string_view block, Envelope& out,
                               std::optional<std::uint64_t>& length);
std::error_code parse_envelope(std::string_view block, Envelope& out);

}  // namespace policy_relay::spool
