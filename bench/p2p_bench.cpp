// p2p Node at scale: one gateway-role node with N idle connections to N client nodes on the
// simulated network (relay model, virtual clock).
//
// Figures:
//   * BM_IdleConnectionMemory: heap bytes per idle connection on the gateway, measured with a
//     counting operator new/delete as the live-heap drop when all N are removed;
//   * BM_PollTimeout/N: cost of poll_timeout() (O(1): the first deadline of an ordered set);
//   * BM_HandleTimeout/N: cost of one handle_timeout() at the node's next deadline, i.e. the work
//     per timer event (O(log N) for the deadline set plus the due connection's own work);
//   * BM_DataPath: encapsulate on the client + decapsulate on the gateway of a 1280-byte packet
//     over an established direct connection.
#include <benchmark/benchmark.h>

#include <atomic>
#include <cstdlib>
#include <map>
#include <memory>
#include <new>

#include "base/buffer.hpp"
#include "base/log.hpp"
#include "p2p/node.hpp"
#include "support/sim_network.hpp"

// ---- counting allocator ----------------------------------------------------------------------

namespace {
std::atomic<std::int64_t> g_live_bytes{0};
std::atomic<std::int64_t> g_allocations{0};
}  // namespace

namespace {
// The size is kept in a header in front of the block so that delete can subtract it. The header is
// as large as the alignment, so aligned allocations stay aligned.
void* counted_alloc(std::size_t size, std::size_t align) {
  if (align < 16) align = 16;
  void* p = std::aligned_alloc(align, ((size + align + align - 1) / align) * align);
  if (!p) return nullptr;
  char* user = static_cast<char*>(p) + align;
  reinterpret_cast<std::size_t*>(user)[-1] = size;
  reinterpret_cast<std::size_t*>(user)[-2] = align;
  g_live_bytes.fetch_add(static_cast<std::int64_t>(size), std::memory_order_relaxed);
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  return user;
}
void counted_free(void* p) noexcept {
  if (!p) return;
  char* user = static_cast<char*>(p);
  const std::size_t size = reinterpret_cast<std::size_t*>(user)[-1];
  const std::size_t align = reinterpret_cast<std::size_t*>(user)[-2];
  g_live_bytes.fetch_sub(static_cast<std::int64_t>(size), std::memory_order_relaxed);
  std::free(user - align);
}
}  // namespace

void* operator new(std::size_t size) {
  if (void* p = counted_alloc(size, 16)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t size) {
  return operator new(size);
}
void* operator new(std::size_t size, const std::nothrow_t&) noexcept {
  return counted_alloc(size, 16);
}
void* operator new[](std::size_t size, const std::nothrow_t&) noexcept {
  return counted_alloc(size, 16);
}
void* operator new(std::size_t size, std::align_val_t align) {
  if (void* p = counted_alloc(size, static_cast<std::size_t>(align))) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t size, std::align_val_t align) {
  return operator new(size, align);
}
void operator delete(void* p) noexcept {
  counted_free(p);
}
void operator delete[](void* p) noexcept {
  counted_free(p);
}
void operator delete(void* p, std::size_t) noexcept {
  counted_free(p);
}
void operator delete[](void* p, std::size_t) noexcept {
  counted_free(p);
}
void operator delete(void* p, const std::nothrow_t&) noexcept {
  counted_free(p);
}
void operator delete[](void* p, const std::nothrow_t&) noexcept {
  counted_free(p);
}
void operator delete(void* p, std::align_val_t) noexcept {
  counted_free(p);
}
void operator delete[](void* p, std::align_val_t) noexcept {
  counted_free(p);
}
void operator delete(void* p, std::size_t, std::align_val_t) noexcept {
  counted_free(p);
}
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept {
  counted_free(p);
}

namespace {

using namespace fz;
using fz::test::SimNetwork;
using namespace std::chrono_literals;

const net::IpAddr kNodesIp = net::IpAddr::v4(198, 51, 100, 10);
const net::SocketAddr kGateway{net::IpAddr::v4(198, 51, 100, 20), 52625};

struct Scale {
  std::unique_ptr<SimNetwork> net;
  std::size_t gateway = 0;
  std::vector<Uuid> client_ids;
  std::vector<std::size_t> clients;
};

// N clients connected to one gateway, then left alone until every connection is idle.
Scale build(std::size_t n) {
  static const bool quiet = [] {
    log::set_filter(log::Filter(log::Level::off));
    return true;
  }();
  (void)quiet;
  Scale s;
  SimNetwork::Options options;
  options.record_wire = false;
  s.net = std::make_unique<SimNetwork>(options);
  SimNetwork& net = *s.net;
  const std::size_t relay = net.add_relay(net::IpAddr::v4(203, 0, 113, 1));
  s.gateway = net.add_node(p2p::Role::server, kGateway, 1);
  net.give_relays(s.gateway, {relay});
  const Uuid gateway_id = fz::test::test_uuid(0xFFFFFF);
  for (std::size_t i = 0; i < n; ++i) {
    const net::SocketAddr local{kNodesIp, static_cast<std::uint16_t>(20000 + i)};
    s.clients.push_back(
        net.add_node(p2p::Role::client, local, static_cast<std::uint32_t>(100 + i)));
    net.give_relays(s.clients.back(), {relay});
  }
  net.advance(1s);
  // Connections arrive spread over time, as flows do, so their timers are not synchronised and
  // each timer event concerns about one connection.
  for (std::size_t i = 0; i < n; ++i) {
    s.client_ids.push_back(fz::test::test_uuid(static_cast<std::uint32_t>(i + 1)));
    net.connect(s.clients[i], s.gateway, s.client_ids.back(), gateway_id);
    net.advance(std::chrono::microseconds(25'000'000 / n));
  }
  net.advance(30s);
  return s;
}

std::size_t idle_count(Scale& s) {
  std::size_t idle = 0;
  for (const Uuid& id : s.client_ids) {
    auto info = s.net->node(s.gateway).connection_info(id);
    if (info && info->state == p2p::ConnectionState::idle) ++idle;
  }
  return idle;
}

void BM_IdleConnectionMemory(benchmark::State& state) {
  const std::size_t n = static_cast<std::size_t>(state.range(0));
  double per_connection = 0;
  std::size_t idle = 0;
  for (auto _ : state) {
    state.PauseTiming();
    Scale s = build(n);
    idle = idle_count(s);
    p2p::Node& gateway = s.net->node(s.gateway);
    const std::int64_t before = g_live_bytes.load();
    for (const Uuid& id : s.client_ids)
      gateway.remove_connection(id);
    const std::int64_t after = g_live_bytes.load();
    per_connection = static_cast<double>(before - after) / static_cast<double>(n);
    state.ResumeTiming();
  }
  state.counters["bytes_per_idle_connection"] = per_connection;
  state.counters["idle_connections"] = static_cast<double>(idle);
}
BENCHMARK(BM_IdleConnectionMemory)->Arg(1000)->Iterations(1)->Unit(benchmark::kMillisecond);

Scale& scale_for(std::size_t n) {
  static std::map<std::size_t, Scale> cache;
  auto it = cache.find(n);
  if (it == cache.end()) it = cache.emplace(n, build(n)).first;
  return it->second;
}

void BM_PollTimeout(benchmark::State& state) {
  Scale& s = scale_for(static_cast<std::size_t>(state.range(0)));
  p2p::Node& gateway = s.net->node(s.gateway);
  for (auto _ : state)
    benchmark::DoNotOptimize(gateway.poll_timeout());
}
BENCHMARK(BM_PollTimeout)->Arg(10)->Arg(100)->Arg(1000);

// One timer event at a time, with the network (the clients' answers) run between events, untimed.
void BM_HandleTimeoutWithNetwork(benchmark::State& state) {
  Scale& s = scale_for(static_cast<std::size_t>(state.range(0)));
  p2p::Node& gateway = s.net->node(s.gateway);
  const p2p::NodeStats before = gateway.stats();
  for (auto _ : state) {
    auto t = gateway.poll_timeout();
    if (!t) {
      state.SkipWithError("no timer");
      break;
    }
    gateway.handle_timeout(*t);
    state.PauseTiming();
    s.net->run_until(*t);
    state.ResumeTiming();
  }
  const p2p::NodeStats after = gateway.stats();
  state.counters["connections_serviced_per_event"] =
      static_cast<double>(after.connections_serviced - before.connections_serviced) /
      static_cast<double>(after.handle_timeout_calls - before.handle_timeout_calls);
}
BENCHMARK(BM_HandleTimeoutWithNetwork)->Arg(10)->Arg(100)->Arg(1000)->Iterations(2000);

// The same without the network in between, so the node's caches stay warm: the node's own cost
// per timer event. Transmits are discarded (idle connections survive 100 s of silence; 200 events
// span about 12 s of virtual time at N = 100, about 1 s at N = 1000).
void BM_HandleTimeoutLocal(benchmark::State& state) {
  Scale& s = scale_for(static_cast<std::size_t>(state.range(0)));
  p2p::Node& gateway = s.net->node(s.gateway);
  const p2p::NodeStats before = gateway.stats();
  for (auto _ : state) {
    auto t = gateway.poll_timeout();
    if (!t) {
      state.SkipWithError("no timer");
      break;
    }
    gateway.handle_timeout(*t);
    while (gateway.poll_transmit()) {
    }
  }
  const p2p::NodeStats after = gateway.stats();
  state.counters["connections_serviced_per_event"] =
      static_cast<double>(after.connections_serviced - before.connections_serviced) /
      static_cast<double>(after.handle_timeout_calls - before.handle_timeout_calls);
}
BENCHMARK(BM_HandleTimeoutLocal)->Arg(100)->Arg(1000)->Iterations(200);

void BM_DataPath(benchmark::State& state) {
  Scale s = build(1);
  {
    // Wake the idle connection and let the handshake settle.
    const auto wake = fz::test::make_udp_packet(kNodesIp, kGateway.ip, 1);
    (void)s.net->send(s.clients[0], fz::test::test_uuid(0xFFFFFF), wake);
    s.net->advance(1s);
  }
  p2p::Node& client = s.net->node(s.clients[0]);
  p2p::Node& gateway = s.net->node(s.gateway);
  const Uuid gateway_id = fz::test::test_uuid(0xFFFFFF);
  std::vector<std::uint8_t> packet(1280, 0);
  packet[0] = 0x45;
  packet[2] = 0x05;  // total length 1280
  packet[3] = 0x00;
  packet[9] = 17;
  PacketBuffer buffer(p2p::kHeadroom + 1280 + p2p::kTailroom, p2p::kHeadroom);
  const net::SocketAddr client_addr{kNodesIp, 20000};
  const Instant now = s.net->now;
  std::int64_t allocations = 0;
  for (auto _ : state) {
    buffer.assign(packet, p2p::kHeadroom);
    const std::int64_t a0 = g_allocations.load(std::memory_order_relaxed);
    auto out = client.encapsulate(gateway_id, buffer, now);
    if (!out || out->kind != p2p::Encapsulated::Kind::transmit) {
      state.SkipWithError("not sent");
      break;
    }
    auto in = gateway.decapsulate(kGateway, client_addr, buffer, now);
    if (!in || in->kind != p2p::Decapsulated::Kind::ip_packet) {
      state.SkipWithError("not received");
      break;
    }
    allocations += g_allocations.load(std::memory_order_relaxed) - a0;
  }
  state.SetBytesProcessed(state.iterations() * 1280);
  state.counters["allocations_per_packet"] =
      benchmark::Counter(static_cast<double>(allocations), benchmark::Counter::kAvgIterations);
}
BENCHMARK(BM_DataPath);

}  // namespace
