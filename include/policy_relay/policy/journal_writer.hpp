#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>

// Makes counter journal records durable in groups, on one background thread (the same idea as
// spool::GroupCommitter): every append queued while the previous fdatasync() runs goes into the
// next write + fdatasync, so concurrent commits share one sync instead of queueing for one each.
namespace policy_relay::policy {

// Writes `contents` to directory/name atomically and durably: a temporary file, fsync, rename
// over `name`, fsync of the directory. `directory_fd` is an open descriptor of `directory`.
std::error_code replace_file(int directory_fd, const std::string& directory, std::string_view name,
                             std::string_view contents);

class JournalWriter {
 public:
  // Runs on the writer thread once the records are durable (or failed): it must only hand the
  // result over (e.g. post it to an executor).
  using Done = std::function<void(std::error_code)>;

  // Appends to directory/name, which must exist (written by replace_file() at start-up).
  // Throws std::system_error when it cannot be opened.
  JournalWriter(int directory_fd, std::string directory, std::string name);
  ~JournalWriter();  // finishes queued work, then joins
  JournalWriter(const JournalWriter&) = delete;
  JournalWriter& operator=(const JournalWriter&) = delete;

  // Appends encoded records; `done` runs after they are on disk.
  void append(std::string records, Done done);
  // Replaces the whole journal with `contents` (header included), ordered after every earlier
  // append and before every later one. The snapshot must include the earlier appends' usage.
  void replace(std::string contents, Done done = {});

  struct Stats {
    std::uint64_t appends = 0;
    std::uint64_t syncs = 0;  // fdatasync() calls that made appends durable
    std::uint64_t largest_group = 0;
    std::uint64_t replacements = 0;
    std::uint64_t failures = 0;
  };
  Stats stats() const;

 private:
  struct Item {
    bool replace = false;
    std::string data;
    Done done;
  };

  void run();
  void process(std::deque<Item>& batch);
  std::error_code write_appends(std::deque<Item>& batch, std::size_t first, std::size_t last);
  std::error_code reopen();

  int directory_fd_;
  std::string directory_;
  std::string name_;
  std::string path_;
  int fd_ = -1;
  std::error_code broken_;  // sticky: a failed fdatasync leaves the file's state unknown

  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Item> pending_;
  bool stopping_ = false;
  Stats stats_;
  std::thread thread_;
};

}  // namespace policy_relay::policy
