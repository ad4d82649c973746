// X25519 (RFC 7748) key agreement, as WireGuard's Noise handshake uses it. Backed by libsodium.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

#include "base/result.hpp"
#include "base/rng.hpp"
#include "crypto/util.hpp"

namespace fz::crypto {

inline constexpr std::size_t kX25519KeySize = 32;

using PublicKey = std::array<std::uint8_t, kX25519KeySize>;
// The output of dh(): secret, zeroed on destruction.
using SharedSecret = SecretBytes<kX25519KeySize>;

// An X25519 private key (static or ephemeral). Zeroed on destruction, never printable; the bytes
// are reached only through expose_secret() (for example to write a key file).
class SecretKey {
 public:
  // Takes the bytes as given (e.g. decoded from configuration). X25519 clamps the scalar itself,
  // so clamped and unclamped encodings of the same key give the same public key and DH results.
  static SecretKey from_bytes(std::span<const std::uint8_t, kX25519KeySize> bytes) noexcept {
    return SecretKey(bytes);
  }

  std::span<const std::uint8_t, kX25519KeySize> expose_secret() const noexcept {
    return bytes_.expose_secret();
  }

  friend bool operator==(const SecretKey&, const SecretKey&) = default;  // constant time

 private:
  explicit SecretKey(std::span<const std::uint8_t, kX25519KeySize> bytes) noexcept
      : bytes_(bytes) {}
  friend SecretKey generate_secret_key(Rng& rng) noexcept;

  SecretBytes<kX25519KeySize> bytes_;
};

// A fresh private key: 32 bytes from rng, clamped as RFC 7748 §5 and WireGuard's `wg genkey` do.
SecretKey generate_secret_key(Rng& rng) noexcept;

// The public key X25519(secret, 9).
PublicKey public_key(const SecretKey& secret) noexcept;

// X25519(secret, peer). Fails (Errc::crypto) when the result is all zeros, which happens exactly
// when the peer sent a low-order point; WireGuard must reject such handshakes. Also fails for the
// small-order points libsodium rejects up front.
Result<SharedSecret> dh(const SecretKey& secret, const PublicKey& peer) noexcept;

}  // namespace fz::crypto
