#include "policy_relay/policy/journal_writer.hpp"
#include "policy_relay/util/posix_io.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <future>
#include <map>
#include <utility>

namespace policy_relay::policy {

using util::write_all;

namespace {

std::error_code last_error() {
  return {errno, std::system_category()};
}

}  // namespace

struct JournalWriter::File {
  int fd = -1;
  // The length of the file, kept here (the only writer is this process) so that an append
  // does not ask the kernel first; a failed append is cut back to it.
  off_t size = 0;
  File(int descriptor, off_t length) : fd(descriptor), size(length) {}
  ~File() { ::close(fd); }
  File(const File&) = delete;
  File& operator=(const File&) = delete;

  // Appends whole records. On failure cuts the partial record off so that later appends do
  // not follow garbage; `consistent` turns false when even that failed.
  std::error_code append(std::string_view records, bool& consistent) {
    consistent = true;
    if (auto error = util::write_all(fd, records)) {
      consistent = ::ftruncate(fd, size) == 0;
      return error;
    }
    size += static_cast<off_t>(records.size());
    return {};
  }
};

std::error_code replace_file(int directory_fd, const std::string& directory, std::string_view name,
                             std::string_view contents) {
  const std::string path = directory + "/" + std::string(name);
  const std::string temporary = path + ".tmp";
  const int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    return last_error();
  }
  std::error_code error = write_all(fd, contents);
  if (!error && ::fsync(fd) != 0) {
    error = last_error();
  }
  if (::close(fd) != 0 && !error) {
    error = last_error();
  }
  if (!error && ::rename(temporary.c_str(), path.c_str()) != 0) {
    error = last_error();
  }
  if (error) {
    ::unlink(temporary.c_str());
    return error;
  }
  // The rename is durable only once the directory is.
  if (::fsync(directory_fd) != 0) {
    return last_error();
  }
  return {};
}

JournalWriter::JournalWriter(int directory_fd, std::string directory, std::string name)
    : directory_fd_(directory_fd),
      directory_(std::move(directory)),
      name_(std::move(name)),
      path_(directory_ + "/" + name_) {
  if (auto error = reopen()) {
    throw std::system_error(error, "cannot open counter journal " + path_);
  }
  write_thread_ = std::thread([this] { run_write_stage(); });
  sync_thread_ = std::thread([this] { run_sync_stage(); });
}

JournalWriter::~JournalWriter() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  write_wake_.notify_one();
  write_thread_.join();  // writes every queued append, then tells the sync stage
  sync_thread_.join();
}

std::error_code JournalWriter::reopen() {
  const int fd = ::open(path_.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
  if (fd < 0) {
    return last_error();
  }
  const off_t size = ::lseek(fd, 0, SEEK_END);
  if (size < 0) {
    auto error = last_error();
    ::close(fd);
    return error;
  }
  file_ = std::make_shared<File>(fd, size);
  return {};
}

std::error_code JournalWriter::broken() const {
  std::lock_guard lock(mutex_);
  return broken_;
}

void JournalWriter::set_broken(std::error_code error) {
  std::lock_guard lock(mutex_);
  broken_ = error;
}

void JournalWriter::append(std::string records, Done written, Done durable) {
  {
    std::lock_guard lock(mutex_);
    pending_.push_back({false, std::move(records), std::move(written), std::move(durable)});
  }
  write_wake_.notify_one();
}

std::optional<std::error_code> JournalWriter::try_append_now(std::string_view records) {
  {
    std::unique_lock lock(mutex_);
    // Only when the write stage is idle and nothing waits before us: the order of records and
    // snapshots stays the order of the calls.
    if (writing_ || !pending_.empty() || broken_ || !file_ || stopping_) {
      return std::nullopt;
    }
    bool consistent = true;
    std::error_code error = file_->append(records, consistent);
    if (!consistent) {
      broken_ = error;  // a partial record may be in the file: trust nothing after it
    }
    ++stats_.appends;
    stats_.failures += error ? 1 : 0;
    written_.push_back(Group{file_, error, {}});  // the sync stage syncs it in the background
    const bool wake = !sync_deadline_armed_;      // else it wakes at its deadline anyway
    lock.unlock();
    if (wake) {
      sync_wake_.notify_one();
    }
    return error;
  }
}

void JournalWriter::replace(std::string contents) {
  {
    std::lock_guard lock(mutex_);
    pending_.push_back({true, std::move(contents), {}, {}});
  }
  write_wake_.notify_one();
}

void JournalWriter::drain() {
  // The sync stage completes groups in order: when this empty append is durable, every
  // earlier callback has run.
  std::promise<void> done;
  append({}, {}, [&done](std::error_code) { done.set_value(); });
  done.get_future().wait();
}

JournalWriter::Stats JournalWriter::stats() const {
  std::lock_guard lock(mutex_);
  return stats_;
}

void JournalWriter::run_write_stage() {
  std::deque<Item> batch;
  for (;;) {
    {
      std::unique_lock lock(mutex_);
      write_wake_.wait(lock, [this] { return stopping_ || !pending_.empty(); });
      if (pending_.empty()) {
        write_stage_done_ = true;
        break;
      }
      batch.swap(pending_);
      writing_ = true;
    }
    write_batch(batch);
    batch.clear();
    {
      std::lock_guard lock(mutex_);
      writing_ = false;
    }
  }
  sync_wake_.notify_one();
}

std::error_code JournalWriter::write_appends(std::deque<Item>& batch, std::size_t first,
                                             std::size_t last) {
  // One write(2) for the group when it has several appends.
  std::string joined;
  std::string_view data = batch[first].data;
  if (last - first > 1) {
    for (std::size_t i = first; i < last; ++i) {
      joined += batch[i].data;
    }
    data = joined;
  }
  bool consistent = true;
  if (auto error = file_->append(data, consistent)) {
    if (!consistent) {
      set_broken(error);
    }
    return error;
  }
  return {};
}

void JournalWriter::write_batch(std::deque<Item>& batch) {
  std::error_code error = broken();
  std::uint64_t appends = 0;
  std::uint64_t replacements = 0;
  for (std::size_t i = 0; i < batch.size() && !error;) {
    if (batch[i].replace) {
      // Everything appended before is in the snapshot, which is durable once this returns.
      error = replace_file(directory_fd_, directory_, name_, batch[i].data);
      if (!error) {
        if (auto reopen_error = reopen()) {
          set_broken(error = reopen_error);
        }
        ++replacements;
      }
      ++i;
      continue;
    }
    std::size_t end = i;
    while (end < batch.size() && !batch[end].replace) {
      ++end;
    }
    error = write_appends(batch, i, end);
    appends += end - i;
    i = end;
  }
  Group group{file_, error, {}};
  for (auto& item : batch) {
    if (item.written) {
      item.written(error);
    }
    if (item.durable) {
      group.durable.push_back(std::move(item.durable));
    }
  }
  {
    std::lock_guard lock(mutex_);
    stats_.appends += appends;
    stats_.replacements += replacements;
    stats_.failures += error ? 1 : 0;
    written_.push_back(std::move(group));
  }
  sync_wake_.notify_one();
}

void JournalWriter::run_sync_stage() {
  std::deque<Group> groups;
  // Written appends nobody waits for (commit_unsynced): synced at most kBackgroundSync later,
  // so a power loss forgets at most that much of them.
  std::shared_ptr<File> unsynced;
  auto last_sync = std::chrono::steady_clock::now();
  const auto sync = [&](File& file) {
    std::error_code error;
    if (::fdatasync(file.fd) != 0) {
      error = last_error();
      set_broken(error);
    }
    last_sync = std::chrono::steady_clock::now();
    return error;
  };
  for (;;) {
    {
      std::unique_lock lock(mutex_);
      const auto ready = [this] { return write_stage_done_ || !written_.empty(); };
      if (unsynced) {
        // Appends nobody waits on need not wake this thread before the deadline.
        sync_deadline_armed_ = true;
        sync_wake_.wait_until(lock, last_sync + kBackgroundSync, ready);
        sync_deadline_armed_ = false;
      } else {
        sync_wake_.wait(lock, ready);
      }
      if (written_.empty() && write_stage_done_) {
        lock.unlock();
        if (unsynced) {
          sync(*unsynced);
        }
        return;  // the write stage has finished and everything is completed
      }
      groups.swap(written_);
    }
    // One fdatasync per file covers every write the write stage finished before it.
    std::map<File*, std::error_code> synced;
    std::uint64_t waiters = 0;
    for (const auto& group : groups) {
      waiters += group.durable.size();
      if (group.error) {
        continue;
      }
      if (group.durable.empty()) {
        unsynced = group.file;
      } else if (!synced.contains(group.file.get())) {
        synced.emplace(group.file.get(), sync(*group.file));
      }
    }
    if (unsynced && synced.contains(unsynced.get())) {
      unsynced.reset();
    }
    if (unsynced && std::chrono::steady_clock::now() - last_sync >= kBackgroundSync) {
      synced.emplace(unsynced.get(), sync(*unsynced));
      unsynced.reset();
    }
    {
      std::lock_guard lock(mutex_);
      stats_.syncs += synced.size();
      stats_.largest_group = std::max(stats_.largest_group, waiters);
    }
    for (auto& group : groups) {
      const auto found = synced.find(group.file.get());
      const std::error_code error =
          group.error ? group.error : (found != synced.end() ? found->second : std::error_code{});
      for (auto& done : group.durable) {
        done(error);
      }
    }
    groups.clear();
  }
}

}  // namespace policy_relay::policy
