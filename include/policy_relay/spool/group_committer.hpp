#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

namespace policy_relay::spool {

// Makes received messages durable (DESIGN.md "Performance facts": one fsync per message in
// series caps a relay at ~220 msg/s) with as few thread hand-offs as the disk allows.
//
// A pool of sync workers takes jobs one at a time, so the files of concurrent messages are
// synced in parallel (each fdatasync() waits on its own I/O). After its sync, a worker renames
// the file into the queue directory and hands the job to the directory sync: whichever worker
// finds no directory sync running becomes its leader, fsync()s the queue directory once for
// every rename made so far, completes those jobs, and repeats while renames keep arriving;
// the others go straight back to syncing files. To share one directory sync among many
// messages, a worker only leads when no other file sync is still running (or the batch is
// large or old, see should_sync_directory()). A message thus costs one wake-up of a worker
// and one completion, whatever the batch; the directory is synced once per batch.
//
// A job completes (done(ec)) only after its file's data and its queue directory entry are on
// disk. done runs on a worker thread and must only hand the result over (e.g. post it).
class GroupCommitter {
 public:
  struct Job {
    int fd = -1;                // synced, never closed: the submitter owns it
    std::string incoming_path;  // removed when the job fails
    std::string queue_path;
    std::function<void(std::error_code)> done;
  };

  struct Stats {
    std::uint64_t batches = 0;  // directory syncs
    std::uint64_t jobs = 0;
    std::uint64_t largest_batch = 0;
  };

  // `sync_threads`: how many fdatasync() calls may run at once.
  explicit GroupCommitter(int queue_dir_fd, std::size_t sync_threads = 16);
  ~GroupCommitter();  // finishes queued jobs, then joins
  GroupCommitter(const GroupCommitter&) = delete;
  GroupCommitter& operator=(const GroupCommitter&) = delete;

  void submit(Job job);
  Stats stats() const;

 private:
  struct Renamed {
    Job job;
    std::error_code result;
  };

  using Clock = std::chrono::steady_clock;
  static constexpr std::size_t kMaxBatch = 64;
  static constexpr Clock::duration kMaxWait = std::chrono::milliseconds(2);

  void run_worker();
  bool should_sync_directory() const;  // with mutex_ held
  // Called with `lock` held and directory_sync_running_ set: syncs the directory for every
  // renamed job and completes them, again while should_sync_directory() holds.
  void lead_directory_syncs(std::unique_lock<std::mutex>& lock);

  int queue_dir_fd_;
  mutable std::mutex mutex_;
  std::condition_variable work_available_;
  std::deque<Job> pending_;
  std::vector<Renamed> renamed_;
  std::size_t syncing_ = 0;  // jobs between fdatasync() and their rename
  Clock::time_point oldest_renamed_{};
  bool directory_sync_running_ = false;
  bool stopping_ = false;
  Stats stats_;
  std::vector<std::thread> workers_;
};

}  // namespace policy_relay::spool
