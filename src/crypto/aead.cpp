#include "crypto/aead.hpp"

#include <openssl/evp.h>
#include <sodium.h>

#include <climits>
#include <cstring>
#include <utility>

#include "crypto/internal.hpp"

namespace fz::crypto {

static_assert(crypto_aead_chacha20poly1305_ietf_KEYBYTES == kAeadKeySize);
static_assert(crypto_aead_chacha20poly1305_ietf_NPUBBYTES == kAeadNonceSize);
static_assert(crypto_aead_chacha20poly1305_ietf_ABYTES == kAeadTagSize);
static_assert(crypto_aead_xchacha20poly1305_ietf_KEYBYTES == kAeadKeySize);
static_assert(crypto_aead_xchacha20poly1305_ietf_NPUBBYTES == kXAeadNonceSize);
static_assert(crypto_aead_xchacha20poly1305_ietf_ABYTES == kAeadTagSize);

namespace aead_backend {

namespace {

bool fits_int(std::size_t n) {
  return n <= static_cast<std::size_t>(INT_MAX);
}

// libsodium declares its buffer arguments nonnull even when the length is zero, and an empty span
// may hold a null pointer.
std::uint8_t* non_null(MutBytes data) {
  static std::uint8_t dummy;
  return data.empty() ? &dummy : data.data();
}

}  // namespace

OpenSsl::OpenSsl(AeadKey key) noexcept : ctx_(EVP_CIPHER_CTX_new()) {
  if (ctx_ == nullptr) internal::fatal("EVP_CIPHER_CTX_new failed");
  // The key schedule is set once; each packet only sets a new IV.
  if (EVP_CipherInit_ex2(ctx_, internal::cipher_chacha20_poly1305(), key.data(), nullptr, 1,
                         nullptr) != 1) {
    internal::fatal("EVP_CipherInit_ex2(ChaCha20-Poly1305) failed");
  }
}

OpenSsl::OpenSsl(OpenSsl&& other) noexcept : ctx_(std::exchange(other.ctx_, nullptr)) {}

OpenSsl& OpenSsl::operator=(OpenSsl&& other) noexcept {
  if (this != &other) {
    EVP_CIPHER_CTX_free(ctx_);
    ctx_ = std::exchange(other.ctx_, nullptr);
  }
  return *this;
}

// EVP_CIPHER_CTX_free cleanses the key material held by the provider context.
OpenSsl::~OpenSsl() {
  EVP_CIPHER_CTX_free(ctx_);
}

bool OpenSsl::seal(const Nonce& nonce, Bytes aad, MutBytes data, TagOut tag) noexcept {
  if (!fits_int(aad.size()) || !fits_int(data.size())) return false;
  int outl = 0;
  if (EVP_CipherInit_ex2(ctx_, nullptr, nullptr, nonce.data(), 1, nullptr) != 1) {
    internal::fatal("ChaCha20-Poly1305: setting the IV failed");
  }
  if (!aad.empty() &&
      EVP_CipherUpdate(ctx_, nullptr, &outl, aad.data(), static_cast<int>(aad.size())) != 1) {
    internal::fatal("ChaCha20-Poly1305: AAD update failed");
  }
  if (!data.empty() &&
      EVP_CipherUpdate(ctx_, data.data(), &outl, data.data(), static_cast<int>(data.size())) != 1) {
    internal::fatal("ChaCha20-Poly1305: encrypt update failed");
  }
  std::uint8_t unused[1];
  if (EVP_CipherFinal_ex(ctx_, unused, &outl) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx_, EVP_CTRL_AEAD_GET_TAG, static_cast<int>(kAeadTagSize),
                          tag.data()) != 1) {
    internal::fatal("ChaCha20-Poly1305: computing the tag failed");
  }
  return true;
}

bool OpenSsl::open(const Nonce& nonce, Bytes aad, MutBytes data, TagIn tag) noexcept {
  if (!fits_int(aad.size()) || !fits_int(data.size())) {
    secure_zero(data);
    return false;
  }
  int outl = 0;
  if (EVP_CipherInit_ex2(ctx_, nullptr, nullptr, nonce.data(), 0, nullptr) != 1) {
    internal::fatal("ChaCha20-Poly1305: setting the IV failed");
  }
  // OpenSSL only reads the expected tag; the ctrl interface takes a non-const pointer.
  if (EVP_CIPHER_CTX_ctrl(ctx_, EVP_CTRL_AEAD_SET_TAG, static_cast<int>(kAeadTagSize),
                          const_cast<std::uint8_t*>(tag.data())) != 1) {
    internal::fatal("ChaCha20-Poly1305: setting the tag failed");
  }
  if (!aad.empty() &&
      EVP_CipherUpdate(ctx_, nullptr, &outl, aad.data(), static_cast<int>(aad.size())) != 1) {
    internal::fatal("ChaCha20-Poly1305: AAD update failed");
  }
  if (!data.empty() &&
      EVP_CipherUpdate(ctx_, data.data(), &outl, data.data(), static_cast<int>(data.size())) != 1) {
    internal::fatal("ChaCha20-Poly1305: decrypt update failed");
  }
  // OpenSSL decrypts before it checks the tag, so on a forgery the buffer holds attacker-chosen
  // plaintext; wipe it.
  std::uint8_t unused[1];
  if (EVP_CipherFinal_ex(ctx_, unused, &outl) != 1) {
    secure_zero(data);
    return false;
  }
  return true;
}

OpenSslComposed::OpenSslComposed(AeadKey key) noexcept
    : chacha_(EVP_CIPHER_CTX_new()), poly_(EVP_MAC_CTX_new(internal::mac_poly1305())) {
  if (chacha_ == nullptr || poly_ == nullptr)
    internal::fatal("ChaCha20/Poly1305 context allocation");
  if (EVP_CipherInit_ex2(chacha_, internal::cipher_chacha20(), key.data(), nullptr, 1, nullptr) !=
      1) {
    internal::fatal("EVP_CipherInit_ex2(ChaCha20) failed");
  }
}

OpenSslComposed::OpenSslComposed(OpenSslComposed&& other) noexcept
    : chacha_(std::exchange(other.chacha_, nullptr)), poly_(std::exchange(other.poly_, nullptr)) {}

OpenSslComposed& OpenSslComposed::operator=(OpenSslComposed&& other) noexcept {
  if (this != &other) {
    EVP_CIPHER_CTX_free(chacha_);
    EVP_MAC_CTX_free(poly_);
    chacha_ = std::exchange(other.chacha_, nullptr);
    poly_ = std::exchange(other.poly_, nullptr);
  }
  return *this;
}

OpenSslComposed::~OpenSslComposed() {
  EVP_CIPHER_CTX_free(chacha_);
  EVP_MAC_CTX_free(poly_);
}

void OpenSslComposed::start(const Nonce& nonce) noexcept {
  // OpenSSL's ChaCha20 IV is the 32-bit block counter (little-endian) followed by the nonce.
  std::uint8_t iv[16] = {};
  std::memcpy(iv + 4, nonce.data(), nonce.size());
  std::uint8_t block0[64] = {};
  int outl = 0;
  if (EVP_CipherInit_ex2(chacha_, nullptr, nullptr, iv, 1, nullptr) != 1 ||
      EVP_CipherUpdate(chacha_, block0, &outl, block0, sizeof block0) != 1) {
    internal::fatal("ChaCha20: keystream block 0 failed");
  }
  // RFC 8439 §2.6: the Poly1305 key is the first 32 bytes of block 0.
  if (EVP_MAC_init(poly_, block0, 32, nullptr) != 1) internal::fatal("Poly1305 init failed");
  secure_zero(block0, sizeof block0);
}

void OpenSslComposed::authenticate(Bytes aad, Bytes ciphertext, TagOut tag) noexcept {
  // RFC 8439 §2.8: aad || pad16 || ciphertext || pad16 || le64(aad len) || le64(ciphertext len).
  static constexpr std::uint8_t kZeros[16] = {};
  std::uint8_t trailer[32] = {};
  const std::size_t ct_pad = (16 - ciphertext.size() % 16) % 16;
  store_le64(trailer + ct_pad, aad.size());
  store_le64(trailer + ct_pad + 8, ciphertext.size());
  bool ok = true;
  if (!aad.empty()) {
    ok = EVP_MAC_update(poly_, aad.data(), aad.size()) == 1 &&
         EVP_MAC_update(poly_, kZeros, (16 - aad.size() % 16) % 16) == 1;
  }
  if (!ciphertext.empty()) {
    ok = ok && EVP_MAC_update(poly_, ciphertext.data(), ciphertext.size()) == 1;
  }
  std::size_t outl = 0;
  ok = ok && EVP_MAC_update(poly_, trailer, ct_pad + 16) == 1 &&
       EVP_MAC_final(poly_, tag.data(), &outl, tag.size()) == 1 && outl == tag.size();
  if (!ok) internal::fatal("Poly1305 failed");
}

bool OpenSslComposed::seal(const Nonce& nonce, Bytes aad, MutBytes data, TagOut tag) noexcept {
  if (!fits_int(data.size())) return false;
  start(nonce);
  int outl = 0;
  if (!data.empty() && EVP_CipherUpdate(chacha_, data.data(), &outl, data.data(),
                                        static_cast<int>(data.size())) != 1) {
    internal::fatal("ChaCha20: encrypt failed");
  }
  authenticate(aad, data, tag);
  return true;
}

bool OpenSslComposed::open(const Nonce& nonce, Bytes aad, MutBytes data, TagIn tag) noexcept {
  if (!fits_int(data.size())) {
    secure_zero(data);
    return false;
  }
  start(nonce);
  Tag expected;
  authenticate(aad, data, expected);
  if (!constant_time_equal(expected, tag)) {
    secure_zero(data);
    return false;
  }
  int outl = 0;
  if (!data.empty() && EVP_CipherUpdate(chacha_, data.data(), &outl, data.data(),
                                        static_cast<int>(data.size())) != 1) {
    internal::fatal("ChaCha20: decrypt failed");
  }
  return true;
}

Sodium::Sodium(AeadKey key) noexcept : key_(key) {
  internal::ensure_sodium();
}

bool Sodium::seal(const Nonce& nonce, Bytes aad, MutBytes data, TagOut tag) noexcept {
  if (data.size() > crypto_aead_chacha20poly1305_ietf_MESSAGEBYTES_MAX) return false;
  std::uint8_t* const p = non_null(data);
  crypto_aead_chacha20poly1305_ietf_encrypt_detached(p, tag.data(), nullptr, p, data.size(),
                                                     aad.data(), aad.size(), nullptr, nonce.data(),
                                                     key_.expose_secret().data());
  return true;
}

bool Sodium::open(const Nonce& nonce, Bytes aad, MutBytes data, TagIn tag) noexcept {
  // libsodium verifies the tag before decrypting and zeroes `data` when it does not match.
  if (data.size() > crypto_aead_chacha20poly1305_ietf_MESSAGEBYTES_MAX ||
      crypto_aead_chacha20poly1305_ietf_decrypt_detached(
          non_null(data), nullptr, non_null(data), data.size(), tag.data(), aad.data(), aad.size(),
          nonce.data(), key_.expose_secret().data()) != 0) {
    secure_zero(data);
    return false;
  }
  return true;
}

}  // namespace aead_backend

XChaCha20Poly1305::XChaCha20Poly1305(AeadKey key) noexcept : key_(key) {
  internal::ensure_sodium();
}

bool XChaCha20Poly1305::seal(const XNonce& nonce, Bytes aad, Bytes plaintext,
                             MutBytes out) const noexcept {
  if (plaintext.size() > crypto_aead_xchacha20poly1305_ietf_MESSAGEBYTES_MAX ||
      out.size() != plaintext.size() + kAeadTagSize) {
    return false;
  }
  crypto_aead_xchacha20poly1305_ietf_encrypt(out.data(), nullptr, plaintext.data(),
                                             plaintext.size(), aad.data(), aad.size(), nullptr,
                                             nonce.data(), key_.expose_secret().data());
  return true;
}

bool XChaCha20Poly1305::open(const XNonce& nonce, Bytes aad, Bytes sealed,
                             MutBytes out) const noexcept {
  if (sealed.size() < kAeadTagSize || out.size() != sealed.size() - kAeadTagSize) {
    secure_zero(out);
    return false;
  }
  if (crypto_aead_xchacha20poly1305_ietf_decrypt(out.data(), nullptr, nullptr, sealed.data(),
                                                 sealed.size(), aad.data(), aad.size(),
                                                 nonce.data(), key_.expose_secret().data()) != 0) {
    secure_zero(out);
    return false;
  }
  return true;
}

}  // namespace fz::crypto
