// Small helpers for handling secrets: constant-time comparison, zeroing that the compiler cannot
// elide, and a fixed-size secret buffer that zeroes itself.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <iosfwd>
#include <span>

#include "base/bytes.hpp"

namespace fz::crypto {

// True if a and b have the same length and contents. The time taken depends only on the lengths
// (lengths are not secret), never on the contents.
bool constant_time_equal(Bytes a, Bytes b) noexcept;

// Overwrites the bytes with zeros in a way the optimiser may not drop.
void secure_zero(MutBytes bytes) noexcept;
void secure_zero(void* data, std::size_t size) noexcept;

namespace internal {
void print_redacted(std::ostream* os, std::size_t n);
}

// N secret bytes (a key, a chaining key, a shared secret) that are zeroed on destruction and when
// moved from.
//
// Deliberately not printable: there is no operator<< (it is deleted, so fmt/spdlog and iostreams
// refuse it at compile time), no begin()/end() (so range formatters do not pick it up), and the
// bytes are reached only through expose_secret(), which makes every use visible in review.
// Copies are allowed because protocol state (Noise chaining keys) needs them; each copy zeroes
// itself too. Comparison is constant time.
template <std::size_t N>
class SecretBytes {
 public:
  static constexpr std::size_t size() { return N; }

  SecretBytes() noexcept = default;  // all zero
  explicit SecretBytes(std::span<const std::uint8_t, N> bytes) noexcept {
    for (std::size_t i = 0; i < N; ++i)
      bytes_[i] = bytes[i];
  }
  SecretBytes(const SecretBytes&) noexcept = default;
  SecretBytes& operator=(const SecretBytes&) noexcept = default;
  SecretBytes(SecretBytes&& other) noexcept : bytes_(other.bytes_) { other.wipe(); }
  SecretBytes& operator=(SecretBytes&& other) noexcept {
    if (this != &other) {
      bytes_ = other.bytes_;
      other.wipe();
    }
    return *this;
  }
  ~SecretBytes() { wipe(); }

  // Read access to the secret. Named so that every use stands out; never log the result.
  std::span<const std::uint8_t, N> expose_secret() const noexcept { return bytes_; }
  // Write access, to fill the secret in place (from an RNG, a KDF output, a decoded config value).
  std::span<std::uint8_t, N> expose_secret_mut() noexcept { return bytes_; }

  void wipe() noexcept { secure_zero(bytes_.data(), N); }

  friend bool operator==(const SecretBytes& a, const SecretBytes& b) noexcept {
    return constant_time_equal(a.bytes_, b.bytes_);
  }

  friend std::ostream& operator<<(std::ostream&, const SecretBytes&) = delete;
  // GoogleTest finds this by ADL, so a failing assertion prints a placeholder, not the secret.
  friend void PrintTo(const SecretBytes&, std::ostream* os) { internal::print_redacted(os, N); }

 private:
  std::array<std::uint8_t, N> bytes_{};
};

}  // namespace fz::crypto
