#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "policy_relay/upstream/dsn.hpp"

namespace policy_relay::upstream {

std::error_code read_header_block(const spool::StoredMessage& message, std::string& headers,
                                  std::size_t limit) {
  headers.clear();
  const int fd = ::open(message.path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return {errno, std::system_category()};
  }
  const std::size_t wanted = static_cast<std::size_t>(
      std::min<std::uint64_t>(message.body_size, static_cast<std::uint64_t>(limit)));
  std::string buffer(wanted, '\0');
  std::size_t have = 0;
  std::error_code error;
  while (have < wanted) {
    const ssize_t n = ::pread(fd, buffer.data() + have, wanted - have,
                              static_cast<off_t>(message.body_offset + have));
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0) {
      error = {errno, std::system_category()};
      break;
    }
    if (n == 0) {
      break;  // shorter than recorded: keep what is there
    }
    have += static_cast<std::size_t>(n);
  }
  ::close(fd);
  if (error) {
    return error;
  }
  buffer.resize(have);
  if (buffer.starts_with("\r\n")) {
    return {};  // no header fields at all
  }
  if (const std::size_t end = buffer.find("\r\n\r\n"); end != std::string::npos) {
    buffer.resize(end + 2);
  } else if (have < message.body_size) {
    // Cut at the limit: keep whole lines only.
    const std::size_t last = buffer.rfind("\r\n");
    buffer.resize(last == std::string::npos ? 0 : last + 2);
  }
  headers = std::move(buffer);
  return {};
}

}  // namespace policy_relay::upstream
