#include "crypto/internal.hpp"

#include <openssl/err.h>
#include <sodium.h>

#include <cstdio>
#include <cstdlib>

namespace fz::crypto::internal {

void fatal(const char* what) noexcept {
  std::fprintf(stderr, "fz::crypto: fatal: %s\n", what);
  ERR_print_errors_fp(stderr);
  std::abort();
}

void ensure_sodium() noexcept {
  static const bool initialised = [] {
    if (sodium_init() < 0) fatal("sodium_init failed");
    return true;
  }();
  (void)initialised;
}

namespace {

const EVP_MD* fetch_md(const char* name) noexcept {
  EVP_MD* md = EVP_MD_fetch(nullptr, name, nullptr);
  if (md == nullptr) fatal(name);
  return md;
}

}  // namespace

const EVP_MD* md_blake2s256() noexcept {
  static const EVP_MD* md = fetch_md("BLAKE2S-256");
  return md;
}
const EVP_MD* md_sha1() noexcept {
  static const EVP_MD* md = fetch_md("SHA1");
  return md;
}
const EVP_MD* md_sha256() noexcept {
  static const EVP_MD* md = fetch_md("SHA2-256");
  return md;
}
const EVP_MD* md_md5() noexcept {
  static const EVP_MD* md = fetch_md("MD5");
  return md;
}
namespace {

const EVP_CIPHER* fetch_cipher(const char* name) noexcept {
  EVP_CIPHER* cipher = EVP_CIPHER_fetch(nullptr, name, nullptr);
  if (cipher == nullptr) fatal(name);
  return cipher;
}

}  // namespace

const EVP_CIPHER* cipher_chacha20_poly1305() noexcept {
  static const EVP_CIPHER* cipher = fetch_cipher("ChaCha20-Poly1305");
  return cipher;
}
const EVP_CIPHER* cipher_chacha20() noexcept {
  static const EVP_CIPHER* cipher = fetch_cipher("ChaCha20");
  return cipher;
}
EVP_MAC* mac_poly1305() noexcept {
  static EVP_MAC* mac = [] {
    EVP_MAC* m = EVP_MAC_fetch(nullptr, "POLY1305", nullptr);
    if (m == nullptr) fatal("POLY1305");
    return m;
  }();
  return mac;
}

}  // namespace fz::crypto::internal
