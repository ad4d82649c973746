#include "net/checksum.hpp"

#include <gtest/gtest.h>

#include <random>
#include <vector>

namespace fz::net {
namespace {

// RFC 1071 §3's example: the words 0001 f203 f4f5 f6f7 sum to ddf2.
TEST(Checksum, Rfc1071Example) {
  const std::uint8_t data[] = {0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7};
  EXPECT_EQ(checksum_partial(data), 0xddf2u);
  EXPECT_EQ(internet_checksum(data), 0x220d);
}

// The IPv4 header from Wikipedia's "IPv4 header checksum" article.
TEST(Checksum, Ipv4HeaderExample) {
  std::uint8_t header[] = {0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11,
                           0x00, 0x00, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7};
  EXPECT_EQ(internet_checksum(header), 0xb861);
  header[10] = 0xb8;
  header[11] = 0x61;
  EXPECT_EQ(checksum_partial(header), 0xffffu);  // a correct header sums to -0
}

TEST(Checksum, OddLengthPadsWithZero) {
  const std::uint8_t odd[] = {0x12, 0x34, 0x56};
  const std::uint8_t even[] = {0x12, 0x34, 0x56, 0x00};
  EXPECT_EQ(checksum_partial(odd), checksum_partial(even));
  EXPECT_EQ(checksum_partial(odd), 0x6834u);
}

std::uint32_t reference_sum(const std::vector<std::uint8_t>& d) {
  std::uint64_t s = 0;
  for (std::size_t i = 0; i < d.size(); i += 2) {
    s += (std::uint32_t{d[i]} << 8) | (i + 1 < d.size() ? d[i + 1] : 0);
  }
  while (s >> 16)
    s = (s & 0xffff) + (s >> 16);
  return static_cast<std::uint32_t>(s);
}

TEST(Checksum, FastSumMatchesWordByWordSum) {
  std::mt19937 rng(7);
  for (std::size_t len = 0; len < 300; ++len) {
    std::vector<std::uint8_t> d(len);
    for (auto& b : d)
      b = static_cast<std::uint8_t>(rng());
    const std::uint32_t expected = reference_sum(d);
    const std::uint32_t got = checksum_partial(d);
    // 0 and 0xffff are the same number in ones' complement; only all-zero data sums to +0.
    EXPECT_EQ(got == 0xffff ? 0u : got, expected == 0xffff ? 0u : expected) << len;
  }
  std::vector<std::uint8_t> ones(1500, 0xff);
  EXPECT_EQ(checksum_partial(ones), 0xffffu);
}

TEST(Checksum, IncrementalMatchesRecompute) {
  std::mt19937 rng(9);
  for (int i = 0; i < 1000; ++i) {
    std::vector<std::uint8_t> d(40);
    for (auto& b : d)
      b = static_cast<std::uint8_t>(rng());
    const std::uint16_t before = internet_checksum(d);
    const std::size_t at = 2 * (rng() % 16);
    const std::uint8_t old_bytes[4] = {d[at], d[at + 1], d[at + 2], d[at + 3]};
    std::uint8_t new_bytes[4];
    for (auto& b : new_bytes)
      b = static_cast<std::uint8_t>(rng());
    std::copy(new_bytes, new_bytes + 4, d.begin() + static_cast<std::ptrdiff_t>(at));
    const std::uint16_t updated = checksum_update(before, old_bytes, new_bytes);
    const std::uint16_t full = internet_checksum(d);
    EXPECT_TRUE(updated == full || (updated == 0 && full == 0xffff) ||
                (updated == 0xffff && full == 0))
        << i;
    EXPECT_EQ(checksum_update16(before, load_be16(old_bytes), load_be16(new_bytes)),
              checksum_update(before, Bytes(old_bytes, 2), Bytes(new_bytes, 2)));
  }
}

TEST(Checksum, PseudoHeader) {
  // 10.0.0.1 -> 10.0.0.2, UDP, length 13: 0a00+0001+0a00+0002+0011+000d.
  EXPECT_EQ(pseudo_header_sum(IpAddr::v4(10, 0, 0, 1), IpAddr::v4(10, 0, 0, 2), 17, 13),
            0x0a00u + 0x0001u + 0x0a00u + 0x0002u + 0x0011u + 0x000du);
  const IpAddr a = IpAddr::v6(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);
  EXPECT_EQ(pseudo_header_sum(a, a, 58, 0x10008),
            checksum_fold(2ull * (0x2001 + 0xdb8 + 1) + 58 + 1 + 8));
}

}  // namespace
}  // namespace fz::net
