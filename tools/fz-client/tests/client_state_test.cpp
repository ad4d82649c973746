// ClientState on its own: portal message handling, flow creation, proxy IPs, the stub resolver.
#include <gtest/gtest.h>

#include "client_sim.hpp"
#include "dns.hpp"
#include "login.hpp"
#include "unit/gateway/packets.hpp"

namespace fz::client::test {
namespace {

using gateway::test::icmp_echo;
using gateway::test::udp;
using nlohmann::json;

const net::IpAddr kMe = ip("100.64.0.2");

std::vector<std::uint8_t> query_bytes(std::string_view name, std::uint16_t qtype) {
  std::vector<std::uint8_t> q = {0xab, 0xcd, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0};
  std::size_t start = 0;
  while (true) {
    const auto dot = name.find('.', start);
    const auto label = name.substr(start, dot == std::string_view::npos ? name.npos : dot - start);
    q.push_back(static_cast<std::uint8_t>(label.size()));
    q.insert(q.end(), label.begin(), label.end());
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  q.insert(q.end(),
           {0, static_cast<std::uint8_t>(qtype >> 8), static_cast<std::uint8_t>(qtype), 0, 1});
  return q;
}

class ClientStateTest : public ::testing::Test {
 protected:
  ClientState client{key(3), seed(4), Instant{}, ClientSim::unix(kUnixOrigin)};
  Instant now{};
  std::vector<event::PortalMessage> portal;
  std::vector<Event> events;
  std::vector<std::vector<std::uint8_t>> tun;

  void drain() {
    while (client.poll_transmit()) {
    }
    while (auto p = client.poll_tun_packet())
      tun.emplace_back(p->span().begin(), p->span().end());
    while (auto e = client.poll_event()) {
      if (auto* m = std::get_if<event::PortalMessage>(&*e)) {
        portal.push_back(*m);
      } else {
        events.push_back(std::move(*e));
      }
    }
  }
  void init() {
    client.handle_portal_message("init", client_init(kUnixOrigin + 86'400), now);
    drain();
  }
  void send(const std::vector<std::uint8_t>& packet) {
    PacketBuffer b(ClientState::kBufferCapacity, p2p::kHeadroom);
    ASSERT_TRUE(b.assign(packet, p2p::kHeadroom));
    client.handle_tun_input(std::move(b), now);
    drain();
  }
  std::vector<event::PortalMessage> sent(std::string_view name) const {
    std::vector<event::PortalMessage> out;
    for (const auto& m : portal)
      if (m.event == name) out.push_back(m);
    return out;
  }
  dns::Response ask(std::string_view name, std::uint16_t qtype,
                    const net::IpAddr& sentinel = kSentinelDnsV4) {
    tun.clear();
    const net::IpAddr src = sentinel.is_v4() ? kMe : ip("fd00:2021:1111::2");
    send(udp(src, sentinel, 33000, 53, query_bytes(name, qtype)).bytes);
    EXPECT_EQ(tun.size(), 1u);
    if (tun.empty()) return {};
    auto view = net::IpPacketView::parse(tun[0]);
    EXPECT_TRUE(view.ok());
    EXPECT_EQ(view->src(), sentinel);
    EXPECT_EQ(view->dst(), src);
    EXPECT_EQ(view->dst_port(), std::uint16_t{33000});
    auto r = dns::parse_response(view->l4_payload());
    EXPECT_TRUE(r.ok());
    EXPECT_EQ(r->id, 0xabcd);
    return r.ok() ? *r : dns::Response{};
  }
  void flow_created(const char* resource) {
    json f;
    f["resource_id"] = resource;
    f["gateway_id"] = kGatewayId;
    f["gateway_group_id"] = kSiteId;
    f["gateway_public_key"] = "uMBCkAxTewfSgypIyxdQ18uCi84HLtKmQJy0wvQrYWY=";
    f["gateway_ipv4"] = "100.64.0.1";
    f["gateway_ipv6"] = "fd00:2021:1111::1";
    f["preshared_key"] = "anX2T9RH9mimT5Xd5+HqNGV0bfCodWDHQch1DLiFNls=";
    f["client_ice_credentials"] = {{"username", "resc"}, {"password", "rqi3ibvfikfaxj3wgp7muh"}};
    f["gateway_ice_credentials"] = {{"username", "jbi4"}, {"password", "a6oeevhlutevykcifd5r2a"}};
    client.handle_portal_message("flow_created", f, now);
    drain();
  }
};

TEST_F(ClientStateTest, InitConfiguresTheTunnelAndRoutes) {
  init();
  ASSERT_EQ(events.size(), 1u);
  auto* config = std::get_if<event::TunConfig>(&events[0]);
  ASSERT_NE(config, nullptr);
  EXPECT_EQ(config->ipv4, ip("100.64.0.2"));
  EXPECT_EQ(config->ipv6, ip("fd00:2021:1111::2"));
  std::vector<std::string> routes;
  for (const auto& r : config->routes)
    routes.push_back(r.to_string());
  EXPECT_EQ(routes,
            (std::vector<std::string>{"100.64.0.0/11", "fd00:2021:1111::/107", "100.96.0.0/11",
                                      "fd00:2021:1111:8000::/107", "100.100.111.0/24",
                                      "fd00:2021:1111:8000:100:100:111:0/120", "10.0.0.0/24"}));
  EXPECT_EQ(client.resources().size(), 2u);
  EXPECT_EQ(client.node().num_relays(), 1u);
  // The same init again changes nothing.
  events.clear();
  init();
  EXPECT_TRUE(events.empty());
}

TEST_F(ClientStateTest, InitSkipsBadResourcesButKeepsTheRest) {
  // client-protocol.md §2.1, verbatim `can_deserialize_bad_resources`.
  const auto frame = json::parse(
      R"({"event":"init","payload":{"interface":{"ipv4":"100.72.112.111","ipv6":"fd00:2021:1111::13:efb9","upstream_dns":[]},"resources":[{"address_foobar":"172.172.0.0/16","id":"73037362-715d-4a83-a749-f18eadd970e6","type":"cidr"},{"i_am_not_a_valid_field":null,"type":"cidr"},{"what":"gitlab.mycorp.com","type":"dns"},{"address":"github.mycorp.com","id":"03000143-e25e-45c7-aafb-144990e57dce","name":"github.mycorp.com","gateway_groups":[{"name":"test","id":"bf56f32d-7b2c-4f5d-a784-788977d014a4"}],"type":"dns"}]},"ref":null,"topic":"client"})");
  client.handle_portal_message("init", frame.at("payload"), now);
  drain();
  ASSERT_EQ(client.resources().size(), 1u);
  EXPECT_EQ(client.resources().begin()->second.pattern, "github.mycorp.com");
  // A CIDR with host bits set is rejected; an element without `type` fails the whole message.
  EXPECT_FALSE(
      decode_resource(
          json::parse(
              R"({"id":"73037362-715d-4a83-a749-f18eadd970e6","type":"cidr","address":"192.168.1.1/28","name":"x","gateway_groups":[]})"))
          .ok());
  const auto no_type = decode_resource(json::parse(R"({"id":"x"})"));
  ASSERT_FALSE(no_type.ok());
  EXPECT_EQ(no_type.error().code(), Errc::truncated);
}

TEST_F(ClientStateTest, FirstPacketCreatesAFlowAndRetriesOnlyAfterTwoSeconds) {
  init();
  send(icmp_echo(kMe, ip("10.0.0.9"), 1).bytes);
  auto flows = sent("create_flow");
  ASSERT_EQ(flows.size(), 1u);
  EXPECT_EQ(flows[0].payload,
            R"({"resource_id":"73037362-715d-4a83-a749-f18eadd970e6","connected_gateway_ids":[]})");
  EXPECT_TRUE(client.has_pending_flow(uuid(kCidrId)));
  now += std::chrono::milliseconds(1999);
  send(icmp_echo(kMe, ip("10.0.0.9"), 2).bytes);
  EXPECT_EQ(sent("create_flow").size(), 1u);
  now += std::chrono::milliseconds(1);
  send(icmp_echo(kMe, ip("10.0.0.9"), 3).bytes);
  EXPECT_EQ(sent("create_flow").size(), 2u);
  // Packets to no resource create nothing.
  send(icmp_echo(kMe, ip("192.0.2.1"), 4).bytes);
  EXPECT_EQ(sent("create_flow").size(), 2u);
  EXPECT_EQ(client.stats().dropped_no_resource, 1u);
}

TEST_F(ClientStateTest, FlowCreatedWithoutAPendingFlowIsIgnored) {
  init();
  flow_created(kCidrId);
  EXPECT_EQ(client.node().num_connections(), 0u);
  EXPECT_FALSE(client.gateway_for(uuid(kCidrId)).has_value());
}

TEST_F(ClientStateTest, FlowCreatedConnectsAsTheControllingSide) {
  init();
  send(icmp_echo(kMe, ip("10.0.0.9"), 1).bytes);
  flow_created(kCidrId);
  EXPECT_TRUE(client.node().has_connection(uuid(kGatewayId)));
  EXPECT_EQ(client.gateway_for(uuid(kCidrId)), uuid(kGatewayId));
  EXPECT_FALSE(client.has_pending_flow(uuid(kCidrId)));
  ASSERT_EQ(client.recent_gateways().size(), 1u);
  ASSERT_FALSE(events.empty());
  auto* created = std::get_if<event::FlowCreated>(&events.back());
  ASSERT_NE(created, nullptr);
  EXPECT_EQ(created->gateway, uuid(kGatewayId));
  // Candidates from the portal for this gateway are accepted, and ones for unknown gateways
  // ignored.
  client.handle_portal_message(
      "ice_candidates",
      json::parse(
          R"({"gateway_id":"d263d490-a0bb-452a-8990-01d27a1f1144","candidates":["foo","candidate:fffeff6435be70ddbf995982 1 udp 1694498559 87.121.72.60 57114 typ srflx raddr 0.0.0.0 rport 0"]})"),
      now);
  drain();
  const auto status = client.connections();
  ASSERT_EQ(status.size(), 1u);
  EXPECT_EQ(status[0].state, p2p::ConnectionState::connecting);
  EXPECT_EQ(path_class(status[0].path), "none");
}

TEST_F(ClientStateTest, FlowCreationFailedOfflineDropsThePendingFlow) {
  init();
  send(icmp_echo(kMe, ip("10.0.0.9"), 1).bytes);
  client.handle_portal_message("flow_creation_failed",
                               json{{"resource_id", kCidrId}, {"reason", "not_found"}}, now);
  drain();
  EXPECT_TRUE(client.has_pending_flow(uuid(kCidrId)));
  client.handle_portal_message("flow_creation_failed",
                               json{{"resource_id", kCidrId}, {"reason", "offline"}}, now);
  drain();
  EXPECT_FALSE(client.has_pending_flow(uuid(kCidrId)));
  send(icmp_echo(kMe, ip("10.0.0.9"), 2).bytes);
  EXPECT_EQ(sent("create_flow").size(), 2u);
}

TEST_F(ClientStateTest, ProxyIpsAreAssignedSequentiallyPerDomain) {
  init();
  // A second DNS resource, a wildcard, IPv4 only.
  client.handle_portal_message(
      "resource_created_or_updated",
      json::parse(
          R"({"id":"03000143-e25e-45c7-aafb-144990e57dce","type":"dns","address":"*.v4.internal","name":"v4","gateway_groups":[],"ip_stack":"ipv4_only"})"),
      now);
  drain();
  const auto a = ask("app.internal", dns::kTypeA);
  EXPECT_EQ(a.rcode, dns::kRcodeNoError);
  EXPECT_EQ(a.addresses, (std::vector<net::IpAddr>{ip("100.96.0.1"), ip("100.96.0.2"),
                                                   ip("100.96.0.3"), ip("100.96.0.4")}));
  const auto aaaa = ask("APP.Internal", dns::kTypeAaaa, kSentinelDnsV6);
  EXPECT_EQ(aaaa.rcode, dns::kRcodeNoError);
  EXPECT_EQ(aaaa.addresses,
            (std::vector<net::IpAddr>{ip("fd00:2021:1111:8000::"), ip("fd00:2021:1111:8000::1"),
                                      ip("fd00:2021:1111:8000::2"), ip("fd00:2021:1111:8000::3")}));
  EXPECT_EQ(client.proxy_ips("app.internal", uuid(kDnsId)).size(), 8u);
  // IPv4-only: 4 addresses from the same IPv4 cursor; AAAA gets NOERROR without records.
  const auto b = ask("x.v4.internal", dns::kTypeA);
  EXPECT_EQ(b.addresses, (std::vector<net::IpAddr>{ip("100.96.0.5"), ip("100.96.0.6"),
                                                   ip("100.96.0.7"), ip("100.96.0.8")}));
  const auto b6 = ask("x.v4.internal", dns::kTypeAaaa);
  EXPECT_EQ(b6.rcode, dns::kRcodeNoError);
  EXPECT_TRUE(b6.addresses.empty());
  // The bare parent matches `*.` too, and gets its own addresses.
  EXPECT_EQ(ask("v4.internal", dns::kTypeA).addresses.front(), ip("100.96.0.9"));
  // HTTPS: NOERROR, no records. Other names: REFUSED. use-application-dns.net: NXDOMAIN.
  const auto https = ask("app.internal", dns::kTypeHttps);
  EXPECT_EQ(https.rcode, dns::kRcodeNoError);
  EXPECT_TRUE(https.addresses.empty());
  EXPECT_EQ(ask("example.com", dns::kTypeA).rcode, dns::kRcodeRefused);
  EXPECT_EQ(ask("use-application-dns.net", dns::kTypeA).rcode, dns::kRcodeNxDomain);
  // Answers never created a flow.
  EXPECT_TRUE(sent("create_flow").empty());
  // A packet to a proxy IP does.
  send(udp(kMe, ip("100.96.0.6"), 1000, 2000).bytes);
  ASSERT_EQ(sent("create_flow").size(), 1u);
  EXPECT_EQ(json::parse(sent("create_flow")[0].payload).at("resource_id"),
            "03000143-e25e-45c7-aafb-144990e57dce");
}

TEST_F(ClientStateTest, AssignedIpsIsQueuedOnFlowCreatedAndRetriedByTimer) {
  init();
  ask("app.internal", dns::kTypeA);
  send(udp(kMe, ip("100.96.0.1"), 1000, 2000).bytes);
  flow_created(kDnsId);
  EXPECT_EQ(client.stats().assigned_ips_sent, 1u);
  EXPECT_EQ(client.nat_state(uuid(kGatewayId), "app.internal"), NatState::pending);
  // More traffic before 2 s neither resends nor leaks the packets.
  now += std::chrono::seconds(1);
  send(udp(kMe, ip("100.96.0.1"), 1000, 2000).bytes);
  EXPECT_EQ(client.stats().assigned_ips_sent, 1u);
  auto due = client.poll_timeout();
  ASSERT_TRUE(due.has_value());
  EXPECT_LE(*due, Instant{} + kAssignedIpsInterval);
  client.handle_timeout(Instant{} + kAssignedIpsInterval);
  drain();
  EXPECT_EQ(client.stats().assigned_ips_sent, 2u);
  client.handle_timeout(Instant{} + 2 * kAssignedIpsInterval);
  drain();
  EXPECT_EQ(client.stats().assigned_ips_sent, 3u);
}

TEST_F(ClientStateTest, DeletingTheLastResourceOfAGatewayClosesTheConnection) {
  init();
  send(icmp_echo(kMe, ip("10.0.0.9"), 1).bytes);
  flow_created(kCidrId);
  ASSERT_TRUE(client.node().has_connection(uuid(kGatewayId)));
  client.handle_portal_message("resource_deleted", json(kCidrId), now);
  drain();
  EXPECT_FALSE(client.node().has_connection(uuid(kGatewayId)));
  EXPECT_EQ(client.resources().size(), 1u);
  // The route is gone too.
  ASSERT_TRUE(client.tun_config().has_value());
  EXPECT_EQ(client.tun_config()->routes.size(), 6u);
}

TEST_F(ClientStateTest, MalformedPortalMessagesChangeNothing) {
  init();
  for (const char* event : {"init", "flow_created", "ice_candidates", "resource_deleted",
                            "relays_presence", "flow_creation_failed", "config_changed", "what"}) {
    client.handle_portal_message(event, json::parse(R"({"interface":5,"resources":"x"})"), now);
    client.handle_portal_message(event, json(), now);
  }
  drain();
  EXPECT_EQ(client.resources().size(), 2u);
  EXPECT_EQ(client.node().num_relays(), 1u);
  EXPECT_EQ(client.tun_config()->ipv4, ip("100.64.0.2"));
}

TEST(PatternOrder, MatchesTheReferenceOrder) {
  // client-protocol.md §5.3.
  std::vector<std::string> expected = {"example.com",     "bar.example.com", "*.bar.example.com",
                                       "foo.example.com", "?.example.com",   "*.example.com",
                                       "**.example.com",  "*ample.com",      "*.com"};
  std::vector<std::string> shuffled = {expected[8], expected[3], expected[6],
                                       expected[0], expected[5], expected[2],
                                       expected[7], expected[4], expected[1]};
  std::sort(shuffled.begin(), shuffled.end(), pattern_before);
  EXPECT_EQ(shuffled, expected);
}

TEST(ClientLogin, UrlHasTheClientPathAndQueryOrder) {
  std::array<std::uint8_t, 32> k{};
  auto decoded = base64_decode_fixed<32>("fiAjSBWDgQfD1CFJkTwOf4zg+1QhH0eTT+oLaVIMpH8=");
  ASSERT_TRUE(decoded.ok());
  k = *decoded;
  auto login = client_login_url("https://api.example.com/base/", "tok en", "ext", "ci client 1", k);
  ASSERT_TRUE(login.ok());
  EXPECT_EQ(
      login->url,
      "wss://api.example.com/base/client/websocket?token=tok+en&external_id=ext&name=ci+client+1"
      "&public_key=fiAjSBWDgQfD1CFJkTwOf4zg%2B1QhH0eTT%2BoLaVIMpH8%3D");
  EXPECT_EQ(login->redacted,
            "wss://api.example.com/base/client/"
            "websocket?token=<redacted>&external_id=ext&name=ci+client+1"
            "&public_key=fiAjSBWDgQfD1CFJkTwOf4zg%2B1QhH0eTT%2BoLaVIMpH8%3D");
  auto plain = client_login_url("ws://127.0.0.1:8080", "t", "e", "n", k);
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(plain->url.substr(0, 48), "ws://127.0.0.1:8080/client/websocket?token=t&ext");
  EXPECT_FALSE(client_login_url("ftp://x", "t", "e", "n", k).ok());
}

}  // namespace
}  // namespace fz::client::test
