#include "base/rng.hpp"

namespace fz {

std::uint64_t Rng::uniform(std::uint64_t bound) {
  if (bound <= 1) return 0;
  // Reject the top partial range so every residue is equally likely (Lemire's threshold).
  const std::uint64_t threshold = (0 - bound) % bound;
  for (;;) {
    const std::uint64_t r = next_u64();
    if (r >= threshold) return r % bound;
  }
}

}  // namespace fz
