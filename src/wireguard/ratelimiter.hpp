// The node-wide handshake rate limiter (spec p2p-connections §4.5): at most `limit` handshake
// messages per one-second window; beyond that a handshake message must carry a valid mac2.
//
// Firezone's node resets the count every second from a timer. Resetting lazily when the first
// message of a new window arrives gives the same windows without a timer, so an idle node needs no
// wake-ups for it.
#pragma once

#include <chrono>
#include <cstdint>

#include "base/time.hpp"

namespace fz::wireguard {

class RateLimiter {
 public:
  RateLimiter(std::uint32_t limit, Instant now) : limit_(limit), window_start_(now) {}

  // Counts one handshake message with a valid mac1. True when the limit was already reached in
  // this window, i.e. the message must prove its source address with mac2.
  bool under_load(Instant now) {
    if (now - window_start_ >= std::chrono::seconds(1)) {
      window_start_ = now;
      count_ = 0;
    }
    return count_++ >= limit_;
  }

 private:
  std::uint32_t limit_;
  std::uint64_t count_ = 0;
  Instant window_start_;
};

}  // namespace fz::wireguard
