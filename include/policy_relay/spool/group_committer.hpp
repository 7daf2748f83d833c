#pragma once

#include <boost/asio/thread_pool.hpp>
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

// Makes received messages durable in batches (DESIGN.md "Performance facts": one fsync per
// message in series caps a relay at ~220 msg/s). Two stages, each on its own thread, so the
// data sync of one batch overlaps the directory sync of the one before:
//   data stage:      takes every job queued so far, fdatasync()s their files in parallel (the
//                    file system merges concurrent syncs into few journal commits), then
//                    renames each synced file into the queue directory;
//   directory stage: takes every renamed batch so far and fsync()s the queue directory once,
//                    which makes all those renames durable; then completes the jobs.
// A job completes (done(ec)) only after both stages; done runs on the directory thread and
// must only hand the result over (e.g. post it to an executor).
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

  // `sync_threads`: how many fdatasync() calls may run at once.
  explicit GroupCommitter(int queue_dir_fd, std::size_t sync_threads = 16);
  ~GroupCommitter();  // finishes queued jobs, then joins
  GroupCommitter(const GroupCommitter&) = delete;
  GroupCommitter& operator=(const GroupCommitter&) = delete;

  void submit(Job job);
  Stats stats() const;

 private:
  struct Synced {
    Job job;
    std::error_code result;
  };

  void run_data_stage();
  void run_directory_stage();
  void sync_files(std::deque<Job>& batch, std::vector<std::error_code>& results);

  int queue_dir_fd_;
  mutable std::mutex mutex_;
  std::condition_variable data_wake_;
  std::condition_variable directory_wake_;
  std::deque<Job> pending_;
  std::deque<Synced> renamed_;
  bool stopping_ = false;
  bool data_stage_done_ = false;
  Stats stats_;
  boost::asio::thread_pool sync_pool_;
  std::thread data_thread_;
  std::thread directory_thread_;
};

}  // namespace policy_relay::spool
