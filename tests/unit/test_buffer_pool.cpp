#include <doctest/doctest.h>

#include <cstring>
#include <utility>

#include "policy_relay/util/buffer_pool.hpp"

using policy_relay::util::BufferPool;

TEST_CASE("a returned buffer is handed out again, and no more spares are kept than the bound") {
  auto pool = BufferPool::create(4096, 2);
  char* first_address = nullptr;
  {
    BufferPool::Lease first = pool->take();
    REQUIRE(first);
    CHECK(first.size() == 4096);
    std::memset(first.data(), 'x', first.size());  // the whole buffer is writable
    first_address = first.data();
    CHECK(pool->spare() == 0);
  }
  CHECK(pool->spare() == 1);
  {
    BufferPool::Lease again = pool->take();
    CHECK(again.data() == first_address);  // reused, not allocated afresh
    CHECK(pool->spare() == 0);
  }
  {
    BufferPool::Lease a = pool->take();
    BufferPool::Lease b = pool->take();
    BufferPool::Lease c = pool->take();
    CHECK(a.data() != b.data());
    CHECK(b.data() != c.data());
  }
  CHECK(pool->spare() == 2);  // the third was freed
}

TEST_CASE("a lease moves, is handed back once, and may outlive the pool's owner") {
  auto pool = BufferPool::create(512, 4);
  BufferPool::Lease moved;
  CHECK_FALSE(moved);
  CHECK(moved.size() == 0);
  {
    BufferPool::Lease lease = pool->take();
    moved = std::move(lease);
  }
  CHECK(pool->spare() == 0);  // the moved-from lease handed nothing back
  REQUIRE(moved);
  moved = pool->take();  // the old buffer goes back before the new one is held
  CHECK(pool->spare() == 1);

  std::weak_ptr<BufferPool> watch = pool;
  pool.reset();
  CHECK_FALSE(watch.expired());  // the lease keeps the pool alive
  moved = BufferPool::Lease();
  CHECK(watch.expired());
}
