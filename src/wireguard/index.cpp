#include "wireguard/index.hpp"

namespace fz::wireguard {

namespace {

std::uint32_t nonzero_24_bits(Rng& rng) {
  std::uint32_t v = 0;
  while (v == 0)
    v = rng.next_u32() & kConnectionIdMask;
  return v;
}

}  // namespace

ConnectionIdAllocator::ConnectionIdAllocator(Rng& rng)
    : seed_(nonzero_24_bits(rng)), state_(seed_), mask_(nonzero_24_bits(rng)) {}

Result<std::uint32_t> ConnectionIdAllocator::allocate() {
  if (exhausted_) return Error(Errc::exhausted, "all 2^24 - 1 WireGuard connection ids are used");
  const std::uint32_t current = state_;
  state_ = next_state(state_);
  if (state_ == seed_) exhausted_ = true;
  // States are 1..2^24-1; subtracting one maps them onto 0..2^24-2 before masking.
  return (current - 1) ^ mask_;
}

}  // namespace fz::wireguard
