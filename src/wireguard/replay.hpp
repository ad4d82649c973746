// The sliding window of received message counters (the WireGuard paper §5.4.6, RFC 6479): a ring
// of 64-bit words indexed by counter, so accepting a counter is O(1) and moving the window forward
// clears at most the whole ring once.
//
// The window is checked twice: may_accept() before decryption, so that replays and stale packets
// cost no crypto, and mark() after the tag verified, so a forged packet with a huge counter can
// never move the window.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>

#include "wireguard/constants.hpp"

namespace fz::wireguard {

class ReplayWindow {
 public:
  static constexpr std::size_t kBits = 4096;
  // Counters up to this far below the highest one received are still accepted (once each). One
  // word of the ring is always being reused for new counters, hence the 64.
  static constexpr std::uint64_t kWindow = kBits - 64;

  bool may_accept(std::uint64_t counter) const {
    if (counter >= kRejectAfterMessages) return false;
    if (counter >= next_) return true;
    if (next_ - 1 - counter > kWindow) return false;
    return !test(counter);
  }

  // Records an authenticated counter. False if it was a replay or too old after all.
  bool mark(std::uint64_t counter) {
    if (counter >= kRejectAfterMessages) return false;
    if (counter >= next_) {
      const std::uint64_t top_word = next_ == 0 ? 0 : (next_ - 1) / 64;
      const std::uint64_t new_word = counter / 64;
      const std::uint64_t to_clear = std::min<std::uint64_t>(new_word - top_word, kWords);
      for (std::uint64_t i = 1; i <= to_clear; ++i)
        words_[(top_word + i) % kWords] = 0;
      next_ = counter + 1;
    } else if (next_ - 1 - counter > kWindow || test(counter)) {
      return false;
    }
    words_[(counter / 64) % kWords] |= std::uint64_t{1} << (counter % 64);
    return true;
  }

  // One past the highest counter received, 0 before the first.
  std::uint64_t next() const { return next_; }

 private:
  static constexpr std::size_t kWords = kBits / 64;

  bool test(std::uint64_t counter) const {
    return (words_[(counter / 64) % kWords] >> (counter % 64)) & 1;
  }

  std::uint64_t next_ = 0;
  std::array<std::uint64_t, kWords> words_{};
};

}  // namespace fz::wireguard
