#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <vector>

// Writes the counter journal on two background threads, the same idea as the spool's
// GroupCommitter, so the event loop never waits for the disk:
//   write stage: takes every append queued so far, write()s them to the journal at once and
//                reports them "written" (they now survive a kill -9 of the process);
//   sync stage:  takes every written group so far and fdatasync()s once, then reports them
//                "durable" (they now survive a power loss). Appends that nobody waits to
//                see durable are synced in the background at most kBackgroundSync later.
// While one fdatasync() runs, new appends are written and queue for the next one, so
// concurrent commits share a sync instead of queueing for one each.
namespace policy_relay::policy {

// Writes `contents` to directory/name atomically and durably: a temporary file, fsync, rename
// over `name`, fsync of the directory. `directory_fd` is an open descriptor of `directory`.
std::error_code replace_file(int directory_fd, const std::string& directory, std::string_view name,
                             std::string_view contents);

class JournalWriter {
 public:
  // Runs on a writer thread: it must only hand the result over (e.g. post it to an executor).
  using Done = std::function<void(std::error_code)>;

  // Appends to directory/name, which must exist (written by replace_file() at start-up).
  // Throws std::system_error when it cannot be opened.
  JournalWriter(int directory_fd, std::string directory, std::string name);
  ~JournalWriter();  // finishes queued work, then joins
  JournalWriter(const JournalWriter&) = delete;
  JournalWriter& operator=(const JournalWriter&) = delete;

  // Appends encoded records: `written` runs once they are in the file (page cache), `durable`
  // once they are synced to disk. Either may be empty.
  void append(std::string records, Done written, Done durable);
  // Appends `records` on the calling thread when the write stage is idle and nothing is
  // queued (no hand-over to the writer thread): the result of the write(2), the records then
  // survive a kill -9 and are synced in the background like any append nobody waits on.
  // std::nullopt when the writer is busy: use append() instead.
  std::optional<std::error_code> try_append_now(std::string_view records);
  // Replaces the whole journal with `contents` (header included), ordered after every earlier
  // append and before every later one. The snapshot must include the earlier appends' usage.
  void replace(std::string contents);
  // Blocks until everything queued so far is written, synced and its callbacks have run.
  void drain();

  struct Stats {
    std::uint64_t appends = 0;
    std::uint64_t syncs = 0;  // fdatasync() calls that made appends durable
    std::uint64_t largest_group = 0;
    std::uint64_t replacements = 0;
    std::uint64_t failures = 0;
  };
  Stats stats() const;

 private:
  struct File;  // an open journal descriptor, closed when the last group using it is synced
  struct Item {
    bool replace = false;
    std::string data;
    Done written;
    Done durable;
  };
  struct Group {
    std::shared_ptr<File> file;
    std::error_code error;
    std::vector<Done> durable;
  };

  void run_write_stage();
  // How long written appends that nobody waits for may stay unsynced.
  static constexpr std::chrono::milliseconds kBackgroundSync{50};

  void run_sync_stage();
  void write_batch(std::deque<Item>& batch);
  std::error_code write_appends(std::deque<Item>& batch, std::size_t first, std::size_t last);
  std::error_code reopen();
  std::error_code broken() const;
  void set_broken(std::error_code error);

  int directory_fd_;
  std::string directory_;
  std::string name_;
  std::string path_;
  std::shared_ptr<File> file_;  // write stage only

  mutable std::mutex mutex_;
  std::condition_variable write_wake_;
  std::condition_variable sync_wake_;
  std::deque<Item> pending_;
  std::deque<Group> written_;
  bool stopping_ = false;
  bool write_stage_done_ = false;
  bool writing_ = false;
  bool sync_deadline_armed_ =
      false;  // the sync stage sleeps until a background-sync deadline  // the write stage is
              // writing a batch (it owns file_ meanwhile)
  // Sticky: after a failed fdatasync the kernel may have dropped dirty pages; trust nothing.
  std::error_code broken_;
  Stats stats_;
  std::thread write_thread_;
  std::thread sync_thread_;
};

}  // namespace policy_relay::policy
