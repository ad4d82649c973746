// Receiver indices (spec p2p-connections §4.2). A 32-bit index is a 24-bit connection id shifted
// left by 8, or'ed with an 8-bit session counter that the Tunnel increments before each handshake
// message it sends. Received responses, cookie replies and data are routed by `index >> 8`.
//
// Connection ids come from a maximal-length 24-bit Galois LFSR started at a random state and
// XORed with a random mask, so consecutive ids look unrelated and do not reveal how many peers a
// node has. Every id appears once per period of 2^24 - 1; after that the allocator is exhausted.
#pragma once

#include <cstdint>

#include "base/result.hpp"
#include "base/rng.hpp"

namespace fz::wireguard {

inline constexpr std::uint32_t kConnectionIdBits = 24;
inline constexpr std::uint32_t kConnectionIdMask = (1u << kConnectionIdBits) - 1;

constexpr std::uint32_t connection_id_of(std::uint32_t receiver_index) {
  return receiver_index >> 8;
}
constexpr std::uint8_t session_counter_of(std::uint32_t receiver_index) {
  return static_cast<std::uint8_t>(receiver_index);
}
constexpr std::uint32_t make_receiver_index(std::uint32_t connection_id, std::uint8_t counter) {
  return (connection_id << 8) | counter;
}

class ConnectionIdAllocator {
 public:
  explicit ConnectionIdAllocator(Rng& rng);

  // One step of the register: taps 24, 23, 21, 20 (x^24 + x^23 + x^21 + x^20 + 1 is primitive),
  // so it visits every non-zero 24-bit state once per period of 2^24 - 1.
  static constexpr std::uint32_t next_state(std::uint32_t state) {
    return (state >> 1) ^ ((0u - (state & 1u)) & 0xD80000u);
  }

  // A fresh 24-bit id, or Errc::exhausted after 2^24 - 1 ids.
  Result<std::uint32_t> allocate();

 private:
  std::uint32_t seed_;
  std::uint32_t state_;
  std::uint32_t mask_;
  bool exhausted_ = false;
};

}  // namespace fz::wireguard
