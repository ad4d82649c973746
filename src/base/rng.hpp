// Randomness for the sans-IO core. State machines take an `Rng&` and never read the OS entropy
// pool themselves; the runtime (`app`) seeds one from the OS, tests seed one with a fixed value so
// runs are reproducible. Implementations must be cryptographically strong: the same generator
// produces WireGuard ephemeral keys and ICE credentials (see crypto::ChaChaRng).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace fz {

class Rng {
 public:
  virtual ~Rng() = default;
  virtual void fill(std::span<std::uint8_t> out) = 0;

  std::uint32_t next_u32() {
    std::uint32_t v;
    fill({reinterpret_cast<std::uint8_t*>(&v), sizeof v});
    return v;
  }
  std::uint64_t next_u64() {
    std::uint64_t v;
    fill({reinterpret_cast<std::uint8_t*>(&v), sizeof v});
    return v;
  }
  // Uniform in [0, bound) without modulo bias. bound must be > 0.
  std::uint64_t uniform(std::uint64_t bound);
};

}  // namespace fz
