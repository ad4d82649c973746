// Time as the sans-IO core sees it: always passed in, never read.
//
// `Instant` is a point on a monotonic clock with nanosecond resolution. The core only compares
// and offsets instants; the runtime maps the OS monotonic clock onto it, and tests drive a
// virtual clock. `UnixTime` is wall-clock time, used only for expiries that the portal states as
// Unix timestamps.
#pragma once

#include <chrono>
#include <cstdint>

namespace fz {

// A clock type with no now(): nothing in the core can ask it for the time.
struct MonotonicClock {
  using duration = std::chrono::nanoseconds;
  using rep = duration::rep;
  using period = duration::period;
  using time_point = std::chrono::time_point<MonotonicClock>;
  static constexpr bool is_steady = true;
};

using Duration = std::chrono::nanoseconds;
using Instant = MonotonicClock::time_point;

// Seconds since the Unix epoch (UTC).
using UnixTime = std::chrono::sys_seconds;

using namespace std::chrono_literals;

constexpr Instant instant_from_nanos(std::int64_t ns) {
  return Instant(Duration(ns));
}
constexpr std::int64_t nanos_since_origin(Instant t) {
  return t.time_since_epoch().count();
}
constexpr UnixTime unix_from_seconds(std::int64_t s) {
  return UnixTime(std::chrono::seconds(s));
}

// Milliseconds as a double, for logs.
constexpr double to_millis(Duration d) {
  return std::chrono::duration<double, std::milli>(d).count();
}

}  // namespace fz
