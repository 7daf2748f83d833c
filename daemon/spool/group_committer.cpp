#include "policy_relay/spool/group_committer.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <utility>
#include <vector>

namespace policy_relay::spool {

namespace {

std::error_code last_error() {
  return {errno, std::system_category()};
}

}  // namespace

GroupCommitter::GroupCommitter(int queue_dir_fd)
    : queue_dir_fd_(queue_dir_fd), thread_([this] { run(); }) {}

GroupCommitter::~GroupCommitter() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  thread_.join();
}

void GroupCommitter::submit(Job job) {
  {
    std::lock_guard lock(mutex_);
    pending_.push_back(std::move(job));
  }
  wake_.notify_one();
}

GroupCommitter::Stats GroupCommitter::stats() const {
  std::lock_guard lock(mutex_);
  return stats_;
}

void GroupCommitter::run() {
  std::deque<Job> batch;
  for (;;) {
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [this] { return stopping_ || !pending_.empty(); });
      if (pending_.empty()) {
        return;  // stopping and nothing left
      }
      batch.swap(pending_);
      ++stats_.batches;
      stats_.jobs += batch.size();
      stats_.largest_batch = std::max<std::uint64_t>(stats_.largest_batch, batch.size());
    }
    commit_batch(batch);
    batch.clear();
  }
}

void GroupCommitter::commit_batch(std::deque<Job>& batch) {
  std::vector<std::error_code> results(batch.size());

  // 1. Start write-back of every file before waiting on any of them.
  for (auto& job : batch) {
    ::sync_file_range(job.fd, 0, 0, SYNC_FILE_RANGE_WRITE);
  }
  // 2. Wait for the data of each file.
  for (std::size_t i = 0; i < batch.size(); ++i) {
    if (::fdatasync(batch[i].fd) != 0) {
      results[i] = last_error();
    }
    if (::close(batch[i].fd) != 0 && !results[i]) {
      results[i] = last_error();
    }
    batch[i].fd = -1;
  }
  // 3. Publish: a message is committed once its name is in queue/.
  bool any_renamed = false;
  for (std::size_t i = 0; i < batch.size(); ++i) {
    if (!results[i]) {
      if (::rename(batch[i].incoming_path.c_str(), batch[i].queue_path.c_str()) != 0) {
        results[i] = last_error();
      } else {
        any_renamed = true;
      }
    }
  }
  // 4. One directory sync makes every rename of the batch durable.
  std::error_code directory_error;
  if (any_renamed && ::fsync(queue_dir_fd_) != 0) {
    directory_error = last_error();
  }
  for (std::size_t i = 0; i < batch.size(); ++i) {
    std::error_code result = results[i];
    if (!result && directory_error) {
      // The rename may not survive a crash: the message must not be acknowledged, and it
      // must not be delivered either (the client will send it again).
      result = directory_error;
      ::unlink(batch[i].queue_path.c_str());
    }
    if (result) {
      ::unlink(batch[i].incoming_path.c_str());
    }
    batch[i].done(result);
  }
}

}  // namespace policy_relay::spool
