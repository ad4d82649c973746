// Crypto hot paths: ChaCha20-Poly1305 seal/open of tunnel-sized packets in place with a reused
// context and WireGuard counter nonces, for both backends; plus the handshake primitives.
//
// Compare with `openssl speed -evp chacha20-poly1305 -bytes 1280 -seconds 3` on the same machine
// (that measures streaming encryption with no per-packet IV, AAD or tag work, so it is an upper
// bound).
#include <benchmark/benchmark.h>

#include <array>
#include <cstring>
#include <vector>

#include "crypto/aead.hpp"
#include "crypto/hash.hpp"
#include "crypto/rng.hpp"
#include "crypto/x25519.hpp"

namespace {

using namespace fz::crypto;

constexpr std::array<std::uint8_t, 32> kKey = {1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11,
                                               12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22,
                                               23, 24, 25, 26, 27, 28, 29, 30, 31, 32};

template <class Aead>
void BM_Seal(benchmark::State& state) {
  Aead aead(kKey);
  std::vector<std::uint8_t> packet(static_cast<std::size_t>(state.range(0)), 0xA5);
  Tag tag;
  std::uint64_t counter = 0;
  for (auto _ : state) {
    if (!aead.seal(counter++, {}, packet, tag)) state.SkipWithError("seal failed");
    benchmark::DoNotOptimize(tag.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * state.range(0));
}

// Opening in place turns the ciphertext into plaintext, so each iteration first restores the
// ciphertext (a memcpy of the packet from L1, a few percent of the total).
template <class Aead>
void BM_Open(benchmark::State& state) {
  Aead aead(kKey);
  const auto size = static_cast<std::size_t>(state.range(0));
  std::vector<std::uint8_t> sealed(size, 0xA5);
  Tag tag;
  const std::uint64_t counter = 12345;
  if (!aead.seal(counter, {}, sealed, tag)) state.SkipWithError("seal failed");
  std::vector<std::uint8_t> packet(size);
  for (auto _ : state) {
    std::memcpy(packet.data(), sealed.data(), size);
    if (!aead.open(counter, {}, packet, tag)) state.SkipWithError("open failed");
    benchmark::DoNotOptimize(packet.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * state.range(0));
}

void BM_Memcpy(benchmark::State& state) {
  const auto size = static_cast<std::size_t>(state.range(0));
  std::vector<std::uint8_t> a(size, 1), b(size);
  for (auto _ : state) {
    std::memcpy(b.data(), a.data(), size);
    benchmark::DoNotOptimize(b.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * state.range(0));
}

using OpenSslAead = BasicChaCha20Poly1305<aead_backend::OpenSsl>;
using ComposedAead = BasicChaCha20Poly1305<aead_backend::OpenSslComposed>;
using SodiumAead = BasicChaCha20Poly1305<aead_backend::Sodium>;

BENCHMARK(BM_Seal<ChaCha20Poly1305>)->Arg(1280)->Arg(64)->Arg(1420);
BENCHMARK(BM_Open<ChaCha20Poly1305>)->Arg(1280)->Arg(64)->Arg(1420);
BENCHMARK(BM_Seal<OpenSslAead>)->Arg(1280)->Arg(64)->Arg(1420);
BENCHMARK(BM_Seal<ComposedAead>)->Arg(1280)->Arg(64)->Arg(1420);
BENCHMARK(BM_Seal<SodiumAead>)->Arg(1280)->Arg(64)->Arg(1420);
BENCHMARK(BM_Open<OpenSslAead>)->Arg(1280);
BENCHMARK(BM_Open<ComposedAead>)->Arg(1280);
BENCHMARK(BM_Open<SodiumAead>)->Arg(1280);
BENCHMARK(BM_Memcpy)->Arg(1280);

// Handshake primitives: one X25519 DH, MAC1 over a handshake initiation, a KDF3.
void BM_X25519Dh(benchmark::State& state) {
  ChaChaRng rng(kKey);
  const SecretKey a = generate_secret_key(rng);
  const PublicKey b = public_key(generate_secret_key(rng));
  for (auto _ : state) {
    auto shared = dh(a, b);
    benchmark::DoNotOptimize(shared);
  }
}
BENCHMARK(BM_X25519Dh);

void BM_Mac1(benchmark::State& state) {
  const std::vector<std::uint8_t> msg(116, 7);  // initiation bytes covered by MAC1
  for (auto _ : state) {
    auto mac = blake2s_mac16(kKey, msg);
    benchmark::DoNotOptimize(mac);
  }
}
BENCHMARK(BM_Mac1);

void BM_Kdf3(benchmark::State& state) {
  for (auto _ : state) {
    auto keys = kdf<3>(kKey, kKey);
    benchmark::DoNotOptimize(keys);
  }
}
BENCHMARK(BM_Kdf3);

}  // namespace
