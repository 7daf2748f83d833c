#pragma once

#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <unordered_set>
#include <vector>

#include "policy_relay/envelope.hpp"
#include "policy_relay/spool/file_pool.hpp"
#include "policy_relay/util/file_descriptor.hpp"

namespace policy_relay::spool {

class GroupCommitter;

// A message on disk: the envelope and where the message octets begin in the file.
struct StoredMessage {
  Envelope envelope;
  std::string path;                          // the committed file: DIR/queue/ID
  std::uint64_t body_offset = 0;             // the message starts here ...
  std::uint64_t body_size = 0;               // ... and is this long (Received header included)
  std::vector<std::string> done_recipients;  // already delivered or bounced (ID.state)
  // The file, still open since the commit, so that the first delivery attempt does not open it
  // again; null after a restart, for a retry, or when the spool keeps too many open.
  std::shared_ptr<const util::FileDescriptor> file;
};

// A descriptor to read a stored message from: the one the spool kept, else `path` opened anew.
class MessageFile {
 public:
  explicit MessageFile(const StoredMessage& message);
  int get() const { return kept_ ? kept_->get() : opened_.get(); }  // -1 (errno set): failed

 private:
  std::shared_ptr<const util::FileDescriptor> kept_;
  util::FileDescriptor opened_;
};

// One message being received. Octets are written through a bounded buffer to a pooled file
// (DIR/free/rN) or a new DIR/incoming/ID; nothing is visible to recovery or delivery until
// Spool::commit() succeeds.
class MessageWriter {
 public:
  MessageWriter() = default;
  MessageWriter(MessageWriter&&) noexcept;
  MessageWriter& operator=(MessageWriter&&) noexcept;
  MessageWriter(const MessageWriter&) = delete;
  MessageWriter& operator=(const MessageWriter&) = delete;
  ~MessageWriter();  // an uncommitted message is removed

  bool is_open() const { return fd_ >= 0; }
  const std::string& id() const { return id_; }
  std::uint64_t body_size() const { return body_size_; }

  // Appends message octets. A failure (disk full, I/O error) is sticky: later writes are
  // ignored and commit() reports it.
  std::error_code write(std::string_view octets);
  // Drops the message: the partial file is removed.
  void abort();

  // Streams the message octets written so far (the envelope block excluded) to `sink`, from
  // the buffer when nothing was written to the file yet, else from the file in 64 KiB reads
  // after writing out the buffer: each octet is read once and at most 64 KiB is held.
  std::error_code read_back(const std::function<void(std::string_view)>& sink);
  // The same for at most `max` message octets from message offset `from`; `next` is where the
  // next slice starts (body_size() once everything was read). For a caller that lets other
  // work run between slices of a large message.
  std::error_code read_back(const std::function<void(std::string_view)>& sink, std::uint64_t from,
                            std::uint64_t max, std::uint64_t& next);
  // Replaces the record reserved at Spool::open (reserve > 0) with `headers`: they become the
  // envelope's added_headers. EMSGSIZE when they do not fit, EINVAL when nothing was reserved.
  std::error_code set_added_headers(const std::vector<std::string>& headers);

 private:
  friend class Spool;
  std::error_code flush();

  int fd_ = -1;
  std::string id_;
  std::string incoming_path_;  // where the file is until the commit; empty once committed
  std::string buffer_;
  std::size_t buffer_limit_ = 64 * 1024;
  std::uint64_t header_size_ = 0;    // the envelope block
  std::uint64_t reserved_at_ = 0;    // the reserved record's offset in the file ...
  std::size_t reserved_size_ = 0;    // ... and size; 0: none
  std::uint64_t length_offset_ = 0;  // where the block's `length` digits are
  std::uint64_t file_size_ = 0;      // octets written so far, envelope block included
  std::uint64_t stale_size_ = 0;     // the length of a reused file before this message
  std::uint64_t body_size_ = 0;
  std::error_code error_;
};

// The durable queue (DESIGN.md "Delivery semantics"). Layout under `directory`:
//   incoming/ID        being received (when no pooled file was free); removed at recovery
//   queue/ID           committed: envelope header, blank line, message octets
//   queue/ID.state     recipients already finished, one per line (rewritten atomically)
//   free/rN            finished files kept for reuse, and messages being received into them
//                      (see FilePool); garbage at recovery
// commit() returns only after the file's data and the queue directory entry are on disk:
// file fsync, rename into queue/, directory fsync. Concurrent commits are grouped: one thread
// syncs a whole batch, then renames the batch and syncs the directory once.
class Spool {
 public:
  struct Config {
    std::string directory;
    std::uint64_t min_free_space = 0;
    std::size_t write_buffer = 64 * 1024;  // bound on octets held per writer before write(2)
    std::size_t reusable_files = 1024;     // finished files kept for reuse (FilePool)
    std::size_t kept_open_files = 256;     // committed files kept open for delivery, at most
    // A reused file longer than its new message keeps its old length (the envelope's `length`
    // says where the message ends) unless the stale tail would pass this; it saves an
    // ftruncate() and the freeing and reallocation of blocks per message.
    std::uint64_t max_stale_tail = 128 * 1024;
  };

  // Creates the directories if needed (mode 0700) and starts the commit thread.
  explicit Spool(Config config);
  ~Spool();
  Spool(const Spool&) = delete;
  Spool& operator=(const Spool&) = delete;

  // At start-up, before any session: removes partial files (incoming/, torn queue entries) and
  // returns every committed message in arrival order.
  std::vector<StoredMessage> recover();

  // Whether the file system holding the spool has at least min_free_space available.
  bool has_free_space() const;

  // Starts a message: assigns envelope.id, writes the envelope header. The envelope's
  // recipients and sender must be final. `reserve` > 0 reserves a record of that many octets
  // for MessageWriter::set_added_headers.
  std::error_code open(Envelope& envelope, MessageWriter& writer, std::size_t reserve = 0);

  // Makes the message durable (see class comment); on success the message is in queue/ and
  // the writer holds only its descriptor (for committed()); on failure the writer is closed and
  // the file removed. Completes on `executor`.
  boost::asio::awaitable<std::error_code> commit(MessageWriter& writer,
                                                 boost::asio::any_io_executor executor);

  // Stores a whole small message (a DSN) in one call: open, write, commit.
  boost::asio::awaitable<std::error_code> store(Envelope& envelope, std::string_view message,
                                                boost::asio::any_io_executor executor);

  // The message a successful commit() of `writer` just stored, without reading it back; takes
  // the writer's descriptor (kept open for delivery, within Config::kept_open_files).
  StoredMessage committed(const Envelope& envelope, MessageWriter& writer);

  // Reads a committed message's envelope and state (for delivery after recovery or a retry).
  std::error_code load(const std::string& id, StoredMessage& out) const;

  // Records recipients as finished so that a restart does not deliver to them again.
  std::error_code mark_done(const std::string& id, const std::vector<std::string>& recipients);

  // The message is finished (delivered or bounced): removes it and its state.
  void remove(const std::string& id);

  const std::string& directory() const { return config_.directory; }
  // Batches and messages committed so far (how well concurrent commits are grouped).
  struct CommitStats {
    std::uint64_t batches = 0;
    std::uint64_t messages = 0;
    std::uint64_t largest_batch = 0;
  };
  CommitStats commit_stats() const;
  std::string queue_path(const std::string& id) const;

 private:
  std::string new_id();

  Config config_;
  std::string incoming_dir_;
  std::string queue_dir_;
  FilePool file_pool_;
  std::unordered_set<std::string> ids_with_state_;
  // statvfs() at most every 100 ms: MAIL asks for every transaction.
  mutable std::chrono::steady_clock::time_point free_space_checked_{};
  mutable bool free_space_ok_ = true;
  int queue_dir_fd_ = -1;
  // Committed files currently kept open (shared with the descriptors' deleters, which may run
  // after the spool is gone).
  std::shared_ptr<std::atomic<std::size_t>> kept_open_ =
      std::make_shared<std::atomic<std::size_t>>(0);
  std::uint64_t id_sequence_ = 0;
  std::unique_ptr<GroupCommitter> committer_;
};

}  // namespace policy_relay::spool
