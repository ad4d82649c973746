// The WireGuard data path through an established pair of our tunnels, against raw
// ChaCha20-Poly1305 in the same binary, plus the memory an idle established Tunnel costs.
//
//   BM_Raw_SealOpen / BM_Tunnel_RoundTrip   one 1280-byte packet sealed and opened per iteration
//   BM_Raw_Seal / BM_Tunnel_Encapsulate     sending side only
//   BM_Raw_Open / BM_Tunnel_Decapsulate     receiving side only (copy of the sealed packet + open)
//   BM_TransportCipher_SealOpen/1, /0       the shared cipher with the key kept loaded / set on
//                                           every call (interleaved sessions)
//   BM_IdleTunnelMemory                     bytes per idle established responder Tunnel: sizeof
//                                           plus heap, measured with mallinfo2() over N tunnels;
//                                           run with GLIBC_TUNABLES=glibc.malloc.tcache_count=0
//                                           so that chunks parked in tcache do not hide heap use
// The ratio to raw is bytes_per_second(tunnel) / bytes_per_second(raw) of the matching pair.
#include <benchmark/benchmark.h>
#include <malloc.h>

#include <array>
#include <cstdio>
#include <cstring>
#include <memory>
#include <vector>

#include "base/buffer.hpp"
#include "crypto/aead.hpp"
#include "crypto/rng.hpp"
#include "net/ip_addr.hpp"
#include "wireguard/device.hpp"
#include "wireguard/tunnel.hpp"

namespace {

using namespace fz;
using namespace fz::wireguard;

constexpr std::size_t kPacket = 1280;
constexpr std::size_t kHeadroom = 64;

std::array<std::uint8_t, 32> seed(std::uint8_t v) {
  std::array<std::uint8_t, 32> s{};
  s.fill(v);
  return s;
}

const Instant kNow = instant_from_nanos(1'000'000'000'000);
const net::IpAddr kAddress = net::IpAddr::v4(203, 0, 113, 1);

struct Node {
  explicit Node(std::uint8_t s, DeviceConfig config = {}) : Node(seed(s), config) {}
  Node(std::array<std::uint8_t, 32> s, DeviceConfig config)
      : rng(s), device(crypto::generate_secret_key(rng), rng, kNow, config) {}
  crypto::ChaChaRng rng;
  Device device;
};

Tunnel make_tunnel(Node& self, const crypto::PublicKey& peer) {
  TunnelConfig c;
  c.peer_static = peer;
  c.preshared_key.expose_secret_mut()[0] = 1;
  c.connection_id = self.device.allocate_connection_id().value();
  return Tunnel::create(self.device, std::move(c), kNow).value();
}

void deliver_all(Tunnel& from, Node& to, Tunnel& to_tunnel) {
  while (auto t = from.poll_transmit()) {
    std::vector<std::uint8_t> d(t->payload().begin(), t->payload().end());
    auto routed = to.device.route(kAddress, d, kNow);
    if (routed) (void)to_tunnel.decapsulate(*routed, kNow);
  }
  while (from.poll_event()) {
  }
}

// Client A initiates, gateway B responds; both end with a confirmed session.
void handshake(Node& a, Tunnel& ta, Node& b, Tunnel& tb) {
  ta.initiate_handshake(kNow);
  for (int i = 0; i < 3; ++i) {
    deliver_all(ta, b, tb);
    deliver_all(tb, a, ta);
  }
}

struct Pair {
  Pair()
      : a(1),
        b(2),
        ta(make_tunnel(a, b.device.public_key())),
        tb(make_tunnel(b, a.device.public_key())) {
    handshake(a, ta, b, tb);
    if (!ta.has_usable_session(kNow) || !tb.has_usable_session(kNow)) std::abort();
  }
  Node a, b;
  Tunnel ta, tb;
};

PacketBuffer packet_buffer() {
  PacketBuffer p(kHeadroom + kPacket + 64, kHeadroom);
  std::vector<std::uint8_t> ip(kPacket, 0xA5);
  ip[0] = 0x45;
  store_be16(ip.data() + 2, static_cast<std::uint16_t>(kPacket));
  p.assign(ip, kHeadroom);
  return p;
}

const std::array<std::uint8_t, 32> kKey = seed(7);

void BM_Raw_SealOpen(benchmark::State& state) {
  crypto::ChaCha20Poly1305 sender(kKey), receiver(kKey);
  std::vector<std::uint8_t> packet(kPacket, 0xA5);
  crypto::Tag tag;
  std::uint64_t counter = 0;
  for (auto _ : state) {
    if (!sender.seal(counter, {}, packet, tag)) state.SkipWithError("seal");
    if (!receiver.open(counter, {}, packet, tag)) state.SkipWithError("open");
    ++counter;
    benchmark::DoNotOptimize(packet.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * kPacket));
}

void BM_Tunnel_RoundTrip(benchmark::State& state) {
  Pair pair;
  PacketBuffer p = packet_buffer();
  for (auto _ : state) {
    p.reset(kHeadroom);
    p.resize(kPacket);  // the plaintext left by the previous open
    if (!pair.ta.encapsulate(p, kNow)) state.SkipWithError("encapsulate");
    auto routed = pair.b.device.route(kAddress, p.span(), kNow);
    if (!routed) state.SkipWithError("route");
    auto plaintext = pair.tb.decapsulate(*routed, kNow);
    if (!plaintext || plaintext->size() != kPacket) state.SkipWithError("decapsulate");
    benchmark::DoNotOptimize(plaintext->data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * kPacket));
}

void BM_Raw_Seal(benchmark::State& state) {
  crypto::ChaCha20Poly1305 sender(kKey);
  std::vector<std::uint8_t> packet(kPacket, 0xA5);
  crypto::Tag tag;
  std::uint64_t counter = 0;
  for (auto _ : state) {
    if (!sender.seal(counter++, {}, packet, tag)) state.SkipWithError("seal");
    benchmark::DoNotOptimize(tag.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * kPacket));
}

void BM_Tunnel_Encapsulate(benchmark::State& state) {
  Pair pair;
  PacketBuffer p = packet_buffer();
  for (auto _ : state) {
    p.reset(kHeadroom);
    p.resize(kPacket);
    if (!pair.ta.encapsulate(p, kNow)) state.SkipWithError("encapsulate");
    benchmark::DoNotOptimize(p.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * kPacket));
}

// Each iteration copies a sealed packet into the working buffer and opens it: counters must be
// fresh for the replay window, so a batch of sealed packets is made with the timer paused.
constexpr std::size_t kBatch = 4096;

void BM_Raw_Open(benchmark::State& state) {
  crypto::ChaCha20Poly1305 sender(kKey), receiver(kKey);
  std::vector<std::vector<std::uint8_t>> sealed(kBatch, std::vector<std::uint8_t>(kPacket + 16));
  std::vector<std::uint8_t> work(kPacket + 16);
  std::uint64_t counter = 0;
  std::size_t next = kBatch;
  for (auto _ : state) {
    if (next == kBatch) {
      state.PauseTiming();
      for (std::size_t i = 0; i < kBatch; ++i) {
        auto& s = sealed[i];
        (void)sender.seal(counter + i, {}, std::span(s).first(kPacket),
                          std::span(s).subspan(kPacket).first<16>());
      }
      next = 0;
      state.ResumeTiming();
    }
    std::memcpy(work.data(), sealed[next].data(), work.size());
    if (!receiver.open(counter + next, {}, std::span(work).first(kPacket),
                       std::span<const std::uint8_t>(work).subspan(kPacket).first<16>())) {
      state.SkipWithError("open");
    }
    if (++next == kBatch) counter += kBatch;
    benchmark::DoNotOptimize(work.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * kPacket));
}

void BM_Tunnel_Decapsulate(benchmark::State& state) {
  Pair pair;
  std::vector<std::vector<std::uint8_t>> sealed(kBatch);
  std::vector<std::uint8_t> work(kPacket + 32);
  PacketBuffer p = packet_buffer();
  std::size_t next = kBatch;
  for (auto _ : state) {
    if (next == kBatch) {
      state.PauseTiming();
      for (auto& s : sealed) {
        p = packet_buffer();
        (void)pair.ta.encapsulate(p, kNow);
        s.assign(p.span().begin(), p.span().end());
      }
      next = 0;
      state.ResumeTiming();
    }
    std::memcpy(work.data(), sealed[next++].data(), work.size());
    auto routed = pair.b.device.route(kAddress, work, kNow);
    if (!routed) state.SkipWithError("route");
    auto plaintext = pair.tb.decapsulate(*routed, kNow);
    if (!plaintext) {
      std::fprintf(stderr, "%s\n", plaintext.error().to_string().c_str());
      state.SkipWithError("decapsulate");
      break;
    }
    benchmark::DoNotOptimize(plaintext->data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * kPacket));
}

// Bytes malloc has handed out: arena allocations plus mmap'ed blocks (large vectors).
std::size_t heap_in_use() {
  const auto info = mallinfo2();
  return info.uordblks + info.hblkhd;
}

void BM_IdleTunnelMemory(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  // All handshakes happen at one instant: lift the handshake rate limit (node-wide state).
  Node gateway(3, DeviceConfig{UINT32_MAX});
  // The clients and their tunnels exist before the measurement starts.
  std::vector<std::unique_ptr<Node>> clients;
  std::vector<Tunnel> client_tunnels;
  client_tunnels.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    auto s = seed(10);
    s[0] = static_cast<std::uint8_t>(i);
    s[1] = static_cast<std::uint8_t>(i >> 8);
    clients.push_back(std::make_unique<Node>(s, DeviceConfig{}));
    client_tunnels.push_back(make_tunnel(*clients.back(), gateway.device.public_key()));
  }
  {  // warm up lazily initialised library state
    Node c(250);
    Tunnel tc = make_tunnel(c, gateway.device.public_key());
    Tunnel tg = make_tunnel(gateway, c.device.public_key());
    handshake(c, tc, gateway, tg);
  }
  double per_tunnel = 0;
  for (auto _ : state) {
    malloc_trim(0);
    const auto before = heap_in_use();
    std::vector<Tunnel> tunnels;
    tunnels.reserve(n);
    for (std::size_t i = 0; i < n; ++i) {
      tunnels.push_back(make_tunnel(gateway, clients[i]->device.public_key()));
      handshake(*clients[i], client_tunnels[i], gateway, tunnels.back());
      if (!tunnels.back().has_usable_session(kNow)) state.SkipWithError("no session");
    }
    const auto after = heap_in_use();
    per_tunnel = static_cast<double>(after - before) / static_cast<double>(n);
    for (const auto& t : tunnels) {
      if (t.heap_bytes() != 0) state.SkipWithError("an idle tunnel owns heap");
    }
  }
  // Shared per node: one Device (identity, limiter, cookie secret, cipher contexts).
  malloc_trim(0);
  const auto before_device = heap_in_use();
  auto device_node = std::make_unique<Node>(4, DeviceConfig{});
  const auto device_bytes = heap_in_use() - before_device;
  state.counters["bytes_per_tunnel"] = per_tunnel;
  state.counters["bytes_per_device"] = static_cast<double>(device_bytes);
  state.counters["sizeof_Tunnel"] = static_cast<double>(sizeof(Tunnel));
  state.counters["sizeof_Session"] = static_cast<double>(sizeof(Session));
  state.counters["sizeof_Device"] = static_cast<double>(sizeof(Device));
}

// The shared cipher alone: Arg 1 keeps the key loaded (a run of packets on one session), Arg 0
// sets the ChaCha20 key on every call (packets of different sessions interleaved).
void BM_TransportCipher_SealOpen(benchmark::State& state) {
  TransportCipher cipher;
  const SymmetricKey key(kKey);
  const auto key_id = static_cast<std::uint64_t>(state.range(0));
  std::vector<std::uint8_t> packet(kPacket, 0xA5);
  std::array<std::uint8_t, 16> tag;
  std::uint64_t counter = 0;
  for (auto _ : state) {
    cipher.seal(key_id, key, counter, packet, tag);
    if (!cipher.open(key_id, key, counter, packet, tag)) state.SkipWithError("open");
    ++counter;
    benchmark::DoNotOptimize(packet.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * kPacket));
}

BENCHMARK(BM_Raw_SealOpen);
BENCHMARK(BM_Tunnel_RoundTrip);
BENCHMARK(BM_Raw_Seal);
BENCHMARK(BM_Tunnel_Encapsulate);
BENCHMARK(BM_Raw_Open);
BENCHMARK(BM_Tunnel_Decapsulate);
BENCHMARK(BM_TransportCipher_SealOpen)->Arg(1)->Arg(0);
BENCHMARK(BM_IdleTunnelMemory)->Arg(1000)->Iterations(1)->Unit(benchmark::kMillisecond);

}  // namespace
