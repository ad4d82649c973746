#include "portal/backoff.hpp"

namespace fz::portal {
namespace {

// Uniform in [0, 1) with 53 bits of precision, like rand's f64 sampling.
double unit_interval(Rng& rng) {
  return static_cast<double>(rng.next_u64() >> 11) * 0x1.0p-53;
}

Duration from_nanos(double nanos) {
  return Duration(static_cast<Duration::rep>(nanos));
}

}  // namespace

std::optional<Duration> Backoff::next(Instant now, Rng& rng) {
  const Duration elapsed = now - start_;
  if (elapsed > config_.max_elapsed) return std::nullopt;

  // backoff 0.4 `get_random_value_from_interval`, in nanoseconds; the +1 makes both bounds
  // reachable.
  const double current = static_cast<double>(current_.count());
  const double delta = config_.randomization_factor * current;
  const double min_interval = current - delta;
  const double max_interval = current + delta;
  const Duration delay =
      from_nanos(min_interval + unit_interval(rng) * (max_interval - min_interval + 1.0));

  // `increment_current_interval`: jump to the cap once another step would pass it.
  const double max = static_cast<double>(config_.max_interval.count());
  if (current >= max / config_.multiplier) {
    current_ = config_.max_interval;
  } else {
    current_ = from_nanos(current * config_.multiplier);
  }

  if (elapsed + delay > config_.max_elapsed) return std::nullopt;
  return delay;
}

}  // namespace fz::portal
