// Hashes and MACs: BLAKE2s (plain, keyed, HMAC) and WireGuard's KDF for the Noise handshake and
// MAC1/MAC2; SHA-1, SHA-256, MD5 and their HMACs for STUN/TURN integrity and relay credentials;
// CRC32 for the STUN FINGERPRINT.
//
// Everything but CRC32 is OpenSSL 3, with the algorithms fetched once per process. These run per
// handshake or per STUN message, not per data packet. Failures inside OpenSSL can only come from
// allocation failure and abort with a message on stderr; invalid arguments (a MAC key of the wrong
// length) return an error.
#pragma once

#include <openssl/types.h>

#include <array>
#include <cstddef>
#include <cstdint>

#include "base/bytes.hpp"
#include "base/result.hpp"
#include "crypto/util.hpp"

namespace fz::crypto {

using Blake2sDigest = std::array<std::uint8_t, 32>;
using Sha256Digest = std::array<std::uint8_t, 32>;
using Sha1Digest = std::array<std::uint8_t, 20>;
using Md5Digest = std::array<std::uint8_t, 16>;
using Mac16 = std::array<std::uint8_t, 16>;
using Mac32 = std::array<std::uint8_t, 32>;

// BLAKE2s-256 (RFC 7693), unkeyed.
Blake2sDigest blake2s(Bytes data) noexcept;

// Incremental BLAKE2s-256, e.g. for HASH(h || data) in the Noise handshake without concatenating.
// Move-only; after finish() the object starts over as a fresh hash.
class Blake2s {
 public:
  Blake2s() noexcept;
  Blake2s(Blake2s&& other) noexcept;
  Blake2s& operator=(Blake2s&& other) noexcept;
  Blake2s(const Blake2s&) = delete;
  Blake2s& operator=(const Blake2s&) = delete;
  ~Blake2s();

  Blake2s& update(Bytes data) noexcept;
  Blake2sDigest finish() noexcept;

 private:
  EVP_MD_CTX* ctx_;
};

// Keyed BLAKE2s (RFC 7693 §2.5, BLAKE2s with the key as the first block) with a 16- or 32-byte
// output. WireGuard's MAC1 is blake2s_mac16(HASH(LABEL_MAC1 || pubkey), msg) with a 32-byte key;
// MAC2 uses the 16-byte cookie as the key. The key must be 1..32 bytes, otherwise Errc::config.
Result<Mac16> blake2s_mac16(Bytes key, Bytes data) noexcept;
Result<Mac32> blake2s_mac32(Bytes key, Bytes data) noexcept;

// HMAC (RFC 2104) with BLAKE2s-256 as the hash and a 64-byte block, as WireGuard's KDF uses it.
// Any key length is accepted (keys longer than 64 bytes are hashed first, as HMAC specifies).
Blake2sDigest hmac_blake2s(Bytes key, Bytes data) noexcept;

// WireGuard's KDF_n (the WireGuard paper §5.4, HKDF with HMAC-BLAKE2s):
//   T0 = HMAC(key, input), T1 = HMAC(T0, 0x1), Ti = HMAC(T0, T(i-1) || i)
// returning T1..Tn. The outputs are chaining and message keys, so they are secrets; all
// intermediate values are wiped.
template <std::size_t N>
requires(N >= 1 && N <= 3) std::array<SecretBytes<32>, N> kdf(Bytes key, Bytes input)
noexcept;

extern template std::array<SecretBytes<32>, 1> kdf<1>(Bytes, Bytes) noexcept;
extern template std::array<SecretBytes<32>, 2> kdf<2>(Bytes, Bytes) noexcept;
extern template std::array<SecretBytes<32>, 3> kdf<3>(Bytes, Bytes) noexcept;

Sha256Digest sha256(Bytes data) noexcept;
Sha1Digest sha1(Bytes data) noexcept;
// MD5 is here only because the STUN long-term credential key is MD5(username:realm:password).
Md5Digest md5(Bytes data) noexcept;

// HMAC-SHA1 (STUN MESSAGE-INTEGRITY) and HMAC-SHA256 (MESSAGE-INTEGRITY-SHA256, relay
// credentials). Any key length.
Sha1Digest hmac_sha1(Bytes key, Bytes data) noexcept;
Sha256Digest hmac_sha256(Bytes key, Bytes data) noexcept;

// CRC-32 (IEEE 802.3, reflected, polynomial 0xEDB88320) as the STUN FINGERPRINT uses it (before
// the XOR with 0x5354554e). Chains like zlib's crc32: crc32(b, crc32(a)) == crc32(a || b).
std::uint32_t crc32(Bytes data, std::uint32_t crc = 0) noexcept;

}  // namespace fz::crypto
