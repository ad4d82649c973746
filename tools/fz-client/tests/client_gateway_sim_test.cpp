// End to end in memory: the test client's ClientState against a real GatewayState, over the
// simulated network with the relay model, the test playing the portal.
#include <gtest/gtest.h>

#include "client_sim.hpp"
#include "dns.hpp"
#include "net/p2p_control.hpp"
#include "unit/gateway/packets.hpp"

namespace fz::client::test {
namespace {

using gateway::test::icmp_echo;
using gateway::test::Packet;
using gateway::test::udp;

const net::IpAddr kMe = ip("100.64.0.2");
const net::IpAddr kHost = ip("10.0.0.5");

std::vector<std::uint8_t> dns_query(std::string_view name, std::uint16_t qtype, std::uint16_t id) {
  std::vector<std::uint8_t> q = {static_cast<std::uint8_t>(id >> 8),
                                 static_cast<std::uint8_t>(id),
                                 0x01,
                                 0x00,
                                 0,
                                 1,
                                 0,
                                 0,
                                 0,
                                 0,
                                 0,
                                 0};
  std::size_t start = 0;
  while (start <= name.size()) {
    const auto dot = name.find('.', start);
    const auto label = name.substr(start, dot == std::string_view::npos ? name.npos : dot - start);
    q.push_back(static_cast<std::uint8_t>(label.size()));
    q.insert(q.end(), label.begin(), label.end());
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  q.push_back(0);
  q.push_back(static_cast<std::uint8_t>(qtype >> 8));
  q.push_back(static_cast<std::uint8_t>(qtype));
  q.push_back(0);
  q.push_back(1);
  return q;
}

std::vector<std::uint8_t> as_bytes(std::string_view s) {
  return {s.begin(), s.end()};
}

class ClientGatewaySimTest : public ::testing::Test {
 protected:
  ClientSim sim;
  void SetUp() override { sim.init(); }

  // The client's answer to a query for `name` (A), through the stub resolver.
  dns::Response resolve(std::string_view name, std::uint16_t qtype = dns::kTypeA) {
    sim.client_rx.clear();
    sim.app_send(udp(kMe, kSentinelDnsV4, 33000, 53, dns_query(name, qtype, 0x1234)).bytes);
    EXPECT_EQ(sim.client_rx.size(), 1u);
    if (sim.client_rx.empty()) return {};
    auto view = net::IpPacketView::parse(sim.client_rx[0]);
    EXPECT_TRUE(view.ok());
    EXPECT_EQ(view->src(), kSentinelDnsV4);
    EXPECT_EQ(view->src_port(), std::uint16_t{53});
    auto r = dns::parse_response(view->l4_payload());
    EXPECT_TRUE(r.ok());
    sim.client_rx.clear();
    return r.ok() ? *r : dns::Response{};
  }
};

TEST_F(ClientGatewaySimTest, PingThroughACidrResource) {
  const Packet ping = icmp_echo(kMe, kHost, 7);
  sim.app_send(ping.bytes);
  // The first packet asked the portal for a flow; the portal answered at once.
  const auto flows = sim.portal_payloads("create_flow");
  ASSERT_EQ(flows.size(), 1u);
  EXPECT_EQ(flows[0].dump(),
            R"({"connected_gateway_ids":[],"resource_id":"73037362-715d-4a83-a749-f18eadd970e6"})");
  EXPECT_EQ(sim.client_portal[0].payload,
            R"({"resource_id":"73037362-715d-4a83-a749-f18eadd970e6","connected_gateway_ids":[]})");
  EXPECT_EQ(sim.flows_authorized, 1u);
  EXPECT_EQ(sim.count_client_events<event::FlowCreated>(), 1u);
  sim.advance(std::chrono::seconds(2));
  EXPECT_EQ(sim.count_client_events<event::ConnectionEstablished>(), 1u);

  // Candidates went both ways through the "portal", one gateway id per message.
  const auto candidates = sim.portal_payloads("broadcast_ice_candidates");
  ASSERT_FALSE(candidates.empty());
  for (const auto& c : candidates) {
    EXPECT_EQ(c.at("gateway_ids"), nlohmann::json::array({kGatewayId}));
    EXPECT_FALSE(c.at("candidates").empty());
  }

  // The held ping reached the resource unchanged.
  ASSERT_EQ(sim.tun_out.size(), 1u);
  EXPECT_EQ(sim.tun_out[0], ping.bytes);
  const Packet pong = icmp_echo(kHost, kMe, 7, false);
  sim.resource_reply(pong.bytes);
  sim.advance(std::chrono::milliseconds(20));
  ASSERT_EQ(sim.client_rx.size(), 1u);
  EXPECT_EQ(sim.client_rx[0], pong.bytes);

  const auto status = sim.client.connections();
  ASSERT_EQ(status.size(), 1u);
  EXPECT_EQ(status[0].gateway, uuid(kGatewayId));
  EXPECT_EQ(status[0].state, p2p::ConnectionState::connected);
  EXPECT_EQ(path_class(status[0].path), "direct");
  EXPECT_TRUE(status[0].established_after.has_value());
  EXPECT_EQ(status[0].tx_bytes, ping.bytes.size());
  EXPECT_EQ(status[0].rx_bytes, pong.bytes.size());
}

TEST_F(ClientGatewaySimTest, RelayedPathWhenDirectIsBlocked) {
  sim.direct_blocked = true;
  sim.app_send(icmp_echo(kMe, kHost, 9).bytes);
  sim.advance(std::chrono::seconds(5));
  ASSERT_EQ(sim.tun_out.size(), 1u);
  const auto status = sim.client.connections();
  ASSERT_EQ(status.size(), 1u);
  EXPECT_EQ(path_class(status[0].path), "relayed");
}

TEST_F(ClientGatewaySimTest, DnsResourceResolvesToProxyIpsAndCarriesUdp) {
  const auto a = resolve("app.internal");
  EXPECT_EQ(a.rcode, dns::kRcodeNoError);
  const std::vector<net::IpAddr> v4 = {ip("100.96.0.1"), ip("100.96.0.2"), ip("100.96.0.3"),
                                       ip("100.96.0.4")};
  EXPECT_EQ(a.addresses, v4);
  EXPECT_EQ(a.ttls, std::vector<std::uint32_t>(4, 1));
  // No flow yet: the answer is local.
  EXPECT_TRUE(sim.portal_payloads("create_flow").empty());

  const Packet query = udp(kMe, ip("100.96.0.1"), 41000, 5000, as_bytes("hello"));
  sim.app_send(query.bytes);
  ASSERT_EQ(sim.portal_payloads("create_flow").size(), 1u);
  EXPECT_EQ(sim.portal_payloads("create_flow")[0].at("resource_id"), kDnsId);
  sim.advance(std::chrono::seconds(2));

  // ASSIGNED_IPS reached the gateway, it resolved the name, DOMAIN_STATUS came back Active.
  ASSERT_EQ(sim.resolve_requests.size(), 1u);
  EXPECT_EQ(sim.resolve_requests[0].request.domain, "app.internal");
  EXPECT_EQ(sim.resolve_requests[0].request.proxy_ips.size(), 8u);
  EXPECT_EQ(sim.count_client_events<event::DomainStatus>(), 1u);
  EXPECT_EQ(sim.client.nat_state(uuid(kGatewayId), "app.internal"), NatState::confirmed);

  // The held datagram left the gateway NATed to the real address.
  ASSERT_EQ(sim.tun_out.size(), 1u);
  auto out = net::IpPacketView::parse(sim.tun_out[0]);
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out->dst(), ip("10.0.1.7"));
  EXPECT_EQ(out->dst_port(), std::uint16_t{5000});
  const Bytes body = out->l4_payload();
  EXPECT_EQ(std::vector<std::uint8_t>(body.begin(), body.end()), as_bytes("hello"));

  // The reply comes back from the proxy IP.
  sim.client_rx.clear();
  sim.resource_reply(
      udp(ip("10.0.1.7"), out->src(), 5000, *out->src_port(), as_bytes("world")).bytes);
  sim.advance(std::chrono::milliseconds(20));
  ASSERT_EQ(sim.client_rx.size(), 1u);
  auto back = net::IpPacketView::parse(sim.client_rx[0]);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->src(), ip("100.96.0.1"));
  EXPECT_EQ(back->dst(), kMe);
  EXPECT_EQ(back->dst_port(), std::uint16_t{41000});
  const Bytes reply = back->l4_payload();
  EXPECT_EQ(std::vector<std::uint8_t>(reply.begin(), reply.end()), as_bytes("world"));
}

TEST_F(ClientGatewaySimTest, AssignedIpsIsResentEveryTwoSecondsUntilDomainStatus) {
  sim.auto_resolve = false;
  resolve("app.internal");
  sim.app_send(udp(kMe, ip("100.96.0.2"), 41000, 5000).bytes);
  const std::uint64_t first = sim.client.stats().assigned_ips_sent;
  EXPECT_EQ(first, 1u);
  sim.advance(std::chrono::milliseconds(1999));
  EXPECT_EQ(sim.client.stats().assigned_ips_sent, 1u);
  sim.advance(std::chrono::milliseconds(1));
  EXPECT_EQ(sim.client.stats().assigned_ips_sent, 2u);
  sim.advance(std::chrono::seconds(2));
  EXPECT_EQ(sim.client.stats().assigned_ips_sent, 3u);
  EXPECT_EQ(sim.client.nat_state(uuid(kGatewayId), "app.internal"), NatState::pending);
  EXPECT_TRUE(sim.tun_out.empty());  // held until DOMAIN_STATUS
  ASSERT_FALSE(sim.resolve_requests.empty());
  sim.gateway.handle_domain_resolved(sim.resolve_requests.back(),
                                     std::vector<net::IpAddr>{ip("10.0.1.7")}, sim.now);
  sim.pump();
  sim.advance(std::chrono::milliseconds(50));
  EXPECT_EQ(sim.client.nat_state(uuid(kGatewayId), "app.internal"), NatState::confirmed);
  EXPECT_EQ(sim.tun_out.size(), 1u);
  const std::uint64_t answered = sim.client.stats().assigned_ips_sent;
  sim.advance(std::chrono::seconds(10));
  EXPECT_EQ(sim.client.stats().assigned_ips_sent, answered);
}

TEST_F(ClientGatewaySimTest, GoodbyeDropsTheConnectionAndTheNextPacketRecreatesTheFlow) {
  sim.app_send(icmp_echo(kMe, kHost, 1).bytes);
  sim.advance(std::chrono::seconds(2));
  ASSERT_EQ(sim.tun_out.size(), 1u);
  // The portal revokes access: the gateway says goodbye.
  sim.gateway.handle_portal_message(portal::RejectAccess{uuid(kClientId), uuid(kCidrId)}, sim.now);
  sim.advance(std::chrono::milliseconds(50));
  ASSERT_EQ(sim.count_client_events<event::ConnectionClosed>(), 1u);
  for (const auto& e : sim.client_events) {
    if (auto* c = std::get_if<event::ConnectionClosed>(&e)) {
      EXPECT_EQ(c->reason, "goodbye");
    }
  }
  EXPECT_FALSE(sim.client.node().has_connection(uuid(kGatewayId)));
  EXPECT_FALSE(sim.client.gateway_for(uuid(kCidrId)).has_value());
  EXPECT_TRUE(sim.client.connections().empty());

  // The next packet asks for the flow again, preferring the gateway it used before.
  sim.app_send(icmp_echo(kMe, kHost, 2).bytes);
  const auto flows = sim.portal_payloads("create_flow");
  ASSERT_EQ(flows.size(), 2u);
  EXPECT_EQ(flows[1].at("connected_gateway_ids"), nlohmann::json::array({kGatewayId}));
  sim.advance(std::chrono::seconds(2));
  EXPECT_EQ(sim.count_client_events<event::ConnectionEstablished>(), 2u);
  ASSERT_EQ(sim.tun_out.size(), 2u);
}

TEST_F(ClientGatewaySimTest, ASecondResourceReusesTheConnection) {
  sim.app_send(icmp_echo(kMe, kHost, 1).bytes);
  sim.advance(std::chrono::seconds(2));
  resolve("app.internal");
  sim.app_send(udp(kMe, ip("100.96.0.1"), 41000, 5000).bytes);
  sim.advance(std::chrono::seconds(1));
  EXPECT_EQ(sim.portal_payloads("create_flow").size(), 2u);
  EXPECT_EQ(sim.count_client_events<event::ConnectionEstablished>(), 1u);
  EXPECT_EQ(sim.tun_out.size(), 2u);
}

}  // namespace
}  // namespace fz::client::test
