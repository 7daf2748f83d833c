#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "policy_relay/config/config.hpp"

// Operators' event log (DESIGN.md "Logs"): one line per event, `key=value` or JSON lines.
// Every value is escaped: no raw CR, LF, control or non-UTF-8 byte from a client reaches a line.
// Usage:  log::Event("accept").add("id", id).add("from", sender).add("size", n);
// The line is written when the temporary Event is destroyed (end of the full expression).
namespace policy_relay::log {

enum class Level { trace, debug, info, warn, error };

// Sets up the process-wide logger from [log]: file ("-" = stderr), format, level, size-based
// rotation (max_size, max_files). Safe to call again (reload). Before init(), events go to
// stderr in kv format at info level.
void init(const config::LogConfig& config);
// Reopens the log file (SIGUSR1, for an external logrotate).
void reopen();
// Writes every buffered line to the file.
void flush();

// Batched writes (the daemon's event loop): a line below warn is buffered and `schedule` is
// called once per batch (the first line after a flush); it must be cheap and thread-safe, and
// make flush() run soon, e.g. post it to the event loop, where it runs after the handlers
// already queued. Warnings and errors are written at once, with everything before them.
// Without a scheduler (the default; also an empty one, which flushes first) every line is
// written at once.
using FlushScheduler = std::function<void()>;
void set_flush_scheduler(FlushScheduler schedule);

bool enabled(Level level);

// How many `name` events were logged in the last 60 s (at any level, logged or filtered), for
// the events operators watch: accept, deliver, reject, defer, bounce; 0 for any other name.
std::uint64_t recent_count(std::string_view name);

class Event {
 public:
  explicit Event(std::string_view name, Level level = Level::info);
  ~Event();
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;

  Event& add(std::string_view key, std::string_view value);
  Event& add(std::string_view key, const std::string& value) {
    return add(key, std::string_view(value));
  }
  Event& add(std::string_view key, const char* value) { return add(key, std::string_view(value)); }
  Event& add(std::string_view key, std::int64_t value);
  Event& add(std::string_view key, std::uint64_t value);
  Event& add(std::string_view key, int value) { return add(key, static_cast<std::int64_t>(value)); }
  Event& add(std::string_view key, unsigned value) {
    return add(key, static_cast<std::uint64_t>(value));
  }
  Event& add(std::string_view key, bool value);

 private:
  Level level_;
  bool enabled_;
  int tallied_;  // index of a recent_count() event name, -1 for the others
  // The whole line being built: kv "TS level=L event=NAME k=v ..."; json "{\"ts\":...,\"k\":v"
  // without the closing '}'. The timestamp is taken when the Event is constructed.
  std::string line_;
};

// Escaping used by both formats, exposed for tests: kv values are quoted when they contain
// spaces, '"', '=' or anything escaped; bytes < 0x20, 0x7f and invalid UTF-8 become \xHH.
std::string escape_kv(std::string_view value);
// escape_json returns the inside of a JSON string, without the surrounding quotes.
std::string escape_json(std::string_view value);

}  // namespace policy_relay::log
