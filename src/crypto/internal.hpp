// Private to src/crypto: library plumbing shared by the wrappers. Not part of the module's API.
#pragma once

#include <openssl/evp.h>

namespace fz::crypto::internal {

// A library call that can only fail on allocation failure or a broken OpenSSL/libsodium install
// failed. There is nothing sensible a caller could do, so this prints the OpenSSL error queue and
// the message to stderr and aborts. Never reached on bad input.
[[noreturn]] void fatal(const char* what) noexcept;

// sodium_init() once per process (thread safe); aborts if libsodium cannot initialise.
void ensure_sodium() noexcept;

// Algorithms are fetched once per process and kept for its lifetime (never freed: they may be used
// from static destructors and OpenSSL cleans up its own state at exit).
const EVP_MD* md_blake2s256() noexcept;
const EVP_MD* md_sha1() noexcept;
const EVP_MD* md_sha256() noexcept;
const EVP_MD* md_md5() noexcept;
const EVP_CIPHER* cipher_chacha20_poly1305() noexcept;
const EVP_CIPHER* cipher_chacha20() noexcept;
EVP_MAC* mac_poly1305() noexcept;

}  // namespace fz::crypto::internal
