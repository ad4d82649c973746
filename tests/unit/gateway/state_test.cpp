// GatewayState end to end on the simulated network: a client-role Node talks to the gateway
// through a Firezone relay model, the test plays the portal and the resources behind the TUN.
#include "gateway/state.hpp"

#include <gtest/gtest.h>

#include "gateway_sim.hpp"
#include "net/p2p_control.hpp"
#include "packets.hpp"

namespace fz::gateway::test {
namespace {

using namespace std::chrono_literals;
namespace ctl = net::p2p_control;

const Uuid kCidrId = uuid_of(10);
const Uuid kDnsId = uuid_of(11);
const Uuid kInternetId = uuid_of(12);
const Uuid kOtherId = uuid_of(13);

portal::Filter tcp_ports(std::uint16_t from, std::uint16_t to) {
  return portal::Filter{portal::FilterProtocol::tcp, from, to};
}
portal::Filter icmp_filter() {
  return portal::Filter{portal::FilterProtocol::icmp, 0, 65535};
}

portal::ResourceDescription cidr_resource(portal::Filters filters = {tcp_ports(80, 80),
                                                                     icmp_filter()}) {
  return portal::CidrResource{kCidrId, *net::Cidr::parse("198.51.100.128/25"), "web",
                              std::move(filters)};
}
portal::ResourceDescription dns_resource() {
  return portal::DnsResource{kDnsId, "*.app.test", "app", {}};
}
portal::ResourceDescription internet_resource() {
  return portal::InternetResource{kInternetId};
}
portal::ResourceDescription other_resource() {
  return portal::CidrResource{kOtherId, *net::Cidr::parse("203.0.113.192/26"), "other", {}};
}

std::vector<IpAddr> proxy_ips() {
  return {ip("100.96.0.1"),
          ip("100.96.0.2"),
          ip("100.96.0.3"),
          ip("100.96.0.4"),
          ip("fd00:2021:1111:8000::1"),
          ip("fd00:2021:1111:8000::2"),
          ip("fd00:2021:1111:8000::3"),
          ip("fd00:2021:1111:8000::4")};
}

std::vector<std::uint8_t> assigned_ips_packet(const Uuid& resource, std::string domain) {
  std::vector<std::uint8_t> out(1280);
  auto len =
      ctl::encode_assigned_ips(out, ctl::AssignedIps{resource, std::move(domain), proxy_ips()});
  EXPECT_TRUE(len.ok());
  out.resize(len.ok() ? *len : 0);
  return out;
}

std::optional<ctl::DomainStatus> domain_status_in(const std::vector<std::uint8_t>& bytes) {
  auto view = net::IpPacketView::parse(bytes);
  if (!view || !ctl::is_control_packet(*view)) return std::nullopt;
  auto message = ctl::decode(*view);
  if (!message || message->event_type != ctl::event_type::domain_status) return std::nullopt;
  auto status = ctl::parse_domain_status(message->body);
  if (!status) return std::nullopt;
  return *status;
}

class GatewayStateTest : public ::testing::Test {
 protected:
  void connect_with(const portal::ResourceDescription& resource,
                    std::optional<UnixTime> expires = std::nullopt) {
    sim.init();
    sim.authorize(resource, expires);
    ASSERT_TRUE(sim.run_until_connected());
    // The initiator's keepalive confirms the session on the gateway's side.
    sim.advance(20ms);
    sim.tun_out.clear();
    sim.client_rx.clear();
  }
  net::IpAddr me() const { return sim.client_tun.v4; }

  GatewaySim sim;
};

// ---------------------------------------------------------------------------------------------
// Portal commands

TEST_F(GatewayStateTest, InitConfiguresTheTunOnceAndIsNotAnswered) {
  sim.init();
  sim.init();
  ASSERT_EQ(sim.tun_configs.size(), 1u);
  EXPECT_EQ(sim.tun_configs[0].addresses, sim.gateway_tun);
  EXPECT_TRUE(sim.portal_out.empty());
  ASSERT_TRUE(sim.gateway.tun_config().has_value());
}

TEST_F(GatewayStateTest, AuthorizeFlowAnswersFlowAuthorizedAndTheClientConnects) {
  sim.init();
  sim.authorize(cidr_resource());
  const auto replies = sim.portal_messages<portal::FlowAuthorized>();
  ASSERT_EQ(replies.size(), 1u);
  EXPECT_EQ(replies[0].ref, "ref-1");
  ASSERT_TRUE(sim.run_until_connected());
  EXPECT_FALSE(sim.portal_messages<portal::BroadcastIceCandidates>().empty());
  EXPECT_TRUE(sim.gateway.node().has_connection(sim.client_id));
  ASSERT_NE(sim.gateway.peer(sim.client_id), nullptr);
  EXPECT_TRUE(sim.gateway.peer(sim.client_id)->is_allowed(kCidrId));
}

TEST_F(GatewayStateTest, WithoutRelaysTheFlowIsNotAnsweredAndThePortalIsReconnected) {
  portal::Init m;
  m.interface = portal::InterfaceConfig{sim.gateway_tun.v4, sim.gateway_tun.v6};
  sim.gateway.handle_portal_message(m, sim.now);
  sim.gateway.handle_portal_message(sim.flow(cidr_resource()), sim.now);
  sim.pump();
  EXPECT_TRUE(sim.portal_messages<portal::FlowAuthorized>().empty());
  EXPECT_EQ(sim.no_turn_events, 1u);
  EXPECT_EQ(sim.gateway.peer(sim.client_id), nullptr);
}

TEST_F(GatewayStateTest, FlowBeforeInitIsAnsweredButGrantsNothing) {
  // The reference replies flow_authorized even when allow_access failed for lack of a TUN config.
  portal::Init m;
  m.interface = portal::InterfaceConfig{sim.gateway_tun.v4, sim.gateway_tun.v6};
  m.relays.push_back(sim.turn_relay());
  sim.gateway.update_relays({}, m.relays, sim.now);
  sim.gateway.handle_portal_message(sim.flow(cidr_resource()), sim.now);
  sim.pump();
  EXPECT_EQ(sim.portal_messages<portal::FlowAuthorized>().size(), 1u);
  EXPECT_EQ(sim.gateway.peer(sim.client_id), nullptr);
}

// ---------------------------------------------------------------------------------------------
// The scenario of the issue: CIDR, DNS and Internet resources, ping/UDP/TCP through each.

TEST_F(GatewayStateTest, CidrDnsAndInternetResourcesCarryPingUdpAndTcp) {
  sim.init();
  sim.authorize(cidr_resource(
      {tcp_ports(80, 80), icmp_filter(), portal::Filter{portal::FilterProtocol::udp, 5000, 5001}}));
  ASSERT_TRUE(sim.run_until_connected());
  sim.authorize(dns_resource());
  sim.authorize(internet_resource());
  sim.advance(50ms);
  sim.tun_out.clear();
  sim.client_rx.clear();
  const IpAddr host = ip("198.51.100.130");

  // CIDR: ping, TCP 80, UDP 5000 go out unchanged; replies come back unchanged.
  const Packet ping = icmp_echo(me(), host, 7);
  const Packet web = tcp(me(), host, 40001, 80, net::tcp_flag::syn);
  const Packet dgram = udp(me(), host, 40002, 5000);
  for (const Packet* p : {&ping, &web, &dgram})
    sim.client_send(p->bytes);
  sim.advance(20ms);
  ASSERT_EQ(sim.tun_out.size(), 3u);
  EXPECT_EQ(sim.tun_out[0], ping.bytes);
  EXPECT_EQ(sim.tun_out[1], web.bytes);
  EXPECT_EQ(sim.tun_out[2], dgram.bytes);
  const Packet pong = icmp_echo(host, me(), 7, false);
  const Packet web_reply = tcp(host, me(), 80, 40001, net::tcp_flag::syn | net::tcp_flag::ack);
  const Packet dgram_reply = udp(host, me(), 5000, 40002);
  for (const Packet* p : {&pong, &web_reply, &dgram_reply})
    sim.resource_reply(p->bytes);
  sim.advance(20ms);
  ASSERT_EQ(sim.client_rx.size(), 3u);
  EXPECT_EQ(sim.client_rx[0], pong.bytes);
  EXPECT_EQ(sim.client_rx[1], web_reply.bytes);
  EXPECT_EQ(sim.client_rx[2], dgram_reply.bytes);

  // DNS: AssignedIps → ResolveDns → Active; then UDP, TCP and ping through a proxy IP.
  sim.client_send(assigned_ips_packet(kDnsId, "web.app.test"));
  sim.advance(20ms);
  ASSERT_EQ(sim.resolve_requests.size(), 1u);
  EXPECT_EQ(sim.resolve_requests[0].request.domain, "web.app.test");
  EXPECT_EQ(sim.resolve_requests[0].request.client, sim.client_id);
  EXPECT_EQ(sim.resolve_requests[0].legacy_token, 0u);
  const IpAddr real = ip("203.0.113.80");
  sim.gateway.handle_domain_resolved(sim.resolve_requests[0], std::vector<IpAddr>{real}, sim.now);
  sim.pump();
  sim.advance(20ms);
  ASSERT_EQ(sim.client_rx.size(), 4u);
  auto status = domain_status_in(sim.client_rx[3]);
  ASSERT_TRUE(status.has_value());
  EXPECT_EQ(status->status, ctl::ResolutionStatus::active);
  EXPECT_EQ(status->domain, "web.app.test");

  sim.tun_out.clear();
  sim.client_rx.clear();
  const IpAddr proxy = ip("100.96.0.1");
  sim.client_send(udp(me(), proxy, 41000, 53).bytes);
  sim.client_send(tcp(me(), proxy, 41001, 443, net::tcp_flag::syn).bytes);
  sim.client_send(icmp_echo(me(), proxy, 99).bytes);
  sim.advance(20ms);
  ASSERT_EQ(sim.tun_out.size(), 3u);
  std::vector<std::uint16_t> outside_ids;
  for (const auto& bytes : sim.tun_out) {
    auto v = net::IpPacketView::parse(bytes);
    ASSERT_TRUE(v.ok());
    EXPECT_EQ(v->dst(), real);
    EXPECT_EQ(v->src(), me());
    EXPECT_TRUE(v->verify_checksums().ok());
  }
  auto udp_out = *net::IpPacketView::parse(sim.tun_out[0]);
  auto tcp_out = *net::IpPacketView::parse(sim.tun_out[1]);
  auto echo_out = *net::IpPacketView::parse(sim.tun_out[2]);
  sim.resource_reply(udp(real, me(), 53, *udp_out.src_port()).bytes);
  sim.resource_reply(
      tcp(real, me(), 443, *tcp_out.src_port(), net::tcp_flag::syn | net::tcp_flag::ack).bytes);
  sim.resource_reply(icmp_echo(real, me(), echo_out.icmp_echo()->identifier, false).bytes);
  sim.advance(20ms);
  ASSERT_EQ(sim.client_rx.size(), 3u);
  auto r0 = *net::IpPacketView::parse(sim.client_rx[0]);
  auto r1 = *net::IpPacketView::parse(sim.client_rx[1]);
  auto r2 = *net::IpPacketView::parse(sim.client_rx[2]);
  EXPECT_EQ(r0.src(), proxy);
  EXPECT_EQ(*r0.dst_port(), 41000);
  EXPECT_EQ(r1.src(), proxy);
  EXPECT_EQ(*r1.dst_port(), 41001);
  EXPECT_EQ(r2.src(), proxy);
  EXPECT_EQ(r2.icmp_echo()->identifier, 99);
  for (const auto* v : {&r0, &r1, &r2})
    EXPECT_TRUE(v->verify_checksums().ok());

  // Internet: anything outside the proxy ranges passes both ways, unchanged.
  sim.tun_out.clear();
  sim.client_rx.clear();
  const IpAddr internet_host = ip("192.0.2.33");
  const Packet out = tcp(me(), internet_host, 42000, 8443, net::tcp_flag::syn);
  sim.client_send(out.bytes);
  const Packet back = tcp(internet_host, me(), 8443, 42000, net::tcp_flag::ack);
  sim.resource_reply(back.bytes);
  sim.advance(20ms);
  ASSERT_EQ(sim.tun_out.size(), 1u);
  EXPECT_EQ(sim.tun_out[0], out.bytes);
  ASSERT_EQ(sim.client_rx.size(), 1u);
  EXPECT_EQ(sim.client_rx[0], back.bytes);
}

TEST_F(GatewayStateTest, FullSizePacketsCrossInBothDirections) {
  connect_with(cidr_resource({portal::Filter{portal::FilterProtocol::udp, 5000, 5000}}));
  const IpAddr host = ip("198.51.100.130");
  // 1280-byte IP packets: 1312-byte WireGuard datagrams on the wire.
  const Packet up = udp(me(), host, 40000, 5000, std::vector<std::uint8_t>(1280 - 28, 0xab));
  const Packet down = udp(host, me(), 5000, 40000, std::vector<std::uint8_t>(1280 - 28, 0xcd));
  ASSERT_EQ(up.bytes.size(), 1280u);
  sim.client_send(up.bytes);
  sim.resource_reply(down.bytes);
  sim.advance(20ms);
  ASSERT_EQ(sim.tun_out.size(), 1u);
  EXPECT_EQ(sim.tun_out[0], up.bytes);
  ASSERT_EQ(sim.client_rx.size(), 1u);
  EXPECT_EQ(sim.client_rx[0], down.bytes);
  // The metrics' counters and the connection snapshot.
  const GatewayStats& stats = sim.gateway.stats();
  EXPECT_EQ(stats.packets_to_tun, 1u);
  EXPECT_EQ(stats.bytes_to_tun, 1280u);
  EXPECT_EQ(stats.packets_from_tun, 1u);
  EXPECT_EQ(stats.bytes_from_tun, 1280u);
  const p2p::ConnectionCounts counts = sim.gateway.node().connection_counts();
  EXPECT_EQ(counts.by_state.at(static_cast<std::size_t>(p2p::ConnectionState::connected)), 1u);
  EXPECT_EQ(counts.by_path.at(static_cast<std::size_t>(p2p::PathKind::direct)), 1u);
}

TEST_F(GatewayStateTest, FullSizePacketsCrossARelayedPath) {
  sim.direct_blocked = true;
  connect_with(cidr_resource({portal::Filter{portal::FilterProtocol::udp, 5000, 5000}}));
  const IpAddr host = ip("198.51.100.130");
  const Packet up = udp(me(), host, 40000, 5000, std::vector<std::uint8_t>(1280 - 28, 0xab));
  const Packet down = udp(host, me(), 5000, 40000, std::vector<std::uint8_t>(1280 - 28, 0xcd));
  sim.client_send(up.bytes);
  sim.resource_reply(down.bytes);
  sim.advance(50ms);
  ASSERT_EQ(sim.tun_out.size(), 1u);
  EXPECT_EQ(sim.tun_out[0], up.bytes);
  ASSERT_EQ(sim.client_rx.size(), 1u);
  EXPECT_EQ(sim.client_rx[0], down.bytes);
}

// ---------------------------------------------------------------------------------------------
// Filters and ICMP errors

TEST_F(GatewayStateTest, DeniedPortGetsAdministrativelyProhibitedFromTheDestination) {
  connect_with(cidr_resource());
  const IpAddr host = ip("198.51.100.130");
  sim.client_send(tcp(me(), host, 40001, 22, net::tcp_flag::syn).bytes);
  sim.advance(20ms);
  EXPECT_TRUE(sim.tun_out.empty());
  ASSERT_EQ(sim.client_rx.size(), 1u);
  auto v = *net::IpPacketView::parse(sim.client_rx[0]);
  EXPECT_EQ(v.src(), host);
  EXPECT_EQ(v.dst(), me());
  EXPECT_EQ(v.ttl(), 20);
  EXPECT_EQ(v.icmp_type(), 3);
  EXPECT_EQ(v.icmp_code(), 13);
  EXPECT_EQ(sim.gateway.stats().icmp_errors_sent, 1u);
}

TEST_F(GatewayStateTest, SpoofedSourceGetsProhibited) {
  connect_with(cidr_resource());
  const IpAddr host = ip("198.51.100.130");
  sim.client_send(tcp(ip("100.64.0.77"), host, 40001, 80, net::tcp_flag::syn).bytes);
  sim.advance(20ms);
  EXPECT_TRUE(sim.tun_out.empty());
  ASSERT_EQ(sim.client_rx.size(), 1u);
  auto v = *net::IpPacketView::parse(sim.client_rx[0]);
  EXPECT_EQ(v.src(), host);
  EXPECT_EQ(v.icmp_code(), 13);
}

TEST_F(GatewayStateTest, TheGatewaysOwnTunnelIpIsReachableWithoutFilters) {
  connect_with(cidr_resource({tcp_ports(80, 80)}));
  const Packet query = udp(me(), sim.gateway_tun.v4, 40000, 53535);
  sim.client_send(query.bytes);
  sim.advance(20ms);
  ASSERT_EQ(sim.tun_out.size(), 1u);
  EXPECT_EQ(sim.tun_out[0], query.bytes);
  const Packet answer = udp(sim.gateway_tun.v4, me(), 53535, 40000);
  sim.resource_reply(answer.bytes);
  sim.advance(20ms);
  ASSERT_EQ(sim.client_rx.size(), 1u);
  EXPECT_EQ(sim.client_rx[0], answer.bytes);
}

TEST_F(GatewayStateTest, ResourceUpdatedChangesFiltersLive) {
  connect_with(cidr_resource({tcp_ports(80, 80)}));
  const IpAddr host = ip("198.51.100.130");
  sim.client_send(tcp(me(), host, 40001, 8080, net::tcp_flag::syn).bytes);
  sim.advance(20ms);
  EXPECT_TRUE(sim.tun_out.empty());
  sim.gateway.handle_portal_message(portal::ResourceUpdated{cidr_resource({tcp_ports(8000, 8100)})},
                                    sim.now);
  sim.client_send(tcp(me(), host, 40001, 8080, net::tcp_flag::syn).bytes);
  sim.advance(20ms);
  EXPECT_EQ(sim.tun_out.size(), 1u);
}

TEST_F(GatewayStateTest, RepliesAreFilteredBySourcePortAndDroppedSilently) {
  connect_with(cidr_resource({tcp_ports(80, 80)}));
  sim.resource_reply(tcp(ip("198.51.100.130"), me(), 22, 40001).bytes);
  sim.advance(20ms);
  EXPECT_TRUE(sim.client_rx.empty());
  EXPECT_EQ(sim.gateway.stats().dropped_policy, 1u);
}

// ---------------------------------------------------------------------------------------------
// Routing back from the TUN

TEST_F(GatewayStateTest, TunPacketsOutsideTheTunnelOrToNobodyAreDroppedSilently) {
  connect_with(cidr_resource());
  const std::size_t sent = sim.gateway_datagrams_sent;
  sim.resource_reply(udp(ip("198.51.100.130"), ip("192.0.2.1"), 80, 4000).bytes);
  sim.resource_reply(udp(ip("198.51.100.130"), ip("100.64.0.99"), 80, 4000).bytes);
  sim.resource_reply(udp(ip("2001:db8::130"), ip("ff02::16"), 80, 4000).bytes);
  EXPECT_EQ(sim.gateway_datagrams_sent, sent);
  EXPECT_EQ(sim.gateway.stats().dropped_policy, 3u);
}

// ---------------------------------------------------------------------------------------------
// DNS resources

TEST_F(GatewayStateTest, AssignedIpsForAnUnauthorizedResourceIsInactiveAtOnce) {
  connect_with(cidr_resource());
  sim.client_send(assigned_ips_packet(kDnsId, "web.app.test"));
  sim.advance(20ms);
  EXPECT_TRUE(sim.resolve_requests.empty());
  ASSERT_EQ(sim.client_rx.size(), 1u);
  auto status = domain_status_in(sim.client_rx[0]);
  ASSERT_TRUE(status.has_value());
  EXPECT_EQ(status->status, ctl::ResolutionStatus::inactive);
  EXPECT_EQ(status->resource, kDnsId);
}

TEST_F(GatewayStateTest, FailedResolutionIsInactive) {
  connect_with(dns_resource());
  sim.client_send(assigned_ips_packet(kDnsId, "web.app.test"));
  sim.advance(20ms);
  ASSERT_EQ(sim.resolve_requests.size(), 1u);
  sim.gateway.handle_domain_resolved(sim.resolve_requests[0], Error(Errc::not_found, "NXDOMAIN"),
                                     sim.now);
  sim.pump();
  sim.advance(20ms);
  ASSERT_EQ(sim.client_rx.size(), 1u);
  EXPECT_EQ(domain_status_in(sim.client_rx[0])->status, ctl::ResolutionStatus::inactive);
}

TEST_F(GatewayStateTest, ProxyIpFamilyMismatchGetsUnreachable) {
  connect_with(dns_resource());
  sim.client_send(assigned_ips_packet(kDnsId, "web.app.test"));
  sim.advance(20ms);
  ASSERT_EQ(sim.resolve_requests.size(), 1u);
  // Only an IPv6 address: the IPv4 proxies fall back to it, and packets get ICMP unreachable.
  sim.gateway.handle_domain_resolved(sim.resolve_requests[0],
                                     std::vector<IpAddr>{ip("2001:db8::80")}, sim.now);
  sim.advance(20ms);
  sim.client_rx.clear();
  sim.client_send(udp(me(), ip("100.96.0.1"), 41000, 53).bytes);
  sim.advance(20ms);
  EXPECT_TRUE(sim.tun_out.empty());
  ASSERT_EQ(sim.client_rx.size(), 1u);
  auto v = *net::IpPacketView::parse(sim.client_rx[0]);
  EXPECT_EQ(v.icmp_type(), 3);
  EXPECT_EQ(v.icmp_code(), 0);
  EXPECT_EQ(v.src(), ip("100.96.0.1"));
}

// ---------------------------------------------------------------------------------------------
// Authorization lifecycle and goodbye

TEST_F(GatewayStateTest, RejectingTheLastResourceSaysGoodbyeAtOnce) {
  connect_with(cidr_resource());
  sim.authorize(other_resource());
  sim.advance(20ms);
  sim.gateway.handle_portal_message(portal::RejectAccess{sim.client_id, kOtherId}, sim.now);
  sim.advance(20ms);
  EXPECT_EQ(sim.count_client_events<p2p::event::ConnectionClosed>(), 0u);
  ASSERT_NE(sim.gateway.peer(sim.client_id), nullptr);

  const Instant rejected_at = sim.now;
  sim.gateway.handle_portal_message(portal::RejectAccess{sim.client_id, kCidrId}, sim.now);
  EXPECT_EQ(sim.gateway.peer(sim.client_id), nullptr);
  EXPECT_FALSE(sim.gateway.node().has_connection(sim.client_id));
  sim.pump();
  sim.advance(GatewaySim::kLatency);
  // The client learns within one network latency (not after a 15 s ICE timeout).
  EXPECT_FALSE(sim.client.has_connection(sim.gateway_id));
  ASSERT_EQ(sim.count_client_events<p2p::event::ConnectionClosed>(), 1u);
  EXPECT_LE(sim.now - rejected_at, GatewaySim::kLatency);
}

TEST_F(GatewayStateTest, ExpiryRemovesTheResourceWithinOneSecondAndSaysGoodbye) {
  sim.init();
  const UnixTime expiry = sim.utc() + std::chrono::seconds(5);
  sim.authorize(cidr_resource(), expiry);
  ASSERT_TRUE(sim.run_until_connected());
  const IpAddr host = ip("198.51.100.130");
  // Still allowed just before the expiry.
  sim.run_until(Instant{} + 4900ms);
  sim.tun_out.clear();
  sim.client_send(icmp_echo(me(), host, 1).bytes);
  sim.advance(10ms);
  EXPECT_EQ(sim.tun_out.size(), 1u);
  // Gone, with a goodbye, within 1 s of the expiry.
  sim.run_until(Instant{} + 6s + GatewaySim::kLatency);
  EXPECT_EQ(sim.gateway.peer(sim.client_id), nullptr);
  EXPECT_FALSE(sim.client.has_connection(sim.gateway_id));
  EXPECT_EQ(sim.count_client_events<p2p::event::ConnectionClosed>(), 1u);
}

TEST_F(GatewayStateTest, ReauthorizingKeepsTheExpiryUntilThePortalUpdatesIt) {
  sim.init();
  const UnixTime expiry = sim.utc() + std::chrono::seconds(5);
  sim.authorize(cidr_resource(), expiry);
  sim.authorize(cidr_resource(), expiry + std::chrono::seconds(100));
  EXPECT_EQ(sim.gateway.peer(sim.client_id)->resource_expiry(kCidrId), expiry);
  sim.gateway.handle_portal_message(
      portal::AccessAuthorizationExpiryUpdated{sim.client_id, kCidrId,
                                               expiry + std::chrono::seconds(100)},
      sim.now);
  EXPECT_EQ(sim.gateway.peer(sim.client_id)->resource_expiry(kCidrId),
            expiry + std::chrono::seconds(100));
  sim.run_until(Instant{} + 7s);
  EXPECT_NE(sim.gateway.peer(sim.client_id), nullptr);
}

TEST_F(GatewayStateTest, InitWithoutTheResourceClosesWithinOneSecond) {
  connect_with(cidr_resource());
  sim.authorize(other_resource());
  // A new init lists the client with one resource only: the other goes.
  sim.init({portal::Authorization{sim.client_id, kOtherId, sim.utc() + std::chrono::hours(1)}});
  EXPECT_FALSE(sim.gateway.peer(sim.client_id)->is_allowed(kCidrId));
  EXPECT_TRUE(sim.gateway.peer(sim.client_id)->is_allowed(kOtherId));
  EXPECT_EQ(sim.gateway.peer(sim.client_id)->resource_expiry(kOtherId),
            sim.utc() + std::chrono::hours(1));
  // A client listed with only an unknown resource is emptied, and closed by the next sweep.
  sim.init({portal::Authorization{sim.client_id, kDnsId, sim.utc() + std::chrono::hours(1)}});
  EXPECT_TRUE(sim.gateway.peer(sim.client_id)->has_no_resources());
  const Instant emptied_at = sim.now;
  sim.run_until(emptied_at + 1s + GatewaySim::kLatency);
  EXPECT_EQ(sim.gateway.peer(sim.client_id), nullptr);
  EXPECT_FALSE(sim.client.has_connection(sim.gateway_id));
}

TEST_F(GatewayStateTest, InitLeavesUnlistedClientsAlone) {
  connect_with(cidr_resource());
  sim.init({});
  sim.advance(2s);
  ASSERT_NE(sim.gateway.peer(sim.client_id), nullptr);
  EXPECT_TRUE(sim.gateway.peer(sim.client_id)->is_allowed(kCidrId));
}

TEST_F(GatewayStateTest, AGoodbyeFromTheClientRemovesItsStateWithoutAReply) {
  connect_with(cidr_resource());
  sim.advance(100ms);
  sim.client.close_connection(sim.gateway_id, sim.now);
  sim.pump();
  const std::size_t sent = sim.gateway_datagrams_sent;
  sim.advance(GatewaySim::kLatency);
  EXPECT_EQ(sim.gateway.peer(sim.client_id), nullptr);
  EXPECT_FALSE(sim.gateway.node().has_connection(sim.client_id));
  sim.advance(20ms);
  EXPECT_EQ(sim.gateway_datagrams_sent, sent);
}

TEST_F(GatewayStateTest, AConnectionFailureKeepsTheAuthorizations) {
  connect_with(cidr_resource());
  sim.client_online = false;
  sim.advance(60s);
  EXPECT_FALSE(sim.gateway.node().has_connection(sim.client_id));
  ASSERT_NE(sim.gateway.peer(sim.client_id), nullptr);
  EXPECT_TRUE(sim.gateway.peer(sim.client_id)->is_allowed(kCidrId));
}

TEST_F(GatewayStateTest, ShutdownSaysGoodbyeAndIgnoresThePortalAfterwards) {
  connect_with(cidr_resource());
  sim.gateway.shutdown(sim.now);
  EXPECT_TRUE(sim.gateway.is_shutting_down());
  EXPECT_FALSE(sim.gateway.is_flushed());
  sim.pump();
  EXPECT_TRUE(sim.gateway.is_flushed());
  sim.advance(GatewaySim::kLatency);
  EXPECT_FALSE(sim.client.has_connection(sim.gateway_id));
  EXPECT_EQ(sim.count_client_events<p2p::event::ConnectionClosed>(), 1u);
  const std::size_t replies = sim.portal_out.size();
  sim.gateway.handle_portal_message(sim.flow(cidr_resource()), sim.now);
  sim.pump();
  EXPECT_EQ(sim.portal_out.size(), replies);
  EXPECT_EQ(sim.gateway.peers().size(), 0u);
}

TEST_F(GatewayStateTest, ReconnectAfterGoodbyeWorks) {
  connect_with(cidr_resource());
  sim.gateway.handle_portal_message(portal::RejectAccess{sim.client_id, kCidrId}, sim.now);
  sim.advance(20ms);
  ASSERT_FALSE(sim.client.has_connection(sim.gateway_id));
  // The next packet re-authorizes through the portal.
  sim.authorize(cidr_resource());
  ASSERT_TRUE(sim.run_until_connected());
  sim.tun_out.clear();
  sim.client_send(icmp_echo(me(), ip("198.51.100.130"), 5).bytes);
  sim.advance(20ms);
  EXPECT_EQ(sim.tun_out.size(), 1u);
}

TEST_F(GatewayStateTest, RelayedPathCarriesTraffic) {
  sim.direct_blocked = true;
  connect_with(cidr_resource());
  auto info = sim.client.connection_info(sim.gateway_id);
  ASSERT_TRUE(info.has_value());
  EXPECT_TRUE(p2p::is_relayed(info->path) || info->path == p2p::PathKind::peer_to_relay);
  sim.client_send(icmp_echo(me(), ip("198.51.100.130"), 5).bytes);
  sim.advance(30ms);
  ASSERT_EQ(sim.tun_out.size(), 1u);
  sim.resource_reply(icmp_echo(ip("198.51.100.130"), me(), 5, false).bytes);
  sim.advance(30ms);
  EXPECT_EQ(sim.client_rx.size(), 1u);
}

// ---------------------------------------------------------------------------------------------
// Legacy request_connection / allow_access

portal::RequestConnection legacy_request(GatewaySim& sim,
                                         std::optional<portal::ResolveRequest> dns) {
  portal::RequestConnection r;
  r.ref = "legacy-ref";
  r.resource = dns ? dns_resource() : cidr_resource();
  r.client.id = sim.client_id;
  r.client.ice_parameters = {"clufragABCDEFGHI", "clientpasswordABCDEFGH"};
  r.client.domain = std::move(dns);
  r.client.peer.public_key = sim.client.public_key();
  std::array<std::uint8_t, 32> k{};
  k[0] = 9;
  r.client.peer.preshared_key = p2p::PresharedKey(std::span<const std::uint8_t, 32>(k));
  r.client.peer.ipv4 = sim.client_tun.v4;
  r.client.peer.ipv6 = sim.client_tun.v6;
  return r;
}

TEST_F(GatewayStateTest, LegacyRequestConnectionAnswersWithFreshCredentials) {
  sim.init();
  sim.gateway.handle_portal_message(legacy_request(sim, std::nullopt), sim.now);
  sim.pump();
  const auto ready = sim.portal_messages<portal::ConnectionReady>();
  ASSERT_EQ(ready.size(), 1u);
  EXPECT_EQ(ready[0].ref, "legacy-ref");
  EXPECT_EQ(ready[0].ice_parameters.username.size(), 16u);
  EXPECT_EQ(ready[0].ice_parameters.password.size(), 22u);
  EXPECT_TRUE(sim.gateway.peer(sim.client_id)->is_allowed(kCidrId));
}

TEST_F(GatewayStateTest, LegacyRequestWithADomainResolvesFirstAndStaysSilentOnFailure) {
  sim.init();
  portal::ResolveRequest dns{"web.app.test", proxy_ips()};
  sim.gateway.handle_portal_message(legacy_request(sim, dns), sim.now);
  sim.pump();
  ASSERT_EQ(sim.resolve_requests.size(), 1u);
  EXPECT_NE(sim.resolve_requests[0].legacy_token, 0u);
  EXPECT_TRUE(sim.portal_messages<portal::ConnectionReady>().empty());
  sim.gateway.handle_domain_resolved(sim.resolve_requests[0], Error(Errc::not_found, "NXDOMAIN"),
                                     sim.now);
  sim.pump();
  EXPECT_TRUE(sim.portal_messages<portal::ConnectionReady>().empty());
  EXPECT_EQ(sim.gateway.peer(sim.client_id), nullptr);

  sim.gateway.handle_portal_message(legacy_request(sim, dns), sim.now);
  sim.pump();
  ASSERT_EQ(sim.resolve_requests.size(), 2u);
  sim.gateway.handle_domain_resolved(sim.resolve_requests[1],
                                     std::vector<IpAddr>{ip("203.0.113.80")}, sim.now);
  sim.pump();
  ASSERT_EQ(sim.portal_messages<portal::ConnectionReady>().size(), 1u);
  EXPECT_EQ(sim.gateway.peer(sim.client_id)->translation_for(ip("100.96.0.1")), ip("203.0.113.80"));
}

TEST_F(GatewayStateTest, LegacyAllowAccessProceedsAfterAFailedResolution) {
  connect_with(cidr_resource());
  portal::AllowAccess a;
  a.ref = "aa";
  a.client_id = sim.client_id;
  a.resource = dns_resource();
  a.payload = portal::ResolveRequest{"web.app.test", proxy_ips()};
  a.client_ipv4 = sim.client_tun.v4;
  a.client_ipv6 = sim.client_tun.v6;
  sim.gateway.handle_portal_message(a, sim.now);
  sim.pump();
  ASSERT_EQ(sim.resolve_requests.size(), 1u);
  sim.gateway.handle_domain_resolved(sim.resolve_requests[0], Error(Errc::not_found, "NXDOMAIN"),
                                     sim.now);
  EXPECT_TRUE(sim.gateway.peer(sim.client_id)->is_allowed(kDnsId));
  EXPECT_FALSE(sim.gateway.peer(sim.client_id)->translation_for(ip("100.96.0.1")).has_value());
}

// ---------------------------------------------------------------------------------------------
// Robustness

TEST_F(GatewayStateTest, GarbageDatagramsAndTunPacketsChangeNothing) {
  connect_with(cidr_resource());
  for (std::size_t len : {0u, 1u, 4u, 20u, 32u, 148u, 1316u, 1400u}) {
    std::vector<std::uint8_t> junk(len, 0x5a);
    if (len > 0) junk[0] = static_cast<std::uint8_t>(len % 5);
    PacketBuffer b(2048, p2p::kHeadroom);
    ASSERT_TRUE(b.assign(junk, p2p::kHeadroom));
    sim.gateway.handle_network_input(sim.gateway_addr, sim.client_addr, std::move(b), sim.now);
    PacketBuffer t(2048, p2p::kHeadroom);
    ASSERT_TRUE(t.assign(junk, p2p::kHeadroom));
    sim.gateway.handle_tun_input(std::move(t), sim.now);
  }
  sim.pump();
  EXPECT_EQ(sim.gateway.stats().dropped_oversized, 1u);
  sim.client_send(icmp_echo(me(), ip("198.51.100.130"), 5).bytes);
  sim.advance(20ms);
  EXPECT_EQ(sim.tun_out.size(), 1u);
}

}  // namespace
}  // namespace fz::gateway::test
