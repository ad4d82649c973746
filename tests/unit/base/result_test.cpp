#include "base/result.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <string>

namespace fz {
namespace {

Result<int> parse_digit(char c) {
  if (c < '0' || c > '9') return Error(Errc::malformed, "not a digit");
  return c - '0';
}

Status check_all(std::string_view s) {
  for (char c : s)
    FZ_TRY_STATUS([&]() -> Status {
      auto d = parse_digit(c);
      if (!d) return d.error();
      return {};
    }());
  return {};
}

TEST(Result, HoldsValueOrError) {
  auto ok = parse_digit('7');
  ASSERT_TRUE(ok);
  EXPECT_EQ(*ok, 7);
  auto bad = parse_digit('x');
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code(), Errc::malformed);
  EXPECT_EQ(bad.error().message(), "not a digit");
  EXPECT_EQ(bad.value_or(-1), -1);
}

TEST(Result, ErrorDetailIsOptional) {
  Error plain(Errc::truncated, "short");
  EXPECT_EQ(plain.to_string(), "short");
  Error detailed(Errc::config, "bad value", "FIREZONE_ID");
  EXPECT_EQ(detailed.to_string(), "bad value: FIREZONE_ID");
  EXPECT_EQ(to_string(Errc::checksum), "checksum");
}

TEST(Result, MoveOnlyValuesAndConversions) {
  Result<std::unique_ptr<int>> r = std::make_unique<int>(5);
  ASSERT_TRUE(r);
  auto p = std::move(r).value();
  EXPECT_EQ(*p, 5);
  Result<std::string> s = "text";  // converting constructor
  EXPECT_EQ(s->size(), 4u);
}

TEST(Result, StatusPropagates) {
  EXPECT_TRUE(check_all("0123"));
  auto st = check_all("01a3");
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code(), Errc::malformed);
}

}  // namespace
}  // namespace fz
