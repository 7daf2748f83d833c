// The process-wide event log: lines are built here (timestamp, level, event, fields) and handed
// whole to spdlog with the pattern "%v", which only adds the newline and does the I/O.
#include "policy_relay/log/log.hpp"

#include <spdlog/logger.h>
#include <spdlog/sinks/rotating_file_sink.h>
#include <spdlog/sinks/stdout_sinks.h>

#include <array>
#include <atomic>
#include <charconv>
#include <chrono>
#include <ctime>
#include <memory>
#include <mutex>
#include <stdexcept>

#include "escape.hpp"

namespace policy_relay::log {
namespace {

constexpr std::array<std::string_view, 5> kLevelNames{"trace", "debug", "info", "warn", "error"};
constexpr std::array<spdlog::level::level_enum, 5> kSpdlogLevels{
    spdlog::level::trace, spdlog::level::debug, spdlog::level::info, spdlog::level::warn,
    spdlog::level::err};

Level level_from_name(std::string_view name) {
  for (std::size_t i = 0; i < kLevelNames.size(); ++i) {
    if (kLevelNames[i] == name) {
      return static_cast<Level>(i);
    }
  }
  return Level::info;
}

// Read on every event without a lock; written by init().
std::atomic<int> minimum_level{static_cast<int>(Level::info)};
std::atomic<bool> json_format{false};

// The sink is swapped by init() and reopen() while other threads log: they take a reference
// under the mutex and write through it outside.
std::mutex logger_mutex;
std::shared_ptr<spdlog::logger> current_logger;  // guarded by logger_mutex
config::LogConfig current_config;                // guarded by logger_mutex
FlushScheduler flush_scheduler;                  // guarded by logger_mutex
// A flush has been scheduled and has not started yet: later lines ride along with it.
std::atomic<bool> flush_pending{false};

std::shared_ptr<spdlog::logger> make_logger(const config::LogConfig& config) {
  spdlog::sink_ptr sink;
  if (config.file == "-") {
    sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  } else {
    // Appends; rotates to FILE.1 .. FILE.max_files when a write would pass max_size.
    sink = std::make_shared<spdlog::sinks::rotating_file_sink_mt>(
        config.file, static_cast<std::size_t>(config.max_size),
        static_cast<std::size_t>(config.max_files));
  }
  auto logger = std::make_shared<spdlog::logger>("policy-relay", std::move(sink));
  logger->set_pattern("%v");
  logger->set_level(spdlog::level::trace);  // filtering happens before a line is built
  // Warnings and errors reach the kernel at once; info lines with the scheduled flush (one
  // write for a loop round's lines instead of one each: see set_flush_scheduler()).
  logger->flush_on(spdlog::level::warn);
  return logger;
}

std::shared_ptr<spdlog::logger> logger() {
  std::lock_guard lock(logger_mutex);
  if (!current_logger) {
    current_logger = make_logger(current_config);
  }
  return current_logger;
}

// "2026-11-29T04:40:35.123Z": UTC, milliseconds. The date part is formatted once per second
// per thread.
void append_timestamp(std::string& out) {
  const auto now = std::chrono::system_clock::now();
  const auto ms_since_epoch =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  const std::time_t seconds = static_cast<std::time_t>(ms_since_epoch / 1000);
  const int milliseconds = static_cast<int>(ms_since_epoch % 1000);
  thread_local std::time_t cached_second = -1;
  thread_local std::array<char, 32> cached_text{};
  thread_local std::size_t cached_length = 0;
  if (seconds != cached_second) {
    std::tm utc{};
    gmtime_r(&seconds, &utc);
    cached_length =
        std::strftime(cached_text.data(), cached_text.size(), "%Y-%m-%dT%H:%M:%S", &utc);
    cached_second = seconds;
  }
  out.append(cached_text.data(), cached_length);
  const char fraction[5] = {'.', static_cast<char>('0' + milliseconds / 100),
                            static_cast<char>('0' + milliseconds / 10 % 10),
                            static_cast<char>('0' + milliseconds % 10), 'Z'};
  out.append(fraction, sizeof fraction);
}

template <typename Integer>
void append_number(std::string& out, Integer value) {
  std::array<char, 24> digits;
  const auto result = std::to_chars(digits.begin(), digits.end(), value);
  out.append(digits.data(), static_cast<std::size_t>(result.ptr - digits.data()));
}

bool is_json_line(const std::string& line) {
  return !line.empty() && line.front() == '{';
}

// recent_count(): per event name, one counter per second of the last minute, each stamped with
// the second it counts (a stale bucket is reset by the first event of its new second).
constexpr std::array<std::string_view, 5> kTallied{"accept", "deliver", "reject", "defer",
                                                   "bounce"};
struct SecondBucket {
  std::atomic<std::int64_t> second{0};
  std::atomic<std::uint64_t> count{0};
};
std::array<std::array<SecondBucket, 60>, kTallied.size()> tallies;

std::int64_t steady_second() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

int tally_index(std::string_view name) {
  for (std::size_t i = 0; i < kTallied.size(); ++i) {
    if (kTallied[i] == name) {
      return static_cast<int>(i);
    }
  }
  return -1;
}

void tally(int index) {
  const std::int64_t second = steady_second();
  SecondBucket& bucket =
      tallies[static_cast<std::size_t>(index)][static_cast<std::size_t>(second % 60)];
  std::int64_t stamped = bucket.second.load(std::memory_order_relaxed);
  if (stamped != second && bucket.second.compare_exchange_strong(stamped, second)) {
    bucket.count.store(0, std::memory_order_relaxed);
  }
  bucket.count.fetch_add(1, std::memory_order_relaxed);
}

}  // namespace

void init(const config::LogConfig& config) {
  std::shared_ptr<spdlog::logger> fresh;
  try {
    fresh = make_logger(config);
  } catch (const spdlog::spdlog_ex& error) {
    throw std::runtime_error("log.file '" + config.file + "': " + error.what());
  }
  std::shared_ptr<spdlog::logger> previous;
  {
    std::lock_guard lock(logger_mutex);
    previous = std::exchange(current_logger, std::move(fresh));
    current_config = config;
    minimum_level = static_cast<int>(level_from_name(config.level));
    json_format = config.format == config::LogFormat::json;
  }
  if (previous) {
    previous->flush();
  }
}

void reopen() {
  config::LogConfig config;
  {
    std::lock_guard lock(logger_mutex);
    config = current_config;
  }
  if (config.file == "-") {
    return;
  }
  std::shared_ptr<spdlog::logger> fresh;
  try {
    fresh = make_logger(config);
  } catch (const spdlog::spdlog_ex& error) {
    // Keep writing to the old file rather than nowhere.
    Event("log_reopen_failed", Level::error).add("file", config.file).add("error", error.what());
    return;
  }
  std::shared_ptr<spdlog::logger> previous;
  {
    std::lock_guard lock(logger_mutex);
    previous = std::exchange(current_logger, std::move(fresh));
  }
  previous->flush();  // buffered lines belong to the file they were logged to
}

void flush() {
  flush_pending = false;  // first: a line logged during the flush schedules the next one
  logger()->flush();
}

void set_flush_scheduler(FlushScheduler schedule) {
  {
    std::lock_guard lock(logger_mutex);
    flush_scheduler = std::move(schedule);
  }
  flush();  // whatever the previous scheduler was still to write
}

namespace {

void schedule_flush() {
  if (flush_pending.exchange(true)) {
    return;  // the scheduled flush will write this line too
  }
  FlushScheduler schedule;
  {
    std::lock_guard lock(logger_mutex);
    schedule = flush_scheduler;
  }
  if (schedule) {
    schedule();
  } else {
    flush();
  }
}

}  // namespace

std::uint64_t recent_count(std::string_view name) {
  const int index = tally_index(name);
  if (index < 0) {
    return 0;
  }
  const std::int64_t now = steady_second();
  std::uint64_t total = 0;
  for (const SecondBucket& bucket : tallies[static_cast<std::size_t>(index)]) {
    if (bucket.second.load(std::memory_order_relaxed) > now - 60) {
      total += bucket.count.load(std::memory_order_relaxed);
    }
  }
  return total;
}

bool enabled(Level level) {
  return static_cast<int>(level) >= minimum_level.load(std::memory_order_relaxed);
}

Event::Event(std::string_view name, Level level)
    : level_(level), enabled_(enabled(level)), tallied_(tally_index(name)) {
  if (tallied_ >= 0) {
    tally(tallied_);
  }
  if (!enabled_) {
    return;
  }
  const std::string_view level_name = kLevelNames[static_cast<std::size_t>(level)];
  line_.reserve(256);
  if (json_format.load(std::memory_order_relaxed)) {
    line_ += "{\"ts\":\"";
    append_timestamp(line_);
    line_ += "\",\"level\":\"";
    line_ += level_name;
    line_ += "\",\"event\":\"";
    detail::append_json_string(line_, name);
    line_ += '"';
  } else {
    append_timestamp(line_);
    line_ += " level=";
    line_ += level_name;
    line_ += " event=";
    detail::append_kv_value(line_, name);
  }
}

Event::~Event() {
  if (!enabled_) {
    return;
  }
  try {
    if (is_json_line(line_)) {
      line_ += '}';
    }
    logger()->log(kSpdlogLevels[static_cast<std::size_t>(level_)], spdlog::string_view_t(line_));
    if (level_ < Level::warn) {
      schedule_flush();  // (warnings and errors were flushed by the logger itself)
    }
  } catch (...) {
    // Logging must never take the process down; spdlog reports its own I/O errors to stderr.
  }
}

Event& Event::add(std::string_view key, std::string_view value) {
  if (!enabled_) {
    return *this;
  }
  if (is_json_line(line_)) {
    line_ += ",\"";
    detail::append_json_string(line_, key);
    line_ += "\":\"";
    detail::append_json_string(line_, value);
    line_ += '"';
  } else {
    line_ += ' ';
    detail::append_kv_key(line_, key);
    line_ += '=';
    detail::append_kv_value(line_, value);
  }
  return *this;
}

namespace {

template <typename Value>
void add_literal(std::string& line, std::string_view key, Value value) {
  if (is_json_line(line)) {
    line += ",\"";
    detail::append_json_string(line, key);
    line += "\":";
  } else {
    line += ' ';
    detail::append_kv_key(line, key);
    line += '=';
  }
  if constexpr (std::is_same_v<Value, bool>) {
    line += value ? "true" : "false";
  } else {
    append_number(line, value);
  }
}

}  // namespace

Event& Event::add(std::string_view key, std::int64_t value) {
  if (enabled_) {
    add_literal(line_, key, value);
  }
  return *this;
}

Event& Event::add(std::string_view key, std::uint64_t value) {
  if (enabled_) {
    add_literal(line_, key, value);
  }
  return *this;
}

Event& Event::add(std::string_view key, bool value) {
  if (enabled_) {
    add_literal(line_, key, value);
  }
  return *this;
}

}  // namespace policy_relay::log
