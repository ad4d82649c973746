#include "net/icmp.hpp"

#include <gtest/gtest.h>

#include <vector>

namespace fz::net {
namespace {

#include "test_packets.inc"

using Buf = std::vector<std::uint8_t>;

IpAddr ip(std::string_view text) {
  return *IpAddr::parse(text);
}

Buf build_error(const Buf& offending, IcmpErrorKind kind) {
  auto p = IpPacketView::parse(offending);
  EXPECT_TRUE(p.ok());
  Buf out(1500);
  auto n = build_icmp_error(out, *p, kind);
  EXPECT_TRUE(n.ok());
  out.resize(n.ok() ? *n : 0);
  return out;
}

// §5.3, byte for byte against packets built by the independent Python model: outer source = the
// offending destination, TTL 20, IPv4 DF + ID 0, quote = IHL*4 + 8 bytes (v4) or everything up to
// 1200 bytes (v6).
TEST(IcmpError, ProhibitedV4) {
  EXPECT_EQ(build_error(kV4Udp, IcmpErrorKind::prohibited), kV4Prohibited);
}
TEST(IcmpError, UnreachableV4) {
  EXPECT_EQ(build_error(kV4Udp, IcmpErrorKind::unreachable), kV4Unreachable);
}
TEST(IcmpError, ProhibitedV6) {
  EXPECT_EQ(build_error(kV6Udp, IcmpErrorKind::prohibited), kV6Prohibited);
}
TEST(IcmpError, UnreachableV6) {
  EXPECT_EQ(build_error(kV6Udp, IcmpErrorKind::unreachable), kV6Unreachable);
}
TEST(IcmpError, QuotesIpv4OptionsPlusEightBytes) {
  EXPECT_EQ(build_error(kV4Options, IcmpErrorKind::prohibited), kV4OptionsProhibited);
}

TEST(IcmpError, ExactFieldsOfV4Error) {
  const Buf b = build_error(kV4Udp, IcmpErrorKind::prohibited);
  ASSERT_EQ(b.size(), 20u + 8u + 28u);
  EXPECT_EQ(b[0], 0x45);                // IHL 5
  EXPECT_EQ(load_be16(&b[4]), 0);       // ID 0
  EXPECT_EQ(load_be16(&b[6]), 0x4000);  // DF
  EXPECT_EQ(b[8], 20);                  // TTL
  EXPECT_EQ(b[9], 1);
  EXPECT_EQ(b[20], 3);
  EXPECT_EQ(b[21], 13);
  EXPECT_EQ(load_be32(&b[24]), 0u);
}

TEST(IcmpError, Ipv6QuoteIsCappedAt1200Bytes) {
  Buf big(1280);
  Buf payload(1280 - 48, 0xab);
  ASSERT_TRUE(build_udp(big, {ip("fd00:2021:1111::1"), ip("2001:db8::1")}, 1, 2, payload).ok());
  const Buf err = build_error(big, IcmpErrorKind::prohibited);
  ASSERT_EQ(err.size(), 40u + 8u + 1200u);
  EXPECT_TRUE(std::equal(err.begin() + 48, err.end(), big.begin()));
  auto p = IpPacketView::parse(err);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->ttl(), 20);
  EXPECT_TRUE(p->verify_checksums().ok());
}

TEST(IcmpError, ShortOffendingPacketIsQuotedWhole) {
  Buf tiny(20);
  ASSERT_TRUE(build_ip_packet(tiny, {ip("100.64.0.1"), ip("10.0.0.1")}, 47, {}).ok());
  const Buf err = build_error(tiny, IcmpErrorKind::unreachable);
  EXPECT_EQ(err.size(), 20u + 8u + 20u);
  EXPECT_TRUE(IpPacketView::parse(err)->verify_checksums().ok());
}

TEST(IcmpError, OutputTooSmall) {
  auto p = IpPacketView::parse(kV4Udp);
  Buf out(55);
  EXPECT_FALSE(build_icmp_error(out, *p, IcmpErrorKind::prohibited).ok());
}

// ---------------------------------------------------------------------------------------------
// Received errors (§5.2) and their translation (§5.4)

TEST(IcmpError, ParsesReceivedV4ErrorQuotingUdp) {
  auto p = IpPacketView::parse(kV4ReceivedError);
  ASSERT_TRUE(p.ok());
  EXPECT_TRUE(p->is_icmp_error());
  auto e = parse_icmp_error(*p);
  ASSERT_TRUE(e.ok()) << e.error().message();
  EXPECT_EQ(e->type, 3);
  EXPECT_EQ(e->code, 4);
  EXPECT_EQ(e->rest_of_header, 1400u);
  EXPECT_EQ(e->original.bytes.size(), 28u);
  EXPECT_EQ(e->original.src, ip("172.16.0.1"));
  EXPECT_EQ(e->original.dst, ip("93.184.216.34"));
  EXPECT_EQ(e->original.protocol, ip_proto::udp);
  EXPECT_EQ(e->original.header_len, 20u);
  EXPECT_EQ(e->original.src_port, 33000);
  EXPECT_EQ(e->original.dst_port, 53);
  EXPECT_FALSE(e->original.echo.has_value());
  EXPECT_EQ(e->original.source_id(), 33000);
}

TEST(IcmpError, TranslatesV4Error) {
  auto p = IpPacketView::parse(kV4ReceivedError);
  auto e = parse_icmp_error(*p);
  ASSERT_TRUE(e.ok());
  Buf out(1500);
  auto n = build_translated_icmp_error(out, *e, ip("100.96.0.1"), ip("100.64.0.1"), 12345);
  ASSERT_TRUE(n.ok()) << n.error().message();
  out.resize(*n);
  EXPECT_EQ(out, kV4TranslatedError);
  EXPECT_TRUE(IpPacketView::parse(out)->verify_checksums().ok());
}

TEST(IcmpError, ParsesAndTranslatesV6PacketTooBigQuotingEcho) {
  auto p = IpPacketView::parse(kV6ReceivedError);
  ASSERT_TRUE(p.ok());
  auto e = parse_icmp_error(*p);
  ASSERT_TRUE(e.ok()) << e.error().message();
  EXPECT_EQ(e->type, icmpv6::packet_too_big);
  EXPECT_EQ(e->rest_of_header, 1280u);
  EXPECT_EQ(e->original.src, ip("2001:db8::99"));
  EXPECT_EQ(e->original.dst, ip("2001:db8::53"));
  EXPECT_EQ(e->original.protocol, ip_proto::icmpv6);
  EXPECT_EQ(e->original.echo, (IcmpEcho{true, 600, 3}));
  EXPECT_EQ(e->original.source_id(), 600);

  Buf out(1500);
  auto n = build_translated_icmp_error(out, *e, ip("fd00:2021:1111:8000::5"),
                                       ip("fd00:2021:1111::1"), 77);
  ASSERT_TRUE(n.ok());
  out.resize(*n);
  EXPECT_EQ(out, kV6TranslatedError);
  EXPECT_TRUE(IpPacketView::parse(out)->verify_checksums().ok());
}

TEST(IcmpError, TranslationNeedsMatchingFamilies) {
  auto e = parse_icmp_error(*IpPacketView::parse(kV4ReceivedError));
  Buf out(1500);
  EXPECT_FALSE(build_translated_icmp_error(out, *e, ip("fd00::1"), ip("fd00::2"), 1).ok());
  EXPECT_FALSE(build_translated_icmp_error(out, *e, ip("100.96.0.1"), ip("fd00::2"), 1).ok());
}

TEST(IcmpError, AllErrorTypesAreRecognised) {
  const Buf quote(kV4Udp.begin(), kV4Udp.begin() + 28);
  Buf out(200);
  for (std::uint8_t type : {3, 11}) {
    ASSERT_TRUE(build_icmp(out, {ip("1.1.1.1"), ip("10.0.0.1")}, type, 0, 0, quote).ok());
    auto p = IpPacketView::parse(out);
    EXPECT_TRUE(p->is_icmp_error());
    EXPECT_TRUE(parse_icmp_error(*p).ok());
  }
  for (std::uint8_t type : {4, 5, 12, 13}) {  // source quench, redirect, parameter problem, ...
    ASSERT_TRUE(build_icmp(out, {ip("1.1.1.1"), ip("10.0.0.1")}, type, 0, 0, quote).ok());
    auto p = IpPacketView::parse(out);
    EXPECT_FALSE(p->is_icmp_error());
    EXPECT_FALSE(parse_icmp_error(*p).ok());
  }
  const Buf quote6(kV6Udp.begin(), kV6Udp.end());
  for (std::uint8_t type : {1, 2, 3}) {
    ASSERT_TRUE(build_icmp(out, {ip("::1"), ip("::2")}, type, 0, 0, quote6).ok());
    auto e = parse_icmp_error(*IpPacketView::parse(out));
    ASSERT_TRUE(e.ok());
    EXPECT_EQ(e->original.src_port, 5000);
  }
  for (std::uint8_t type : {4, 128, 135}) {
    ASSERT_TRUE(build_icmp(out, {ip("::1"), ip("::2")}, type, 0, 0, quote6).ok());
    EXPECT_FALSE(parse_icmp_error(*IpPacketView::parse(out)).ok());
  }
}

TEST(IcmpError, LenientQuoteParsing) {
  Buf out(200);
  // Only the IP header and the first four bytes of TCP quoted: ports still readable.
  const Buf tcp4(kV4TcpSyn.begin(), kV4TcpSyn.begin() + 24);
  ASSERT_TRUE(build_icmp(out, {ip("1.1.1.1"), ip("100.64.0.1")}, 11, 0, 0, tcp4).ok());
  auto e = parse_icmp_error(*IpPacketView::parse(out));
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->original.src_port, 40000);
  EXPECT_EQ(e->original.dst_port, 443);

  // Header only: parses, but without an L4 id.
  const Buf header_only(kV4TcpSyn.begin(), kV4TcpSyn.begin() + 20);
  ASSERT_TRUE(build_icmp(out, {ip("1.1.1.1"), ip("100.64.0.1")}, 3, 1, 0, header_only).ok());
  e = parse_icmp_error(*IpPacketView::parse(out));
  ASSERT_TRUE(e.ok());
  EXPECT_FALSE(e->original.source_id().has_value());
  Buf translated(200);
  EXPECT_FALSE(
      build_translated_icmp_error(translated, *e, ip("100.96.0.1"), ip("100.64.0.1"), 1).ok());

  // Truncated IP header, wrong family, empty quote: errors.
  const Buf short_header(kV4TcpSyn.begin(), kV4TcpSyn.begin() + 19);
  ASSERT_TRUE(build_icmp(out, {ip("1.1.1.1"), ip("100.64.0.1")}, 3, 1, 0, short_header).ok());
  EXPECT_FALSE(parse_icmp_error(*IpPacketView::parse(out)).ok());
  ASSERT_TRUE(build_icmp(out, {ip("1.1.1.1"), ip("100.64.0.1")}, 3, 1, 0, {}).ok());
  EXPECT_FALSE(parse_icmp_error(*IpPacketView::parse(out)).ok());
  const Buf v6_quote(kV6Udp.begin(), kV6Udp.begin() + 48);
  ASSERT_TRUE(build_icmp(out, {ip("1.1.1.1"), ip("100.64.0.1")}, 3, 1, 0, v6_quote).ok());
  EXPECT_FALSE(parse_icmp_error(*IpPacketView::parse(out)).ok());

  // An IPv6 quote whose extension headers are walked to the L4 header.
  const Buf chain(kV6ExtChain.begin(), kV6ExtChain.begin() + 64 + 8);
  Buf out6(300);
  ASSERT_TRUE(build_icmp(out6, {ip("::1"), ip("::2")}, 1, 4, 0, chain).ok());
  e = parse_icmp_error(*IpPacketView::parse(out6));
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->original.header_len, 64u);
  EXPECT_EQ(e->original.src_port, 1234);

  // A quoted non-first fragment has no L4 header.
  Buf frag = kV6Fragment;
  frag[43] = 0x08;  // fragment offset 1
  ASSERT_TRUE(build_icmp(out6, {ip("::1"), ip("::2")}, 1, 4, 0, frag).ok());
  e = parse_icmp_error(*IpPacketView::parse(out6));
  ASSERT_TRUE(e.ok());
  EXPECT_FALSE(e->original.source_id().has_value());
}

}  // namespace
}  // namespace fz::net
