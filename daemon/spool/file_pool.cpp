#include "policy_relay/spool/file_pool.hpp"

#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>

#include "policy_relay/spool/spool_files.hpp"

namespace policy_relay::spool {

FilePool::FilePool(std::string directory, std::size_t capacity)
    : directory_(std::move(directory)), capacity_(capacity) {}

void FilePool::recover(const std::unordered_set<std::uint64_t>& queued_inodes) {
  names_.clear();
  for (const auto& name : list_directory(directory_)) {
    struct stat info {};
    const std::string path = directory_ + "/" + name;
    const bool queued = ::stat(path.c_str(), &info) != 0 ||
                        queued_inodes.contains(static_cast<std::uint64_t>(info.st_ino));
    if (!queued && names_.size() < capacity_) {
      names_.push_back(name);
    } else {
      ::unlink(path.c_str());
    }
  }
  // New names must not collide with adopted ones: they all start with 'r' and a number.
  next_name_ = names_.size();
  for (const auto& name : names_) {
    if (name.size() > 1 && name[0] == 'r') {
      next_name_ =
          std::max<std::uint64_t>(next_name_, std::strtoull(name.c_str() + 1, nullptr, 10) + 1);
    }
  }
}

void FilePool::give(const std::string& path) {
  if (names_.size() < capacity_) {
    std::string name = "r" + std::to_string(next_name_++);
    if (::rename(path.c_str(), (directory_ + "/" + name).c_str()) == 0) {
      names_.push_back(std::move(name));
      return;
    }
  }
  ::unlink(path.c_str());
}

int FilePool::take(std::string& path) {
  while (!names_.empty()) {
    std::string pooled = directory_ + "/" + names_.back();
    names_.pop_back();
    const int fd = ::open(pooled.c_str(), O_RDWR | O_CLOEXEC);
    if (fd >= 0) {
      path = std::move(pooled);
      return fd;
    }
    ::unlink(pooled.c_str());  // vanished or unusable: try the next one
  }
  return -1;
}

}  // namespace policy_relay::spool
