#include "policy_relay/spool/group_committer.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <utility>

namespace policy_relay::spool {

namespace {

std::error_code last_error() {
  return {errno, std::system_category()};
}

}  // namespace

GroupCommitter::GroupCommitter(int queue_dir_fd, std::size_t sync_threads)
    : queue_dir_fd_(queue_dir_fd) {
  const std::size_t count = std::max<std::size_t>(1, sync_threads);
  workers_.reserve(count);
  for (std::size_t i = 0; i < count; ++i) {
    workers_.emplace_back([this] { run_worker(); });
  }
}

GroupCommitter::~GroupCommitter() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  work_available_.notify_all();
  for (auto& worker : workers_) {
    worker.join();  // each finishes the queued jobs it takes; the last leader completes all
  }
}

void GroupCommitter::submit(Job job) {
  {
    std::lock_guard lock(mutex_);
    pending_.push_back(std::move(job));
    ++stats_.jobs;
  }
  work_available_.notify_one();
}

GroupCommitter::Stats GroupCommitter::stats() const {
  std::lock_guard lock(mutex_);
  return stats_;
}

void GroupCommitter::run_worker() {
  std::unique_lock lock(mutex_);
  for (;;) {
    work_available_.wait(lock, [this] { return stopping_ || !pending_.empty(); });
    if (pending_.empty()) {
      return;  // stopping, and nothing left to sync
    }
    Job job = std::move(pending_.front());
    pending_.pop_front();
    ++syncing_;
    lock.unlock();

    std::error_code result;
    if (::fdatasync(job.fd) != 0) {
      result = last_error();
    } else if (::rename(job.incoming_path.c_str(), job.queue_path.c_str()) != 0) {
      // Publish: from here the message is in queue/ and survives a restart once the
      // directory is synced.
      result = last_error();
    }

    lock.lock();
    --syncing_;
    if (renamed_.empty()) {
      oldest_renamed_ = Clock::now();
    }
    renamed_.push_back({std::move(job), result});
    if (!directory_sync_running_ && should_sync_directory()) {
      directory_sync_running_ = true;
      lead_directory_syncs(lock);
      directory_sync_running_ = false;
    }
  }
}

bool GroupCommitter::should_sync_directory() const {
  // The last file sync of a wave leads: every rename of the wave shares one directory sync.
  // Sessions wait for their commit before sending more, so waves end; the size and age bounds
  // keep a long overlap of many sessions from holding renamed jobs back.
  return syncing_ == 0 || renamed_.size() >= kMaxBatch ||
         Clock::now() - oldest_renamed_ >= kMaxWait;
}

void GroupCommitter::lead_directory_syncs(std::unique_lock<std::mutex>& lock) {
  std::vector<Renamed> batch;
  while (!renamed_.empty() && should_sync_directory()) {
    batch.swap(renamed_);
    ++stats_.batches;
    stats_.largest_batch = std::max<std::uint64_t>(stats_.largest_batch, batch.size());
    lock.unlock();
    // Every rename in `batch` happened before this call: one sync makes them all durable.
    std::error_code directory_error;
    if (::fsync(queue_dir_fd_) != 0) {
      directory_error = last_error();
    }
    for (auto& [job, result] : batch) {
      if (!result && directory_error) {
        // The rename may not survive a crash: the message must not be acknowledged, and it
        // must not be delivered either (the client will send it again).
        result = directory_error;
        ::unlink(job.queue_path.c_str());
      }
      if (result) {
        ::unlink(job.incoming_path.c_str());
      }
      job.done(result);
    }
    batch.clear();
    lock.lock();
  }
}

}  // namespace policy_relay::spool
