#include "crypto/hash.hpp"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include <algorithm>
#include <utility>

#include "crypto/internal.hpp"

namespace fz::crypto {

namespace {

template <std::size_t N>
std::array<std::uint8_t, N> digest(const EVP_MD* md, Bytes data) noexcept {
  std::array<std::uint8_t, N> out;
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), out.data(), &len, md, nullptr) != 1 || len != N) {
    internal::fatal("EVP_Digest failed");
  }
  return out;
}

// A configured MAC context with no key, built once. Each MAC computation duplicates it and keys
// the copy, so nothing is fetched by name per call and concurrent callers share only this
// read-only template.
EVP_MAC_CTX* make_mac_template(const char* mac_name, OSSL_PARAM* params) noexcept {
  EVP_MAC* mac = EVP_MAC_fetch(nullptr, mac_name, nullptr);
  if (mac == nullptr) internal::fatal(mac_name);
  EVP_MAC_CTX* ctx = EVP_MAC_CTX_new(mac);
  EVP_MAC_free(mac);  // the context holds its own reference
  if (ctx == nullptr || EVP_MAC_CTX_set_params(ctx, params) != 1) internal::fatal(mac_name);
  return ctx;
}

EVP_MAC_CTX* make_hmac_template(const char* digest_name) noexcept {
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, const_cast<char*>(digest_name), 0),
      OSSL_PARAM_construct_end()};
  return make_mac_template(OSSL_MAC_NAME_HMAC, params);
}

EVP_MAC_CTX* make_blake2smac_template(std::size_t size) noexcept {
  OSSL_PARAM params[] = {OSSL_PARAM_construct_size_t(OSSL_MAC_PARAM_SIZE, &size),
                         OSSL_PARAM_construct_end()};
  return make_mac_template(OSSL_MAC_NAME_BLAKE2SMAC, params);
}

const EVP_MAC_CTX* hmac_blake2s_template() noexcept {
  static const EVP_MAC_CTX* ctx = make_hmac_template("BLAKE2S-256");
  return ctx;
}
const EVP_MAC_CTX* hmac_sha1_template() noexcept {
  static const EVP_MAC_CTX* ctx = make_hmac_template("SHA1");
  return ctx;
}
const EVP_MAC_CTX* hmac_sha256_template() noexcept {
  static const EVP_MAC_CTX* ctx = make_hmac_template("SHA2-256");
  return ctx;
}
const EVP_MAC_CTX* blake2smac16_template() noexcept {
  static const EVP_MAC_CTX* ctx = make_blake2smac_template(16);
  return ctx;
}
const EVP_MAC_CTX* blake2smac32_template() noexcept {
  static const EVP_MAC_CTX* ctx = make_blake2smac_template(32);
  return ctx;
}

template <std::size_t N>
std::array<std::uint8_t, N> compute_mac(const EVP_MAC_CTX* tmpl, Bytes key, Bytes data) noexcept {
  // EVP_MAC_CTX_dup does not modify its argument; OpenSSL 3.0 just lacks the const.
  EVP_MAC_CTX* ctx = EVP_MAC_CTX_dup(const_cast<EVP_MAC_CTX*>(tmpl));
  if (ctx == nullptr) internal::fatal("EVP_MAC_CTX_dup failed");
  // HMAC accepts an empty key but OpenSSL wants a non-null pointer for it.
  static const std::uint8_t empty_key[1] = {0};
  const std::uint8_t* key_ptr = key.empty() ? empty_key : key.data();
  std::array<std::uint8_t, N> out;
  std::size_t len = 0;
  const bool ok = EVP_MAC_init(ctx, key_ptr, key.size(), nullptr) == 1 &&
                  EVP_MAC_update(ctx, data.data(), data.size()) == 1 &&
                  EVP_MAC_final(ctx, out.data(), &len, out.size()) == 1 && len == N;
  EVP_MAC_CTX_free(ctx);  // cleanses the keyed state
  if (!ok) internal::fatal("MAC computation failed");
  return out;
}

bool valid_blake2s_key(Bytes key) {
  return !key.empty() && key.size() <= 32;
}

}  // namespace

Blake2sDigest blake2s(Bytes data) noexcept {
  return digest<32>(internal::md_blake2s256(), data);
}

Blake2s::Blake2s() noexcept : ctx_(EVP_MD_CTX_new()) {
  if (ctx_ == nullptr || EVP_DigestInit_ex2(ctx_, internal::md_blake2s256(), nullptr) != 1) {
    internal::fatal("BLAKE2s init failed");
  }
}

Blake2s::Blake2s(Blake2s&& other) noexcept : ctx_(std::exchange(other.ctx_, nullptr)) {}

Blake2s& Blake2s::operator=(Blake2s&& other) noexcept {
  if (this != &other) {
    EVP_MD_CTX_free(ctx_);
    ctx_ = std::exchange(other.ctx_, nullptr);
  }
  return *this;
}

Blake2s::~Blake2s() {
  EVP_MD_CTX_free(ctx_);
}

Blake2s& Blake2s::update(Bytes data) noexcept {
  if (!data.empty() && EVP_DigestUpdate(ctx_, data.data(), data.size()) != 1) {
    internal::fatal("BLAKE2s update failed");
  }
  return *this;
}

Blake2sDigest Blake2s::finish() noexcept {
  Blake2sDigest out;
  unsigned int len = 0;
  if (EVP_DigestFinal_ex(ctx_, out.data(), &len) != 1 || len != out.size() ||
      EVP_DigestInit_ex2(ctx_, internal::md_blake2s256(), nullptr) != 1) {
    internal::fatal("BLAKE2s final failed");
  }
  return out;
}

Result<Mac16> blake2s_mac16(Bytes key, Bytes data) noexcept {
  if (!valid_blake2s_key(key)) return Error(Errc::config, "blake2s mac: key must be 1..32 bytes");
  return compute_mac<16>(blake2smac16_template(), key, data);
}

Result<Mac32> blake2s_mac32(Bytes key, Bytes data) noexcept {
  if (!valid_blake2s_key(key)) return Error(Errc::config, "blake2s mac: key must be 1..32 bytes");
  return compute_mac<32>(blake2smac32_template(), key, data);
}

Blake2sDigest hmac_blake2s(Bytes key, Bytes data) noexcept {
  return compute_mac<32>(hmac_blake2s_template(), key, data);
}

template <std::size_t N>
requires(N >= 1 && N <= 3) std::array<SecretBytes<32>, N> kdf(Bytes key, Bytes input)
noexcept {
  Blake2sDigest t0 = hmac_blake2s(key, input);
  std::array<SecretBytes<32>, N> out;
  // T(i-1) || i; T0 is empty for i == 1.
  std::array<std::uint8_t, 33> block{};
  std::size_t block_len = 0;
  for (std::size_t i = 0; i < N; ++i) {
    block[block_len] = static_cast<std::uint8_t>(i + 1);
    Blake2sDigest t = hmac_blake2s(t0, Bytes(block.data(), block_len + 1));
    auto dst = out[i].expose_secret_mut();
    std::copy(t.begin(), t.end(), dst.begin());
    std::copy(t.begin(), t.end(), block.begin());
    block_len = 32;
    secure_zero(t);
  }
  secure_zero(block);
  secure_zero(t0);
  return out;
}

template std::array<SecretBytes<32>, 1> kdf<1>(Bytes, Bytes) noexcept;
template std::array<SecretBytes<32>, 2> kdf<2>(Bytes, Bytes) noexcept;
template std::array<SecretBytes<32>, 3> kdf<3>(Bytes, Bytes) noexcept;

Sha256Digest sha256(Bytes data) noexcept {
  return digest<32>(internal::md_sha256(), data);
}
Sha1Digest sha1(Bytes data) noexcept {
  return digest<20>(internal::md_sha1(), data);
}
Md5Digest md5(Bytes data) noexcept {
  return digest<16>(internal::md_md5(), data);
}

Sha1Digest hmac_sha1(Bytes key, Bytes data) noexcept {
  return compute_mac<20>(hmac_sha1_template(), key, data);
}

Sha256Digest hmac_sha256(Bytes key, Bytes data) noexcept {
  return compute_mac<32>(hmac_sha256_template(), key, data);
}

namespace {

constexpr std::array<std::uint32_t, 256> make_crc32_table() {
  std::array<std::uint32_t, 256> table{};
  for (std::uint32_t i = 0; i < 256; ++i) {
    std::uint32_t c = i;
    for (int k = 0; k < 8; ++k)
      c = (c & 1) ? (0xEDB88320u ^ (c >> 1)) : (c >> 1);
    table[i] = c;
  }
  return table;
}

constexpr std::array<std::uint32_t, 256> kCrc32Table = make_crc32_table();

}  // namespace

std::uint32_t crc32(Bytes data, std::uint32_t crc) noexcept {
  crc = ~crc;
  for (std::uint8_t b : data)
    crc = kCrc32Table[(crc ^ b) & 0xFF] ^ (crc >> 8);
  return ~crc;
}

}  // namespace fz::crypto
