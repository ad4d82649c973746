// Reconnect backoff, exactly as the reference's `backoff` 0.4 ExponentialBackoff with its
// defaults and a 15-minute limit (spec/portal-protocol.md §3.2).
//
// Each call to next() returns a delay drawn uniformly from [0.5·c, 1.5·c] (c = the current
// interval, starting at 500 ms) and then advances c by ×1.5, capped at 60 s. Once more than 15
// minutes have passed since the backoff was created, or the delay would end after that, it
// returns nullopt: retries are exhausted.
#pragma once

#include <optional>

#include "base/rng.hpp"
#include "base/time.hpp"

namespace fz::portal {

struct BackoffConfig {
  Duration initial_interval = std::chrono::milliseconds(500);
  double randomization_factor = 0.5;
  double multiplier = 1.5;
  Duration max_interval = std::chrono::seconds(60);
  Duration max_elapsed = std::chrono::minutes(15);
};

class Backoff {
 public:
  Backoff(const BackoffConfig& config, Instant start)
      : config_(config), start_(start), current_(config.initial_interval) {}

  std::optional<Duration> next(Instant now, Rng& rng);

  Duration current_interval() const { return current_; }
  Instant start() const { return start_; }
  Duration max_elapsed() const { return config_.max_elapsed; }

 private:
  BackoffConfig config_;
  Instant start_;
  Duration current_;
};

}  // namespace fz::portal
