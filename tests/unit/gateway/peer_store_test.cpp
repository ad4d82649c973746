// The client table: routing by tunnel IP and the periodic sweep (gateway-dataplane §1.3, §1.6).
#include "gateway/peer_store.hpp"

#include <gtest/gtest.h>

#include <array>

#include "packets.hpp"

namespace fz::gateway {
namespace {

using net::IpAddr;

const IpConfig kGateway{IpAddr::v4(100, 64, 0, 2),
                        IpAddr::v6(0xfd00, 0x2021, 0x1111, 0, 0, 0, 0, 2)};
const IpConfig kTunA{IpAddr::v4(100, 64, 0, 10),
                     IpAddr::v6(0xfd00, 0x2021, 0x1111, 0, 0, 0, 0, 10)};
const IpConfig kTunB{IpAddr::v4(100, 64, 0, 11),
                     IpAddr::v6(0xfd00, 0x2021, 0x1111, 0, 0, 0, 0, 11)};
const ClientId kA = *Uuid::parse("aaaaaaaa-0000-0000-0000-000000000001");
const ClientId kB = *Uuid::parse("bbbbbbbb-0000-0000-0000-000000000002");
const ResourceId kR1 = *Uuid::parse("11111111-0000-0000-0000-000000000001");
const ResourceId kR2 = *Uuid::parse("22222222-0000-0000-0000-000000000002");
const Instant kT0 = instant_from_nanos(0);
const UnixTime kNow = unix_from_seconds(1'750'000'000);

ResourceDescription cidr(const ResourceId& id) {
  return CidrResource{id, *net::Cidr::parse("10.0.0.0/8"), {}};
}

TEST(TunnelRanges, Constants) {
  EXPECT_EQ(kIpv4Tunnel.to_string(), "100.64.0.0/11");
  EXPECT_EQ(kIpv6Tunnel.to_string(), "fd00:2021:1111::/107");
  EXPECT_EQ(kIpv4Resources.to_string(), "100.96.0.0/11");
  EXPECT_EQ(kIpv6Resources.to_string(), "fd00:2021:1111:8000::/107");
  EXPECT_TRUE(is_tunnel_ip(IpAddr::v4(100, 95, 255, 255)));
  EXPECT_FALSE(is_tunnel_ip(IpAddr::v4(100, 96, 0, 0)));
  EXPECT_TRUE(is_proxy_ip(IpAddr::v4(100, 96, 0, 0)));
  EXPECT_TRUE(is_proxy_ip(IpAddr::v4(100, 127, 255, 255)));
  EXPECT_FALSE(is_proxy_ip(IpAddr::v4(100, 128, 0, 0)));
  EXPECT_FALSE(is_tunnel_ip(IpAddr::v6(0xff02, 0, 0, 0, 0, 0, 0, 0x16)));
  EXPECT_TRUE(is_proxy_ip(IpAddr::v6(0xfd00, 0x2021, 0x1111, 0x8000, 0, 0, 0x1f, 0xffff)));
  EXPECT_FALSE(is_proxy_ip(IpAddr::v6(0xfd00, 0x2021, 0x1111, 0x8000, 0, 0, 0x20, 0)));
  EXPECT_FALSE(is_tunnel_ip(IpAddr::v6(0xfd00, 0x2021, 0x1111, 0x8000, 0, 0, 0, 1)));
}

TEST(PeerStore, RoutesTunnelIpsToClients) {
  PeerStore store;
  store.get_or_insert(kA, kTunA, kGateway);
  store.get_or_insert(kB, kTunB, kGateway);
  store.add_ip(kA, kTunA.v4);
  store.add_ip(kA, kTunA.v6);
  store.add_ip(kB, kTunB.v4);
  ASSERT_NE(store.peer_by_ip(kTunA.v4), nullptr);
  EXPECT_EQ(store.peer_by_ip(kTunA.v4)->id(), kA);
  EXPECT_EQ(store.peer_by_ip(kTunA.v6)->id(), kA);
  EXPECT_EQ(store.peer_by_ip(kTunB.v4)->id(), kB);
  EXPECT_EQ(store.peer_by_ip(kTunB.v6), nullptr);
  EXPECT_EQ(store.peer_by_ip(IpAddr::v4(100, 64, 0, 12)), nullptr);
}

TEST(PeerStore, ExistingClientKeepsItsTunnelIps) {
  PeerStore store;
  store.get_or_insert(kA, kTunA, kGateway);
  ClientOnGateway& again = store.get_or_insert(kA, kTunB, kGateway);
  EXPECT_EQ(again.client_tun(), kTunA);
  EXPECT_EQ(store.size(), 1u);
}

TEST(PeerStore, IpMovesToTheLatestClient) {
  PeerStore store;
  store.get_or_insert(kA, kTunA, kGateway);
  store.get_or_insert(kB, kTunA, kGateway);
  store.add_ip(kA, kTunA.v4);
  store.add_ip(kB, kTunA.v4);
  EXPECT_EQ(store.peer_by_ip(kTunA.v4)->id(), kB);
  // Removing A does not remove B's route.
  EXPECT_TRUE(store.remove(kA));
  EXPECT_EQ(store.peer_by_ip(kTunA.v4)->id(), kB);
}

TEST(PeerStore, RemoveDropsRoutes) {
  PeerStore store;
  store.get_or_insert(kA, kTunA, kGateway);
  store.add_ip(kA, kTunA.v4);
  store.add_ip(kA, kTunA.v6);
  EXPECT_TRUE(store.remove(kA));
  EXPECT_FALSE(store.remove(kA));
  EXPECT_EQ(store.peer_by_ip(kTunA.v4), nullptr);
  EXPECT_EQ(store.peer_by_ip(kTunA.v6), nullptr);
  EXPECT_EQ(store.get(kA), nullptr);
}

TEST(PeerStore, SweepExpiresAndReturnsEmptiedClients) {
  PeerStore store;
  auto& a = store.get_or_insert(kA, kTunA, kGateway);
  ASSERT_TRUE(a.add_resource(cidr(kR1), kNow + std::chrono::seconds(5)));
  auto& b = store.get_or_insert(kB, kTunB, kGateway);
  ASSERT_TRUE(b.add_resource(cidr(kR1), kNow + std::chrono::seconds(5)));
  ASSERT_TRUE(b.add_resource(cidr(kR2), std::nullopt));
  store.add_ip(kA, kTunA.v4);
  EXPECT_EQ(store.next_resource_expiry(), kNow + std::chrono::seconds(5));

  EXPECT_TRUE(store.sweep(kT0, kNow + std::chrono::seconds(4)).empty());
  const auto emptied = store.sweep(kT0 + std::chrono::seconds(1), kNow + std::chrono::seconds(5));
  EXPECT_EQ(emptied, std::vector<ClientId>{kA});
  EXPECT_EQ(store.get(kA), nullptr);
  EXPECT_EQ(store.peer_by_ip(kTunA.v4), nullptr);
  ASSERT_NE(store.get(kB), nullptr);
  EXPECT_TRUE(store.get(kB)->is_allowed(kR2));
  EXPECT_FALSE(store.get(kB)->is_allowed(kR1));
  EXPECT_FALSE(store.next_resource_expiry());
}

TEST(PeerStore, SweepRunsNatExpiryAndReportsTheNextDeadline) {
  PeerStore store;
  auto& a = store.get_or_insert(kA, kTunA, kGateway);
  ASSERT_TRUE(a.add_resource(DnsResource{kR1, "*.corp", {}}, std::nullopt));
  const std::array<IpAddr, 1> resolved = {IpAddr::v4(10, 1, 1, 1)};
  const std::array<IpAddr, 1> proxies = {IpAddr::v4(100, 96, 0, 1)};
  ASSERT_TRUE(a.setup_nat("db.corp", kR1, resolved, proxies));
  EXPECT_FALSE(store.next_nat_deadline());
  auto p = test::udp(kTunA.v4, proxies[0], 1000, 5432);
  auto ip = p.ip();
  std::array<std::uint8_t, kMaxIcmpReplyLen> reply{};
  ASSERT_EQ(a.translate_outbound(ip, kT0, reply).action, OutboundVerdict::Action::forward);
  EXPECT_EQ(store.next_nat_deadline(), kT0 + kNatUdpTtl);
  EXPECT_TRUE(store.sweep(kT0 + kNatUdpTtl, kNow).empty());
  EXPECT_FALSE(store.next_nat_deadline());
  EXPECT_TRUE(a.nat_table().empty());
}

TEST(PeerStore, ClearRemovesEverything) {
  PeerStore store;
  store.get_or_insert(kA, kTunA, kGateway);
  store.add_ip(kA, kTunA.v4);
  store.clear();
  EXPECT_TRUE(store.empty());
  EXPECT_EQ(store.peer_by_ip(kTunA.v4), nullptr);
}

}  // namespace
}  // namespace fz::gateway
