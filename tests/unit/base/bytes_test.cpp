#include "base/bytes.hpp"

#include <gtest/gtest.h>

namespace fz {
namespace {

TEST(Bytes, BigEndianRoundTrips) {
  std::uint8_t buf[8] = {};
  store_be16(buf, 0x1234);
  EXPECT_EQ(buf[0], 0x12);
  EXPECT_EQ(buf[1], 0x34);
  EXPECT_EQ(load_be16(buf), 0x1234);
  store_be32(buf, 0xdeadbeef);
  EXPECT_EQ(buf[0], 0xde);
  EXPECT_EQ(buf[3], 0xef);
  EXPECT_EQ(load_be32(buf), 0xdeadbeefu);
  store_be64(buf, 0x0102030405060708ULL);
  EXPECT_EQ(buf[0], 0x01);
  EXPECT_EQ(buf[7], 0x08);
  EXPECT_EQ(load_be64(buf), 0x0102030405060708ULL);
}

TEST(Bytes, LittleEndianRoundTrips) {
  std::uint8_t buf[9] = {};
  store_le32(buf + 1, 0x04030201);  // unaligned on purpose
  EXPECT_EQ(buf[1], 0x01);
  EXPECT_EQ(buf[4], 0x04);
  EXPECT_EQ(load_le32(buf + 1), 0x04030201u);
  store_le64(buf + 1, 0x0807060504030201ULL);
  EXPECT_EQ(buf[1], 0x01);
  EXPECT_EQ(buf[8], 0x08);
  EXPECT_EQ(load_le64(buf + 1), 0x0807060504030201ULL);
}

}  // namespace
}  // namespace fz
