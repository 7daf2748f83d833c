#pragma once

#include <cstddef>
#include <memory>
#include <vector>

namespace policy_relay::util {

// Equal-sized byte buffers kept for reuse. A connection's 64 KiB read buffer, allocated and
// zero-filled per connection, went back to the kernel whenever the allocator trimmed its heap
// and came back as page faults: about one fault per message under the benchmark load, and a
// fault costs ~10 us on the benchmark VM (README.md "Performance", "The CPU").
// A pooled buffer is neither zero-filled nor freed. At most `max_spare` idle buffers are kept
// (a bound on the memory the pool holds); more are freed when returned.
// Not thread-safe: one event loop's thread. Leases may outlive the owner of the pool.
class BufferPool : public std::enable_shared_from_this<BufferPool> {
 public:
  // A buffer taken from the pool; handed back when the lease ends.
  class Lease {
   public:
    Lease() = default;
    Lease(Lease&&) noexcept = default;
    Lease& operator=(Lease&& other) noexcept {
      if (this != &other) {
        give_back();
        pool_ = std::move(other.pool_);
        buffer_ = std::move(other.buffer_);
      }
      return *this;
    }
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    ~Lease() { give_back(); }

    char* data() const { return buffer_.get(); }
    std::size_t size() const { return buffer_ ? pool_->buffer_size_ : 0; }
    explicit operator bool() const { return buffer_ != nullptr; }

   private:
    friend class BufferPool;
    Lease(std::shared_ptr<BufferPool> pool, std::unique_ptr<char[]> buffer)
        : pool_(std::move(pool)), buffer_(std::move(buffer)) {}
    void give_back() {
      if (buffer_) {
        pool_->put(std::move(buffer_));
      }
    }
    std::shared_ptr<BufferPool> pool_;
    std::unique_ptr<char[]> buffer_;
  };

  static std::shared_ptr<BufferPool> create(std::size_t buffer_size, std::size_t max_spare) {
    return std::shared_ptr<BufferPool>(new BufferPool(buffer_size, max_spare));
  }

  // A spare buffer, else a new one; its contents are unspecified.
  Lease take() {
    std::unique_ptr<char[]> buffer;
    if (spare_.empty()) {
      buffer = std::make_unique_for_overwrite<char[]>(buffer_size_);
    } else {
      buffer = std::move(spare_.back());
      spare_.pop_back();
    }
    return Lease(shared_from_this(), std::move(buffer));
  }

  std::size_t buffer_size() const { return buffer_size_; }
  std::size_t spare() const { return spare_.size(); }

 private:
  BufferPool(std::size_t buffer_size, std::size_t max_spare)
      : buffer_size_(buffer_size), max_spare_(max_spare) {
    spare_.reserve(max_spare);
  }
  void put(std::unique_ptr<char[]> buffer) {
    if (spare_.size() < max_spare_) {
      spare_.push_back(std::move(buffer));
    }
  }

  std::size_t buffer_size_;
  std::size_t max_spare_;
  std::vector<std::unique_ptr<char[]>> spare_;
};

}  // namespace policy_relay::util
