#pragma once

#include <string_view>

// The Redis counter backend's server-side operations: each one Lua script, so each is atomic
// across every relay sharing the server. They count exactly like CounterTable (README "How
// windows count"): a unit used at time t lands in bucket k = floor(t / res) and counts until
// (k + 1) * res + window; a time older than the newest bucket counts in that bucket.
//
// Per sender identity and counter, two keys that expire by themselves (PEXPIRE after every
// write, at the later of the newest bucket's expiry and the last lease):
//   KEYS[1]  hash: s = committed units of live buckets, r = reserved units, l = lowest bucket
//            that may still hold units, n = newest bucket, b:<k> = units in bucket k,
//            h:<id> = units held by reservation <id>
//   KEYS[2]  sorted set: reservation id -> lease deadline (ms). A relay that dies mid-
//            transaction cannot leak: its holds leave the count when their lease ends.
// Common ARGV: [1] now in ms since the epoch ("" = Redis's own clock, one clock for the
// cluster), [2] bucket width in s, [3] window in s. Results are integers or arrays of them.
namespace policy_relay::policy::redis_scripts {

// ARGV[4] amount, [5] limit, [6] reservation id, [7] lease in ms.
// -> {1, used} granted | {0, used, frees_at_unix_s (-1 = never)} refused.
extern const std::string_view reserve;
// ARGV[4] amount, [5] reservation id -> 1. Counts the units whether or not the hold still
// exists (its lease may have ended): never fewer units than were granted.
extern const std::string_view commit;
// ARGV[4] reservation id -> 1 (0 when there was no such hold). ARGV[1] may be "".
extern const std::string_view release;
// -> {used, next_free_unix_s (0 = nothing counted)}.
extern const std::string_view usage;
// reserve and commit in one step: ARGV[4] amount, [5] limit -> as reserve; when granted the
// units are counted at once and no hold is taken.
extern const std::string_view count;

}  // namespace policy_relay::policy::redis_scripts
