#include "net/ip_addr.hpp"

#include <gtest/gtest.h>

#include <unordered_set>

namespace fz::net {
namespace {

IpAddr ip(std::string_view text) {
  auto r = IpAddr::parse(text);
  EXPECT_TRUE(r.ok()) << text;
  return r.ok() ? *r : IpAddr();
}

TEST(IpAddr, ParsesIpv4) {
  const IpAddr a = ip("192.168.1.254");
  EXPECT_TRUE(a.is_v4());
  EXPECT_EQ(a, IpAddr::v4(192, 168, 1, 254));
  EXPECT_EQ(a.to_u32(), 0xc0a801feu);
  EXPECT_EQ(a.bytes().size(), 4u);
  EXPECT_EQ(a.to_string(), "192.168.1.254");
  EXPECT_EQ(ip("0.0.0.0"), IpAddr::unspecified(IpFamily::v4));
  EXPECT_EQ(ip("255.255.255.255").to_u32(), 0xffffffffu);
}

TEST(IpAddr, RejectsBadIpv4) {
  for (const char* bad :
       {"", "1.2.3", "1.2.3.4.5", "256.1.1.1", "01.2.3.4", "1.2.3.4 ", " 1.2.3.4", "1.2.3.-1",
        "1..2.3", "a.b.c.d", "0x7f.0.0.1", "1.2.3.4/32", "1.2.3.4:80", "127.1"}) {
    EXPECT_FALSE(IpAddr::parse(bad).ok()) << bad;
  }
  EXPECT_FALSE(IpAddr::parse(std::string_view("1.2.3.4\0junk", 12)).ok());
  EXPECT_FALSE(IpAddr::parse(std::string(100, '1')).ok());
}

TEST(IpAddr, ParsesIpv6) {
  const IpAddr a = ip("2001:DB8::1");
  EXPECT_TRUE(a.is_v6());
  EXPECT_EQ(a, IpAddr::v6(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1));
  EXPECT_EQ(ip("::"), IpAddr::unspecified(IpFamily::v6));
  EXPECT_TRUE(ip("::").is_unspecified());
  EXPECT_EQ(ip("::ffff:1.2.3.4"), IpAddr::v6(0, 0, 0, 0, 0, 0xffff, 0x0102, 0x0304));
  EXPECT_EQ(ip("1:2:3:4:5:6:7:8"), IpAddr::v6(1, 2, 3, 4, 5, 6, 7, 8));
}

TEST(IpAddr, RejectsBadIpv6) {
  for (const char* bad :
       {":", ":::", "1::2::3", "1:2:3:4:5:6:7:8:9", "12345::", "g::1", "[::1]", "fe80::1%eth0",
        "::1/128", "1:2:3:4:5:6:7:8::", ":1::2", "::ffff:1.2.3", "::1 "}) {
    EXPECT_FALSE(IpAddr::parse(bad).ok()) << bad;
  }
}

TEST(IpAddr, FormatsIpv6Rfc5952) {
  struct Case {
    const char* in;
    const char* out;
  };
  for (const auto& c : std::initializer_list<Case>{
           {"2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8::1"},
           {"2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"},     // first of two equal runs
           {"2001:db8:0:1:0:0:0:1", "2001:db8:0:1::1"},       // longest run, not the first
           {"2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"},  // a single zero group stays
           {"0:0:0:0:0:0:0:0", "::"},
           {"0:0:0:0:0:0:0:1", "::1"},
           {"1:0:0:0:0:0:0:0", "1::"},
           {"FD00:2021:1111:8000:0:0:0:0", "fd00:2021:1111:8000::"},
           {"::ffff:192.0.2.1", "::ffff:192.0.2.1"},
           {"::ffff:c000:0201", "::ffff:192.0.2.1"},
           {"::102:304", "::102:304"},  // IPv4-compatible (deprecated): plain hex
           {"1:0:0:2:0:0:0:3", "1:0:0:2::3"},
           {"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"},
       }) {
    EXPECT_EQ(ip(c.in).to_string(), c.out) << c.in;
  }
}

TEST(IpAddr, FormatsWithoutAllocation) {
  std::array<char, IpAddr::kMaxTextLen> buf;
  const auto n = ip("2001:db8::1").format(buf);
  EXPECT_EQ(std::string_view(buf.data(), n), "2001:db8::1");
}

TEST(IpAddr, OrdersV4BeforeV6AndNumerically) {
  EXPECT_LT(ip("1.2.3.4"), ip("1.2.3.5"));
  EXPECT_LT(ip("9.0.0.0"), ip("10.0.0.0"));
  EXPECT_LT(ip("255.255.255.255"), ip("::"));
  EXPECT_LT(ip("::1"), ip("::2"));
  EXPECT_NE(ip("0.0.0.0"), ip("::"));
}

TEST(IpAddr, HashesDistinguishFamilies) {
  std::unordered_set<IpAddr> set{ip("0.0.0.0"), ip("::"), ip("1.2.3.4"), ip("::1.2.3.4")};
  EXPECT_EQ(set.size(), 4u);
  EXPECT_TRUE(set.contains(ip("1.2.3.4")));
}

TEST(IpAddr, FromBytes) {
  const std::uint8_t four[] = {10, 0, 0, 1};
  EXPECT_EQ(IpAddr::from_bytes(four), ip("10.0.0.1"));
  const std::uint8_t three[] = {1, 2, 3};
  EXPECT_FALSE(IpAddr::from_bytes(three).has_value());
}

TEST(IpAddr, Masked) {
  EXPECT_EQ(ip("10.1.2.3").masked(8), ip("10.0.0.0"));
  EXPECT_EQ(ip("10.255.2.3").masked(11), ip("10.224.0.0"));
  EXPECT_EQ(ip("10.1.2.3").masked(0), ip("0.0.0.0"));
  EXPECT_EQ(ip("10.1.2.3").masked(40), ip("10.1.2.3"));
  EXPECT_EQ(ip("fd00:2021:1111:8fff::1").masked(52), ip("fd00:2021:1111:8000::"));
}

TEST(SocketAddr, ParsesAndFormats) {
  auto v4 = SocketAddr::parse("1.2.3.4:80");
  ASSERT_TRUE(v4.ok());
  EXPECT_EQ(v4->ip, ip("1.2.3.4"));
  EXPECT_EQ(v4->port, 80);
  EXPECT_EQ(v4->to_string(), "1.2.3.4:80");

  auto v6 = SocketAddr::parse("[2001:DB8::1]:65535");
  ASSERT_TRUE(v6.ok());
  EXPECT_EQ(v6->ip, ip("2001:db8::1"));
  EXPECT_EQ(v6->port, 65535);
  EXPECT_EQ(v6->to_string(), "[2001:db8::1]:65535");
  EXPECT_EQ(SocketAddr::parse("0.0.0.0:0")->port, 0);
}

TEST(SocketAddr, RejectsGarbage) {
  for (const char* bad :
       {"1.2.3.4", "1.2.3.4:", "1.2.3.4:65536", "1.2.3.4:080", "1.2.3.4:-1", "1.2.3.4:8a",
        "2001:db8::1:80", "[2001:db8::1]", "[2001:db8::1]80", "[1.2.3.4]:80", "[::1:80", ":80",
        "[::1]:99999", "host:80", "1.2.3.4:+80"}) {
    EXPECT_FALSE(SocketAddr::parse(bad).ok()) << bad;
  }
}

TEST(Cidr, ParsesAndMasks) {
  auto c = Cidr::parse("10.1.2.3/8");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->network(), ip("10.0.0.0"));
  EXPECT_EQ(c->prefix_len(), 8u);
  EXPECT_EQ(c->to_string(), "10.0.0.0/8");
  EXPECT_EQ(Cidr::parse("100.64.0.0/11")->to_string(), "100.64.0.0/11");
  EXPECT_EQ(Cidr::parse("2001:db8::/32")->to_string(), "2001:db8::/32");
  EXPECT_EQ(Cidr::parse("fd00:2021:1111:8000::1f:1/107")->to_string(), "fd00:2021:1111:8000::/107");
  EXPECT_EQ(Cidr::parse("0.0.0.0/0")->to_string(), "0.0.0.0/0");
  EXPECT_EQ(Cidr::parse("::/0")->to_string(), "::/0");
}

TEST(Cidr, BareAddressIsHostRoute) {
  auto c = Cidr::parse("1.2.3.4");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->prefix_len(), 32u);
  EXPECT_TRUE(c->is_host());
  EXPECT_EQ(Cidr::parse("::1")->prefix_len(), 128u);
  EXPECT_EQ(Cidr::host(ip("::1")).to_string(), "::1/128");
}

TEST(Cidr, RejectsGarbage) {
  for (const char* bad : {"10.0.0.0/33", "::/129", "10.0.0.0/", "10.0.0.0/-1", "10.0.0.0/08",
                          "10.0.0.0/8/8", "/8", "10.0.0/8", "10.0.0.0/ 8", "10.0.0.0/a"}) {
    EXPECT_FALSE(Cidr::parse(bad).ok()) << bad;
  }
  EXPECT_FALSE(Cidr::make(ip("1.2.3.4"), 33).ok());
  EXPECT_TRUE(Cidr::make(ip("::"), 128).ok());
}

TEST(Cidr, Contains) {
  const Cidr tunnel = *Cidr::parse("100.64.0.0/11");
  EXPECT_TRUE(tunnel.contains(ip("100.64.0.1")));
  EXPECT_TRUE(tunnel.contains(ip("100.95.255.255")));
  EXPECT_FALSE(tunnel.contains(ip("100.96.0.0")));
  EXPECT_FALSE(tunnel.contains(ip("::ffff:100.64.0.1")));
  EXPECT_TRUE(Cidr().contains(ip("1.2.3.4")));  // 0.0.0.0/0
  EXPECT_FALSE(Cidr().contains(ip("::1")));
  const Cidr v6 = *Cidr::parse("fd00:2021:1111:8000::/107");
  EXPECT_TRUE(v6.contains(ip("fd00:2021:1111:8000::1f:ffff")));
  EXPECT_FALSE(v6.contains(ip("fd00:2021:1111:8000::20:0")));
  EXPECT_TRUE(tunnel.contains(*Cidr::parse("100.64.1.0/24")));
  EXPECT_FALSE(Cidr::parse("100.64.1.0/24")->contains(tunnel));
  EXPECT_TRUE(tunnel.contains(tunnel));
}

TEST(Cidr, ConstexprConstants) {
  static constexpr Cidr kTunnel(IpAddr::v4(100, 64, 0, 0), 11);
  static_assert(kTunnel.contains(IpAddr::v4(100, 80, 1, 2)));
  static_assert(!kTunnel.contains(IpAddr::v4(100, 96, 0, 1)));
  static_assert(Cidr(IpAddr::v4(10, 1, 2, 3), 8).network() == IpAddr::v4(10, 0, 0, 0));
  EXPECT_EQ(kTunnel.to_string(), "100.64.0.0/11");
}

TEST(Cidr, HashAndEquality) {
  std::unordered_set<Cidr> set{*Cidr::parse("10.0.0.0/8"), *Cidr::parse("10.0.0.0/16"),
                               *Cidr::parse("10.9.9.9/8")};
  EXPECT_EQ(set.size(), 2u);
}

}  // namespace
}  // namespace fz::net
