#include "policy_relay/spool/spool.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/async_result.hpp>
#include <boost/asio/execution/outstanding_work.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/prefer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <stdexcept>

#include "policy_relay/log/log.hpp"
#include "policy_relay/spool/envelope_format.hpp"
#include "policy_relay/spool/group_committer.hpp"
#include "policy_relay/spool/spool_files.hpp"
#include "policy_relay/util/file_descriptor.hpp"
#include "policy_relay/util/posix_io.hpp"

namespace asio = boost::asio;

namespace policy_relay::spool {

namespace {

std::error_code last_error() {
  return {errno, std::system_category()};
}

void make_directory(const std::string& path) {
  if (::mkdir(path.c_str(), 0700) != 0 && errno != EEXIST) {
    throw std::runtime_error("cannot create spool directory " + path + ": " +
                             last_error().message());
  }
}

std::string hex_id(std::uint64_t value) {
  char text[17];
  std::snprintf(text, sizeof text, "%013llX", static_cast<unsigned long long>(value));
  return text;
}

}  // namespace

// ---- Spool ----

Spool::Spool(Config config)
    : config_(std::move(config)),
      incoming_dir_(config_.directory + "/incoming"),
      queue_dir_(config_.directory + "/queue"),
      file_pool_(config_.directory + "/free", config_.reusable_files) {
  make_directory(config_.directory);
  make_directory(incoming_dir_);
  make_directory(queue_dir_);
  make_directory(config_.directory + "/free");
  queue_dir_fd_ = ::open(queue_dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (queue_dir_fd_ < 0) {
    throw std::runtime_error("cannot open " + queue_dir_ + ": " + last_error().message());
  }
  committer_ = std::make_unique<GroupCommitter>(queue_dir_fd_);
}

Spool::~Spool() {
  committer_.reset();
  ::close(queue_dir_fd_);
}

Spool::CommitStats Spool::commit_stats() const {
  const auto stats = committer_->stats();
  return {stats.batches, stats.jobs, stats.largest_batch};
}

std::string Spool::queue_path(const std::string& id) const {
  return queue_dir_ + "/" + id;
}

std::string Spool::new_id() {
  // Ids sort in arrival order: microseconds since the epoch, strictly increasing in a process.
  const auto now = std::chrono::duration_cast<std::chrono::microseconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
  id_sequence_ = std::max<std::uint64_t>(id_sequence_ + 1, static_cast<std::uint64_t>(now));
  return hex_id(id_sequence_);
}

bool Spool::has_free_space() const {
  if (config_.min_free_space == 0) {
    return true;
  }
  const auto now = std::chrono::steady_clock::now();
  if (now - free_space_checked_ < std::chrono::milliseconds(100)) {
    return free_space_ok_;
  }
  free_space_checked_ = now;
  struct statvfs info {};
  if (::statvfs(config_.directory.c_str(), &info) != 0) {
    free_space_ok_ = false;
  } else {
    const std::uint64_t available = static_cast<std::uint64_t>(info.f_bavail) * info.f_frsize;
    free_space_ok_ = available >= config_.min_free_space;
  }
  return free_space_ok_;
}

std::error_code Spool::open(Envelope& envelope, MessageWriter& writer, std::size_t reserve) {
  writer.abort();
  for (int attempt = 0; attempt < 16; ++attempt) {
    envelope.id = new_id();
    std::string header;
    std::size_t length_offset = 0;
    if (auto ec = serialize_envelope(envelope, header, reserve, length_offset)) {
      return ec;
    }
    std::string path;
    std::uint64_t stale_size = 0;
    int fd = file_pool_.take(path);
    if (fd >= 0) {
      struct stat info {};
      stale_size = ::fstat(fd, &info) == 0 ? static_cast<std::uint64_t>(info.st_size) : ~0ULL;
    } else {
      path = incoming_dir_ + "/" + envelope.id;
      fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    }
    if (fd < 0) {
      if (errno == EEXIST) {
        continue;  // the clock went back and met an old id: take the next one
      }
      return last_error();
    }
    writer.fd_ = fd;
    writer.id_ = envelope.id;
    writer.incoming_path_ = path;
    writer.buffer_limit_ = config_.write_buffer;
    writer.header_size_ = header.size();
    writer.length_offset_ = length_offset;
    writer.file_size_ = header.size();
    writer.stale_size_ = stale_size;
    // The reserved record is the last of the block, before its blank line.
    writer.reserved_size_ = reserve > 0 ? std::max(reserve, min_reserved_record) : 0;
    writer.reserved_at_ = header.size() - 1 - writer.reserved_size_;
    writer.buffer_ = std::move(header);
    writer.body_size_ = 0;
    writer.error_ = {};
    return {};
  }
  return std::make_error_code(std::errc::file_exists);
}

asio::awaitable<std::error_code> Spool::commit(MessageWriter& writer,
                                               asio::any_io_executor executor) {
  if (!writer.is_open()) {
    co_return std::make_error_code(std::errc::bad_file_descriptor);
  }
  // The envelope block records where the message ends: patched in the buffer while the head of
  // the file is still there (a message under the write buffer: no extra system call), else in
  // the file, before the sync.
  const std::string length = format_length(writer.body_size_);
  std::error_code ec = writer.error_;
  const std::uint64_t buffered_from = writer.file_size_ - writer.buffer_.size();
  if (!ec && writer.length_offset_ >= buffered_from) {
    writer.buffer_.replace(static_cast<std::size_t>(writer.length_offset_ - buffered_from),
                           length.size(), length);
    ec = writer.flush();
  } else if (!ec && !(ec = writer.flush())) {
    ec = util::pwrite_all(writer.fd_, length, writer.length_offset_);
  }
  // A reused file longer than this message keeps its stale tail (Config::max_stale_tail) unless
  // that tail is long: then it is cut.
  if (!ec && writer.stale_size_ > writer.file_size_ &&
      writer.stale_size_ - writer.file_size_ > config_.max_stale_tail &&
      ::ftruncate(writer.fd_, static_cast<off_t>(writer.file_size_)) != 0) {
    ec = last_error();
  }
  if (ec) {
    writer.abort();
    co_return ec;
  }
  GroupCommitter::Job job;
  job.fd = writer.fd_;  // still the writer's: the committer only syncs it
  job.incoming_path = writer.incoming_path_;
  job.queue_path = queue_path(writer.id_);

  auto result = co_await asio::async_initiate<decltype(asio::use_awaitable), void(std::error_code)>(
      [this, &job, executor](auto handler) mutable {
        // Keep the event loop alive while the commit is in flight; complete on `executor`.
        auto tracked = asio::prefer(executor, asio::execution::outstanding_work.tracked);
        auto shared = std::make_shared<decltype(handler)>(std::move(handler));
        job.done = [shared, tracked](std::error_code ec) {
          asio::post(tracked, [shared, ec]() mutable { (*shared)(ec); });
        };
        committer_->submit(std::move(job));
      },
      asio::use_awaitable);
  if (result) {
    writer.abort();
  } else {
    writer.incoming_path_.clear();  // in queue/ now: closing the writer must not remove it
  }
  co_return result;
}

asio::awaitable<std::error_code> Spool::store(Envelope& envelope, std::string_view message,
                                              asio::any_io_executor executor) {
  MessageWriter writer;
  if (auto ec = open(envelope, writer)) {
    co_return ec;
  }
  if (auto ec = writer.write(message)) {
    co_return ec;
  }
  co_return co_await commit(writer, executor);
}

StoredMessage Spool::committed(const Envelope& envelope, MessageWriter& writer) {
  StoredMessage message;
  message.envelope = envelope;
  message.path = queue_path(envelope.id);
  message.body_offset = writer.header_size_;
  message.body_size = writer.body_size_;
  if (writer.fd_ >= 0 && writer.incoming_path_.empty() &&
      kept_open_->load(std::memory_order_relaxed) < config_.kept_open_files) {
    kept_open_->fetch_add(1, std::memory_order_relaxed);
    message.file = std::shared_ptr<const util::FileDescriptor>(
        new util::FileDescriptor(std::exchange(writer.fd_, -1)),
        [count = kept_open_](const util::FileDescriptor* file) {
          delete file;
          count->fetch_sub(1, std::memory_order_relaxed);
        });
  }
  writer.abort();  // closes a descriptor not kept; the file itself stays in queue/
  return message;
}

std::error_code Spool::load(const std::string& id, StoredMessage& out) const {
  const std::string path = queue_path(id);
  std::string block;
  std::uint64_t file_size = 0;
  if (auto ec = read_envelope_block(path, block, file_size)) {
    return ec;
  }
  StoredMessage message;
  std::optional<std::uint64_t> length;
  if (auto ec = parse_envelope(block, message.envelope, length)) {
    return ec;
  }
  const std::uint64_t available = file_size - block.size();
  if (length && *length > available) {
    return std::make_error_code(std::errc::io_error);  // shorter than its envelope says
  }
  message.path = path;
  message.body_offset = block.size();
  message.body_size = length ? *length : available;
  if (ids_with_state_.contains(id)) {
    message.done_recipients = read_lines(path + ".state");
  }
  out = std::move(message);
  return {};
}

std::error_code Spool::mark_done(const std::string& id,
                                 const std::vector<std::string>& recipients) {
  const std::string state_path = queue_path(id) + ".state";
  std::vector<std::string> done = read_lines(state_path);
  done.insert(done.end(), recipients.begin(), recipients.end());
  std::string text;
  for (const auto& recipient : done) {
    text.append(recipient).append("\n");
  }
  // Not fsynced: losing it in a crash only means a recipient may get the message twice.
  ids_with_state_.insert(id);
  return replace_file(state_path, text);
}

void Spool::remove(const std::string& id) {
  const std::string path = queue_path(id);
  if (ids_with_state_.erase(id) > 0) {
    ::unlink((path + ".state").c_str());
  }
  file_pool_.give(path);
}

std::vector<StoredMessage> Spool::recover() {
  for (const auto& name : list_directory(incoming_dir_)) {
    ::unlink((incoming_dir_ + "/" + name).c_str());
    log::Event("spool_recover", log::Level::info).add("removed", "incoming/" + name);
  }
  std::vector<std::string> names = list_directory(queue_dir_);
  std::sort(names.begin(), names.end());
  std::unordered_set<std::uint64_t> queued_inodes;
  for (const auto& name : names) {
    struct stat info {};
    if (::stat((queue_dir_ + "/" + name).c_str(), &info) == 0) {
      queued_inodes.insert(static_cast<std::uint64_t>(info.st_ino));
    }
  }
  file_pool_.recover(queued_inodes);
  // First the side files, so that load() below sees which messages have recorded progress.
  for (const auto& name : names) {
    const std::string path = queue_dir_ + "/" + name;
    if (name.ends_with(".state")) {
      if (::access(path.substr(0, path.size() - 6).c_str(), F_OK) != 0) {
        ::unlink(path.c_str());  // its message was finished before the crash
      } else {
        ids_with_state_.insert(name.substr(0, name.size() - 6));
      }
    } else if (name.ends_with(".tmp")) {
      ::unlink(path.c_str());
    }
  }
  std::vector<StoredMessage> messages;
  for (const auto& name : names) {
    const std::string path = queue_dir_ + "/" + name;
    if (name.ends_with(".state") || name.ends_with(".tmp")) {
      continue;
    }
    StoredMessage message;
    if (auto ec = load(name, message); ec || message.envelope.id != name) {
      // Never delete what may be someone's mail: set it aside for the operator.
      const std::string corrupt_dir = config_.directory + "/corrupt";
      make_directory(corrupt_dir);
      ::rename(path.c_str(), (corrupt_dir + "/" + name).c_str());
      log::Event("spool_corrupt", log::Level::error).add("file", path).add("moved_to", corrupt_dir);
      continue;
    }
    std::uint64_t sequence = 0;
    std::from_chars(name.data(), name.data() + name.size(), sequence, 16);
    id_sequence_ = std::max(id_sequence_, sequence);
    messages.push_back(std::move(message));
  }
  return messages;
}

}  // namespace policy_relay::spool
