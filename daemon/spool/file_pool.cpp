#include "policy_relay/spool/file_pool.hpp"

#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>

#include "policy_relay/spool/spool_files.hpp"

namespace policy_relay::spool {

FilePool::FilePool(std::string directory, std::size_t capacity)
    : directory_(std::move(directory)), capacity_(capacity) {}

void FilePool::recover() {
  names_.clear();
  for (const auto& name : list_directory(directory_)) {
    if (names_.size() < capacity_) {
      names_.push_back(name);
    } else {
      ::unlink((directory_ + "/" + name).c_str());
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

int FilePool::take(const std::string& path) {
  while (!names_.empty()) {
    const std::string pooled = directory_ + "/" + names_.back();
    names_.pop_back();
    if (::renameat2(AT_FDCWD, pooled.c_str(), AT_FDCWD, path.c_str(), RENAME_NOREPLACE) != 0) {
      if (errno == EEXIST) {
        ::unlink(pooled.c_str());
        return -1;  // `path` exists: let the caller's O_EXCL create report it
      }
      continue;  // the pooled file vanished: try the next one
    }
    const int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0) {
      ::unlink(path.c_str());
      return -1;
    }
    return fd;
  }
  return -1;
}

}  // namespace policy_relay::spool
