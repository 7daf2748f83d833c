#include "policy_relay/policy/journal_writer.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <utility>

namespace policy_relay::policy {

namespace {

std::error_code last_error() {
  return {errno, std::system_category()};
}

std::error_code write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t written = ::write(fd, data.data(), data.size());
    if (written < 0) {
      if (errno == EINTR) {
        continue;
      }
      return last_error();
    }
    data.remove_prefix(static_cast<std::size_t>(written));
  }
  return {};
}

}  // namespace

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
  thread_ = std::thread([this] { run(); });
}

JournalWriter::~JournalWriter() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  thread_.join();
  if (fd_ >= 0) {
    ::close(fd_);
  }
}

std::error_code JournalWriter::reopen() {
  const int fd = ::open(path_.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
  if (fd < 0) {
    return last_error();
  }
  if (fd_ >= 0) {
    ::close(fd_);
  }
  fd_ = fd;
  return {};
}

void JournalWriter::append(std::string records, Done done) {
  {
    std::lock_guard lock(mutex_);
    pending_.push_back({false, std::move(records), std::move(done)});
  }
  wake_.notify_one();
}

void JournalWriter::replace(std::string contents, Done done) {
  {
    std::lock_guard lock(mutex_);
    pending_.push_back({true, std::move(contents), std::move(done)});
  }
  wake_.notify_one();
}

JournalWriter::Stats JournalWriter::stats() const {
  std::lock_guard lock(mutex_);
  return stats_;
}

void JournalWriter::run() {
  std::deque<Item> batch;
  for (;;) {
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [this] { return stopping_ || !pending_.empty(); });
      if (pending_.empty()) {
        return;  // stopping, and everything queued is done
      }
      batch.swap(pending_);
    }
    process(batch);
    batch.clear();
  }
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
  const off_t before = ::lseek(fd_, 0, SEEK_END);
  if (auto error = write_all(fd_, data)) {
    // Cut a partial record off so that later appends do not follow garbage.
    if (before < 0 || ::ftruncate(fd_, before) != 0) {
      broken_ = error;
    }
    return error;
  }
  return {};
}

void JournalWriter::process(std::deque<Item>& batch) {
  std::error_code error = broken_;
  std::uint64_t appends = 0;
  std::uint64_t syncs = 0;
  std::uint64_t replacements = 0;
  bool dirty = false;
  for (std::size_t i = 0; i < batch.size() && !error;) {
    if (batch[i].replace) {
      // Everything appended before is in the snapshot: no need to sync it first.
      error = replace_file(directory_fd_, directory_, name_, batch[i].data);
      if (!error) {
        if (auto reopen_error = reopen()) {
          error = broken_ = reopen_error;
        }
        ++replacements;
      }
      dirty = false;
      ++i;
      continue;
    }
    std::size_t end = i;
    while (end < batch.size() && !batch[end].replace) {
      ++end;
    }
    error = write_appends(batch, i, end);
    appends += end - i;
    dirty = dirty || !error;
    i = end;
  }
  if (!error && dirty) {
    ++syncs;
    if (::fdatasync(fd_) != 0) {
      // After a failed sync the kernel may have dropped the dirty pages: trust nothing later.
      error = broken_ = last_error();
    }
  }
  {
    std::lock_guard lock(mutex_);
    stats_.appends += appends;
    stats_.syncs += syncs;
    stats_.replacements += replacements;
    stats_.largest_group = std::max<std::uint64_t>(stats_.largest_group, appends);
    stats_.failures += error ? 1 : 0;
  }
  for (auto& item : batch) {
    if (item.done) {
      item.done(error);
    }
  }
}

}  // namespace policy_relay::policy
