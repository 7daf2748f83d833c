#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <system_error>
#include <thread>

namespace policy_relay::spool {

// Makes received messages durable in batches (DESIGN.md "Performance facts": one fsync per
// message in series caps a relay at ~220 msg/s). One thread takes every job queued so far and:
//   1. starts write-back of all their files at once (sync_file_range), so one journal commit
//      can carry them all,
//   2. fdatasync()s each file (after the first, the rest are mostly already on disk),
//   3. renames each into the queue directory,
//   4. fsync()s the queue directory once for the whole batch.
// Each job's completion runs on the committer thread; it must only hand the result over
// (e.g. post it to an executor).
class GroupCommitter {
 public:
  struct Job {
    int fd = -1;                // closed by the committer in every case
    std::string incoming_path;  // removed when the job fails
    std::string queue_path;
    std::function<void(std::error_code)> done;
  };

  struct Stats {
    std::uint64_t batches = 0;
    std::uint64_t jobs = 0;
    std::uint64_t largest_batch = 0;
  };

  explicit GroupCommitter(int queue_dir_fd);
  ~GroupCommitter();  // finishes queued jobs, then joins
  GroupCommitter(const GroupCommitter&) = delete;
  GroupCommitter& operator=(const GroupCommitter&) = delete;

  void submit(Job job);
  Stats stats() const;

 private:
  void run();
  void commit_batch(std::deque<Job>& batch);

  int queue_dir_fd_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Job> pending_;
  bool stopping_ = false;
  Stats stats_;
  std::thread thread_;
};

}  // namespace policy_relay::spool
