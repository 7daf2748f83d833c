#include "policy_relay/spool/spool_files.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>

#include "policy_relay/spool/envelope_format.hpp"
#include "policy_relay/util/file_descriptor.hpp"
#include "policy_relay/util/posix_io.hpp"

namespace policy_relay::spool {

namespace {

std::error_code last_error() {
  return {errno, std::system_category()};
}

using util::FileDescriptor;
using util::write_all;

}  // namespace

std::error_code read_envelope_block(const std::string& path, std::string& block,
                                    std::uint64_t& file_size) {
  FileDescriptor file(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (file.get() < 0) {
    return last_error();
  }
  struct stat info {};
  if (::fstat(file.get(), &info) != 0) {
    return last_error();
  }
  file_size = static_cast<std::uint64_t>(info.st_size);
  block.clear();
  char buffer[16 * 1024];
  while (block.size() < max_envelope_block) {
    const ssize_t got = ::read(file.get(), buffer, sizeof buffer);
    if (got < 0) {
      if (errno == EINTR) {
        continue;
      }
      return last_error();
    }
    if (got == 0) {
      break;
    }
    const std::size_t searched_from = block.size() > 0 ? block.size() - 1 : 0;
    block.append(buffer, static_cast<std::size_t>(got));
    const auto end = block.find("\n\n", searched_from);
    if (end != std::string::npos) {
      block.resize(end + 2);
      return {};
    }
  }
  return std::make_error_code(std::errc::illegal_byte_sequence);
}

std::vector<std::string> read_lines(const std::string& path) {
  std::vector<std::string> lines;
  FileDescriptor file(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (file.get() < 0) {
    return lines;
  }
  std::string content;
  char buffer[16 * 1024];
  for (;;) {
    const ssize_t got = ::read(file.get(), buffer, sizeof buffer);
    if (got < 0 && errno == EINTR) {
      continue;
    }
    if (got <= 0) {
      break;
    }
    content.append(buffer, static_cast<std::size_t>(got));
  }
  std::size_t start = 0;
  while (start < content.size()) {
    auto end = content.find('\n', start);
    if (end == std::string::npos) {
      end = content.size();
    }
    if (end > start) {
      lines.push_back(content.substr(start, end - start));
    }
    start = end + 1;
  }
  return lines;
}

std::error_code replace_file(const std::string& path, std::string_view content) {
  const std::string temporary = path + ".tmp";
  {
    FileDescriptor file(::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    if (file.get() < 0) {
      return last_error();
    }
    if (auto ec = write_all(file.get(), content)) {
      ::unlink(temporary.c_str());
      return ec;
    }
  }
  if (::rename(temporary.c_str(), path.c_str()) != 0) {
    auto ec = last_error();
    ::unlink(temporary.c_str());
    return ec;
  }
  return {};
}

std::vector<std::string> list_directory(const std::string& path) {
  std::vector<std::string> names;
  DIR* directory = ::opendir(path.c_str());
  if (directory == nullptr) {
    return names;
  }
  while (const dirent* entry = ::readdir(directory)) {
    const std::string_view name = entry->d_name;
    if (name != "." && name != "..") {
      names.emplace_back(name);
    }
  }
  ::closedir(directory);
  return names;
}

}  // namespace policy_relay::spool
