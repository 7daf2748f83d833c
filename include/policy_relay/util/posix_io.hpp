#pragma once

#include <unistd.h>

#include <cerrno>
#include <string_view>
#include <system_error>

namespace policy_relay::util {

// write(2) until all of `octets` is written, EINTR retried; the errno of a failure otherwise.
inline std::error_code write_all(int fd, std::string_view octets) {
  while (!octets.empty()) {
    const ssize_t written = ::write(fd, octets.data(), octets.size());
    if (written < 0) {
      if (errno == EINTR) {
        continue;
      }
      return {errno, std::system_category()};
    }
    octets.remove_prefix(static_cast<std::size_t>(written));
  }
  return {};
}

}  // namespace policy_relay::util
