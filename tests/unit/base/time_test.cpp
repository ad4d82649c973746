#include "base/time.hpp"

#include <gtest/gtest.h>

namespace fz {
namespace {

TEST(Time, InstantArithmeticOnAVirtualClock) {
  const Instant start = instant_from_nanos(1'000);
  const Instant later = start + 5s + 333ms;
  EXPECT_EQ(later - start, Duration(5'333'000'000));
  EXPECT_LT(start, later);
  EXPECT_EQ(nanos_since_origin(later), 5'333'001'000);
  EXPECT_DOUBLE_EQ(to_millis(later - start), 5333.0);
  static_assert(MonotonicClock::is_steady);
}

TEST(Time, UnixTimeFromSeconds) {
  const UnixTime t = unix_from_seconds(1'700'000'000);
  EXPECT_EQ(t.time_since_epoch().count(), 1'700'000'000);
  EXPECT_EQ((t + std::chrono::hours(1)).time_since_epoch().count(), 1'700'003'600);
}

}  // namespace
}  // namespace fz
