#include "net/ip_packet.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "net/checksum.hpp"

namespace fz::net {
namespace {

#include "test_packets.inc"

using Buf = std::vector<std::uint8_t>;

IpAddr ip(std::string_view text) {
  return *IpAddr::parse(text);
}

std::string text(Bytes b) {
  return std::string(b.begin(), b.end());
}

Bytes as_bytes(std::string_view s) {
  return Bytes(reinterpret_cast<const std::uint8_t*>(s.data()), s.size());
}

// Recomputes the IPv4 header checksum after a test edited the header by hand.
void fix_ipv4_header_checksum(Buf& b) {
  const std::size_t ihl = std::size_t{b[0] & 0xfu} * 4;
  b[10] = b[11] = 0;
  store_be16(b.data() + 10, internet_checksum(Bytes(b.data(), ihl)));
}

// ---------------------------------------------------------------------------------------------
// Parsing

TEST(IpPacket, ParsesIpv4Udp) {
  auto p = IpPacketView::parse(kV4Udp);
  ASSERT_TRUE(p.ok()) << p.error().message();
  EXPECT_EQ(p->version(), 4u);
  EXPECT_EQ(p->family(), IpFamily::v4);
  EXPECT_EQ(p->size(), 33u);
  EXPECT_EQ(p->src(), ip("10.0.0.1"));
  EXPECT_EQ(p->dst(), ip("10.0.0.2"));
  EXPECT_EQ(p->protocol(), ip_proto::udp);
  EXPECT_EQ(p->transport(), Transport::udp);
  EXPECT_EQ(p->header_len(), 20u);
  EXPECT_EQ(p->ttl(), 64);
  EXPECT_EQ(p->ecn(), Ecn::not_ect);
  EXPECT_FALSE(p->is_fragment());
  EXPECT_EQ(p->src_port(), 12345);
  EXPECT_EQ(p->dst_port(), 53);
  EXPECT_EQ(p->l4().size(), 13u);
  EXPECT_EQ(text(p->l4_payload()), "hello");
  EXPECT_FALSE(p->icmp_type().has_value());
  EXPECT_FALSE(p->icmp_echo().has_value());
  EXPECT_FALSE(p->tcp_flags().has_value());
  EXPECT_EQ(p->five_tuple(), (FiveTuple{ip("10.0.0.1"), ip("10.0.0.2"), 17, 12345, 53}));
  EXPECT_TRUE(p->verify_checksums().ok());
}

TEST(IpPacket, TrimsPaddingAfterTotalLength) {
  Buf padded = kV4Udp;
  padded.resize(padded.size() + 15, 0xee);
  auto p = IpPacketView::parse(padded);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->size(), kV4Udp.size());
  EXPECT_EQ(text(p->l4_payload()), "hello");
  EXPECT_TRUE(p->verify_checksums().ok());

  Buf padded6 = kV6Udp;
  padded6.resize(padded6.size() + 3, 0);
  auto q = IpPacketView::parse(padded6);
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(q->size(), kV6Udp.size());
}

TEST(IpPacket, ParsesIpv4TcpSyn) {
  auto p = IpPacketView::parse(kV4TcpSyn);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->transport(), Transport::tcp);
  EXPECT_EQ(p->src_port(), 40000);
  EXPECT_EQ(p->dst_port(), 443);
  EXPECT_EQ(p->tcp_flags(), tcp_flag::syn);
  EXPECT_FALSE(p->is_tcp_rst());
  EXPECT_EQ(p->ttl(), 63);
  EXPECT_TRUE(p->l4_payload().empty());
  EXPECT_TRUE(p->verify_checksums().ok());
}

TEST(IpPacket, ParsesIpv4Echo) {
  auto p = IpPacketView::parse(kV4Echo);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->transport(), Transport::icmpv4);
  EXPECT_EQ(p->icmp_type(), 8);
  EXPECT_EQ(p->icmp_code(), 0);
  EXPECT_EQ(p->icmp_echo(), (IcmpEcho{true, 0x4242, 1}));
  EXPECT_FALSE(p->is_icmp_error());
  EXPECT_FALSE(p->src_port().has_value());
  EXPECT_EQ(p->five_tuple(), (FiveTuple{ip("100.64.0.1"), ip("8.8.8.8"), 1, 0x4242, 0x4242}));
  EXPECT_EQ(text(p->l4_payload()), "ping");
  EXPECT_TRUE(p->verify_checksums().ok());
}

TEST(IpPacket, ParsesIpv6Udp) {
  auto p = IpPacketView::parse(kV6Udp);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->version(), 6u);
  EXPECT_EQ(p->src(), ip("fd00:2021:1111::1"));
  EXPECT_EQ(p->dst(), ip("2001:db8::1"));
  EXPECT_EQ(p->header_len(), 40u);
  EXPECT_EQ(p->transport(), Transport::udp);
  EXPECT_EQ(p->ecn(), Ecn::ect0);
  EXPECT_EQ(p->dscp(), 0);
  EXPECT_EQ(p->ttl(), 64);
  EXPECT_EQ(p->src_port(), 5000);
  EXPECT_EQ(text(p->l4_payload()), "abc");
  EXPECT_TRUE(p->verify_checksums().ok());
}

TEST(IpPacket, ParsesIpv6Echo) {
  auto p = IpPacketView::parse(kV6Echo);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->transport(), Transport::icmpv6);
  EXPECT_EQ(p->icmp_type(), 128);
  EXPECT_EQ(p->icmp_echo(), (IcmpEcho{true, 7, 9}));
  EXPECT_TRUE(p->verify_checksums().ok());
}

TEST(IpPacket, ParsesIpv4Options) {
  auto p = IpPacketView::parse(kV4Options);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->header_len(), 24u);
  EXPECT_EQ(p->ipv4_ihl_bytes(), 24u);
  EXPECT_EQ(p->src_port(), 1);
  EXPECT_EQ(p->dst_port(), 2);
  EXPECT_EQ(text(p->l4_payload()), "x");
  EXPECT_TRUE(p->verify_checksums().ok());
}

TEST(IpPacket, WalksIpv6ExtensionHeaders) {
  auto p = IpPacketView::parse(kV6ExtChain);
  ASSERT_TRUE(p.ok()) << p.error().message();
  EXPECT_EQ(p->protocol(), ip_proto::tcp);
  EXPECT_EQ(p->header_len(), 64u);  // 40 + hop-by-hop 8 + destination options 8 + routing 8
  EXPECT_FALSE(p->is_fragment());
  EXPECT_EQ(p->src_port(), 1234);
  EXPECT_EQ(p->dst_port(), 80);
  EXPECT_EQ(p->tcp_flags(), tcp_flag::psh | tcp_flag::ack);
  EXPECT_EQ(text(p->l4_payload()), "GET");
  EXPECT_TRUE(p->verify_checksums().ok());
}

TEST(IpPacket, WalksAuthenticationHeader) {
  // IPv6 -> AH (payload len 1: 12 bytes) -> UDP.
  const std::uint8_t udp[] = {0x00, 0x01, 0x00, 0x02, 0x00, 0x08, 0x00, 0x00};
  Buf payload = {17, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1};
  payload.insert(payload.end(), std::begin(udp), std::end(udp));
  Buf b(40 + payload.size());
  IpFields f{ip("2001:db8::1"), ip("2001:db8::2")};
  ASSERT_TRUE(build_ip_packet(b, f, ip_proto::ah, payload).ok());
  auto p = IpPacketView::parse(b);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->protocol(), ip_proto::udp);
  EXPECT_EQ(p->header_len(), 52u);
  EXPECT_EQ(p->dst_port(), 2);

  // The same over IPv4.
  Buf b4(20 + payload.size());
  IpFields f4{ip("10.0.0.1"), ip("10.0.0.2")};
  ASSERT_TRUE(build_ip_packet(b4, f4, ip_proto::ah, payload).ok());
  auto p4 = IpPacketView::parse(b4);
  ASSERT_TRUE(p4.ok());
  EXPECT_EQ(p4->protocol(), ip_proto::udp);
  EXPECT_EQ(p4->header_len(), 32u);
  EXPECT_EQ(p4->transport(), Transport::udp);
}

TEST(IpPacket, RejectsHopByHopAfterTheFirstHeader) {
  Buf b = kV6ExtChain;
  b[6] = ip_proto::ipv6_opts;    // destination options first ...
  b[40] = ip_proto::hop_by_hop;  // ... followed by hop-by-hop
  EXPECT_FALSE(IpPacketView::parse(b).ok());
}

TEST(IpPacket, Ipv6FragmentHeaderMarksFragment) {
  auto p = IpPacketView::parse(kV6Fragment);
  ASSERT_TRUE(p.ok());
  EXPECT_TRUE(p->is_fragment());
  EXPECT_EQ(p->protocol(), ip_proto::udp);
  EXPECT_EQ(p->header_len(), 48u);
  EXPECT_EQ(p->transport(), Transport::none);
  EXPECT_FALSE(p->src_port().has_value());
  EXPECT_FALSE(p->five_tuple().has_value());
  EXPECT_TRUE(p->verify_checksums().ok());
}

TEST(IpPacket, Ipv4FragmentsAreRecognised) {
  Buf more_fragments = kV4Udp;
  more_fragments[6] |= 0x20;  // MF
  fix_ipv4_header_checksum(more_fragments);
  auto p = IpPacketView::parse(more_fragments);
  ASSERT_TRUE(p.ok());
  EXPECT_TRUE(p->is_fragment());
  EXPECT_EQ(p->transport(), Transport::none);
  EXPECT_EQ(p->protocol(), ip_proto::udp);
  EXPECT_TRUE(p->verify_checksums().ok());

  Buf later = kV4Udp;
  later[6] = 0x00;
  later[7] = 0x01;  // offset 8 bytes, DF cleared
  later[20] = 0xff;
  later[24] = 0x00;  // "UDP length" 0 would be invalid if it were parsed
  later[25] = 0x00;
  fix_ipv4_header_checksum(later);
  auto q = IpPacketView::parse(later);
  ASSERT_TRUE(q.ok());
  EXPECT_TRUE(q->is_fragment());

  Buf dont_fragment_only = kV4Udp;  // DF alone is not a fragment
  EXPECT_FALSE(IpPacketView::parse(dont_fragment_only)->is_fragment());
}

TEST(IpPacket, AcceptsOtherProtocolsWithoutL4) {
  const std::uint8_t gre[] = {0, 0, 0x08, 0x00};
  Buf b(24);
  IpFields f{ip("10.0.0.1"), ip("10.0.0.2")};
  ASSERT_EQ(*build_ip_packet(b, f, 47, gre), 24u);
  auto p = IpPacketView::parse(b);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->protocol(), 47);
  EXPECT_EQ(p->transport(), Transport::none);
  EXPECT_EQ(p->l4().size(), 4u);
  EXPECT_EQ(p->l4_payload().size(), 4u);
  EXPECT_FALSE(p->five_tuple().has_value());
  EXPECT_TRUE(p->verify_checksums().ok());
}

// Found by the fuzzer: accessors must not look at L4 bytes that are not there.
TEST(IpPacket, AccessorsOnEmptyL4) {
  Buf b(40);
  ASSERT_TRUE(build_ip_packet(b, {ip("::1"), ip("::2")}, 255, {}).ok());
  auto p = IpPacketView::parse(b);
  ASSERT_TRUE(p.ok());
  EXPECT_TRUE(p->l4().empty());
  EXPECT_FALSE(p->is_icmp_error());
  EXPECT_FALSE(p->icmp_echo().has_value());
  EXPECT_FALSE(p->icmp_type().has_value());
  EXPECT_FALSE(p->five_tuple().has_value());
  EXPECT_FALSE(p->is_tcp_rst());
  EXPECT_TRUE(p->l4_payload().empty());
}

TEST(IpPacket, UdpLengthMayBeShorterThanIpPayload) {
  Buf b = kV4Udp;
  b[24] = 0;
  b[25] = 10;  // UDP length 10 of 13 bytes
  auto p = IpPacketView::parse(b);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->l4().size(), 10u);
  EXPECT_EQ(text(p->l4_payload()), "he");
}

void expect_rejected(const Buf& b, const char* why) {
  auto p = IpPacketView::parse(b);
  EXPECT_FALSE(p.ok()) << why;
}

TEST(IpPacket, RejectsTruncatedAndInconsistentInput) {
  expect_rejected({}, "empty");
  expect_rejected({0x45}, "one byte");
  expect_rejected(Buf(kV4Udp.begin(), kV4Udp.begin() + 19), "short IPv4 header");
  expect_rejected(Buf(kV4Udp.begin(), kV4Udp.end() - 1), "shorter than total length");
  expect_rejected(Buf(kV6Udp.begin(), kV6Udp.begin() + 39), "short IPv6 header");
  expect_rejected(Buf(kV6Udp.begin(), kV6Udp.end() - 1), "shorter than payload length");

  Buf b = kV4Udp;
  b[0] = 0x55;
  expect_rejected(b, "version 5");
  b = kV4Udp;
  b[0] = 0x44;
  expect_rejected(b, "IHL 4");
  b = kV4Udp;
  b[0] = 0x4f;
  expect_rejected(b, "IHL beyond total length");
  b = kV4Udp;
  b[2] = 0;
  b[3] = 19;
  expect_rejected(b, "total length below header");
  b = kV4Udp;
  b[24] = 0;
  b[25] = 7;
  expect_rejected(b, "UDP length below 8");
  b = kV4Udp;
  b[24] = 0;
  b[25] = 14;
  expect_rejected(b, "UDP length beyond packet");
  b = kV4Udp;
  b[2] = 0;
  b[3] = 27;  // 7 bytes of UDP
  expect_rejected(b, "truncated UDP header");

  b = kV4TcpSyn;
  b[32] = 0x40;
  expect_rejected(b, "TCP data offset 4");
  b = kV4TcpSyn;
  b[32] = 0x60;
  expect_rejected(b, "TCP options beyond packet");
  b = kV4TcpSyn;
  b[3] = 39;
  expect_rejected(Buf(b.begin(), b.end() - 1), "truncated TCP header");

  b = kV4Echo;
  b[3] = 27;
  expect_rejected(Buf(b.begin(), b.begin() + 27), "truncated ICMP header");
  b = kV4Echo;
  b[9] = ip_proto::icmpv6;
  expect_rejected(b, "ICMPv6 in IPv4");
  b = kV6Echo;
  b[6] = ip_proto::icmp;
  expect_rejected(b, "ICMPv4 in IPv6");

  b = kV6ExtChain;
  b[41] = 200;  // hop-by-hop length beyond packet
  expect_rejected(b, "truncated extension header");
  b = kV6Fragment;
  b[4] = 0;
  b[5] = 7;
  expect_rejected(Buf(b.begin(), b.begin() + 47), "truncated fragment header");
}

// ---------------------------------------------------------------------------------------------
// Checksums

TEST(IpPacket, VerifyChecksumsDetectsCorruption) {
  for (const Buf* original : {&kV4Udp, &kV4TcpSyn, &kV4Echo, &kV6Udp, &kV6Echo, &kV6ExtChain}) {
    Buf b = *original;
    b.back() ^= 0x01;
    auto p = IpPacketView::parse(b);
    ASSERT_TRUE(p.ok());
    EXPECT_EQ(p->verify_checksums().error().code(), Errc::checksum);
  }
  Buf b = kV4Udp;
  b[8] ^= 0x01;  // TTL
  EXPECT_FALSE(IpPacketView::parse(b)->verify_checksums().ok());
}

TEST(IpPacket, ZeroUdpChecksum) {
  Buf b = kV4Udp;
  b[26] = b[27] = 0;
  EXPECT_TRUE(IpPacketView::parse(b)->verify_checksums().ok());
  Buf b6 = kV6Udp;
  b6[46] = b6[47] = 0;
  EXPECT_FALSE(IpPacketView::parse(b6)->verify_checksums().ok());
}

TEST(IpPacket, RecomputeChecksumsRestoresOriginal) {
  for (const Buf* original :
       {&kV4Udp, &kV4TcpSyn, &kV4Echo, &kV6Udp, &kV6Echo, &kV6ExtChain, &kV4Options}) {
    Buf b = *original;
    auto p = IpPacket::parse(b);
    ASSERT_TRUE(p.ok());
    std::uint8_t* l4 = b.data() + p->header_len();
    const std::size_t check_offset = p->transport() == Transport::udp   ? 6
                                     : p->transport() == Transport::tcp ? 16
                                                                        : 2;
    l4[check_offset] ^= 0x5a;
    if (p->is_v4()) b[10] ^= 0xa5;
    p->recompute_checksums();
    EXPECT_EQ(b, *original);
  }
}

TEST(IpPacket, RecomputeFillsZeroUdpChecksum) {
  Buf b = kV4Udp;
  b[26] = b[27] = 0;
  IpPacket::parse(b)->recompute_checksums();
  EXPECT_EQ(b, kV4Udp);
}

// ---------------------------------------------------------------------------------------------
// Rewrites

// Applies `edit` and checks the incremental checksums against a full recomputation.
template <class Edit>
Buf rewrite(const Buf& original, Edit edit) {
  Buf b = original;
  auto p = IpPacket::parse(b);
  EXPECT_TRUE(p.ok());
  edit(*p);
  EXPECT_TRUE(p->verify_checksums().ok());
  Buf full = b;
  IpPacket::parse(full)->recompute_checksums();
  EXPECT_EQ(b, full);
  return b;
}

TEST(IpPacket, RewritesAddressesWithIncrementalChecksums) {
  for (const Buf* original : {&kV4Udp, &kV4TcpSyn, &kV4Echo, &kV4Options}) {
    Buf b = rewrite(*original, [](IpPacket& p) {
      ASSERT_TRUE(p.set_dst(ip("93.184.216.34")).ok());
      ASSERT_TRUE(p.set_src(ip("172.16.0.1")).ok());
    });
    auto p = IpPacketView::parse(b);
    EXPECT_EQ(p->src(), ip("172.16.0.1"));
    EXPECT_EQ(p->dst(), ip("93.184.216.34"));
  }
  for (const Buf* original : {&kV6Udp, &kV6Echo, &kV6ExtChain}) {
    Buf b = rewrite(*original, [](IpPacket& p) {
      ASSERT_TRUE(p.set_dst(ip("2606:4700::1111")).ok());
      ASSERT_TRUE(p.set_src(ip("fd00:2021:1111::ffff")).ok());
    });
    EXPECT_EQ(IpPacketView::parse(b)->dst(), ip("2606:4700::1111"));
  }
}

TEST(IpPacket, RewritesPortsAndEchoId) {
  Buf b = rewrite(kV4Udp, [](IpPacket& p) {
    ASSERT_TRUE(p.set_src_port(1).ok());
    ASSERT_TRUE(p.set_dst_port(65535).ok());
  });
  EXPECT_EQ(IpPacketView::parse(b)->src_port(), 1);
  EXPECT_EQ(IpPacketView::parse(b)->dst_port(), 65535);

  b = rewrite(kV6ExtChain, [](IpPacket& p) { ASSERT_TRUE(p.set_src_port(4321).ok()); });
  EXPECT_EQ(IpPacketView::parse(b)->src_port(), 4321);

  for (const Buf* echo : {&kV4Echo, &kV6Echo}) {
    b = rewrite(*echo, [](IpPacket& p) { ASSERT_TRUE(p.set_icmp_echo_id(0xbeef).ok()); });
    EXPECT_EQ(IpPacketView::parse(b)->icmp_echo()->identifier, 0xbeef);
  }
}

TEST(IpPacket, TranslateDestinationAndSource) {
  // Client → resource: dst := real IP, source port := NAT id.
  Buf b = rewrite(kV4TcpSyn, [](IpPacket& p) {
    ASSERT_TRUE(p.translate_destination(ip("1.1.1.1"), 5555).ok());
  });
  auto tuple = IpPacketView::parse(b)->five_tuple();
  EXPECT_EQ(tuple, (FiveTuple{ip("100.64.0.1"), ip("1.1.1.1"), 6, 5555, 443}));

  // Resource → client: src := proxy IP, destination port := inside id.
  b = rewrite(kV6Udp, [](IpPacket& p) {
    ASSERT_TRUE(p.translate_source(ip("fd00:2021:1111:8000::7"), 999).ok());
  });
  tuple = IpPacketView::parse(b)->five_tuple();
  EXPECT_EQ(tuple, (FiveTuple{ip("fd00:2021:1111:8000::7"), ip("2001:db8::1"), 17, 5000, 999}));

  b = rewrite(kV4Echo,
              [](IpPacket& p) { ASSERT_TRUE(p.translate_destination(ip("9.9.9.9"), 77).ok()); });
  EXPECT_EQ(IpPacketView::parse(b)->icmp_echo(), (IcmpEcho{true, 77, 1}));
}

TEST(IpPacket, RewritesFailWithoutSideEffects) {
  Buf b = kV4Udp;
  auto p = IpPacket::parse(b);
  EXPECT_EQ(p->set_dst(ip("::1")).error().code(), Errc::malformed);
  EXPECT_FALSE(p->set_icmp_echo_id(1).ok());
  EXPECT_EQ(b, kV4Udp);

  Buf gre(24);
  const std::uint8_t payload[4] = {};
  ASSERT_TRUE(build_ip_packet(gre, {ip("10.0.0.1"), ip("10.0.0.2")}, 47, payload).ok());
  const Buf before = gre;
  auto g = IpPacket::parse(gre);
  EXPECT_FALSE(g->set_src_port(1).ok());
  EXPECT_FALSE(g->translate_destination(ip("10.9.9.9"), 1).ok());
  EXPECT_FALSE(g->translate_source(ip("10.9.9.9"), 1).ok());
  EXPECT_EQ(gre, before);
  // Address rewrites work on any protocol.
  ASSERT_TRUE(g->set_dst(ip("10.9.9.9")).ok());
  EXPECT_TRUE(g->verify_checksums().ok());

  Buf err = kV4Echo;
  err[20] = 3;  // destination unreachable: not NATable by id
  auto e = IpPacket::parse(err);
  EXPECT_FALSE(e->translate_destination(ip("1.1.1.1"), 1).ok());
}

TEST(IpPacket, ZeroUdpChecksumStaysZeroOnIncrementalRewrite) {
  Buf b = kV4Udp;
  b[26] = b[27] = 0;
  auto p = IpPacket::parse(b);
  ASSERT_TRUE(p->translate_destination(ip("8.8.4.4"), 4000).ok());
  EXPECT_EQ(b[26], 0);
  EXPECT_EQ(b[27], 0);
  EXPECT_TRUE(p->verify_checksums().ok());
}

TEST(IpPacket, FragmentRewriteTouchesOnlyIpHeader) {
  Buf b = kV6Fragment;
  auto p = IpPacket::parse(b);
  ASSERT_TRUE(p->set_dst(ip("2001:db8::99")).ok());
  EXPECT_TRUE(std::equal(b.begin() + 40, b.end(), kV6Fragment.begin() + 40));
  EXPECT_FALSE(p->set_src_port(1).ok());
}

TEST(IpPacket, Ecn) {
  Buf b = rewrite(kV4Udp, [](IpPacket& p) { p.set_ecn(Ecn::ect1); });
  EXPECT_EQ(b[1], 0x01);
  EXPECT_EQ(IpPacketView::parse(b)->ecn(), Ecn::ect1);
  b = rewrite(b, [](IpPacket& p) { EXPECT_TRUE(p.apply_outer_ecn(Ecn::ce)); });
  EXPECT_EQ(IpPacketView::parse(b)->ecn(), Ecn::ce);

  b = rewrite(kV6Udp, [](IpPacket& p) { EXPECT_TRUE(p.apply_outer_ecn(Ecn::ce)); });
  EXPECT_EQ(b[1], 0x30);
  EXPECT_EQ(IpPacketView::parse(b)->ecn(), Ecn::ce);
  EXPECT_EQ(b[0], 0x60);

  // §10.4: only CE over ECT(0)/ECT(1) changes anything.
  for (Ecn inner : {Ecn::not_ect, Ecn::ect1, Ecn::ect0, Ecn::ce}) {
    for (Ecn outer : {Ecn::not_ect, Ecn::ect1, Ecn::ect0, Ecn::ce}) {
      Buf c = kV4TcpSyn;
      auto p = IpPacket::parse(c);
      p->set_ecn(inner);
      const bool expect_change = outer == Ecn::ce && (inner == Ecn::ect0 || inner == Ecn::ect1);
      EXPECT_EQ(p->apply_outer_ecn(outer), expect_change);
      EXPECT_EQ(p->ecn(), expect_change ? Ecn::ce : inner);
      EXPECT_TRUE(p->verify_checksums().ok());
    }
  }
}

TEST(IpPacket, DscpIsPreservedByEcnChanges) {
  Buf b(40 + 8);
  IpFields f{ip("::1"), ip("::2")};
  f.dscp = 46;
  f.ecn = Ecn::ect0;
  f.flow_label = 0xabcde;
  ASSERT_TRUE(build_udp(b, f, 1, 2, {}).ok());
  auto p = IpPacket::parse(b);
  EXPECT_EQ(p->dscp(), 46);
  EXPECT_EQ(p->ecn(), Ecn::ect0);
  p->set_ecn(Ecn::ce);
  EXPECT_EQ(p->dscp(), 46);
  EXPECT_EQ(load_be32(b.data()) & 0xfffff, 0xabcdeu);
}

// ---------------------------------------------------------------------------------------------
// Builders, checked against the independently generated packets

TEST(IpPacketBuilders, MatchReferenceBytes) {
  Buf out(1500);
  IpFields v4{ip("10.0.0.1"), ip("10.0.0.2")};
  v4.identification = 0x1234;
  v4.dont_fragment = true;
  auto n = build_udp(out, v4, 12345, 53, as_bytes("hello"));
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(Buf(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(*n)), kV4Udp);

  IpFields syn{ip("100.64.0.1"), ip("93.184.216.34")};
  syn.ttl = 63;
  n = build_tcp(out, syn, TcpFields{40000, 443, 1, 0, tcp_flag::syn});
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(Buf(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(*n)), kV4TcpSyn);

  n = build_icmp_echo(out, {ip("100.64.0.1"), ip("8.8.8.8")}, IcmpEcho{true, 0x4242, 1},
                      as_bytes("ping"));
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(Buf(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(*n)), kV4Echo);

  IpFields v6{ip("fd00:2021:1111::1"), ip("2001:db8::1")};
  v6.ecn = Ecn::ect0;
  n = build_udp(out, v6, 5000, 53, as_bytes("abc"));
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(Buf(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(*n)), kV6Udp);

  n = build_icmp_echo(out, {ip("fd00:2021:1111::1"), ip("2001:db8::1")}, IcmpEcho{true, 7, 9},
                      as_bytes("pong"));
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(Buf(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(*n)), kV6Echo);
}

TEST(IpPacketBuilders, EchoReplyTypes) {
  Buf out(100);
  ASSERT_TRUE(build_icmp_echo(out, {ip("1.1.1.1"), ip("2.2.2.2")}, IcmpEcho{false, 1, 2}).ok());
  EXPECT_EQ(IpPacketView::parse(out)->icmp_type(), 0);
  ASSERT_TRUE(build_icmp_echo(out, {ip("::1"), ip("::2")}, IcmpEcho{false, 1, 2}).ok());
  EXPECT_EQ(IpPacketView::parse(out)->icmp_type(), 129);
  EXPECT_EQ(IpPacketView::parse(out)->icmp_echo(), (IcmpEcho{false, 1, 2}));
}

TEST(IpPacketBuilders, RejectBadArguments) {
  Buf out(28);
  EXPECT_EQ(build_udp(out, {ip("1.1.1.1"), ip("::1")}, 1, 2, {}).error().code(), Errc::malformed);
  EXPECT_TRUE(build_udp(out, {ip("1.1.1.1"), ip("2.2.2.2")}, 1, 2, {}).ok());
  const std::uint8_t one[1] = {};
  EXPECT_EQ(build_udp(out, {ip("1.1.1.1"), ip("2.2.2.2")}, 1, 2, one).error().code(),
            Errc::out_of_range);
  EXPECT_FALSE(build_tcp(out, {ip("::1"), ip("::2")}, {}).ok());
  Buf big(70000);
  Buf huge(70000);
  EXPECT_FALSE(
      build_ip_packet(big, {ip("1.1.1.1"), ip("2.2.2.2")}, 47, Bytes(huge.data(), 65516)).ok());
  EXPECT_TRUE(
      build_ip_packet(big, {ip("1.1.1.1"), ip("2.2.2.2")}, 47, Bytes(huge.data(), 65515)).ok());
  EXPECT_TRUE(build_ip_packet(big, {ip("::1"), ip("::2")}, 47, Bytes(huge.data(), 65535)).ok());
  EXPECT_FALSE(build_ip_packet(big, {ip("::1"), ip("::2")}, 47, Bytes(huge.data(), 65536)).ok());
}

}  // namespace
}  // namespace fz::net
