// MessageWriter (one message being written to the spool) and MessageFile (a descriptor to read
// a stored one); the Spool that hands them out is in spool.cpp.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <limits>
#include <utility>

#include "policy_relay/spool/envelope_format.hpp"
#include "policy_relay/spool/spool.hpp"
#include "policy_relay/util/file_descriptor.hpp"
#include "policy_relay/util/posix_io.hpp"

namespace policy_relay::spool {

namespace {

std::error_code last_error() {
  return {errno, std::system_category()};
}

}  // namespace

// ---- MessageWriter ----

MessageWriter::MessageWriter(MessageWriter&& other) noexcept {
  *this = std::move(other);
}

MessageWriter& MessageWriter::operator=(MessageWriter&& other) noexcept {
  if (this != &other) {
    abort();
    fd_ = std::exchange(other.fd_, -1);
    id_ = std::move(other.id_);
    incoming_path_ = std::move(other.incoming_path_);
    buffer_ = std::move(other.buffer_);
    buffer_limit_ = other.buffer_limit_;
    header_size_ = other.header_size_;
    length_offset_ = other.length_offset_;
    stale_size_ = other.stale_size_;
    reserved_at_ = other.reserved_at_;
    reserved_size_ = other.reserved_size_;
    file_size_ = other.file_size_;
    body_size_ = other.body_size_;
    error_ = other.error_;
  }
  return *this;
}

MessageWriter::~MessageWriter() {
  abort();
}

std::error_code MessageWriter::write(std::string_view octets) {
  if (error_ || fd_ < 0) {
    return error_ ? error_ : std::make_error_code(std::errc::bad_file_descriptor);
  }
  body_size_ += octets.size();
  file_size_ += octets.size();
  if (buffer_.size() + octets.size() <= buffer_limit_) {
    buffer_.append(octets);
    return {};
  }
  if (auto ec = flush()) {
    return ec;
  }
  if (octets.size() >= buffer_limit_) {
    error_ = util::write_all(fd_, octets);
    return error_;
  }
  buffer_.append(octets);
  return {};
}

std::error_code MessageWriter::flush() {
  if (!error_ && !buffer_.empty()) {
    error_ = util::write_all(fd_, buffer_);
    buffer_.clear();
  }
  return error_;
}

std::error_code MessageWriter::read_back(const std::function<void(std::string_view)>& sink) {
  std::uint64_t next = 0;
  return read_back(sink, 0, std::numeric_limits<std::uint64_t>::max(), next);
}

std::error_code MessageWriter::read_back(const std::function<void(std::string_view)>& sink,
                                         std::uint64_t from, std::uint64_t max,
                                         std::uint64_t& next) {
  next = from;
  if (fd_ < 0 || error_) {
    return error_ ? error_ : std::make_error_code(std::errc::bad_file_descriptor);
  }
  // Message octets are at [header_size_, file_size_) of the file.
  const std::uint64_t begin = header_size_ + std::min(from, body_size_);
  const std::uint64_t end = begin + std::min(max, file_size_ - begin);
  if (buffer_.size() == file_size_) {
    // Nothing is in the file yet.
    sink(std::string_view(buffer_).substr(begin, end - begin));
    next = end - header_size_;
    return {};
  }
  if (auto ec = flush()) {
    return ec;
  }
  const util::FileDescriptor in(::open(incoming_path_.c_str(), O_RDONLY | O_CLOEXEC));
  if (in.get() < 0) {
    return last_error();
  }
  std::string chunk(64 * 1024, '\0');
  std::uint64_t offset = begin;
  while (offset < end) {
    const auto want = static_cast<std::size_t>(std::min<std::uint64_t>(chunk.size(), end - offset));
    const ssize_t n = ::pread(in.get(), chunk.data(), want, static_cast<off_t>(offset));
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      return n < 0 ? last_error() : std::make_error_code(std::errc::io_error);
    }
    sink(std::string_view(chunk.data(), static_cast<std::size_t>(n)));
    offset += static_cast<std::uint64_t>(n);
    next = offset - header_size_;
  }
  return {};
}

std::error_code MessageWriter::set_added_headers(const std::vector<std::string>& headers) {
  if (fd_ < 0 || error_) {
    return error_ ? error_ : std::make_error_code(std::errc::bad_file_descriptor);
  }
  if (reserved_size_ == 0) {
    return std::make_error_code(std::errc::invalid_argument);
  }
  std::string records;
  if (auto ec = fill_reserved_record(headers, reserved_size_, records)) {
    return ec;
  }
  const std::uint64_t buffered_from = file_size_ - buffer_.size();
  if (reserved_at_ >= buffered_from) {
    buffer_.replace(static_cast<std::size_t>(reserved_at_ - buffered_from), records.size(),
                    records);
    return {};
  }
  // Already written out: overwrite the record in place (same size, same offset).
  if (auto ec = util::pwrite_all(fd_, records, reserved_at_)) {
    error_ = ec;
    return error_;
  }
  return {};
}

void MessageWriter::abort() {
  if (fd_ >= 0) {
    ::close(fd_);
    if (!incoming_path_.empty()) {
      ::unlink(incoming_path_.c_str());
    }
    fd_ = -1;
  }
  incoming_path_.clear();
  buffer_.clear();
}

// ---- MessageFile ----

MessageFile::MessageFile(const StoredMessage& message) : kept_(message.file) {
  if (!kept_) {
    opened_ = util::FileDescriptor(::open(message.path.c_str(), O_RDONLY | O_CLOEXEC));
  }
}

}  // namespace policy_relay::spool
