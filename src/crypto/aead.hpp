// ChaCha20-Poly1305 (RFC 8439) for WireGuard transport data and handshake fields, and
// XChaCha20-Poly1305 for WireGuard cookie replies.
//
// A cipher object is created once per key and reused for every packet: the hot path allocates
// nothing and never throws. Sealing and opening work in place on a caller's buffer with the
// 16-byte tag in a separate span, so a packet buffer laid out as header | payload | tag is
// encrypted without copies.
//
// Library failures that can only come from allocation failure (constructing the OpenSSL context)
// or a broken install abort the process with a message on stderr; nothing here throws.
#pragma once

#include <openssl/types.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

#include "base/bytes.hpp"
#include "crypto/util.hpp"

namespace fz::crypto {

inline constexpr std::size_t kAeadKeySize = 32;
inline constexpr std::size_t kAeadTagSize = 16;
inline constexpr std::size_t kAeadNonceSize = 12;
inline constexpr std::size_t kXAeadNonceSize = 24;

using AeadKey = std::span<const std::uint8_t, kAeadKeySize>;
using Nonce = std::array<std::uint8_t, kAeadNonceSize>;
using XNonce = std::array<std::uint8_t, kXAeadNonceSize>;
using Tag = std::array<std::uint8_t, kAeadTagSize>;
using TagOut = std::span<std::uint8_t, kAeadTagSize>;
using TagIn = std::span<const std::uint8_t, kAeadTagSize>;

// WireGuard's nonce: 32 zero bits, then the 64-bit message counter little-endian.
constexpr Nonce counter_nonce(std::uint64_t counter) noexcept {
  Nonce n{};
  for (std::size_t i = 0; i < 8; ++i)
    n[4 + i] = static_cast<std::uint8_t>(counter >> (8 * i));
  return n;
}

// Interchangeable implementations (identical output, zero heap allocation per packet). Use
// ChaCha20Poly1305 below; the others are public so that the benchmark can compare them and the
// tests can check them against each other.
namespace aead_backend {

// OpenSSL EVP: one EVP_CIPHER_CTX per key, re-initialised with only the IV for each packet.
class OpenSsl {
 public:
  explicit OpenSsl(AeadKey key) noexcept;
  OpenSsl(OpenSsl&& other) noexcept;
  OpenSsl& operator=(OpenSsl&& other) noexcept;
  OpenSsl(const OpenSsl&) = delete;
  OpenSsl& operator=(const OpenSsl&) = delete;
  ~OpenSsl();

  bool seal(const Nonce& nonce, Bytes aad, MutBytes data, TagOut tag) noexcept;
  bool open(const Nonce& nonce, Bytes aad, MutBytes data, TagIn tag) noexcept;

 private:
  EVP_CIPHER_CTX* ctx_;
};

// RFC 8439 §2.8 composed from OpenSSL's ChaCha20 cipher and Poly1305 MAC, each context reused.
// This skips the ChaCha20-Poly1305 provider's per-packet parameter plumbing, and open()
// authenticates the ciphertext before it decrypts anything.
class OpenSslComposed {
 public:
  explicit OpenSslComposed(AeadKey key) noexcept;
  OpenSslComposed(OpenSslComposed&& other) noexcept;
  OpenSslComposed& operator=(OpenSslComposed&& other) noexcept;
  OpenSslComposed(const OpenSslComposed&) = delete;
  OpenSslComposed& operator=(const OpenSslComposed&) = delete;
  ~OpenSslComposed();

  bool seal(const Nonce& nonce, Bytes aad, MutBytes data, TagOut tag) noexcept;
  bool open(const Nonce& nonce, Bytes aad, MutBytes data, TagIn tag) noexcept;

 private:
  // Starts the keystream at block 0 for `nonce`, derives the one-time Poly1305 key from it and
  // leaves the cipher positioned at block 1, where the payload starts.
  void start(const Nonce& nonce) noexcept;
  void authenticate(Bytes aad, Bytes ciphertext, TagOut tag) noexcept;

  EVP_CIPHER_CTX* chacha_;
  EVP_MAC_CTX* poly_;
};

// libsodium crypto_aead_chacha20poly1305_ietf_{en,de}crypt_detached with a stored key.
class Sodium {
 public:
  explicit Sodium(AeadKey key) noexcept;

  bool seal(const Nonce& nonce, Bytes aad, MutBytes data, TagOut tag) noexcept;
  bool open(const Nonce& nonce, Bytes aad, MutBytes data, TagIn tag) noexcept;

 private:
  SecretBytes<kAeadKeySize> key_;
};

}  // namespace aead_backend

// ChaCha20-Poly1305 keyed once. Move-only.
template <class Backend>
class BasicChaCha20Poly1305 {
 public:
  explicit BasicChaCha20Poly1305(AeadKey key) noexcept : backend_(key) {}

  // Encrypts `data` in place and writes the tag. Fails (returns false, data unspecified) only if
  // data or aad exceed the backend's length limit (2^31 - 1 bytes for OpenSSL).
  [[nodiscard]] bool seal(const Nonce& nonce, Bytes aad, MutBytes data, TagOut tag) noexcept {
    return backend_.seal(nonce, aad, data, tag);
  }
  [[nodiscard]] bool seal(std::uint64_t counter, Bytes aad, MutBytes data, TagOut tag) noexcept {
    return backend_.seal(counter_nonce(counter), aad, data, tag);
  }

  // Verifies the tag and decrypts `data` in place. On failure returns false and `data` is zeroed,
  // so a forgery's plaintext can never be used.
  [[nodiscard]] bool open(const Nonce& nonce, Bytes aad, MutBytes data, TagIn tag) noexcept {
    return backend_.open(nonce, aad, data, tag);
  }
  [[nodiscard]] bool open(std::uint64_t counter, Bytes aad, MutBytes data, TagIn tag) noexcept {
    return backend_.open(counter_nonce(counter), aad, data, tag);
  }

 private:
  Backend backend_;
};

// The backend measured fastest for tunnel-sized packets (bench/crypto_bench.cpp, Xeon with
// AVX-512, OpenSSL 3.0, libsodium 1.0.18; seal of 1280 bytes: OpenSslComposed ~1.05 us,
// OpenSsl ~1.2 us, Sodium ~1.36 us). libsodium wins below ~512 bytes (64 bytes: ~0.38 us vs
// ~0.53 us).
using ChaCha20Poly1305 = BasicChaCha20Poly1305<aead_backend::OpenSslComposed>;

// XChaCha20-Poly1305 (draft-irtf-cfrg-xchacha) with a 24-byte nonce, via libsodium. Used for
// WireGuard cookie replies, so it favours a simple API over in-place operation: the output is
// ciphertext || tag. `out` may be the same memory as the input, but must not overlap it otherwise.
class XChaCha20Poly1305 {
 public:
  explicit XChaCha20Poly1305(AeadKey key) noexcept;

  // out.size() must be plaintext.size() + 16; returns false otherwise.
  [[nodiscard]] bool seal(const XNonce& nonce, Bytes aad, Bytes plaintext,
                          MutBytes out) const noexcept;
  // `sealed` is ciphertext || tag; out.size() must be sealed.size() - 16. Returns false on a
  // size mismatch or a failed tag check, in which case `out` is zeroed.
  [[nodiscard]] bool open(const XNonce& nonce, Bytes aad, Bytes sealed,
                          MutBytes out) const noexcept;

 private:
  SecretBytes<kAeadKeySize> key_;
};

}  // namespace fz::crypto
