#include "crypto/util.hpp"

#include <gtest/gtest.h>

#include <vector>

#include "hex.hpp"

namespace fz::crypto {
namespace {

TEST(ConstantTimeEqual, ComparesContentsAndLengths) {
  const std::vector<std::uint8_t> a = {1, 2, 3, 4};
  std::vector<std::uint8_t> b = a;
  EXPECT_TRUE(constant_time_equal(a, b));
  b[3] ^= 0x80;
  EXPECT_FALSE(constant_time_equal(a, b));
  EXPECT_FALSE(constant_time_equal(a, Bytes(a).first(3)));
  EXPECT_TRUE(constant_time_equal({}, {}));
}

TEST(SecureZero, Zeroes) {
  std::vector<std::uint8_t> v(33, 0xFF);
  secure_zero(v);
  EXPECT_EQ(v, std::vector<std::uint8_t>(33, 0));
  secure_zero(MutBytes{});  // empty is fine
}

TEST(SecretBytes, HoldsCopiesMovesAndWipes) {
  SecretBytes<4> zero;
  EXPECT_EQ(test::hex(zero.expose_secret()), "00000000");
  const std::array<std::uint8_t, 4> raw = {1, 2, 3, 4};
  SecretBytes<4> s(raw);
  SecretBytes<4> copy = s;
  EXPECT_TRUE(copy == s);
  SecretBytes<4> moved = std::move(s);
  EXPECT_TRUE(moved == copy);
  EXPECT_TRUE(s == zero);  // NOLINT(bugprone-use-after-move): moved-from secrets are wiped
  moved.expose_secret_mut()[0] = 9;
  EXPECT_FALSE(moved == copy);
  moved.wipe();
  EXPECT_TRUE(moved == zero);
  static_assert(SecretBytes<4>::size() == 4);
}

}  // namespace
}  // namespace fz::crypto
