#pragma once

#include <cstdint>
#include <string>
#include <unordered_set>
#include <vector>

namespace policy_relay::spool {

// Finished spool files kept for reuse. Creating and deleting a file per message makes the file
// system allocate and free an inode each time; on ext4 without a journal the allocator then
// scans past every recently freed inode, and that scan was the largest single cost of a
// message (measured: ~350 us per create+unlink under load against ~45 us for a reused file).
// A reused file is written where it lies (no rename into incoming/), overwritten from offset 0,
// cut to its new length before it is synced, and renamed from the pool straight into queue/.
// Not thread-safe: the event loop's thread only.
class FilePool {
 public:
  FilePool(std::string directory, std::size_t capacity);

  // At start-up: adopts the files left in the pool directory (up to capacity; the rest are
  // removed). A pooled name whose inode is in `queued_inodes` is removed, never adopted: a
  // crash between a rename out of (or into) the pool and the sync of the pool directory can
  // leave the old name beside the new one, and reusing it would overwrite a queued message.
  void recover(const std::unordered_set<std::uint64_t>& queued_inodes);

  // Takes over a finished file: renamed into the pool, or removed when the pool is full.
  void give(const std::string& path);

  // Opens a pooled file where it lies, for reading and writing at offset 0, and hands it out
  // (it leaves the pool; `path` receives its name). Returns -1 when the pool is empty or no
  // pooled file can be opened; the caller then creates a new file.
  int take(std::string& path);

  std::size_t size() const { return names_.size(); }

 private:
  std::string directory_;
  std::size_t capacity_;
  std::vector<std::string> names_;
  std::uint64_t next_name_ = 0;
};

}  // namespace policy_relay::spool
