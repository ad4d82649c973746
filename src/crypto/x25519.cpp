#include "crypto/x25519.hpp"

#include <sodium.h>

#include "crypto/internal.hpp"

namespace fz::crypto {

static_assert(crypto_scalarmult_BYTES == kX25519KeySize);
static_assert(crypto_scalarmult_SCALARBYTES == kX25519KeySize);

SecretKey generate_secret_key(Rng& rng) noexcept {
  SecretBytes<kX25519KeySize> bytes;
  auto b = bytes.expose_secret_mut();
  rng.fill(b);
  b[0] &= 248;
  b[31] &= 127;
  b[31] |= 64;
  return SecretKey(bytes.expose_secret());
}

PublicKey public_key(const SecretKey& secret) noexcept {
  internal::ensure_sodium();
  PublicKey out;
  if (crypto_scalarmult_base(out.data(), secret.expose_secret().data()) != 0) {
    // Only possible for a scalar that clamps to zero, which clamping rules out.
    internal::fatal("crypto_scalarmult_base failed");
  }
  return out;
}

Result<SharedSecret> dh(const SecretKey& secret, const PublicKey& peer) noexcept {
  internal::ensure_sodium();
  SharedSecret shared;
  // libsodium returns -1 for a small-order peer point and for an all-zero result. The partial
  // output is wiped by SharedSecret's destructor on the error path.
  // The explicit zero check keeps WireGuard's requirement independent of the libsodium version.
  if (crypto_scalarmult(shared.expose_secret_mut().data(), secret.expose_secret().data(),
                        peer.data()) != 0 ||
      sodium_is_zero(shared.expose_secret().data(), kX25519KeySize) != 0) {
    return Error(Errc::crypto, "x25519: low-order public key");
  }
  return shared;
}

}  // namespace fz::crypto
