// The per-packet paths must not allocate once a flow's NAT session exists. This file replaces the
// global operator new/delete of the unit_gateway binary with counting versions.
#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <cstdlib>
#include <new>
#include <vector>

#include "gateway/client.hpp"
#include "packets.hpp"

namespace {
std::atomic<std::size_t> g_allocations{0};

void* counted_alloc(std::size_t size) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
}  // namespace

void* operator new(std::size_t size) {
  return counted_alloc(size);
}
void* operator new[](std::size_t size) {
  return counted_alloc(size);
}
void operator delete(void* p) noexcept {
  std::free(p);
}
void operator delete[](void* p) noexcept {
  std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
  std::free(p);
}
void operator delete[](void* p, std::size_t) noexcept {
  std::free(p);
}

namespace fz::gateway {
namespace {

using net::IpAddr;
using test::Packet;

TEST(Allocation, ForwardPathsDoNotAllocate) {
  const IpConfig client_tun{IpAddr::v4(100, 64, 0, 1),
                            IpAddr::v6(0xfd00, 0x2021, 0x1111, 0, 0, 0, 0, 1)};
  const IpConfig gateway_tun{IpAddr::v4(100, 64, 0, 2),
                             IpAddr::v6(0xfd00, 0x2021, 0x1111, 0, 0, 0, 0, 2)};
  const ResourceId dns = *Uuid::parse("00000000-0000-0000-0000-000000000001");
  const ResourceId cidr = *Uuid::parse("00000000-0000-0000-0000-000000000002");
  ClientOnGateway peer(*Uuid::parse("00000000-0000-0000-0000-0000000000cc"), client_tun,
                       gateway_tun);
  ASSERT_TRUE(peer.add_resource(DnsResource{dns, "*.example.com", {}}, std::nullopt));
  ASSERT_TRUE(peer.add_resource(
      CidrResource{cidr, *net::Cidr::parse("10.0.0.0/8"), {{FilterProtocol::tcp, 443, 443}}},
      std::nullopt));
  const IpAddr proxy = IpAddr::v4(100, 96, 0, 1);
  const IpAddr real = IpAddr::v4(192, 0, 2, 1);
  const std::vector<IpAddr> resolved = {real};
  const std::vector<IpAddr> proxies = {proxy};
  ASSERT_TRUE(peer.setup_nat("example.com", dns, resolved, proxies));

  constexpr int kRounds = 50;
  std::vector<Packet> outbound, inbound, cidr_out, cidr_in, filtered, errors;
  for (int i = 0; i < kRounds + 1; ++i) {
    outbound.push_back(test::udp(client_tun.v4, proxy, 5000, 53));
    inbound.push_back(test::udp(real, client_tun.v4, 53, 5000));
    cidr_out.push_back(test::tcp(client_tun.v4, IpAddr::v4(10, 1, 1, 1), 40000, 443));
    cidr_in.push_back(test::tcp(IpAddr::v4(10, 1, 1, 1), client_tun.v4, 443, 40000));
    filtered.push_back(test::tcp(client_tun.v4, IpAddr::v4(10, 1, 1, 1), 40000, 22));
    errors.push_back(test::icmp_error(IpAddr::v4(198, 51, 100, 1), client_tun.v4, 3, 3,
                                      test::udp(client_tun.v4, real, 5000, 53)));
  }
  std::array<std::uint8_t, kMaxIcmpReplyLen> buffer{};
  const Instant now = instant_from_nanos(0);

  auto run = [&](int i) {
    auto o = outbound[i].ip();
    EXPECT_EQ(peer.translate_outbound(o, now, buffer).action, OutboundVerdict::Action::forward);
    auto in = inbound[i].ip();
    EXPECT_EQ(peer.translate_inbound(in, now, buffer).action, InboundVerdict::Action::forward);
    auto co = cidr_out[i].ip();
    EXPECT_EQ(peer.translate_outbound(co, now, buffer).action, OutboundVerdict::Action::forward);
    auto ci = cidr_in[i].ip();
    EXPECT_EQ(peer.translate_inbound(ci, now, buffer).action, InboundVerdict::Action::forward);
    auto f = filtered[i].ip();
    EXPECT_EQ(peer.translate_outbound(f, now, buffer).action, OutboundVerdict::Action::reply);
    auto e = errors[i].ip();
    EXPECT_EQ(peer.translate_inbound(e, now, buffer).action,
              InboundVerdict::Action::forward_translated);
  };
  const std::size_t setup = g_allocations.load();
  run(0);  // creates the NAT session
  ASSERT_GT(g_allocations.load(), setup) << "the counter must see the session being created";

  const std::size_t before = g_allocations.load();
  for (int i = 1; i <= kRounds; ++i)
    run(i);
  const std::size_t after = g_allocations.load();
  EXPECT_EQ(after - before, 0u);
}

}  // namespace
}  // namespace fz::gateway
