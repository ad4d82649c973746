// A deterministic, cryptographically strong generator: the ChaCha20 keystream of a 32-byte seed.
//
// The same seed always yields the same byte stream, however it is split into fill() calls, which
// makes simulations and tests reproducible. It never reads the OS: `app` seeds it from the OS
// entropy pool, tests with a constant.
//
// It uses fast key erasure (D. J. Bernstein, "Fast-key-erasure random-number generators", 2017):
// every refill of the internal buffer draws the next key from the keystream and overwrites the
// old one, and bytes are wiped from the buffer once handed out, so a later compromise of the
// generator's memory does not reveal earlier outputs (such as past ephemeral keys).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

#include "base/rng.hpp"

namespace fz::crypto {

class ChaChaRng final : public Rng {
 public:
  explicit ChaChaRng(std::span<const std::uint8_t, 32> seed) noexcept;
  // Moving transfers the stream; the moved-from generator is wiped and must not be used.
  ChaChaRng(ChaChaRng&& other) noexcept;
  ChaChaRng& operator=(ChaChaRng&& other) noexcept;
  // Copies would hand out the same "random" bytes twice.
  ChaChaRng(const ChaChaRng&) = delete;
  ChaChaRng& operator=(const ChaChaRng&) = delete;
  ~ChaChaRng() override;

  void fill(std::span<std::uint8_t> out) override;

 private:
  void refill() noexcept;
  void wipe() noexcept;

  static constexpr std::size_t kBlock = 64;
  // One refill: 32 bytes of next key, then output.
  static constexpr std::size_t kRefill = 8 * kBlock;

  std::array<std::uint8_t, 32> key_;
  std::array<std::uint8_t, kRefill> buffer_;
  std::size_t pos_;  // next unread byte of buffer_; buffer_.size() when empty
};

}  // namespace fz::crypto
