#include "base/uuid.hpp"

#include <gtest/gtest.h>

#include <unordered_set>

namespace fz {
namespace {

TEST(Uuid, ParsesAndFormatsLowercase) {
  auto id = Uuid::parse("6BA7B810-9DAD-11D1-80B4-00C04FD430C8");
  ASSERT_TRUE(id);
  EXPECT_EQ(id->to_string(), "6ba7b810-9dad-11d1-80b4-00c04fd430c8");
  EXPECT_EQ(id->bytes()[0], 0x6b);
  EXPECT_EQ(id->bytes()[15], 0xc8);
  EXPECT_FALSE(id->is_nil());
  EXPECT_TRUE(Uuid().is_nil());
}

TEST(Uuid, RejectsMalformed) {
  EXPECT_FALSE(Uuid::parse(""));
  EXPECT_FALSE(Uuid::parse("6ba7b8109dad11d180b400c04fd430c8"));       // no hyphens
  EXPECT_FALSE(Uuid::parse("6ba7b810-9dad-11d1-80b4-00c04fd430c"));    // short
  EXPECT_FALSE(Uuid::parse("6ba7b810-9dad-11d1-80b4-00c04fd430c8a"));  // long
  EXPECT_FALSE(Uuid::parse("6ba7b810+9dad-11d1-80b4-00c04fd430c8"));   // wrong separator
  EXPECT_FALSE(Uuid::parse("6ba7b810-9dad-11d1-80b4-00c04fd430cg"));   // not hex
  EXPECT_FALSE(Uuid::parse("6ba7b81-09dad-11d1-80b4-00c04fd430c8"));   // misplaced hyphen
}

TEST(Uuid, HashAndOrder) {
  auto a = *Uuid::parse("00000000-0000-0000-0000-000000000001");
  auto b = *Uuid::parse("00000000-0000-0000-0000-000000000002");
  EXPECT_LT(a, b);
  std::unordered_set<Uuid> set{a, b, a};
  EXPECT_EQ(set.size(), 2u);
}

}  // namespace
}  // namespace fz
