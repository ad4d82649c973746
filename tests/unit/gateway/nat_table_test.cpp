// The DNS-resource NAT table (gateway-dataplane §3.3–§3.5), including the reference's
// peer/nat_table.rs tests as fixed cases (the rapidcheck versions are in the property test).
#include "gateway/nat_table.hpp"

#include <gtest/gtest.h>

#include "net/ip_addr.hpp"

namespace fz::gateway {
namespace {

using net::IpAddr;
using Lookup = NatTable::Lookup;

const IpAddr kProxy1 = IpAddr::v4(100, 96, 0, 1);
const IpAddr kProxy2 = IpAddr::v4(100, 96, 0, 2);
const IpAddr kReal1 = IpAddr::v4(10, 0, 0, 1);
const IpAddr kReal2 = IpAddr::v4(10, 0, 0, 2);
const Instant kT0 = instant_from_nanos(1'000'000'000);

NatKey key(NatProtocol p, std::uint16_t id, const IpAddr& ip) {
  return NatKey{p, id, ip};
}

TEST(NatTable, OutsideIdIsTheClientsOwnWhenFree) {
  NatTable table;
  auto outside = table.translate_outgoing(key(NatProtocol::udp, 5000, kProxy1), kReal1, false, kT0);
  ASSERT_TRUE(outside);
  EXPECT_EQ(*outside, key(NatProtocol::udp, 5000, kReal1));
  // The same inside key keeps its session.
  auto again = table.translate_outgoing(key(NatProtocol::udp, 5000, kProxy1), kReal1, false, kT0);
  EXPECT_EQ(*again, *outside);
  EXPECT_EQ(table.size(), 1u);
}

TEST(NatTable, CollisionTakesTheNextFreeId) {
  NatTable table;
  // Two proxy IPs resolving to the same real IP, same client port.
  auto a = table.translate_outgoing(key(NatProtocol::tcp, 5000, kProxy1), kReal1, false, kT0);
  auto b = table.translate_outgoing(key(NatProtocol::tcp, 5000, kProxy2), kReal1, false, kT0);
  auto c = table.translate_outgoing(key(NatProtocol::tcp, 5001, kProxy1), kReal1, false, kT0);
  EXPECT_EQ(a->id, 5000);
  EXPECT_EQ(b->id, 5001);
  EXPECT_EQ(c->id, 5002);
  // Another real IP, another protocol: no collision.
  auto d = table.translate_outgoing(key(NatProtocol::tcp, 5000, kProxy2), kReal2, false, kT0);
  EXPECT_EQ(d->id, 5000);
  auto e = table.translate_outgoing(key(NatProtocol::udp, 5000, kProxy1), kReal1, false, kT0);
  EXPECT_EQ(e->id, 5000);
}

TEST(NatTable, SearchWrapsToOneAndSkipsZero) {
  NatTable table;
  ASSERT_TRUE(table.translate_outgoing(key(NatProtocol::udp, 65535, kProxy1), kReal1, false, kT0));
  auto wrapped =
      table.translate_outgoing(key(NatProtocol::udp, 65535, kProxy2), kReal1, false, kT0);
  EXPECT_EQ(wrapped->id, 1);
  // 0 is used only when the client itself sent from 0.
  auto zero = table.translate_outgoing(key(NatProtocol::icmp, 0, kProxy1), kReal1, false, kT0);
  EXPECT_EQ(zero->id, 0);
}

TEST(NatTable, ExhaustionIsAnErrorNotACrash) {
  NatTable table;
  const IpAddr proxy3 = IpAddr::v4(100, 96, 0, 3);
  for (std::uint32_t port = 0; port <= 65535; ++port) {
    const IpAddr& proxy = port % 2 ? kProxy1 : kProxy2;
    ASSERT_TRUE(table.translate_outgoing(
        key(NatProtocol::udp, static_cast<std::uint16_t>(port), proxy), kReal1, false, kT0));
  }
  EXPECT_EQ(table.size(), 65536u);
  auto full = table.translate_outgoing(key(NatProtocol::udp, 4242, proxy3), kReal1, false, kT0);
  ASSERT_FALSE(full);
  EXPECT_EQ(full.error().code(), Errc::exhausted);
  // Other real IPs and protocols are unaffected; existing sessions still translate.
  EXPECT_TRUE(table.translate_outgoing(key(NatProtocol::udp, 4242, proxy3), kReal2, false, kT0));
  EXPECT_TRUE(table.translate_outgoing(key(NatProtocol::tcp, 4242, proxy3), kReal1, false, kT0));
  EXPECT_EQ(table.translate_incoming(key(NatProtocol::udp, 7, kReal1), false, kT0).lookup,
            Lookup::mapped);
}

TEST(NatTable, IncomingFindsTheInsideKey) {
  NatTable table;
  auto outside = table.translate_outgoing(key(NatProtocol::icmp, 9, kProxy1), kReal1, false, kT0);
  const auto in = table.translate_incoming(*outside, false, kT0);
  EXPECT_EQ(in.lookup, Lookup::mapped);
  EXPECT_EQ(in.inside, key(NatProtocol::icmp, 9, kProxy1));
  EXPECT_EQ(table.translate_incoming(key(NatProtocol::icmp, 10, kReal1), false, kT0).lookup,
            Lookup::no_session);
  EXPECT_EQ(table.translate_incoming(key(NatProtocol::udp, 9, kReal1), false, kT0).lookup,
            Lookup::no_session);
}

// Ported: nat_table.rs `can_handle_multiple_packets`.
TEST(NatTable, CanHandleMultiplePackets) {
  NatTable table;
  const NatKey in1 = key(NatProtocol::udp, 1000, kProxy1);
  const NatKey in2 =
      key(NatProtocol::tcp, 2000, IpAddr::v6(0xfd00, 0x2021, 0x1111, 0x8000, 0, 0, 0, 1));
  const IpAddr real6 = IpAddr::v6(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);
  auto out1 = table.translate_outgoing(in1, kReal1, false, kT0);
  auto out2 = table.translate_outgoing(in2, real6, false, kT0);
  EXPECT_EQ(table.translate_incoming(*out1, false, kT0).inside, in1);
  EXPECT_EQ(table.translate_incoming(*out2, false, kT0).inside, in2);
}

struct TtlCase {
  NatProtocol protocol;
  Duration ttl;
};

class NatTtl : public ::testing::TestWithParam<TtlCase> {};

// Ported: nat_table.rs `translates_back_and_forth_packet` with the TTLs of the reference commit:
// TCP 2 h, UDP 2 min, ICMP 2 min. A response after at least the TTL finds the session expired.
TEST_P(NatTtl, ResponseWithinTtlIsTranslatedAfterItIsExpired) {
  const auto [protocol, ttl] = GetParam();
  EXPECT_EQ(nat_ttl(protocol), ttl);
  for (const Duration delay :
       {Duration(0), ttl - std::chrono::seconds(1), ttl, ttl + std::chrono::seconds(1)}) {
    NatTable table;
    const NatKey inside = key(protocol, 4000, kProxy1);
    auto outside = table.translate_outgoing(inside, kReal1, false, kT0);
    ASSERT_TRUE(outside);
    EXPECT_EQ(table.next_deadline(), kT0 + ttl);
    table.handle_timeout(kT0 + delay);
    const auto in = table.translate_incoming(*outside, false, kT0 + delay);
    if (delay >= ttl) {
      EXPECT_EQ(in.lookup, Lookup::expired) << delay.count();
      EXPECT_TRUE(table.empty());
    } else {
      EXPECT_EQ(in.lookup, Lookup::mapped) << delay.count();
      EXPECT_EQ(in.inside, inside);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Protocols, NatTtl,
                         ::testing::Values(TtlCase{NatProtocol::tcp, std::chrono::hours(2)},
                                           TtlCase{NatProtocol::udp, std::chrono::minutes(2)},
                                           TtlCase{NatProtocol::icmp, std::chrono::minutes(2)}));

// Ported: nat_table.rs `outgoing_tcp_rst_removes_nat_mapping`.
TEST(NatTable, OutgoingTcpRstRemovesMapping) {
  NatTable table;
  const NatKey inside = key(NatProtocol::tcp, 40000, kProxy1);
  auto outside = table.translate_outgoing(inside, kReal1, false, kT0);
  EXPECT_EQ(table.translate_incoming(*outside, false, kT0).lookup, Lookup::mapped);
  // The RST itself is still translated with the session's outside key.
  auto rst = table.translate_outgoing(inside, kReal1, true, kT0);
  EXPECT_EQ(*rst, *outside);
  EXPECT_EQ(table.translate_incoming(*outside, false, kT0).lookup, Lookup::expired);
  EXPECT_TRUE(table.empty());
  EXPECT_FALSE(table.has_session_for_inside_ip(kProxy1));
}

TEST(NatTable, IncomingTcpRstRemovesMapping) {
  NatTable table;
  const NatKey inside = key(NatProtocol::tcp, 40000, kProxy1);
  auto outside = table.translate_outgoing(inside, kReal1, false, kT0);
  const auto rst = table.translate_incoming(*outside, true, kT0);
  EXPECT_EQ(rst.lookup, Lookup::mapped);  // the RST itself reaches the client
  EXPECT_EQ(rst.inside, inside);
  EXPECT_EQ(table.translate_incoming(*outside, false, kT0).lookup, Lookup::expired);
  // A new packet from the client starts a fresh session with the same outside key.
  auto fresh = table.translate_outgoing(inside, kReal1, false, kT0);
  EXPECT_EQ(*fresh, *outside);
  EXPECT_FALSE(table.is_expired(*outside));
  EXPECT_EQ(table.translate_incoming(*outside, false, kT0).lookup, Lookup::mapped);
}

TEST(NatTable, RstWithoutSessionStartsOne) {
  // As in the reference, the RST check applies only to an existing session.
  NatTable table;
  auto outside = table.translate_outgoing(key(NatProtocol::tcp, 1, kProxy1), kReal1, true, kT0);
  ASSERT_TRUE(outside);
  EXPECT_EQ(table.size(), 1u);
}

TEST(NatTable, InboundPacketsKeepTheSessionAlive) {
  NatTable table;
  auto outside = table.translate_outgoing(key(NatProtocol::udp, 5, kProxy1), kReal1, false, kT0);
  // Only the resource talks, every 100 s, for 10 minutes.
  for (int i = 1; i <= 6; ++i) {
    const Instant t = kT0 + std::chrono::seconds(100 * i);
    table.handle_timeout(t);
    EXPECT_EQ(table.translate_incoming(*outside, false, t).lookup, Lookup::mapped) << i;
    EXPECT_EQ(table.next_deadline(), t + kNatUdpTtl);
  }
}

TEST(NatTable, IcmpErrorLookupsDoNotRefresh) {
  NatTable table;
  auto outside = table.translate_outgoing(key(NatProtocol::udp, 5, kProxy1), kReal1, false, kT0);
  EXPECT_EQ(table.lookup(*outside).lookup, Lookup::mapped);
  EXPECT_EQ(table.next_deadline(), kT0 + kNatUdpTtl);
  table.handle_timeout(kT0 + kNatUdpTtl);
  EXPECT_EQ(table.lookup(*outside).lookup, Lookup::expired);
}

TEST(NatTable, NextDeadlineIsTheEarliestAcrossProtocols) {
  NatTable table;
  EXPECT_FALSE(table.next_deadline());
  (void)table.translate_outgoing(key(NatProtocol::tcp, 1, kProxy1), kReal1, false, kT0);
  EXPECT_EQ(table.next_deadline(), kT0 + kNatTcpTtl);
  const Instant t1 = kT0 + std::chrono::seconds(10);
  (void)table.translate_outgoing(key(NatProtocol::icmp, 1, kProxy1), kReal1, false, t1);
  EXPECT_EQ(table.next_deadline(), t1 + kNatIcmpTtl);
  const Instant t2 = kT0 + std::chrono::seconds(20);
  (void)table.translate_outgoing(key(NatProtocol::udp, 1, kProxy1), kReal1, false, t2);
  EXPECT_EQ(table.next_deadline(), t1 + kNatIcmpTtl);
  // Refreshing the ICMP session moves the deadline to the UDP one.
  (void)table.translate_outgoing(key(NatProtocol::icmp, 1, kProxy1), kReal1, false, t2);
  EXPECT_EQ(table.next_deadline(), t2 + kNatUdpTtl);
  table.handle_timeout(t2 + kNatUdpTtl);
  EXPECT_EQ(table.size(), 1u);
  EXPECT_EQ(table.next_deadline(), kT0 + kNatTcpTtl);
}

TEST(NatTable, SessionsExpireInOrderOfLastActivity) {
  NatTable table;
  for (std::uint16_t port = 1; port <= 3; ++port) {
    (void)table.translate_outgoing(key(NatProtocol::udp, port, kProxy1), kReal1, false,
                                   kT0 + std::chrono::seconds(port));
  }
  // Port 1 is refreshed last.
  (void)table.translate_outgoing(key(NatProtocol::udp, 1, kProxy1), kReal1, false,
                                 kT0 + std::chrono::seconds(10));
  table.handle_timeout(kT0 + std::chrono::seconds(3) + kNatUdpTtl);
  EXPECT_EQ(table.size(), 1u);
  EXPECT_TRUE(table.outside_for(key(NatProtocol::udp, 1, kProxy1)));
}

TEST(NatTable, RepointedInsideKeyEndsTheOldSession) {
  NatTable table;
  const NatKey inside = key(NatProtocol::udp, 77, kProxy1);
  auto old_outside = table.translate_outgoing(inside, kReal1, false, kT0);
  auto new_outside = table.translate_outgoing(inside, kReal2, false, kT0);
  EXPECT_EQ(new_outside->ip, kReal2);
  EXPECT_EQ(table.size(), 1u);
  EXPECT_EQ(table.translate_incoming(*old_outside, false, kT0).lookup, Lookup::expired);
  EXPECT_EQ(table.translate_incoming(*new_outside, false, kT0).inside, inside);
}

TEST(NatTable, ExpiredMarkersAreForgottenEventually) {
  NatTable table;
  auto outside = table.translate_outgoing(key(NatProtocol::udp, 5, kProxy1), kReal1, false, kT0);
  table.handle_timeout(kT0 + kNatUdpTtl);
  EXPECT_TRUE(table.is_expired(*outside));
  table.handle_timeout(kT0 + kNatUdpTtl + kNatExpiredMemory - std::chrono::seconds(1));
  EXPECT_TRUE(table.is_expired(*outside));
  table.handle_timeout(kT0 + kNatUdpTtl + kNatExpiredMemory);
  EXPECT_FALSE(table.is_expired(*outside));
  EXPECT_EQ(table.translate_incoming(*outside, false, kT0).lookup, Lookup::no_session);
}

TEST(NatTable, InsideIpTracking) {
  NatTable table;
  EXPECT_FALSE(table.has_session_for_inside_ip(kProxy1));
  (void)table.translate_outgoing(key(NatProtocol::udp, 5, kProxy1), kReal1, false, kT0);
  (void)table.translate_outgoing(key(NatProtocol::tcp, 5, kProxy1), kReal1, false,
                                 kT0 + std::chrono::seconds(60));
  EXPECT_TRUE(table.has_session_for_inside_ip(kProxy1));
  EXPECT_FALSE(table.has_session_for_inside_ip(kProxy2));
  table.handle_timeout(kT0 + kNatUdpTtl);
  EXPECT_TRUE(table.has_session_for_inside_ip(kProxy1));  // the TCP one lives on
  table.handle_timeout(kT0 + std::chrono::seconds(60) + kNatTcpTtl);
  EXPECT_FALSE(table.has_session_for_inside_ip(kProxy1));
}

TEST(NatTable, TimeGoingBackwardsKeepsOrder) {
  NatTable table;
  (void)table.translate_outgoing(key(NatProtocol::udp, 1, kProxy1), kReal1, false,
                                 kT0 + std::chrono::seconds(50));
  (void)table.translate_outgoing(key(NatProtocol::udp, 2, kProxy1), kReal1, false, kT0);
  table.handle_timeout(kT0 + kNatUdpTtl);
  EXPECT_EQ(table.size(), 2u);  // neither expired early
  table.handle_timeout(kT0 + std::chrono::seconds(50) + kNatUdpTtl);
  EXPECT_TRUE(table.empty());
}

}  // namespace
}  // namespace fz::gateway
