#include "wireguard/transport_cipher.hpp"

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "crypto/aead.hpp"

namespace fz::wireguard {

namespace {

[[noreturn]] void fatal(const char* what) noexcept {
  ERR_print_errors_fp(stderr);
  std::fprintf(stderr, "fatal: %s\n", what);
  std::abort();
}

// Fetched once and kept for the life of the process.
const EVP_CIPHER* chacha20() noexcept {
  static const EVP_CIPHER* cipher = [] {
    EVP_CIPHER* c = EVP_CIPHER_fetch(nullptr, "ChaCha20", nullptr);
    if (c == nullptr) fatal("EVP_CIPHER_fetch(ChaCha20) failed");
    return c;
  }();
  return cipher;
}

EVP_MAC* poly1305() noexcept {
  static EVP_MAC* mac = [] {
    EVP_MAC* m = EVP_MAC_fetch(nullptr, OSSL_MAC_NAME_POLY1305, nullptr);
    if (m == nullptr) fatal("EVP_MAC_fetch(Poly1305) failed");
    return m;
  }();
  return mac;
}

EVP_CIPHER_CTX* new_chacha20() noexcept {
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  if (ctx == nullptr || EVP_CipherInit_ex2(ctx, chacha20(), nullptr, nullptr, 1, nullptr) != 1) {
    fatal("ChaCha20 context");
  }
  return ctx;
}

}  // namespace

TransportCipher::TransportCipher() noexcept
    : sealing_(new_chacha20()), opening_(new_chacha20()), poly_(EVP_MAC_CTX_new(poly1305())) {
  if (poly_ == nullptr) fatal("Poly1305 context");
}

// Freeing the contexts cleanses the key material they hold.
TransportCipher::~TransportCipher() {
  EVP_CIPHER_CTX_free(sealing_);
  EVP_CIPHER_CTX_free(opening_);
  EVP_MAC_CTX_free(poly_);
}

// Positions the keystream of `key` and the counter nonce at block 0, keys Poly1305 with the first
// 32 bytes of that block (RFC 8439 §2.6) and leaves the cipher at block 1 for the payload. The
// ChaCha20 key is only set when the context does not hold it already.
void TransportCipher::start(EVP_CIPHER_CTX* chacha, std::uint64_t& loaded_id, std::uint64_t key_id,
                            const SymmetricKey& key, std::uint64_t counter) noexcept {
  // OpenSSL's ChaCha20 IV is the 32-bit block counter (little-endian), then the 96-bit nonce.
  const crypto::Nonce nonce = crypto::counter_nonce(counter);
  std::uint8_t iv[16] = {};
  std::memcpy(iv + 4, nonce.data(), nonce.size());
  const bool cached = key_id != 0 && key_id == loaded_id;
  std::uint8_t block0[64] = {};
  int outl = 0;
  if (EVP_CipherInit_ex2(chacha, nullptr, cached ? nullptr : key.expose_secret().data(), iv, 1,
                         nullptr) != 1 ||
      EVP_CipherUpdate(chacha, block0, &outl, block0, sizeof block0) != 1) {
    fatal("ChaCha20: keystream block 0 failed");
  }
  loaded_id = key_id;
  if (EVP_MAC_init(poly_, block0, 32, nullptr) != 1) fatal("Poly1305 init failed");
  crypto::secure_zero(block0, sizeof block0);
}

// Poly1305 over ciphertext || pad16 || le64(0) || le64(ciphertext length); the AAD is empty.
void TransportCipher::authenticate(Bytes ciphertext, std::span<std::uint8_t, 16> tag) noexcept {
  std::uint8_t trailer[32] = {};
  const std::size_t pad = (16 - ciphertext.size() % 16) % 16;
  store_le64(trailer + pad + 8, ciphertext.size());
  std::size_t outl = 0;
  if ((!ciphertext.empty() && EVP_MAC_update(poly_, ciphertext.data(), ciphertext.size()) != 1) ||
      EVP_MAC_update(poly_, trailer, pad + 16) != 1 ||
      EVP_MAC_final(poly_, tag.data(), &outl, tag.size()) != 1 || outl != tag.size()) {
    fatal("Poly1305 failed");
  }
}

void TransportCipher::seal(std::uint64_t key_id, const SymmetricKey& key, std::uint64_t counter,
                           MutBytes data, std::span<std::uint8_t, 16> tag) noexcept {
  if (data.size() > static_cast<std::size_t>(INT_MAX)) fatal("ChaCha20-Poly1305: oversized");
  start(sealing_, sealing_key_id_, key_id, key, counter);
  int outl = 0;
  if (!data.empty() && EVP_CipherUpdate(sealing_, data.data(), &outl, data.data(),
                                        static_cast<int>(data.size())) != 1) {
    fatal("ChaCha20: encrypt failed");
  }
  authenticate(data, tag);
}

bool TransportCipher::open(std::uint64_t key_id, const SymmetricKey& key, std::uint64_t counter,
                           MutBytes data, std::span<const std::uint8_t, 16> tag) noexcept {
  if (data.size() > static_cast<std::size_t>(INT_MAX)) return false;
  start(opening_, opening_key_id_, key_id, key, counter);
  // Authenticate before decrypting: a forgery never turns into plaintext.
  std::uint8_t expected[16];
  authenticate(data, expected);
  if (!crypto::constant_time_equal(expected, tag)) return false;
  int outl = 0;
  if (!data.empty() && EVP_CipherUpdate(opening_, data.data(), &outl, data.data(),
                                        static_cast<int>(data.size())) != 1) {
    fatal("ChaCha20: decrypt failed");
  }
  return true;
}

}  // namespace fz::wireguard
