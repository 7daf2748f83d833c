#include "policy_relay/policy/counter_journal.hpp"

#include <boost/crc.hpp>
#include <cstring>
#include <optional>
#include <vector>

namespace policy_relay::policy {

namespace {

constexpr unsigned char record_magic = 0xC5;
constexpr std::uint8_t type_usage = 1;
constexpr std::uint8_t type_buckets = 2;
constexpr std::uint8_t type_mark = 3;
constexpr std::size_t frame_head = 1 + 1 + 4;  // magic, type, length
constexpr std::size_t frame_tail = 4;          // crc
constexpr std::uint32_t max_payload = 1u << 20;

template <typename Integer>
void put(std::string& out, Integer value) {
  auto bits = static_cast<std::make_unsigned_t<Integer>>(value);
  for (std::size_t i = 0; i < sizeof(Integer); ++i) {
    out.push_back(static_cast<char>(bits & 0xFF));
    bits = static_cast<decltype(bits)>(bits >> 8);
  }
}

template <typename Integer>
Integer get(const char* in) {
  std::make_unsigned_t<Integer> bits = 0;
  for (std::size_t i = sizeof(Integer); i > 0; --i) {
    bits = static_cast<decltype(bits)>((bits << 8) | static_cast<unsigned char>(in[i - 1]));
  }
  return static_cast<Integer>(bits);
}

std::uint32_t crc_of(const char* data, std::size_t size) {
  boost::crc_32_type crc;
  crc.process_bytes(data, size);
  return crc.checksum();
}

// Frames a payload that the caller appended to `out` after reserving the frame head at `start`.
void finish_record(std::string& out, std::size_t start, std::uint8_t type) {
  const auto length = static_cast<std::uint32_t>(out.size() - start - frame_head);
  out[start] = static_cast<char>(record_magic);
  out[start + 1] = static_cast<char>(type);
  for (std::size_t i = 0; i < 4; ++i) {
    out[start + 2 + i] = static_cast<char>((length >> (8 * i)) & 0xFF);
  }
  put<std::uint32_t>(out, crc_of(out.data() + start + 1, out.size() - start - 1));
}

struct Frame {
  std::uint8_t type = 0;
  std::string_view payload;
  std::size_t size = 0;  // the whole record
};

// A whole valid record at the start of `data`, or nothing.
std::optional<Frame> frame_at(std::string_view data) {
  if (data.size() < frame_head + frame_tail ||
      static_cast<unsigned char>(data[0]) != record_magic) {
    return std::nullopt;
  }
  const auto length = get<std::uint32_t>(data.data() + 2);
  if (length > max_payload || data.size() < frame_head + length + frame_tail) {
    return std::nullopt;
  }
  const std::size_t covered = 1 + 4 + length;  // type, length, payload
  if (crc_of(data.data() + 1, covered) != get<std::uint32_t>(data.data() + 1 + covered)) {
    return std::nullopt;
  }
  return Frame{static_cast<std::uint8_t>(data[1]), data.substr(frame_head, length),
               frame_head + length + frame_tail};
}

bool known_counter(std::uint8_t value) {
  return value < counter_count;
}

// Returns false for a payload this version does not understand.
bool visit(const Frame& frame, const JournalVisitor& visitor) {
  const std::string_view payload = frame.payload;
  if (frame.type == type_mark) {
    if (payload.size() < 8 + 4) {
      return false;
    }
    const auto expires = get<std::int64_t>(payload.data());
    const auto name_length = get<std::uint32_t>(payload.data() + 8);
    if (payload.size() - 12 < name_length) {
      return false;
    }
    if (visitor.mark) {
      visitor.mark(payload.substr(12, name_length), payload.substr(12 + name_length), expires);
    }
    return true;
  }
  if (payload.empty() || !known_counter(static_cast<std::uint8_t>(payload[0]))) {
    return false;
  }
  const auto counter = static_cast<Counter>(payload[0]);
  if (frame.type == type_usage && payload.size() >= 1 + 8 + 4) {
    const auto seconds = get<std::int64_t>(payload.data() + 1);
    const auto amount = get<std::uint32_t>(payload.data() + 9);
    if (visitor.usage) {
      visitor.usage(payload.substr(13), counter, TimePoint(std::chrono::seconds(seconds)), amount);
    }
    return true;
  }
  if (frame.type == type_buckets && payload.size() >= 1 + 4 + 4) {
    const auto resolution = get<std::uint32_t>(payload.data() + 1);
    const auto n = get<std::uint32_t>(payload.data() + 5);
    const std::size_t fixed = 9 + static_cast<std::size_t>(n) * 8;
    if (resolution == 0 || payload.size() < fixed) {
      return false;
    }
    std::vector<Bucket> buckets(n);
    for (std::uint32_t i = 0; i < n; ++i) {
      buckets[i].index = get<std::uint32_t>(payload.data() + 9 + i * 8);
      buckets[i].count = get<std::uint32_t>(payload.data() + 13 + i * 8);
    }
    if (visitor.buckets) {
      visitor.buckets(payload.substr(fixed), counter, std::chrono::seconds(resolution), buckets);
    }
    return true;
  }
  return false;
}

}  // namespace

void encode_usage(std::string& out, std::string_view key, Counter counter, TimePoint at,
                  std::uint32_t amount) {
  const std::size_t start = out.size();
  // One allocation for the record instead of one per field that outgrows the string: the
  // counter, time and amount fields take 13 octets and the checksum 4.
  out.reserve(start + frame_head + 13 + key.size() + 4);
  out.append(frame_head, '\0');
  out.push_back(static_cast<char>(counter));
  put<std::int64_t>(out, std::chrono::floor<std::chrono::seconds>(at).time_since_epoch().count());
  put<std::uint32_t>(out, amount);
  out.append(key);
  finish_record(out, start, type_usage);
}

void encode_buckets(std::string& out, std::string_view key, Counter counter,
                    std::chrono::seconds resolution, std::span<const Bucket> buckets) {
  const std::size_t start = out.size();
  out.append(frame_head, '\0');
  out.push_back(static_cast<char>(counter));
  put<std::uint32_t>(out, static_cast<std::uint32_t>(resolution.count()));
  put<std::uint32_t>(out, static_cast<std::uint32_t>(buckets.size()));
  for (const Bucket& bucket : buckets) {
    put<std::uint32_t>(out, bucket.index);
    put<std::uint32_t>(out, bucket.count);
  }
  out.append(key);
  finish_record(out, start, type_buckets);
}

void encode_mark(std::string& out, std::string_view name, std::string_view value,
                 std::int64_t expires_unix_seconds) {
  const std::size_t start = out.size();
  out.append(frame_head, '\0');
  put<std::int64_t>(out, expires_unix_seconds);
  put<std::uint32_t>(out, static_cast<std::uint32_t>(name.size()));
  out.append(name);
  out.append(value);
  finish_record(out, start, type_mark);
}

ReplayStats replay_journal(std::string_view contents, const JournalVisitor& visitor) {
  ReplayStats stats;
  if (!contents.starts_with(journal_header)) {
    return stats;
  }
  stats.header_ok = true;
  std::size_t position = journal_header.size();
  while (position < contents.size()) {
    if (auto frame = frame_at(contents.substr(position))) {
      ++(visit(*frame, visitor) ? stats.records : stats.unknown);
      position += frame->size;
      continue;
    }
    // Damaged here: resume at the next valid record, if there is one.
    std::size_t next = position + 1;
    while (next < contents.size()) {
      const auto found = contents.find(static_cast<char>(record_magic), next);
      if (found == std::string_view::npos) {
        next = contents.size();
        break;
      }
      if (frame_at(contents.substr(found))) {
        next = found;
        break;
      }
      next = found + 1;
    }
    if (next >= contents.size()) {
      stats.torn_bytes = contents.size() - position;
      break;
    }
    stats.skipped_bytes += next - position;
    position = next;
  }
  return stats;
}

}  // namespace policy_relay::policy
