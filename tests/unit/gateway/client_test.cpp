// Per-client state: authorizations, filter table, DNS-resource NAT and packet translation
// (gateway-dataplane §1–§6), including every reference test of peer.rs.
#include "gateway/client.hpp"

#include <gtest/gtest.h>

#include <array>

#include "net/checksum.hpp"
#include "packets.hpp"

namespace fz::gateway {
namespace {

using net::IpAddr;
using net::IpFamily;
using test::Packet;
using Out = OutboundVerdict::Action;
using In = InboundVerdict::Action;

// The reference tests' address plan.
const IpAddr kClientV4 = IpAddr::v4(100, 64, 0, 1);
const IpAddr kClientV6 = IpAddr::v6(0xfd00, 0x2021, 0x1111, 0, 0, 0, 0, 1);
const IpAddr kGatewayV4 = IpAddr::v4(100, 64, 0, 2);
const IpAddr kGatewayV6 = IpAddr::v6(0xfd00, 0x2021, 0x1111, 0, 0, 0, 0, 2);
const IpAddr kFooReal1 = IpAddr::v4(10, 0, 0, 1);
const IpAddr kFooReal2 = IpAddr::v4(10, 0, 0, 2);
const IpAddr kBarContained = IpAddr::v4(10, 0, 0, 1);
const IpAddr kFooProxy1 = IpAddr::v4(100, 96, 0, 1);
const IpAddr kFooProxy2 = IpAddr::v4(100, 96, 0, 2);
const IpAddr kProxyV6a = IpAddr::v6(0xfd00, 0x2021, 0x1111, 0x8000, 0, 0, 0, 1);
const IpAddr kProxyV6b = IpAddr::v6(0xfd00, 0x2021, 0x1111, 0x8000, 0, 0, 0, 2);
const IpAddr kRealV6 = IpAddr::v6(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x80);
constexpr std::uint16_t kFooAllowedPort = 80;
constexpr std::uint16_t kBarAllowedPort = 443;

const ClientId kClient = *Uuid::parse("9d4b79f6-1db7-4cb3-a077-712102204d73");
const ResourceId kResource1 = *Uuid::parse("9d4b79f6-1db7-4cb3-a077-712102204d73");
const ResourceId kResource2 = *Uuid::parse("ed29c148-2acf-4ceb-8db5-d796c2671631");
const ResourceId kInternetId = *Uuid::parse("ed29c148-2acf-4ceb-8db5-d796c267163a");
const ResourceId kResource3 = *Uuid::parse("11111111-2222-3333-4444-555555555555");

const Instant kT0 = instant_from_nanos(5'000'000'000);
const UnixTime kNow = unix_from_seconds(1'750'000'000);

Filter udp_filter(std::uint16_t first, std::uint16_t last) {
  return {FilterProtocol::udp, first, last};
}
Filter tcp_filter(std::uint16_t first, std::uint16_t last) {
  return {FilterProtocol::tcp, first, last};
}
Filter icmp_filter() {
  return {FilterProtocol::icmp};
}

ResourceDescription foo_dns_resource(Filters filters = {udp_filter(80, 80)}) {
  return DnsResource{kResource1, "foo.com", std::move(filters)};
}
ResourceDescription bar_cidr_resource() {
  return CidrResource{
      kResource2, *net::Cidr::parse("10.0.0.0/24"), {udp_filter(kBarAllowedPort, kBarAllowedPort)}};
}
ResourceDescription internet_resource() {
  return InternetResource{kInternetId};
}
ResourceDescription cidr(const ResourceId& id, const char* net, Filters filters) {
  return CidrResource{id, *net::Cidr::parse(net), std::move(filters)};
}

class ClientTest : public ::testing::Test {
 protected:
  ClientOnGateway peer{kClient, IpConfig{kClientV4, kClientV6}, IpConfig{kGatewayV4, kGatewayV6}};
  std::array<std::uint8_t, kMaxIcmpReplyLen> reply{};
  std::array<std::uint8_t, kMaxIcmpReplyLen> scratch{};

  OutboundVerdict out(Packet& p, Instant now = kT0) {
    auto ip = p.ip();
    return peer.translate_outbound(ip, now, reply);
  }
  InboundVerdict in(Packet& p, Instant now = kT0) {
    auto ip = p.ip();
    return peer.translate_inbound(ip, now, scratch);
  }
  net::IpPacketView reply_packet(const OutboundVerdict& v) {
    auto parsed = net::IpPacketView::parse(std::span(reply.data(), v.reply_len));
    EXPECT_TRUE(parsed.ok());
    return *parsed;
  }
  net::IpPacketView scratch_packet(const InboundVerdict& v) {
    auto parsed = net::IpPacketView::parse(std::span(scratch.data(), v.len));
    EXPECT_TRUE(parsed.ok());
    return *parsed;
  }
  bool allowed(const Packet& p) {
    return peer.ensure_allowed_resource(p.view().dst(), destination_protocol(p.view()));
  }
  void setup_foo_nat(std::vector<IpAddr> resolved, std::vector<IpAddr> proxies) {
    ASSERT_TRUE(peer.setup_nat("foo.com", kResource1, resolved, proxies));
  }
};

// ---------------------------------------------------------------------------------------------
// Ported from peer.rs

TEST_F(ClientTest, GatewayFiltersExpireIndividually) {
  const UnixTime then = kNow + std::chrono::seconds(10);
  const UnixTime after_then = then + std::chrono::seconds(10);
  ASSERT_TRUE(peer.add_resource(cidr(kResource1, "10.0.0.0/24", {tcp_filter(20, 100)}), then));
  ASSERT_TRUE(
      peer.add_resource(cidr(kResource2, "10.0.0.0/24", {udp_filter(20, 100)}), after_then));
  auto tcp = test::tcp(kClientV4, IpAddr::v4(10, 0, 0, 1), 5401, 80);
  auto udp = test::udp(kClientV4, IpAddr::v4(10, 0, 0, 1), 5401, 80);

  EXPECT_TRUE(peer.expire_resources(kNow).empty());
  EXPECT_TRUE(allowed(tcp));
  EXPECT_TRUE(allowed(udp));

  EXPECT_EQ(peer.expire_resources(then), std::vector<ResourceId>{kResource1});
  EXPECT_FALSE(allowed(tcp));
  EXPECT_TRUE(allowed(udp));

  EXPECT_EQ(peer.expire_resources(after_then), std::vector<ResourceId>{kResource2});
  EXPECT_FALSE(allowed(tcp));
  EXPECT_FALSE(allowed(udp));
  EXPECT_TRUE(peer.has_no_resources());
}

TEST_F(ClientTest, AllowsPacketsForAndFromGatewayTunIp) {
  // No resources at all: the gateway's own tunnel IP needs no filter in either direction.
  auto request = test::tcp(kClientV4, kGatewayV4, 5401, 80);
  auto response = test::tcp(kGatewayV4, kClientV4, 80, 5401);
  const auto before = request.bytes;
  EXPECT_EQ(out(request).action, Out::forward);
  EXPECT_EQ(request.bytes, before);
  EXPECT_EQ(in(response).action, In::forward);

  auto dns6 = test::udp(kClientV6, kGatewayV6, 5000, 53535);
  EXPECT_EQ(out(dns6).action, Out::forward);
  auto answer6 = test::udp(kGatewayV6, kClientV6, 53535, 5000);
  EXPECT_EQ(in(answer6).action, In::forward);
}

TEST_F(ClientTest, DnsAndCidrFiltersDoMix) {
  ASSERT_TRUE(peer.add_resource(foo_dns_resource(), std::nullopt));
  ASSERT_TRUE(peer.add_resource(bar_cidr_resource(), std::nullopt));
  setup_foo_nat({kFooReal1}, {kFooProxy1});
  ASSERT_EQ(kBarContained, kFooReal1);

  auto to_bar_allowed = test::udp(kClientV4, kBarContained, 1, kBarAllowedPort);
  EXPECT_EQ(out(to_bar_allowed).action, Out::forward);

  // The DNS resource's filter does not apply to its real IP.
  auto to_bar_foo_port = test::udp(kClientV4, kBarContained, 1, kFooAllowedPort);
  const auto v = out(to_bar_foo_port);
  EXPECT_EQ(v.action, Out::reply);
  EXPECT_EQ(v.reason, Reason::filtered);

  // Nor does the CIDR resource's filter apply to the proxy IP.
  auto to_proxy_bar_port = test::udp(kClientV4, kFooProxy1, 1, kBarAllowedPort);
  EXPECT_EQ(out(to_proxy_bar_port).action, Out::reply);

  auto to_proxy_foo_port = test::udp(kClientV4, kFooProxy1, 1, kFooAllowedPort);
  EXPECT_EQ(out(to_proxy_foo_port).action, Out::forward);
  EXPECT_EQ(to_proxy_foo_port.view().dst(), kFooReal1);
}

TEST_F(ClientTest, InternetResourceDoesNotAllowAllTrafficForDnsResources) {
  ASSERT_TRUE(peer.add_resource(foo_dns_resource(), std::nullopt));
  ASSERT_TRUE(peer.add_resource(internet_resource(), std::nullopt));
  setup_foo_nat({kFooReal1}, {kFooProxy1});

  auto allowed_port = test::udp(kClientV4, kFooProxy1, 1, kFooAllowedPort);
  EXPECT_EQ(out(allowed_port).action, Out::forward);

  auto other_port = test::udp(kClientV4, kFooProxy1, 1, 600);
  EXPECT_EQ(out(other_port).action, Out::reply);

  auto internet = test::udp(kClientV4, IpAddr::v4(1, 1, 1, 1), 1, 600);
  EXPECT_EQ(out(internet).action, Out::forward);
}

TEST_F(ClientTest, DnsResourcePacketIsDroppedAfterNatSessionExpires) {
  ASSERT_TRUE(peer.add_resource(foo_dns_resource(), std::nullopt));
  setup_foo_nat({kFooReal1}, {kFooProxy1});

  auto request = test::udp(kClientV4, kFooProxy1, 1, kFooAllowedPort);
  Instant now = kT0;
  EXPECT_EQ(out(request, now).action, Out::forward);

  now += std::chrono::seconds(30);
  peer.handle_timeout(now);
  auto response = test::udp(kFooReal1, kClientV4, kFooAllowedPort, 1);
  EXPECT_EQ(in(response, now).action, In::forward) << "after 30 s the resource may still answer";
  EXPECT_EQ(response.view().src(), kFooProxy1);

  now += kNatUdpTtl;
  peer.handle_timeout(now);
  auto late = test::udp(kFooReal1, kClientV4, kFooAllowedPort, 1);
  const auto v = in(late, now);
  EXPECT_EQ(v.action, In::drop) << "after the UDP TTL of inactivity the session is gone";
  EXPECT_EQ(v.reason, Reason::expired_nat_session);
}

TEST_F(ClientTest, SettingUpDnsResourceNatDoesNotClearExistingNatSession) {
  ASSERT_TRUE(peer.add_resource(foo_dns_resource(), std::nullopt));
  setup_foo_nat({kFooReal1}, {kFooProxy1, kFooProxy2});

  auto request = test::udp(kClientV4, kFooProxy1, 1, kFooAllowedPort);
  auto copy = request;
  EXPECT_EQ(out(request).action, Out::forward);
  EXPECT_EQ(request.view().dst(), kFooReal1);

  setup_foo_nat({kFooReal2}, {kFooProxy1, kFooProxy2});  // a new IP!
  // The proxy with a live session keeps its mapping; the idle one moves.
  EXPECT_EQ(peer.translation_for(kFooProxy1), kFooReal1);
  EXPECT_EQ(peer.translation_for(kFooProxy2), kFooReal2);

  EXPECT_EQ(out(copy).action, Out::forward);
  EXPECT_EQ(copy.view().dst(), kFooReal1);

  auto response = test::udp(kFooReal1, kClientV4, kFooAllowedPort, 1);
  EXPECT_EQ(in(response).action, In::forward);
  EXPECT_EQ(response.view().src(), kFooProxy1);
}

// ---------------------------------------------------------------------------------------------
// Authorizations (§1.4, §1.5)

TEST_F(ClientTest, ReauthorizingKeepsTheExpiryAndReplacesFilters) {
  const UnixTime first = kNow + std::chrono::seconds(100);
  ASSERT_TRUE(peer.add_resource(cidr(kResource1, "10.0.0.0/24", {tcp_filter(80, 80)}), first));
  ASSERT_TRUE(peer.add_resource(cidr(kResource1, "10.0.0.0/24", {tcp_filter(443, 443)}),
                                kNow + std::chrono::seconds(1000)));
  EXPECT_EQ(peer.resource_expiry(kResource1), first);
  EXPECT_FALSE(allowed(test::tcp(kClientV4, IpAddr::v4(10, 0, 0, 9), 1, 80)));
  EXPECT_TRUE(allowed(test::tcp(kClientV4, IpAddr::v4(10, 0, 0, 9), 1, 443)));
  // Only the dedicated message changes the expiry.
  EXPECT_TRUE(peer.update_resource_expiry(kResource1, kNow + std::chrono::seconds(1000)));
  EXPECT_EQ(peer.resource_expiry(kResource1), kNow + std::chrono::seconds(1000));
  EXPECT_FALSE(peer.update_resource_expiry(kResource3, kNow));
}

TEST_F(ClientTest, ResourceCannotChangeType) {
  ASSERT_TRUE(peer.add_resource(cidr(kResource1, "10.0.0.0/24", {}), std::nullopt));
  auto changed = peer.add_resource(DnsResource{kResource1, "foo.com", {}}, std::nullopt);
  ASSERT_FALSE(changed);
  EXPECT_EQ(changed.error().code(), Errc::state);
  EXPECT_TRUE(allowed(test::tcp(kClientV4, IpAddr::v4(10, 0, 0, 9), 1, 80)));
  // resource_updated with another type is ignored too.
  peer.update_resource(InternetResource{kResource1});
  EXPECT_FALSE(peer.internet_resource_enabled());
}

TEST_F(ClientTest, ResourceUpdatedReplacesFiltersOnly) {
  ASSERT_TRUE(peer.add_resource(cidr(kResource1, "10.0.0.0/24", {tcp_filter(80, 80)}),
                                kNow + std::chrono::seconds(5)));
  peer.update_resource(cidr(kResource1, "10.9.0.0/16", {tcp_filter(22, 22)}));
  EXPECT_TRUE(allowed(test::tcp(kClientV4, IpAddr::v4(10, 0, 0, 9), 1, 22)));
  EXPECT_FALSE(allowed(test::tcp(kClientV4, IpAddr::v4(10, 0, 0, 9), 1, 80)));
  EXPECT_FALSE(allowed(test::tcp(kClientV4, IpAddr::v4(10, 9, 0, 9), 1, 22)));  // address ignored
  EXPECT_EQ(peer.resource_expiry(kResource1), kNow + std::chrono::seconds(5));
  // Unknown resources are not added by an update.
  peer.update_resource(cidr(kResource2, "10.1.0.0/16", {}));
  EXPECT_FALSE(peer.is_allowed(kResource2));
}

TEST_F(ClientTest, ExpiryIsStrictlyAfterNow) {
  ASSERT_TRUE(peer.add_resource(bar_cidr_resource(), kNow));
  ASSERT_TRUE(peer.add_resource(foo_dns_resource(), std::nullopt));
  EXPECT_EQ(peer.next_resource_expiry(), kNow);
  EXPECT_TRUE(peer.expire_resources(kNow - std::chrono::seconds(1)).empty());
  EXPECT_EQ(peer.expire_resources(kNow), std::vector<ResourceId>{kResource2});
  EXPECT_FALSE(peer.next_resource_expiry());
  EXPECT_FALSE(peer.has_no_resources());
}

TEST_F(ClientTest, RemoveAndRetain) {
  ASSERT_TRUE(peer.add_resource(bar_cidr_resource(), std::nullopt));
  ASSERT_TRUE(peer.add_resource(foo_dns_resource(), std::nullopt));
  ASSERT_TRUE(peer.add_resource(internet_resource(), std::nullopt));
  peer.retain_authorizations({kResource1, kResource3});
  EXPECT_TRUE(peer.is_allowed(kResource1));
  EXPECT_FALSE(peer.is_allowed(kResource2));
  EXPECT_FALSE(peer.internet_resource_enabled());
  EXPECT_TRUE(peer.remove_resource(kResource1));
  EXPECT_FALSE(peer.remove_resource(kResource1));
  EXPECT_TRUE(peer.has_no_resources());
  EXPECT_EQ(peer.filters().size(), 0u);
}

// ---------------------------------------------------------------------------------------------
// Filter table (§2.2, §2.3)

TEST_F(ClientTest, WiderCidrFiltersMergeIntoNarrowerOnes) {
  ASSERT_TRUE(peer.add_resource(cidr(kResource1, "10.0.0.0/8", {tcp_filter(22, 22)}), {}));
  ASSERT_TRUE(peer.add_resource(cidr(kResource2, "10.1.0.0/16", {tcp_filter(80, 80)}), {}));
  // Inside the narrow one: both.
  EXPECT_TRUE(allowed(test::tcp(kClientV4, IpAddr::v4(10, 1, 2, 3), 1, 22)));
  EXPECT_TRUE(allowed(test::tcp(kClientV4, IpAddr::v4(10, 1, 2, 3), 1, 80)));
  // Outside it: only the wide one's.
  EXPECT_TRUE(allowed(test::tcp(kClientV4, IpAddr::v4(10, 2, 2, 3), 1, 22)));
  EXPECT_FALSE(allowed(test::tcp(kClientV4, IpAddr::v4(10, 2, 2, 3), 1, 80)));
  // Narrower filters do not widen the wide one.
  EXPECT_EQ(*peer.filters().find(*net::Cidr::parse("10.0.0.0/8")),
            FilterEngine::from_list({tcp_filter(22, 22)}));
}

TEST_F(ClientTest, EmptyWiderListMakesNarrowerPermitAll) {
  ASSERT_TRUE(peer.add_resource(cidr(kResource1, "10.0.0.0/8", {}), {}));
  ASSERT_TRUE(peer.add_resource(cidr(kResource2, "10.1.0.0/16", {tcp_filter(80, 80)}), {}));
  EXPECT_TRUE(peer.filters().find(*net::Cidr::parse("10.1.0.0/16"))->permits_all());
  EXPECT_TRUE(allowed(test::raw(kClientV4, IpAddr::v4(10, 1, 0, 1), 47)));
}

TEST_F(ClientTest, SameNetworkTwiceIsTheUnion) {
  ASSERT_TRUE(peer.add_resource(cidr(kResource1, "192.168.1.0/24", {tcp_filter(1, 10)}), {}));
  ASSERT_TRUE(peer.add_resource(cidr(kResource2, "192.168.1.0/24", {udp_filter(5, 5)}), {}));
  EXPECT_TRUE(allowed(test::tcp(kClientV4, IpAddr::v4(192, 168, 1, 1), 1, 10)));
  EXPECT_TRUE(allowed(test::udp(kClientV4, IpAddr::v4(192, 168, 1, 1), 1, 5)));
  EXPECT_FALSE(allowed(test::udp(kClientV4, IpAddr::v4(192, 168, 1, 1), 1, 6)));
  EXPECT_FALSE(allowed(test::icmp_echo(kClientV4, IpAddr::v4(192, 168, 1, 1), 1)));
  EXPECT_EQ(peer.filters().size(), 1u);
}

TEST_F(ClientTest, InternetResourceMakesEveryCidrPermitAll) {
  ASSERT_TRUE(peer.add_resource(cidr(kResource1, "10.0.0.0/8", {tcp_filter(22, 22)}), {}));
  ASSERT_TRUE(peer.add_resource(internet_resource(), {}));
  EXPECT_TRUE(peer.filters().find(*net::Cidr::parse("10.0.0.0/8"))->permits_all());
  // And it opens everything that is not a proxy IP, including other protocols.
  EXPECT_TRUE(allowed(test::raw(kClientV4, IpAddr::v4(8, 8, 8, 8), 132)));
  EXPECT_TRUE(allowed(test::udp(kClientV6, kRealV6, 1, 9)));
  // Proxy IPs without a translation stay closed.
  EXPECT_FALSE(allowed(test::udp(kClientV4, kFooProxy1, 1, 9)));
}

TEST_F(ClientTest, ResolvedDnsHostMergesIntoAnEqualHostCidr) {
  // §2.2 step 1: a DNS resource covers its resolved addresses as host routes.
  ASSERT_TRUE(peer.add_resource(foo_dns_resource(), {}));
  ASSERT_TRUE(peer.add_resource(cidr(kResource2, "10.0.0.1/32", {tcp_filter(22, 22)}), {}));
  setup_foo_nat({kFooReal1}, {kFooProxy1});
  EXPECT_TRUE(allowed(test::tcp(kClientV4, kFooReal1, 1, 22)));
  EXPECT_TRUE(allowed(test::udp(kClientV4, kFooReal1, 1, 80)));
}

TEST_F(ClientTest, NoFilterMeansDenied) {
  ASSERT_TRUE(peer.add_resource(bar_cidr_resource(), {}));
  auto p = test::udp(kClientV4, IpAddr::v4(10, 0, 1, 1), 1, kBarAllowedPort);
  const auto v = out(p);
  EXPECT_EQ(v.action, Out::reply);
  EXPECT_EQ(v.reason, Reason::filtered);
}

TEST_F(ClientTest, OtherProtocolsNeedPermitAll) {
  ASSERT_TRUE(peer.add_resource(cidr(kResource1, "10.0.0.0/24", {tcp_filter(0, 65535)}), {}));
  ASSERT_TRUE(peer.add_resource(cidr(kResource2, "10.0.1.0/24", {}), {}));
  auto gre_denied = test::raw(kClientV4, IpAddr::v4(10, 0, 0, 1), 47);
  EXPECT_EQ(out(gre_denied).action, Out::reply);
  auto gre_allowed = test::raw(kClientV4, IpAddr::v4(10, 0, 1, 1), 47);
  EXPECT_EQ(out(gre_allowed).action, Out::forward);
  // Replies of such protocols reach the client where the filters allow them (see
  // docs/compatibility.md: the reference drops them).
  auto gre_reply = test::raw(IpAddr::v4(10, 0, 1, 1), kClientV4, 47);
  EXPECT_EQ(in(gre_reply).action, In::forward);
  auto gre_reply_denied = test::raw(IpAddr::v4(10, 0, 0, 1), kClientV4, 47);
  EXPECT_EQ(in(gre_reply_denied).reason, Reason::filtered_inbound);
}

// ---------------------------------------------------------------------------------------------
// ICMP errors the gateway originates (§5.3)

TEST_F(ClientTest, SpoofedSourceGetsIcmpProhibitedFromTheAttemptedDestination) {
  ASSERT_TRUE(peer.add_resource(cidr(kResource1, "10.0.0.0/24", {}), {}));
  const IpAddr spoofed = IpAddr::v4(100, 64, 0, 9);
  auto p = test::tcp(spoofed, IpAddr::v4(10, 0, 0, 5), 1234, 80);
  const auto v = out(p);
  ASSERT_EQ(v.action, Out::reply);
  EXPECT_EQ(v.reason, Reason::spoofed_source);
  const auto r = reply_packet(v);
  EXPECT_EQ(r.src(), IpAddr::v4(10, 0, 0, 5));
  EXPECT_EQ(r.dst(), spoofed);
  EXPECT_EQ(r.ttl(), 20);
  EXPECT_EQ(r.icmp_type(), 3);
  EXPECT_EQ(r.icmp_code(), 13);
  EXPECT_TRUE(r.verify_checksums());
  // DF set, ID 0; the quote is the IP header plus 8 bytes of the offending packet.
  EXPECT_EQ(r.bytes()[6] & 0x40, 0x40);
  EXPECT_EQ(r.bytes()[4], 0);
  EXPECT_EQ(r.bytes()[5], 0);
  const auto quote = r.l4_payload();
  ASSERT_EQ(quote.size(), 28u);
  EXPECT_TRUE(std::equal(quote.begin(), quote.end(), p.bytes.begin()));
}

TEST_F(ClientTest, SpoofedSourceV6GetsIcmpv6Prohibited) {
  ASSERT_TRUE(peer.add_resource(internet_resource(), {}));
  const IpAddr spoofed = IpAddr::v6(0xfd00, 0x2021, 0x1111, 0, 0, 0, 0, 0x99);
  auto p = test::udp(spoofed, kRealV6, 1, 2, std::vector<std::uint8_t>(1300 - 48, 7));
  const auto v = out(p);
  ASSERT_EQ(v.action, Out::reply);
  const auto r = reply_packet(v);
  EXPECT_EQ(r.src(), kRealV6);
  EXPECT_EQ(r.dst(), spoofed);
  EXPECT_EQ(r.ttl(), 20);
  EXPECT_EQ(r.icmp_type(), 1);
  EXPECT_EQ(r.icmp_code(), 1);
  EXPECT_EQ(r.l4_payload().size(), 1200u);
  EXPECT_EQ(r.size(), 1248u);
  EXPECT_TRUE(r.verify_checksums());
}

TEST_F(ClientTest, AnotherClientsV6SourceIsSpoofed) {
  ASSERT_TRUE(peer.add_resource(internet_resource(), {}));
  // The v6 address of another client.
  auto p = test::udp(IpAddr::v6(0xfd00, 0x2021, 0x1111, 0, 0, 0, 0, 0x3), kRealV6, 1, 2);
  EXPECT_EQ(out(p).reason, Reason::spoofed_source);
  auto ok = test::udp(kClientV6, kRealV6, 1, 2);
  EXPECT_EQ(out(ok).action, Out::forward);
}

TEST_F(ClientTest, FilteredPacketGetsProhibitedEvenIfItIsAnIcmpError) {
  ASSERT_TRUE(peer.add_resource(cidr(kResource1, "10.0.0.0/24", {tcp_filter(80, 80)}), {}));
  auto inner = test::udp(IpAddr::v4(10, 0, 0, 5), kClientV4, 53, 9999);
  auto error = test::icmp_error(kClientV4, IpAddr::v4(10, 0, 0, 5), 3, 3, inner);
  const auto v = out(error);
  EXPECT_EQ(v.action, Out::reply);
  EXPECT_EQ(reply_packet(v).icmp_code(), 13);
}

TEST_F(ClientTest, ProxyIpWithoutTranslationIsUnreachable) {
  // A filter on the proxy IP without a translation cannot normally exist; an Internet resource
  // does not open proxy IPs either, so a CIDR resource over the proxy range stands in.
  ASSERT_TRUE(peer.add_resource(cidr(kResource1, "100.96.0.0/11", {}), {}));
  auto p = test::udp(kClientV4, kFooProxy1, 1, 80);
  const auto v = out(p);
  ASSERT_EQ(v.action, Out::reply);
  EXPECT_EQ(v.reason, Reason::no_translation);
  const auto r = reply_packet(v);
  EXPECT_EQ(r.src(), kFooProxy1);
  EXPECT_EQ(r.icmp_type(), 3);
  EXPECT_EQ(r.icmp_code(), 0);
}

TEST_F(ClientTest, FamilyMismatchIsUnreachable) {
  ASSERT_TRUE(peer.add_resource(foo_dns_resource({}), {}));
  // foo.com has only an IPv4 address: the v6 proxies fall back to it.
  setup_foo_nat({kFooReal1}, {kFooProxy1, kProxyV6a});
  EXPECT_EQ(peer.translation_for(kProxyV6a), kFooReal1);
  auto p = test::udp(kClientV6, kProxyV6a, 1, 80);
  const auto v = out(p);
  ASSERT_EQ(v.action, Out::reply);
  EXPECT_EQ(v.reason, Reason::family_mismatch);
  const auto r = reply_packet(v);
  EXPECT_EQ(r.src(), kProxyV6a);
  EXPECT_EQ(r.dst(), kClientV6);
  EXPECT_EQ(r.icmp_type(), 1);
  EXPECT_EQ(r.icmp_code(), 3);
  EXPECT_EQ(r.ttl(), 20);
}

TEST_F(ClientTest, TooSmallReplyBufferDrops) {
  auto p = test::udp(IpAddr::v4(1, 2, 3, 4), IpAddr::v4(10, 0, 0, 1), 1, 2);
  auto ip = p.ip();
  std::array<std::uint8_t, 16> tiny{};
  const auto v = peer.translate_outbound(ip, kT0, tiny);
  EXPECT_EQ(v.action, Out::drop);
  EXPECT_EQ(v.reason, Reason::no_buffer);
}

// ---------------------------------------------------------------------------------------------
// DNS-resource NAT (§3)

TEST_F(ClientTest, SetupNatPairsSortedProxiesWithResolvedModulo) {
  ASSERT_TRUE(peer.add_resource(DnsResource{kResource1, "*.example.com", {}}, {}));
  const IpAddr r1 = IpAddr::v4(192, 0, 2, 10);
  const IpAddr r2 = IpAddr::v4(192, 0, 2, 20);
  const IpAddr r3 = IpAddr::v4(192, 0, 2, 30);
  std::vector<IpAddr> proxies;
  for (std::uint8_t i = 4; i >= 1; --i)
    proxies.push_back(IpAddr::v4(100, 96, 0, i));  // reversed
  proxies.push_back(IpAddr::v4(100, 96, 0, 2));    // duplicate
  ASSERT_TRUE(
      peer.setup_nat("app.example.com", kResource1, std::vector<IpAddr>{r3, r1, r2, r1}, proxies));
  EXPECT_EQ(peer.translation_for(IpAddr::v4(100, 96, 0, 1)), r1);
  EXPECT_EQ(peer.translation_for(IpAddr::v4(100, 96, 0, 2)), r2);
  EXPECT_EQ(peer.translation_for(IpAddr::v4(100, 96, 0, 3)), r3);
  EXPECT_EQ(peer.translation_for(IpAddr::v4(100, 96, 0, 4)), r1);
}

TEST_F(ClientTest, SetupNatPairsEachFamilySeparately) {
  ASSERT_TRUE(peer.add_resource(DnsResource{kResource1, "**.example.com", {}}, {}));
  const IpAddr v6a = IpAddr::v6(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);
  const IpAddr v6b = IpAddr::v6(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2);
  ASSERT_TRUE(peer.setup_nat("example.com", kResource1, std::vector<IpAddr>{v6b, kFooReal2, v6a},
                             std::vector<IpAddr>{kProxyV6b, kFooProxy1, kProxyV6a, kFooProxy2}));
  EXPECT_EQ(peer.translation_for(kFooProxy1), kFooReal2);
  EXPECT_EQ(peer.translation_for(kFooProxy2), kFooReal2);
  EXPECT_EQ(peer.translation_for(kProxyV6a), v6a);
  EXPECT_EQ(peer.translation_for(kProxyV6b), v6b);
}

TEST_F(ClientTest, SetupNatWithEmptyResolutionSucceedsWithoutPairs) {
  ASSERT_TRUE(peer.add_resource(foo_dns_resource(), {}));
  setup_foo_nat({}, {kFooProxy1});
  EXPECT_FALSE(peer.translation_for(kFooProxy1));
  auto p = test::udp(kClientV4, kFooProxy1, 1, 80);
  EXPECT_EQ(out(p).reason, Reason::filtered);  // no translation, so no filter either
}

TEST_F(ClientTest, SetupNatErrors) {
  std::vector<IpAddr> resolved = {kFooReal1};
  std::vector<IpAddr> proxies = {kFooProxy1};
  EXPECT_EQ(peer.setup_nat("foo.com", kResource1, resolved, proxies).error().code(),
            Errc::not_found);
  ASSERT_TRUE(peer.add_resource(bar_cidr_resource(), {}));
  EXPECT_FALSE(peer.setup_nat("foo.com", kResource2, resolved, proxies));
  ASSERT_TRUE(peer.add_resource(foo_dns_resource(), {}));
  EXPECT_FALSE(peer.setup_nat("bar.com", kResource1, resolved, proxies));
  EXPECT_FALSE(peer.setup_nat("www.foo.com", kResource1, resolved, proxies));
  EXPECT_TRUE(peer.setup_nat("FOO.com.", kResource1, resolved, proxies));
}

TEST_F(ClientTest, ProxyIpsOutsideTheProxyRangesAreIgnored) {
  ASSERT_TRUE(peer.add_resource(foo_dns_resource({}), {}));
  const IpAddr outside_v4 = IpAddr::v4(10, 9, 9, 9);
  const IpAddr tunnel_v4 = IpAddr::v4(100, 64, 0, 7);
  setup_foo_nat({kFooReal1, kFooReal2}, {outside_v4, tunnel_v4, kFooProxy1});
  EXPECT_FALSE(peer.translation_for(outside_v4));
  EXPECT_FALSE(peer.translation_for(tunnel_v4));
  // Pairing counts only the accepted proxies: the in-range one gets the first address.
  EXPECT_EQ(peer.translation_for(kFooProxy1), kFooReal1);
  EXPECT_FALSE(allowed(test::udp(kClientV4, outside_v4, 1, 80)));
  EXPECT_EQ(peer.filters().size(), 1u);
}

TEST_F(ClientTest, TranslationOfARemovedResourceRevivesWithIt) {
  ASSERT_TRUE(peer.add_resource(foo_dns_resource(), {}));
  setup_foo_nat({kFooReal1}, {kFooProxy1});
  EXPECT_TRUE(peer.remove_resource(kResource1));
  auto p = test::udp(kClientV4, kFooProxy1, 1, 80);
  EXPECT_EQ(out(p).reason, Reason::filtered);
  ASSERT_TRUE(peer.add_resource(foo_dns_resource(), {}));
  auto q = test::udp(kClientV4, kFooProxy1, 1, 80);
  EXPECT_EQ(out(q).action, Out::forward);
}

TEST_F(ClientTest, OutboundNatRewritesDestinationAndKeepsChecksums) {
  ASSERT_TRUE(peer.add_resource(foo_dns_resource({}), {}));
  setup_foo_nat({kFooReal1}, {kFooProxy1, kFooProxy2});
  for (int kind = 0; kind < 3; ++kind) {
    Packet a = kind == 0   ? test::tcp(kClientV4, kFooProxy1, 4000, 443)
               : kind == 1 ? test::udp(kClientV4, kFooProxy1, 4000, 53)
                           : test::icmp_echo(kClientV4, kFooProxy1, 4000);
    Packet b = kind == 0   ? test::tcp(kClientV4, kFooProxy2, 4000, 443)
               : kind == 1 ? test::udp(kClientV4, kFooProxy2, 4000, 53)
                           : test::icmp_echo(kClientV4, kFooProxy2, 4000);
    ASSERT_EQ(out(a).action, Out::forward);
    ASSERT_EQ(out(b).action, Out::forward);
    const auto va = a.view();
    const auto vb = b.view();
    EXPECT_EQ(va.dst(), kFooReal1);
    EXPECT_EQ(vb.dst(), kFooReal1);
    EXPECT_EQ(va.five_tuple()->src_id, 4000);
    EXPECT_EQ(vb.five_tuple()->src_id, 4001);  // both proxies share the real IP: remapped
    EXPECT_TRUE(va.verify_checksums());
    EXPECT_TRUE(vb.verify_checksums());
  }
}

TEST_F(ClientTest, NonNattableTrafficToProxyIpIsDropped) {
  ASSERT_TRUE(peer.add_resource(foo_dns_resource({}), {}));
  setup_foo_nat({kFooReal1}, {kFooProxy1});
  auto gre = test::raw(kClientV4, kFooProxy1, 47);
  const auto v = out(gre);
  EXPECT_EQ(v.action, Out::drop);
  EXPECT_EQ(v.reason, Reason::not_nattable);
  EXPECT_TRUE(is_error(v.reason));
  auto timestamp = test::icmp_other(kClientV4, kFooProxy1, 13);
  EXPECT_EQ(out(timestamp).reason, Reason::not_nattable);
}

TEST_F(ClientTest, NatExhaustionDropsWithAnError) {
  ASSERT_TRUE(peer.add_resource(foo_dns_resource({}), {}));
  setup_foo_nat({kFooReal1}, {kFooProxy1, kFooProxy2});
  for (std::uint32_t port = 0; port <= 65535; ++port) {
    auto p = test::udp(kClientV4, kFooProxy1, static_cast<std::uint16_t>(port), 9);
    ASSERT_EQ(out(p).action, Out::forward) << port;
  }
  auto extra = test::udp(kClientV4, kFooProxy2, 1, 9);
  const auto v = out(extra);
  EXPECT_EQ(v.action, Out::drop);
  EXPECT_EQ(v.reason, Reason::nat_exhausted);
  EXPECT_EQ(peer.nat_table().size(), 65536u);
}

TEST_F(ClientTest, FragmentsOfCheckableProtocolsAreDropped) {
  ASSERT_TRUE(peer.add_resource(cidr(kResource1, "10.0.0.0/24", {}), {}));
  auto p = test::udp(kClientV4, IpAddr::v4(10, 0, 0, 1), 1, 2);
  p.bytes[6] |= 0x20;  // more fragments
  p.bytes[10] = p.bytes[11] = 0;
  const std::uint16_t sum = net::internet_checksum(std::span(p.bytes.data(), 20));
  p.bytes[10] = static_cast<std::uint8_t>(sum >> 8);
  p.bytes[11] = static_cast<std::uint8_t>(sum);
  EXPECT_EQ(out(p).reason, Reason::fragment);
}

// ---------------------------------------------------------------------------------------------
// Resource → client (§5.2)

TEST_F(ClientTest, InboundReverseNatRestoresProxyAndPort) {
  ASSERT_TRUE(peer.add_resource(foo_dns_resource({}), {}));
  setup_foo_nat({kFooReal1}, {kFooProxy1, kFooProxy2});
  auto a = test::tcp(kClientV4, kFooProxy1, 4000, 443);
  auto b = test::tcp(kClientV4, kFooProxy2, 4000, 443);
  ASSERT_EQ(out(a).action, Out::forward);
  ASSERT_EQ(out(b).action, Out::forward);
  auto reply_b = test::tcp(kFooReal1, kClientV4, 443, 4001);
  ASSERT_EQ(in(reply_b).action, In::forward);
  const auto v = reply_b.view();
  EXPECT_EQ(v.src(), kFooProxy2);
  EXPECT_EQ(v.dst_port(), 4000);
  EXPECT_EQ(v.src_port(), 443);
  EXPECT_TRUE(v.verify_checksums());
}

TEST_F(ClientTest, InboundEchoReplyIsTranslated) {
  ASSERT_TRUE(peer.add_resource(foo_dns_resource({icmp_filter()}), {}));
  setup_foo_nat({kFooReal1}, {kFooProxy1});
  auto ping = test::icmp_echo(kClientV4, kFooProxy1, 77, true);
  ASSERT_EQ(out(ping).action, Out::forward);
  auto pong = test::icmp_echo(kFooReal1, kClientV4, 77, false);
  ASSERT_EQ(in(pong).action, In::forward);
  EXPECT_EQ(pong.view().src(), kFooProxy1);
  EXPECT_TRUE(pong.view().verify_checksums());
}

TEST_F(ClientTest, InboundTcpRstEndsTheSession) {
  ASSERT_TRUE(peer.add_resource(foo_dns_resource({}), {}));
  setup_foo_nat({kFooReal1}, {kFooProxy1});
  auto syn = test::tcp(kClientV4, kFooProxy1, 4000, 443, net::tcp_flag::syn);
  ASSERT_EQ(out(syn).action, Out::forward);
  auto rst = test::tcp(kFooReal1, kClientV4, 443, 4000, net::tcp_flag::rst);
  ASSERT_EQ(in(rst).action, In::forward);  // the RST is delivered
  EXPECT_EQ(rst.view().src(), kFooProxy1);
  auto late = test::tcp(kFooReal1, kClientV4, 443, 4000);
  EXPECT_EQ(in(late).reason, Reason::expired_nat_session);
  EXPECT_FALSE(is_error(Reason::expired_nat_session));
}

TEST_F(ClientTest, OutboundTcpRstEndsTheSession) {
  ASSERT_TRUE(peer.add_resource(foo_dns_resource({}), {}));
  setup_foo_nat({kFooReal1}, {kFooProxy1});
  auto syn = test::tcp(kClientV4, kFooProxy1, 4000, 443, net::tcp_flag::syn);
  ASSERT_EQ(out(syn).action, Out::forward);
  auto rst = test::tcp(kClientV4, kFooProxy1, 4000, 443, net::tcp_flag::rst);
  ASSERT_EQ(out(rst).action, Out::forward);
  EXPECT_EQ(rst.view().dst(), kFooReal1);
  auto late = test::tcp(kFooReal1, kClientV4, 443, 4000);
  EXPECT_EQ(in(late).reason, Reason::expired_nat_session);
  // The proxy has no live session any more, so a new resolution may move it.
  setup_foo_nat({kFooReal2}, {kFooProxy1});
  EXPECT_EQ(peer.translation_for(kFooProxy1), kFooReal2);
}

TEST_F(ClientTest, InboundFilterUsesSourcePortAndDropsSilently) {
  ASSERT_TRUE(peer.add_resource(cidr(kResource1, "10.0.0.0/24", {tcp_filter(443, 443)}), {}));
  auto ok = test::tcp(IpAddr::v4(10, 0, 0, 3), kClientV4, 443, 50000);
  EXPECT_EQ(in(ok).action, In::forward);
  auto bad = test::tcp(IpAddr::v4(10, 0, 0, 3), kClientV4, 444, 50000);
  const auto v = in(bad);
  EXPECT_EQ(v.action, In::drop);
  EXPECT_EQ(v.reason, Reason::filtered_inbound);
  EXPECT_FALSE(is_error(v.reason));
  auto elsewhere = test::tcp(IpAddr::v4(10, 0, 1, 3), kClientV4, 443, 50000);
  EXPECT_EQ(in(elsewhere).reason, Reason::filtered_inbound);
}

TEST_F(ClientTest, InboundDestinationMustBeTheClientsTunnelIp) {
  ASSERT_TRUE(peer.add_resource(internet_resource(), {}));
  auto stale = test::udp(IpAddr::v4(8, 8, 8, 8), IpAddr::v4(100, 64, 0, 77), 53, 5000);
  const auto v = in(stale);
  EXPECT_EQ(v.reason, Reason::not_client_ip);
  EXPECT_TRUE(is_error(v.reason));
  auto fine = test::udp(IpAddr::v4(8, 8, 8, 8), kClientV4, 53, 5000);
  EXPECT_EQ(in(fine).action, In::forward);
  auto fine6 = test::udp(kRealV6, kClientV6, 53, 5000);
  EXPECT_EQ(in(fine6).action, In::forward);
}

TEST_F(ClientTest, InboundUnsupportedIcmpIsDropped) {
  ASSERT_TRUE(peer.add_resource(internet_resource(), {}));
  auto redirect = test::icmp_other(IpAddr::v4(8, 8, 8, 8), kClientV4, 5);
  const auto v = in(redirect);
  EXPECT_EQ(v.reason, Reason::unsupported_icmp);
  auto neighbour = test::icmp_other(kRealV6, kClientV6, 135);
  EXPECT_EQ(in(neighbour).reason, Reason::unsupported_icmp);
}

// Ported in spirit from filter_engine.rs: an ICMP unreachable passes even where the filters do
// not allow ICMP, and even without any NAT session.
TEST_F(ClientTest, IcmpUnreachablePassesTheFilter) {
  ASSERT_TRUE(peer.add_resource(cidr(kResource1, "10.0.0.0/24", {tcp_filter(443, 443)}), {}));
  auto original = test::tcp(kClientV4, IpAddr::v4(10, 0, 0, 3), 50000, 443);
  auto error = test::icmp_error(IpAddr::v4(10, 0, 0, 254), kClientV4, 3, 1, original);
  const auto before = error.bytes;
  EXPECT_EQ(in(error).action, In::forward);
  EXPECT_EQ(error.bytes, before);  // untouched
  // Even from a router no filter covers.
  auto from_router = test::icmp_error(IpAddr::v4(203, 0, 113, 1), kClientV4, 11, 0, original);
  EXPECT_EQ(in(from_router).action, In::forward);
  // But an echo reply from there is filtered.
  auto echo = test::icmp_echo(IpAddr::v4(10, 0, 0, 3), kClientV4, 1, false);
  EXPECT_EQ(in(echo).reason, Reason::filtered_inbound);
}

TEST_F(ClientTest, TranslatedIcmpErrorRewritesTheEmbeddedHeader) {
  ASSERT_TRUE(peer.add_resource(foo_dns_resource({}), {}));
  setup_foo_nat({kFooReal1}, {kFooProxy1, kFooProxy2});
  auto first = test::udp(kClientV4, kFooProxy1, 5000, 53);
  auto second = test::udp(kClientV4, kFooProxy2, 5000, 53);
  ASSERT_EQ(out(first).action, Out::forward);
  ASSERT_EQ(out(second).action, Out::forward);
  ASSERT_EQ(second.view().src_port(), 5001);

  // A router between the gateway and the resource reports the second flow unreachable.
  const IpAddr router = IpAddr::v4(192, 0, 2, 254);
  auto error = test::icmp_error(router, kClientV4, 3, 4, second, 28, /*mtu=*/1400);
  const auto v = in(error, kT0 + std::chrono::seconds(1));
  ASSERT_EQ(v.action, In::forward_translated);
  const auto t = scratch_packet(v);
  EXPECT_EQ(t.src(), kFooProxy2);
  EXPECT_EQ(t.dst(), kClientV4);
  EXPECT_EQ(t.ttl(), 20);
  EXPECT_EQ(t.icmp_type(), 3);
  EXPECT_EQ(t.icmp_code(), 4);
  EXPECT_EQ(load_be32(t.l4().data() + 4), 1400u);  // next-hop MTU kept
  EXPECT_TRUE(t.verify_checksums());
  const auto quote = net::parse_icmp_error(t);
  ASSERT_TRUE(quote);
  EXPECT_EQ(quote->original.src, kClientV4);
  EXPECT_EQ(quote->original.dst, kFooProxy2);
  EXPECT_EQ(quote->original.src_port, 5000);
  EXPECT_EQ(quote->original.dst_port, 53);
  EXPECT_EQ(quote->original.bytes.size(), 28u);
  // The error does not refresh the session.
  EXPECT_EQ(peer.next_nat_deadline(), kT0 + kNatUdpTtl);
}

TEST_F(ClientTest, TranslatedIcmpv6PacketTooBig) {
  ASSERT_TRUE(peer.add_resource(foo_dns_resource({}), {}));
  setup_foo_nat({kRealV6}, {kProxyV6a});
  auto big = test::tcp(kClientV6, kProxyV6a, 6000, 443);
  ASSERT_EQ(out(big).action, Out::forward);
  ASSERT_EQ(big.view().dst(), kRealV6);
  auto ptb = test::icmp_error(IpAddr::v6(0x2001, 0xdb8, 0xff, 0, 0, 0, 0, 1), kClientV6,
                              net::icmpv6::packet_too_big, 0, big, 0, /*mtu=*/1280);
  const auto v = in(ptb);
  ASSERT_EQ(v.action, In::forward_translated);
  const auto t = scratch_packet(v);
  EXPECT_EQ(t.src(), kProxyV6a);
  EXPECT_EQ(t.dst(), kClientV6);
  EXPECT_EQ(t.ttl(), 20);
  EXPECT_EQ(t.icmp_type(), 2);
  EXPECT_EQ(load_be32(t.l4().data() + 4), 1280u);
  EXPECT_TRUE(t.verify_checksums());
  const auto quote = net::parse_icmp_error(t);
  ASSERT_TRUE(quote);
  EXPECT_EQ(quote->original.dst, kProxyV6a);
  EXPECT_EQ(quote->original.src_port, 6000);
}

TEST_F(ClientTest, TranslatedIcmpErrorForEchoRestoresTheIdentifier) {
  ASSERT_TRUE(peer.add_resource(foo_dns_resource({icmp_filter()}), {}));
  setup_foo_nat({kFooReal1}, {kFooProxy1, kFooProxy2});
  auto a = test::icmp_echo(kClientV4, kFooProxy1, 9);
  auto b = test::icmp_echo(kClientV4, kFooProxy2, 9);
  ASSERT_EQ(out(a).action, Out::forward);
  ASSERT_EQ(out(b).action, Out::forward);
  auto error = test::icmp_error(kFooReal1, kClientV4, 11, 0, b);
  const auto v = in(error);
  ASSERT_EQ(v.action, In::forward_translated);
  const auto quote = net::parse_icmp_error(scratch_packet(v));
  ASSERT_TRUE(quote);
  EXPECT_EQ(quote->original.dst, kFooProxy2);
  ASSERT_TRUE(quote->original.echo);
  EXPECT_EQ(quote->original.echo->identifier, 9);
}

TEST_F(ClientTest, IcmpErrorForExpiredSessionIsDropped) {
  ASSERT_TRUE(peer.add_resource(foo_dns_resource({}), {}));
  setup_foo_nat({kFooReal1}, {kFooProxy1});
  auto p = test::udp(kClientV4, kFooProxy1, 5000, 53);
  ASSERT_EQ(out(p).action, Out::forward);
  peer.handle_timeout(kT0 + kNatUdpTtl);
  auto error = test::icmp_error(kFooReal1, kClientV4, 3, 3, p);
  EXPECT_EQ(in(error).reason, Reason::expired_nat_session);
}

TEST_F(ClientTest, IcmpErrorWithUnusableQuoteIsDropped) {
  ASSERT_TRUE(peer.add_resource(internet_resource(), {}));
  auto original = test::udp(kClientV4, IpAddr::v4(8, 8, 8, 8), 5000, 53);
  // Only the IP header is quoted: no source port.
  auto short_quote = test::icmp_error(IpAddr::v4(8, 8, 8, 8), kClientV4, 3, 3, original, 20);
  EXPECT_EQ(in(short_quote).reason, Reason::bad_icmp_error);
  auto gre = test::raw(kClientV4, IpAddr::v4(8, 8, 8, 8), 47);
  auto about_gre = test::icmp_error(IpAddr::v4(8, 8, 8, 8), kClientV4, 3, 2, gre);
  EXPECT_EQ(in(about_gre).reason, Reason::bad_icmp_error);
}

TEST_F(ClientTest, TrafficWithoutSessionFromDnsRealIpIsFilteredInbound) {
  ASSERT_TRUE(peer.add_resource(foo_dns_resource({}), {}));
  setup_foo_nat({kFooReal1}, {kFooProxy1});
  // Never sent by the client: no session, and the real IP has no filter.
  auto unsolicited = test::udp(kFooReal1, kClientV4, 53, 7777);
  EXPECT_EQ(in(unsolicited).reason, Reason::filtered_inbound);
}

// ---------------------------------------------------------------------------------------------
// In-tunnel control (§6.3, §6.4)

TEST_F(ClientTest, AssignedIpsForUnauthorizedResourceIsInactiveAtOnce) {
  net::p2p_control::AssignedIps event{kResource1, "foo.com", {kFooProxy1}};
  const auto outcome = peer.handle_assigned_ips(event);
  const auto* status = std::get_if<net::p2p_control::DomainStatus>(&outcome);
  ASSERT_NE(status, nullptr);
  EXPECT_EQ(*status, (net::p2p_control::DomainStatus{
                         kResource1, "foo.com", net::p2p_control::ResolutionStatus::inactive}));
}

TEST_F(ClientTest, AssignedIpsForAuthorizedResourceAsksToResolve) {
  ASSERT_TRUE(peer.add_resource(foo_dns_resource(), {}));
  net::p2p_control::AssignedIps event{kResource1, "foo.com", {kFooProxy2, kFooProxy1}};
  const auto outcome = peer.handle_assigned_ips(event);
  const auto* request = std::get_if<ResolveDnsRequest>(&outcome);
  ASSERT_NE(request, nullptr);
  EXPECT_EQ(*request,
            (ResolveDnsRequest{"foo.com", kClient, kResource1, {kFooProxy2, kFooProxy1}}));
}

TEST_F(ClientTest, DomainResolvedGivesActiveOrInactive) {
  using net::p2p_control::ResolutionStatus;
  ASSERT_TRUE(peer.add_resource(foo_dns_resource(), {}));
  ASSERT_TRUE(peer.add_resource(bar_cidr_resource(), {}));
  const ResolveDnsRequest request{"foo.com", kClient, kResource1, {kFooProxy1}};

  auto ok = peer.handle_domain_resolved(request, std::vector<IpAddr>{kFooReal1});
  EXPECT_EQ(ok, (net::p2p_control::DomainStatus{kResource1, "foo.com", ResolutionStatus::active}));
  EXPECT_EQ(peer.translation_for(kFooProxy1), kFooReal1);

  // An empty resolution still succeeds.
  EXPECT_EQ(peer.handle_domain_resolved(request, std::vector<IpAddr>{}).status,
            ResolutionStatus::active);

  auto failed = peer.handle_domain_resolved(
      request, Result<std::vector<IpAddr>>(Error(Errc::not_found, "DNS resolution timed out")));
  EXPECT_EQ(failed.status, ResolutionStatus::inactive);

  const ResolveDnsRequest mismatch{"bar.com", kClient, kResource1, {kFooProxy1}};
  EXPECT_EQ(peer.handle_domain_resolved(mismatch, std::vector<IpAddr>{kFooReal1}).status,
            ResolutionStatus::inactive);
  const ResolveDnsRequest not_dns{"foo.com", kClient, kResource2, {kFooProxy1}};
  EXPECT_EQ(peer.handle_domain_resolved(not_dns, std::vector<IpAddr>{kFooReal1}).status,
            ResolutionStatus::inactive);
  const ResolveDnsRequest unknown{"foo.com", kClient, kResource3, {kFooProxy1}};
  EXPECT_EQ(peer.handle_domain_resolved(unknown, std::vector<IpAddr>{kFooReal1}).status,
            ResolutionStatus::inactive);
  EXPECT_EQ(inactive_domain_status(request).status, ResolutionStatus::inactive);
  EXPECT_EQ(inactive_domain_status(request).domain, "foo.com");
}

}  // namespace
}  // namespace fz::gateway
