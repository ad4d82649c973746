#include "base/buffer.hpp"

#include <gtest/gtest.h>

#include <cstring>

namespace fz {
namespace {

TEST(PacketBuffer, PrependAndAppendUseHeadroomAndTailroom) {
  PacketBuffer buf(64, 20);
  EXPECT_EQ(buf.headroom(), 20u);
  EXPECT_EQ(buf.tailroom(), 44u);
  const std::uint8_t payload[] = {1, 2, 3, 4};
  ASSERT_TRUE(buf.assign(payload, 20));
  auto header = buf.prepend(16);
  ASSERT_EQ(header.size(), 16u);
  std::memset(header.data(), 0xaa, header.size());
  auto tag = buf.append(16);
  ASSERT_EQ(tag.size(), 16u);
  std::memset(tag.data(), 0xbb, tag.size());
  EXPECT_EQ(buf.size(), 36u);
  EXPECT_EQ(buf.headroom(), 4u);
  EXPECT_EQ(buf.data()[0], 0xaa);
  EXPECT_EQ(buf.data()[16], 1);
  EXPECT_EQ(buf.data()[19], 4);
  EXPECT_EQ(buf.data()[20], 0xbb);
  // Framing that does not fit changes nothing.
  EXPECT_TRUE(buf.prepend(5).empty());
  EXPECT_EQ(buf.size(), 36u);
  EXPECT_TRUE(buf.append(100).empty());
  EXPECT_EQ(buf.size(), 36u);
}

TEST(PacketBuffer, ConsumeTruncateResize) {
  PacketBuffer buf(32, 4);
  ASSERT_TRUE(buf.resize(10));
  buf.consume_front(3);
  EXPECT_EQ(buf.size(), 7u);
  EXPECT_EQ(buf.headroom(), 7u);
  buf.truncate(5);
  EXPECT_EQ(buf.size(), 5u);
  buf.truncate(50);
  EXPECT_EQ(buf.size(), 5u);
  buf.consume_front(100);
  EXPECT_TRUE(buf.empty());
  EXPECT_FALSE(buf.resize(100));
  buf.reset(8);
  EXPECT_EQ(buf.headroom(), 8u);
  EXPECT_TRUE(buf.empty());
  const std::uint8_t big[40] = {};
  EXPECT_FALSE(buf.assign(big, 0));
}

TEST(BufferPool, RecyclesBuffersWithoutNewAllocations) {
  BufferPool pool(2048, 32, 4);
  PacketBuffer a = pool.acquire();
  PacketBuffer b = pool.acquire();
  EXPECT_EQ(a.headroom(), 32u);
  EXPECT_EQ(a.capacity(), 2048u);
  a.append(100);
  a.prepend(20);
  pool.release(std::move(a));
  pool.release(std::move(b));
  EXPECT_EQ(pool.cached(), 2u);
  EXPECT_EQ(pool.allocations(), 2u);
  for (int i = 0; i < 100; ++i) {
    PacketBuffer c = pool.acquire();
    // A recycled buffer comes back empty with the default headroom.
    EXPECT_TRUE(c.empty());
    EXPECT_EQ(c.headroom(), 32u);
    c.append(10);
    pool.release(std::move(c));
  }
  EXPECT_EQ(pool.allocations(), 2u);
}

TEST(BufferPool, CachesAtMostTheLimit) {
  BufferPool pool(128, 0, 2);
  PacketBuffer a = pool.acquire();
  PacketBuffer b = pool.acquire();
  PacketBuffer c = pool.acquire();
  pool.release(std::move(a));
  pool.release(std::move(b));
  pool.release(std::move(c));
  EXPECT_EQ(pool.cached(), 2u);
}

TEST(BufferPool, FreesBuffersSmallerThanItsOwn) {
  BufferPool pool(128, 0, 8);
  pool.release(PacketBuffer(64, 0));
  EXPECT_EQ(pool.cached(), 0u);
  pool.release(PacketBuffer(256, 0));
  EXPECT_EQ(pool.cached(), 1u);
  EXPECT_EQ(pool.acquire().capacity(), 256u);
  EXPECT_EQ(pool.allocations(), 0u);
}

}  // namespace
}  // namespace fz
