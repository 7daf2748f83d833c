#include "policy_relay/spool/group_committer.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <cerrno>
#include <cstdio>
#include <latch>
#include <utility>
#include <vector>

namespace policy_relay::spool {

namespace {

std::error_code last_error() {
  return {errno, std::system_category()};
}

}  // namespace

GroupCommitter::GroupCommitter(int queue_dir_fd, std::size_t sync_threads)
    : queue_dir_fd_(queue_dir_fd),
      sync_pool_(std::max<std::size_t>(1, sync_threads)),
      data_thread_([this] { run_data_stage(); }),
      directory_thread_([this] { run_directory_stage(); }) {}

GroupCommitter::~GroupCommitter() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  data_wake_.notify_one();
  data_thread_.join();  // finishes every queued job, then tells the directory stage
  directory_thread_.join();
  sync_pool_.join();
}

void GroupCommitter::submit(Job job) {
  {
    std::lock_guard lock(mutex_);
    pending_.push_back(std::move(job));
  }
  data_wake_.notify_one();
}

GroupCommitter::Stats GroupCommitter::stats() const {
  std::lock_guard lock(mutex_);
  return stats_;
}

void GroupCommitter::sync_files(std::deque<Job>& batch, std::vector<std::error_code>& results) {
  if (batch.size() == 1) {
    // Nothing to overlap with: spare the hand-over to the pool.
    if (::fdatasync(batch.front().fd) != 0) {
      results.front() = last_error();
    }
    return;
  }
  std::latch finished(static_cast<std::ptrdiff_t>(batch.size()));
  for (std::size_t i = 0; i < batch.size(); ++i) {
    boost::asio::post(sync_pool_, [&, i] {
      if (::fdatasync(batch[i].fd) != 0) {
        results[i] = last_error();
      }
      finished.count_down();
    });
  }
  finished.wait();
}

void GroupCommitter::run_data_stage() {
  std::deque<Job> batch;
  for (;;) {
    {
      std::unique_lock lock(mutex_);
      data_wake_.wait(lock, [this] { return stopping_ || !pending_.empty(); });
      if (pending_.empty()) {
        data_stage_done_ = true;
        break;
      }
      batch.swap(pending_);
      ++stats_.batches;
      stats_.jobs += batch.size();
      stats_.largest_batch = std::max<std::uint64_t>(stats_.largest_batch, batch.size());
    }
    std::vector<std::error_code> results(batch.size());
    sync_files(batch, results);
    std::deque<Synced> synced;
    for (std::size_t i = 0; i < batch.size(); ++i) {
      Job& job = batch[i];
      if (::close(job.fd) != 0 && !results[i]) {
        results[i] = last_error();
      }
      job.fd = -1;
      // Publish: from here the message is in queue/ and survives a restart once the
      // directory is synced.
      if (!results[i] && ::rename(job.incoming_path.c_str(), job.queue_path.c_str()) != 0) {
        results[i] = last_error();
      }
      synced.push_back({std::move(job), results[i]});
    }
    batch.clear();
    {
      std::lock_guard lock(mutex_);
      for (auto& entry : synced) {
        renamed_.push_back(std::move(entry));
      }
    }
    directory_wake_.notify_one();
  }
  directory_wake_.notify_one();
}

void GroupCommitter::run_directory_stage() {
  std::deque<Synced> batch;
  for (;;) {
    {
      std::unique_lock lock(mutex_);
      directory_wake_.wait(lock, [this] { return data_stage_done_ || !renamed_.empty(); });
      if (renamed_.empty()) {
        return;  // the data stage has finished and everything is completed
      }
      batch.swap(renamed_);
    }
    // One directory sync makes every rename of the batch durable.
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
  }
}

}  // namespace policy_relay::spool
