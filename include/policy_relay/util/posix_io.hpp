#pragma once

#include <unistd.h>

#include <cerrno>
#include <cstdint>
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

// pwrite(2) of all of `octets` at `offset`, EINTR retried; the errno of a failure otherwise.
inline std::error_code pwrite_all(int fd, std::string_view octets, std::uint64_t offset) {
  while (!octets.empty()) {
    const ssize_t written = ::pwrite(fd, octets.data(), octets.size(), static_cast<off_t>(offset));
    if (written < 0) {
      if (errno == EINTR) {
        continue;
      }
      return {errno, std::system_category()};
    }
    if (written == 0) {
      return std::make_error_code(std::errc::io_error);  // never progressing: no endless loop
    }
    octets.remove_prefix(static_cast<std::size_t>(written));
    offset += static_cast<std::uint64_t>(written);
  }
  return {};
}

}  // namespace policy_relay::util
