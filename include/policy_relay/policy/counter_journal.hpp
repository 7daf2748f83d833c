#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>

#include "policy_relay/policy/counter_store.hpp"
#include "policy_relay/policy/counter_table.hpp"

// The on-disk form of the local counters: an append-only journal of committed usage, rewritten
// from time to time as a snapshot of the live buckets. Encoding and decoding only, no I/O.
//
//   file    := header record*
//   header  := "PRCOUNT1"
//   record  := 0xC5 type:u8 length:u32 payload[length] crc32(type, length, payload):u32
//   type 1  usage:   counter:u8 unix_seconds:i64 amount:u32 key[...]
//   type 2  buckets: counter:u8 resolution_seconds:u32 n:u32 (index:u32 count:u32){n} key[...]
//   type 3  mark:    expires_unix_seconds:i64 (0 = never, -1 = erased) name_length:u32
//                    name[name_length] value[...]
// Integers are little-endian. A record is valid only whole and with its CRC: a write cut short
// by a crash leaves a torn tail that replay ignores.
namespace policy_relay::policy {

inline constexpr std::string_view journal_header = "PRCOUNT1";

void encode_usage(std::string& out, std::string_view key, Counter counter, TimePoint at,
                  std::uint32_t amount);
void encode_buckets(std::string& out, std::string_view key, Counter counter,
                    std::chrono::seconds resolution, std::span<const Bucket> buckets);

// A mark (CounterStore::put_mark) or, with `erased`, its removal.
void encode_mark(std::string& out, std::string_view name, std::string_view value,
                 std::int64_t expires_unix_seconds);
inline constexpr std::int64_t mark_never_expires = 0;
inline constexpr std::int64_t mark_erased = -1;

struct JournalVisitor {
  std::function<void(std::string_view key, Counter counter, TimePoint at, std::uint32_t amount)>
      usage;
  std::function<void(std::string_view key, Counter counter, std::chrono::seconds resolution,
                     std::span<const Bucket> buckets)>
      buckets;
  std::function<void(std::string_view name, std::string_view value, std::int64_t expires)> mark;
};

struct ReplayStats {
  bool header_ok = false;           // false: not a counter journal (nothing was replayed)
  std::uint64_t records = 0;        // valid records visited
  std::uint64_t unknown = 0;        // valid records of a type or counter this version ignores
  std::uint64_t skipped_bytes = 0;  // bytes of damaged records skipped in the middle
  std::uint64_t torn_bytes = 0;     // bytes of an incomplete last record, ignored
};

// Visits every valid record in order. A damaged record in the middle is skipped by searching
// for the next valid one; an incomplete or damaged tail is ignored.
ReplayStats replay_journal(std::string_view contents, const JournalVisitor& visitor);

}  // namespace policy_relay::policy
