// ChaCha20-Poly1305 (RFC 8439) for transport data, on contexts shared by all sessions of a
// Device, with the key passed on every call.
//
// Like crypto::ChaCha20Poly1305's default backend it is composed from OpenSSL's ChaCha20 cipher
// and Poly1305 MAC, which skips the AEAD provider's per-packet parameter handling. Unlike it, the
// contexts are not tied to one key: a per-key context pair is over 1 KiB of heap, and a tunnel
// holds up to three sessions with two keys each, so per-key contexts would cost several KiB per
// peer while here a session holds just its two 32-byte keys. Each ChaCha20 context remembers
// which key it holds (by a key id that is never reused), so a run of packets on one session only
// sets the nonce; switching sessions adds one ChaCha20 key setup. Poly1305 is keyed per packet
// anyway.
//
// Not thread-safe: one TransportCipher per Device, used from the Device's thread.
#pragma once

#include <openssl/types.h>

#include <cstdint>
#include <span>

#include "base/bytes.hpp"
#include "crypto/util.hpp"

namespace fz::wireguard {

using SymmetricKey = crypto::SecretBytes<32>;

class TransportCipher {
 public:
  TransportCipher() noexcept;
  TransportCipher(const TransportCipher&) = delete;
  TransportCipher& operator=(const TransportCipher&) = delete;
  ~TransportCipher();

  // `key_id` names `key` for the context's one-entry cache: the same id must always come with
  // the same key, and 0 means "do not cache".

  // In place, empty AAD, WireGuard's counter nonce. Cannot fail for packet-sized data.
  void seal(std::uint64_t key_id, const SymmetricKey& key, std::uint64_t counter, MutBytes data,
            std::span<std::uint8_t, 16> tag) noexcept;
  // In place; false (and `data` untouched: it is authenticated before it is decrypted) if the
  // tag does not verify.
  [[nodiscard]] bool open(std::uint64_t key_id, const SymmetricKey& key, std::uint64_t counter,
                          MutBytes data, std::span<const std::uint8_t, 16> tag) noexcept;

  // A fresh key id.
  std::uint64_t new_key_id() noexcept { return ++last_key_id_; }

 private:
  void start(EVP_CIPHER_CTX* chacha, std::uint64_t& loaded_id, std::uint64_t key_id,
             const SymmetricKey& key, std::uint64_t counter) noexcept;
  void authenticate(Bytes ciphertext, std::span<std::uint8_t, 16> tag) noexcept;

  EVP_CIPHER_CTX* sealing_;  // ChaCha20
  EVP_CIPHER_CTX* opening_;  // ChaCha20
  EVP_MAC_CTX* poly_;        // Poly1305, keyed per packet
  std::uint64_t sealing_key_id_ = 0;
  std::uint64_t opening_key_id_ = 0;
  std::uint64_t last_key_id_ = 0;
};

}  // namespace fz::wireguard
