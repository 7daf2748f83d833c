#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "policy_relay/policy/counter_journal.hpp"

using namespace policy_relay::policy;
using std::chrono::seconds;

namespace {

struct Seen {
  std::vector<std::string> usage;  // "key counter seconds amount"
  std::vector<std::string> runs;   // "key counter resolution index:count ..."
};

ReplayStats replay_into(std::string_view contents, Seen& seen) {
  JournalVisitor visitor;
  visitor.usage = [&](std::string_view key, Counter counter, TimePoint at, std::uint32_t amount) {
    seen.usage.push_back(std::string(key) + " " + std::to_string(static_cast<int>(counter)) + " " +
                         std::to_string(at.time_since_epoch() / seconds(1)) + " " +
                         std::to_string(amount));
  };
  visitor.buckets = [&](std::string_view key, Counter counter, seconds resolution,
                        std::span<const Bucket> buckets) {
    std::string run = std::string(key) + " " + std::to_string(static_cast<int>(counter)) + " " +
                      std::to_string(resolution.count());
    for (const auto& bucket : buckets) {
      run += " " + std::to_string(bucket.index) + ":" + std::to_string(bucket.count);
    }
    seen.runs.push_back(run);
  };
  return replay_journal(contents, visitor);
}

std::string sample_journal() {
  std::string out(journal_header);
  encode_usage(out, "a@x", Counter::messages_per_minute, TimePoint(seconds(1000)), 1);
  const std::vector<Bucket> buckets{{10, 3}, {12, 4}};
  encode_buckets(out, "b@x", Counter::recipients_per_day, seconds(60), buckets);
  encode_usage(out, "c@x", Counter::releases_per_minute, TimePoint(seconds(2000)), 7);
  return out;
}

}  // namespace

TEST_CASE("journal records read back as written") {
  Seen seen;
  const auto stats = replay_into(sample_journal(), seen);
  CHECK(stats.header_ok);
  CHECK(stats.records == 3);
  CHECK(stats.torn_bytes == 0);
  CHECK(seen.usage == std::vector<std::string>{"a@x 0 1000 1", "c@x 2 2000 7"});
  CHECK(seen.runs == std::vector<std::string>{"b@x 1 60 10:3 12:4"});
}

TEST_CASE("a torn last record is ignored, whatever byte the write stopped at") {
  const std::string whole = sample_journal();
  std::string two(journal_header);
  encode_usage(two, "a@x", Counter::messages_per_minute, TimePoint(seconds(1000)), 1);
  const std::vector<Bucket> buckets{{10, 3}, {12, 4}};
  encode_buckets(two, "b@x", Counter::recipients_per_day, seconds(60), buckets);
  for (std::size_t cut = two.size(); cut < whole.size(); ++cut) {
    Seen seen;
    const auto stats = replay_into(std::string_view(whole).substr(0, cut), seen);
    CAPTURE(cut);
    CHECK(stats.records == 2);
    CHECK(stats.torn_bytes == cut - two.size());
    CHECK(seen.usage.size() == 1);
  }
}

TEST_CASE("a damaged record in the middle is skipped and the records after it are kept") {
  std::string damaged = sample_journal();
  damaged[journal_header.size() + 10] ^= 0x5A;  // inside the first record's payload
  Seen seen;
  const auto stats = replay_into(damaged, seen);
  CHECK(stats.records == 2);
  CHECK(stats.skipped_bytes > 0);
  CHECK(stats.torn_bytes == 0);
  CHECK(seen.usage == std::vector<std::string>{"c@x 2 2000 7"});
  CHECK(seen.runs.size() == 1);
}

TEST_CASE("a file without the journal header is not replayed") {
  Seen seen;
  CHECK_FALSE(replay_into("something else entirely", seen).header_ok);
  CHECK(seen.usage.empty());
}
