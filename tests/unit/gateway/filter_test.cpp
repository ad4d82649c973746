// The filter engine (gateway-dataplane §2.1, §2.4), including the reference's
// peer/filter_engine.rs tests.
#include "gateway/filter.hpp"

#include <gtest/gtest.h>

#include "packets.hpp"

namespace fz::gateway {
namespace {

using test::IpAddr;

Filter tcp(std::uint16_t first, std::uint16_t last) {
  return Filter{FilterProtocol::tcp, first, last};
}
Filter udp(std::uint16_t first, std::uint16_t last) {
  return Filter{FilterProtocol::udp, first, last};
}
Filter icmp() {
  return Filter{FilterProtocol::icmp};
}

constexpr L4Protocol kIcmp{L4Kind::icmp, 0};
constexpr L4Protocol kOther{L4Kind::other, 0};
L4Protocol tcp_port(std::uint16_t p) {
  return {L4Kind::tcp, p};
}
L4Protocol udp_port(std::uint16_t p) {
  return {L4Kind::udp, p};
}

TEST(PortSet, MergesOverlappingAndAdjacentRanges) {
  PortSet set;
  set.insert(10, 20);
  set.insert(30, 40);
  set.insert(21, 29);  // joins both neighbours
  ASSERT_EQ(set.ranges().size(), 1u);
  EXPECT_EQ(set.ranges()[0], (PortSet::Range{10, 40}));
  set.insert(5, 7);
  set.insert(50, 60);
  set.insert(6, 55);
  ASSERT_EQ(set.ranges().size(), 1u);
  EXPECT_EQ(set.ranges()[0], (PortSet::Range{5, 60}));
}

TEST(PortSet, ContainsIsInclusiveAndHandlesExtremes) {
  PortSet set;
  set.insert(0, 0);
  set.insert(80, 80);
  set.insert(65535, 65535);
  EXPECT_TRUE(set.contains(0));
  EXPECT_FALSE(set.contains(1));
  EXPECT_FALSE(set.contains(79));
  EXPECT_TRUE(set.contains(80));
  EXPECT_FALSE(set.contains(81));
  EXPECT_TRUE(set.contains(65535));
  EXPECT_FALSE(set.contains(65534));
}

TEST(PortSet, ReversedRangeIsEmpty) {
  PortSet set;
  set.insert(100, 10);
  EXPECT_TRUE(set.empty());
  EXPECT_FALSE(set.contains(50));
}

TEST(PortSet, InsertionOrderDoesNotMatter) {
  PortSet a, b;
  a.insert(1, 5);
  a.insert(7, 9);
  a.insert(6, 6);
  b.insert(6, 6);
  b.insert(7, 9);
  b.insert(1, 5);
  EXPECT_EQ(a, b);
}

TEST(FilterEngine, EmptyListPermitsEverything) {
  const Filters empty;
  const FilterEngine engine = FilterEngine::from_list(empty);
  EXPECT_TRUE(engine.permits_all());
  EXPECT_TRUE(engine.permits(tcp_port(1)));
  EXPECT_TRUE(engine.permits(udp_port(65535)));
  EXPECT_TRUE(engine.permits(kIcmp));
  EXPECT_TRUE(engine.permits(kOther));
}

TEST(FilterEngine, AnyEmptyListAmongSeveralPermitsEverything) {
  const Filters narrow = {tcp(80, 80)};
  const Filters empty;
  const Filters* lists[] = {&narrow, &empty};
  EXPECT_TRUE(FilterEngine::from_lists(lists).permits_all());
}

TEST(FilterEngine, NoListsPermitNothing) {
  const FilterEngine engine = FilterEngine::from_lists({});
  EXPECT_FALSE(engine.permits(tcp_port(80)));
  EXPECT_FALSE(engine.permits(kIcmp));
}

TEST(FilterEngine, PermitSomeIsTheUnionOfTheLists) {
  const Filters a = {tcp(80, 80), udp(53, 53)};
  const Filters b = {tcp(443, 443), icmp()};
  const Filters* lists[] = {&a, &b};
  const FilterEngine engine = FilterEngine::from_lists(lists);
  EXPECT_FALSE(engine.permits_all());
  EXPECT_TRUE(engine.permits(tcp_port(80)));
  EXPECT_TRUE(engine.permits(tcp_port(443)));
  EXPECT_FALSE(engine.permits(tcp_port(53)));
  EXPECT_TRUE(engine.permits(udp_port(53)));
  EXPECT_FALSE(engine.permits(udp_port(80)));
  EXPECT_TRUE(engine.permits(kIcmp));
}

TEST(FilterEngine, OtherProtocolsAreDeniedUnlessPermitAll) {
  const Filters all_ports = {tcp(0, 65535), udp(0, 65535), icmp()};
  const FilterEngine engine = FilterEngine::from_list(all_ports);
  EXPECT_FALSE(engine.permits(kOther));
}

TEST(FilterEngine, IcmpFilterCoversEveryIcmpType) {
  const Filters only_icmp = {icmp()};
  const FilterEngine engine = FilterEngine::from_list(only_icmp);
  EXPECT_TRUE(engine.permits(kIcmp));
  EXPECT_FALSE(engine.permits(tcp_port(80)));
  EXPECT_FALSE(engine.permits(udp_port(80)));
}

// Ported: filter_engine.rs allows_icmpv4_destination_unreachable / allows_icmpv6_... and
// icmp_false_blocks_other_icmp_messages, on real packets.
TEST(FilterEngine, AllowsIcmpv4DestinationUnreachable) {
  const Filters only_icmp = {icmp()};
  const FilterEngine engine = FilterEngine::from_list(only_icmp);
  auto original = test::udp(IpAddr::v4(10, 0, 0, 1), IpAddr::v4(100, 64, 0, 1), 1, 2);
  auto error = test::icmp_error(IpAddr::v4(10, 0, 0, 1), IpAddr::v4(100, 64, 0, 1),
                                net::icmpv4::dest_unreachable, 1, original);
  EXPECT_TRUE(engine.permits(source_protocol(error.view())));
  EXPECT_TRUE(engine.permits(destination_protocol(error.view())));
}

TEST(FilterEngine, AllowsIcmpv6DestinationUnreachable) {
  const Filters only_icmp = {icmp()};
  const FilterEngine engine = FilterEngine::from_list(only_icmp);
  const IpAddr a = IpAddr::v6(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);
  const IpAddr b = IpAddr::v6(0xfd00, 0x2021, 0x1111, 0, 0, 0, 0, 1);
  auto original = test::udp(b, a, 1, 2);
  auto error = test::icmp_error(a, b, net::icmpv6::dest_unreachable,
                                net::icmpv6::code_address_unreachable, original);
  EXPECT_TRUE(engine.permits(source_protocol(error.view())));
}

TEST(FilterEngine, IcmpFalseBlocksOtherIcmpMessages) {
  const Filters only_tcp = {tcp(0, 65535)};
  const FilterEngine engine = FilterEngine::from_list(only_tcp);
  auto timestamp = test::icmp_other(IpAddr::v4(10, 0, 0, 1), IpAddr::v4(100, 64, 0, 1), 13);
  EXPECT_FALSE(engine.permits(destination_protocol(timestamp.view())));
}

TEST(L4Protocol, ExtractsPortsByDirection) {
  auto p = test::tcp(IpAddr::v4(1, 1, 1, 1), IpAddr::v4(2, 2, 2, 2), 1234, 443);
  EXPECT_EQ(destination_protocol(p.view()), tcp_port(443));
  EXPECT_EQ(source_protocol(p.view()), tcp_port(1234));
  auto u = test::udp(IpAddr::v4(1, 1, 1, 1), IpAddr::v4(2, 2, 2, 2), 5353, 53);
  EXPECT_EQ(destination_protocol(u.view()), udp_port(53));
  EXPECT_EQ(source_protocol(u.view()), udp_port(5353));
}

TEST(L4Protocol, IcmpAndOtherProtocols) {
  auto echo = test::icmp_echo(IpAddr::v4(1, 1, 1, 1), IpAddr::v4(2, 2, 2, 2), 7);
  EXPECT_EQ(destination_protocol(echo.view()), kIcmp);
  const IpAddr a = IpAddr::v6(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);
  auto echo6 = test::icmp_echo(a, a, 7);
  EXPECT_EQ(source_protocol(echo6.view()), kIcmp);
  auto gre = test::raw(IpAddr::v4(1, 1, 1, 1), IpAddr::v4(2, 2, 2, 2), 47);
  EXPECT_EQ(destination_protocol(gre.view()), kOther);
}

}  // namespace
}  // namespace fz::gateway
