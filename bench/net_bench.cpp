// The per-packet cost of the gateway's NAT on the data path: parse and validate a packet, then
// rewrite its destination address and source port with incremental checksum updates
// (client → resource DNAT, gateway-dataplane §10.2). Reports ns/packet and packets/s.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <vector>

#include "net/checksum.hpp"
#include "net/ip_packet.hpp"

namespace {

using namespace fz::net;

std::vector<std::uint8_t> make_tcp_v4_1280() {
  std::vector<std::uint8_t> buf(1280);
  std::vector<std::uint8_t> payload(1280 - 40, 0x5a);
  IpFields ip{IpAddr::v4(100, 64, 0, 1), IpAddr::v4(100, 96, 0, 1)};
  TcpFields tcp{40000, 443, 1, 1, tcp_flag::ack | tcp_flag::psh};
  (void)build_tcp(buf, ip, tcp, payload);
  return buf;
}

std::vector<std::uint8_t> make_udp_v6(std::size_t size) {
  std::vector<std::uint8_t> buf(size);
  std::vector<std::uint8_t> payload(size - 48, 0xa5);
  IpFields ip{IpAddr::v6(0xfd00, 0x2021, 0x1111, 0, 0, 0, 0, 1),
              IpAddr::v6(0xfd00, 0x2021, 0x1111, 0x8000, 0, 0, 0, 1)};
  (void)build_udp(buf, ip, 5000, 53, payload);
  return buf;
}

// Alternates between two destinations so the rewrite is never a no-op.
void nat_loop(benchmark::State& state, std::vector<std::uint8_t> buf, IpAddr a, IpAddr b) {
  std::uint16_t port = 1;
  bool flip = false;
  for (auto _ : state) {
    auto p = IpPacket::parse(buf);
    if (!p) state.SkipWithError("parse failed");
    (void)p->translate_destination(flip ? a : b, port++);
    flip = !flip;
    benchmark::DoNotOptimize(buf.data());
    benchmark::ClobberMemory();
  }
  if (!IpPacketView::parse(buf)->verify_checksums().ok()) state.SkipWithError("bad checksum");
  state.counters["packets/s"] =
      benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
  state.counters["ns/packet"] =
      benchmark::Counter(static_cast<double>(state.iterations()),
                         benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) *
                          static_cast<std::int64_t>(buf.size()));
}

void BM_ParseNatTcpV4_1280(benchmark::State& state) {
  nat_loop(state, make_tcp_v4_1280(), IpAddr::v4(93, 184, 216, 34), IpAddr::v4(1, 1, 1, 1));
}
BENCHMARK(BM_ParseNatTcpV4_1280);

void BM_ParseNatUdpV6_1280(benchmark::State& state) {
  nat_loop(state, make_udp_v6(1280), IpAddr::v6(0x2606, 0x4700, 0, 0, 0, 0, 0, 0x1111),
           IpAddr::v6(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1));
}
BENCHMARK(BM_ParseNatUdpV6_1280);

void BM_ParseNatUdpV6_100(benchmark::State& state) {
  nat_loop(state, make_udp_v6(100), IpAddr::v6(0x2606, 0x4700, 0, 0, 0, 0, 0, 0x1111),
           IpAddr::v6(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1));
}
BENCHMARK(BM_ParseNatUdpV6_100);

// For comparison: what the reference does after a rewrite (§10.3), a full recomputation.
void BM_ParseFullChecksumTcpV4_1280(benchmark::State& state) {
  auto buf = make_tcp_v4_1280();
  for (auto _ : state) {
    auto p = IpPacket::parse(buf);
    p->recompute_checksums();
    benchmark::DoNotOptimize(buf.data());
    benchmark::ClobberMemory();
  }
  state.counters["ns/packet"] =
      benchmark::Counter(static_cast<double>(state.iterations()),
                         benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}
BENCHMARK(BM_ParseFullChecksumTcpV4_1280);

void BM_Checksum1280(benchmark::State& state) {
  std::vector<std::uint8_t> buf(1280, 0x37);
  for (auto _ : state)
    benchmark::DoNotOptimize(internet_checksum(buf));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * 1280);
}
BENCHMARK(BM_Checksum1280);

}  // namespace
