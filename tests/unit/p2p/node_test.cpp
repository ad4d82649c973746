// The p2p Node: a client-role node and a gateway-role node on the simulated network, with the
// relay model as TURN server, on a virtual clock.
#include "p2p/node.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "base/bytes.hpp"
#include "crypto/rng.hpp"
#include "support/sim_network.hpp"

namespace fz::p2p {
namespace {

using fz::test::SimNetwork;
using fz::test::test_uuid;
using fz::test::WireDatagram;
using namespace std::chrono_literals;

net::SocketAddr addr(const char* text) {
  return *net::SocketAddr::parse(text);
}
net::IpAddr ip(const char* text) {
  return *net::IpAddr::parse(text);
}

const net::SocketAddr kClientAddr = addr("198.51.100.10:52625");
const net::SocketAddr kGatewayAddr = addr("198.51.100.20:52625");
const Uuid kClientId = test_uuid(1);
const Uuid kGatewayId = test_uuid(2);

template <class E>
std::vector<std::pair<Instant, E>> events_of(const SimNetwork& net, std::size_t node) {
  std::vector<std::pair<Instant, E>> out;
  for (const auto& e : net.events(node))
    if (auto* x = std::get_if<E>(&e.event)) out.emplace_back(e.time, *x);
  return out;
}

bool is_stun_request(const WireDatagram& d) {
  return d.payload.size() >= 20 && d.payload[0] == 0x00 && d.payload[1] == 0x01 &&
         load_be32(d.payload.data() + 4) == 0x2112A442;
}
bool is_binding_request_with_username(const WireDatagram& d) {
  // ICE checks carry USERNAME (0x0006) first; TURN BINDING carries SOFTWARE only.
  return is_stun_request(d) && d.payload.size() >= 24 && d.payload[20] == 0x00 &&
         d.payload[21] == 0x06;
}

struct Fixture : ::testing::Test {
  SimNetwork net;
  std::size_t relay1 = 0, relay2 = 0, client = 0, gateway = 0;

  void SetUp() override {
    relay1 = net.add_relay(ip("203.0.113.1"));
    relay2 = net.add_relay(ip("203.0.113.2"));
    client = net.add_node(Role::client, kClientAddr, 1);
    gateway = net.add_node(Role::server, kGatewayAddr, 2);
  }

  void start(std::vector<std::size_t> relays = {0, 1}) {
    net.give_relays(client, relays);
    net.give_relays(gateway, relays);
    net.advance(1s);  // BINDING + ALLOCATE
    net.connect(client, gateway, kClientId, kGatewayId);
  }

  ConnectionInfo info(std::size_t node, const Uuid& id) {
    auto i = net.node(node).connection_info(id);
    EXPECT_TRUE(i.has_value());
    return i.value_or(ConnectionInfo{});
  }

  // Sends one packet each way and checks both arrive intact, one latency later.
  void expect_traffic(std::uint32_t tag) {
    const auto up = fz::test::make_udp_packet(ip("100.64.0.1"), ip("10.0.0.1"), tag);
    const auto down = fz::test::make_udp_packet(ip("10.0.0.1"), ip("100.64.0.1"), tag + 1);
    const std::size_t at_gateway = net.received(gateway).size();
    const std::size_t at_client = net.received(client).size();
    auto r = net.send(client, kGatewayId, up);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->kind, Encapsulated::Kind::transmit);
    auto s = net.send(gateway, kClientId, down);
    ASSERT_TRUE(s.ok());
    EXPECT_EQ(s->kind, Encapsulated::Kind::transmit);
    net.advance(100ms);
    ASSERT_EQ(net.received(gateway).size(), at_gateway + 1);
    EXPECT_EQ(net.received(gateway).back().bytes, up);
    EXPECT_EQ(net.received(gateway).back().connection, kClientId);
    ASSERT_EQ(net.received(client).size(), at_client + 1);
    EXPECT_EQ(net.received(client).back().bytes, down);
    EXPECT_EQ(net.received(client).back().connection, kGatewayId);
  }

  void block_node_to_allocation() {
    // Only relay <-> relay and node <-> relay:3478 pass: forces relay-to-relay.
    net.drop = [](const WireDatagram& d) {
      const bool from_node = d.src == kClientAddr || d.src == kGatewayAddr;
      const bool to_node = d.dst == kClientAddr || d.dst == kGatewayAddr;
      if (from_node && !to_node && d.dst.port != 3478) return true;
      if (to_node && !from_node && d.src.port != 3478) return true;
      return false;
    };
    net.direct_blocked = true;
  }
};

// ---- scenario 1: direct ---------------------------------------------------------------------

TEST_F(Fixture, DirectPathCarriesTrafficBothWays) {
  start();
  net.advance(2s);
  ASSERT_FALSE(net.stuck);
  EXPECT_EQ(info(client, kGatewayId).path, PathKind::direct);
  EXPECT_EQ(info(gateway, kClientId).path, PathKind::direct);
  EXPECT_EQ(info(gateway, kClientId).path_destination, kClientAddr);
  EXPECT_EQ(info(gateway, kClientId).path_source, kGatewayAddr);
  EXPECT_EQ(events_of<event::ConnectionEstablished>(net, client).size(), 1u);
  EXPECT_EQ(events_of<event::ConnectionEstablished>(net, gateway).size(), 1u);
  expect_traffic(100);
  EXPECT_EQ(info(gateway, kClientId).packets_received, 1u);
  EXPECT_EQ(info(gateway, kClientId).packets_sent, 1u);
  // Peer traffic never leaves from the relay port, and direct sends name their source.
  for (std::size_t n : {client, gateway})
    for (const auto& d : net.wire(n))
      EXPECT_NE(d.src.port, 3478);
  EXPECT_EQ(net.errors(client), 0u);
  EXPECT_EQ(net.errors(gateway), 0u);
}

TEST_F(Fixture, CandidatesAreSignalledAsStr0mStrings) {
  start({0});
  net.advance(1s);
  auto candidates = events_of<event::CandidateNew>(net, gateway);
  std::set<std::string> seen;
  for (auto& [t, c] : candidates) {
    EXPECT_EQ(c.connection, kClientId);
    seen.insert(c.candidate);
  }
  // host (agent's ufrag), srflx (no ufrag, spoofed raddr), relay (ufrag, spoofed raddr).
  bool host = false, srflx = false, relay = false;
  for (const auto& s : seen) {
    if (s.find("198.51.100.20 52625 typ host ufrag ") != std::string::npos) host = true;
    if (s.find("198.51.100.20 52625 typ srflx raddr 0.0.0.0 rport 0") != std::string::npos)
      srflx = true;
    if (s.find("203.0.113.1 ") != std::string::npos &&
        s.find("typ relay raddr 0.0.0.0") != std::string::npos)
      relay = true;
  }
  EXPECT_TRUE(host);
  EXPECT_TRUE(srflx);
  EXPECT_TRUE(relay);
}

// ---- scenario 2: relayed --------------------------------------------------------------------

TEST_F(Fixture, RelayToRelayWhenOnlyRelaysCanTalk) {
  block_node_to_allocation();
  start();
  net.advance(5s);
  ASSERT_FALSE(net.stuck);
  EXPECT_EQ(info(client, kGatewayId).path, PathKind::relay_to_relay);
  EXPECT_EQ(info(gateway, kClientId).path, PathKind::relay_to_relay);
  expect_traffic(200);
  // Relayed data is ChannelData to the relay's port 3478 with no source address.
  const auto& wire = net.wire(gateway);
  ASSERT_FALSE(wire.empty());
  const WireDatagram& last = wire.back();
  EXPECT_EQ(last.dst.port, 3478);
  EXPECT_GE(last.payload[0], 0x40);
  EXPECT_LE(last.payload[0], 0x4F);
  EXPECT_EQ(load_be16(last.payload.data() + 2) + 4u, last.payload.size());
}

TEST_F(Fixture, RelayToPeerWhenDirectIsBlocked) {
  net.direct_blocked = true;
  // Relay-to-relay blocked too: one side must use its host socket towards the other's relay.
  net.drop = [](const WireDatagram& d) {
    const bool relay_src = d.src.ip == ip("203.0.113.1") || d.src.ip == ip("203.0.113.2");
    const bool relay_dst = d.dst.ip == ip("203.0.113.1") || d.dst.ip == ip("203.0.113.2");
    return relay_src && relay_dst;
  };
  start();
  net.advance(5s);
  ASSERT_FALSE(net.stuck);
  const PathKind c = info(client, kGatewayId).path;
  const PathKind g = info(gateway, kClientId).path;
  EXPECT_TRUE((c == PathKind::peer_to_relay && g == PathKind::relay_to_peer) ||
              (c == PathKind::relay_to_peer && g == PathKind::peer_to_relay))
      << to_string(c) << " / " << to_string(g);
  expect_traffic(300);
}

// ---- scenario 3: relay churn ----------------------------------------------------------------

TEST_F(Fixture, RelayRemovedMidConnectionMigratesAndTrafficContinues) {
  net.direct_blocked = true;
  start();
  net.advance(5s);
  ASSERT_NE(info(gateway, kClientId).path, PathKind::none);
  expect_traffic(400);

  const RelayId old_relay = info(gateway, kClientId).relay;
  const std::size_t old_index = old_relay == net.relay_info(relay1).id ? relay1 : relay2;
  const std::size_t new_index = old_index == relay1 ? relay2 : relay1;
  net.clear_logs();
  net.remove_relay_from(gateway, old_index);
  net.advance(10ms);

  EXPECT_EQ(net.node(gateway).num_relays(), 1u);
  EXPECT_EQ(info(gateway, kClientId).relay, net.relay_info(new_index).id);
  // The old relay candidate is invalidated, the new relay's is signalled.
  const std::string old_ip = old_index == relay1 ? "203.0.113.1 " : "203.0.113.2 ";
  const std::string new_ip = old_index == relay1 ? "203.0.113.2 " : "203.0.113.1 ";
  bool invalidated = false, added = false;
  for (auto& [t, e] : events_of<event::CandidateInvalidated>(net, gateway))
    if (e.candidate.find(old_ip) != std::string::npos &&
        e.candidate.find("typ relay") != std::string::npos)
      invalidated = true;
  for (auto& [t, e] : events_of<event::CandidateNew>(net, gateway))
    if (e.candidate.find(new_ip) != std::string::npos &&
        e.candidate.find("typ relay") != std::string::npos)
      added = true;
  EXPECT_TRUE(invalidated);
  EXPECT_TRUE(added);

  // Traffic keeps flowing over whatever pair is nominated now; the connection never fails.
  net.advance(5s);
  expect_traffic(410);
  net.advance(30s);
  expect_traffic(420);
  EXPECT_TRUE(events_of<event::ConnectionFailed>(net, gateway).empty());
  EXPECT_TRUE(events_of<event::ConnectionFailed>(net, client).empty());
  EXPECT_TRUE(net.node(gateway).has_connection(kClientId));
}

TEST_F(Fixture, UnchangedRelayIsRefreshedNotReplaced) {
  start({0});
  net.advance(2s);
  const std::size_t allocates = net.relay(relay1).requests(stun::Method::allocate);
  net.give_relays(gateway, {0});
  net.advance(2s);
  EXPECT_EQ(net.relay(relay1).requests(stun::Method::allocate), allocates);
  EXPECT_EQ(net.node(gateway).num_relays(), 1u);
  EXPECT_TRUE(events_of<event::CandidateInvalidated>(net, gateway).empty());
}

TEST_F(Fixture, ChangedRelayCredentialsReplaceTheAllocation) {
  start({0});
  net.advance(2s);
  expect_traffic(450);
  net.clear_logs();
  const std::size_t allocates = net.relay(relay1).requests(stun::Method::allocate);
  RelayInfo rotated = net.relay_info(relay1);
  const std::int64_t expiry = 1'700'000'000 + 40 * 24 * 3600;
  rotated.username = std::to_string(expiry) + ":salt2";
  rotated.password = fz::test::firezone_password("relay-secret", expiry, "salt2");
  net.node(gateway).update_relays({}, std::span<const RelayInfo>(&rotated, 1), net.now);
  net.advance(10s);
  // The relay still holds the old 5-tuple: 437, delete, allocate again.
  EXPECT_GE(net.relay(relay1).requests(stun::Method::allocate), allocates + 2);
  bool invalidated = false, renewed = false;
  for (auto& [t, e] : events_of<event::CandidateInvalidated>(net, gateway))
    if (e.candidate.find("typ relay") != std::string::npos) invalidated = true;
  for (auto& [t, e] : events_of<event::CandidateNew>(net, gateway))
    if (e.candidate.find("typ relay") != std::string::npos) renewed = true;
  EXPECT_TRUE(invalidated);
  EXPECT_TRUE(renewed);
  expect_traffic(460);
}

TEST_F(Fixture, RemoteCandidatesBindChannelsAndAddOptimisticOnes) {
  net.give_relays(gateway, {0});
  net.advance(1s);
  PresharedKey psk;
  auto& g = net.node(gateway);
  ASSERT_TRUE(g.upsert_connection(kClientId, net.node(client).public_key(), psk,
                                  {"gwuf", "gatewaypasswordgatewaypw"},
                                  {"cluf", "clientpasswordclientpwd"}, net.now)
                  .ok());
  g.add_remote_candidate(kClientId, "candidate:1 1 udp 2130706431 198.51.100.44 52625 typ host",
                         net.now);
  g.add_remote_candidate(kClientId,
                         "candidate:2 1 udp 1694498815 198.51.100.99 40000 typ srflx raddr "
                         "0.0.0.0 rport 0",
                         net.now);
  // Garbage and unknown connections are ignored.
  g.add_remote_candidate(kClientId, "candidate:x 1 udp", net.now);
  g.add_remote_candidate(test_uuid(99), "candidate:1 1 udp 1 198.51.100.1 1 typ host", net.now);
  g.remove_remote_candidate(kClientId, "not a candidate", net.now);
  net.advance(2s);
  // Checks go to the host, the srflx and the optimistic srflx-IP:host-port candidate.
  std::set<net::SocketAddr> checked;
  for (const auto& d : net.wire(gateway))
    if (is_binding_request_with_username(d)) checked.insert(d.dst);
  EXPECT_TRUE(checked.count(addr("198.51.100.44:52625")));
  EXPECT_TRUE(checked.count(addr("198.51.100.99:40000")));
  EXPECT_TRUE(checked.count(addr("198.51.100.99:52625")));
  // Channels on our relay for the non-host candidates (the host gets one too, later, because our
  // relayed check towards it finds no channel and starts a bind).
  EXPECT_TRUE(net.relay(relay1).bound_channel(kGatewayAddr, addr("198.51.100.99:40000")));
  EXPECT_TRUE(net.relay(relay1).bound_channel(kGatewayAddr, addr("198.51.100.99:52625")));
  EXPECT_EQ(g.num_connections(), 1u);
}

// ---- scenario 4: idle -----------------------------------------------------------------------

TEST_F(Fixture, IdleAfter20sUsesIdleCadenceAndWakesOnTraffic) {
  start({0});
  net.advance(2s);
  expect_traffic(500);
  const Instant last_traffic = net.now - 100ms;
  net.advance(19s);
  EXPECT_EQ(info(gateway, kClientId).state, ConnectionState::connected);
  net.advance(2s);
  ASSERT_EQ(info(gateway, kClientId).state, ConnectionState::idle)
      << to_string(info(gateway, kClientId).ice_state);
  EXPECT_EQ(info(client, kGatewayId).state, ConnectionState::idle);
  (void)last_traffic;

  // While idle: one check per pair every 25 s.
  net.clear_logs();
  net.advance(100s);
  std::vector<Instant> checks;
  for (const auto& d : net.wire(gateway))
    if (is_binding_request_with_username(d) && d.dst == kClientAddr) checks.push_back(d.sent_at);
  ASSERT_GE(checks.size(), 3u);
  for (std::size_t i = 1; i < checks.size(); ++i)
    EXPECT_EQ(checks[i] - checks[i - 1], 25s);
  EXPECT_TRUE(net.node(gateway).has_connection(kClientId));

  // Traffic wakes it: back to connected and the default cadence (1.5 s).
  expect_traffic(510);
  EXPECT_EQ(info(gateway, kClientId).state, ConnectionState::connected);
  EXPECT_EQ(info(client, kGatewayId).state, ConnectionState::connected);
  net.clear_logs();
  net.advance(10s);
  std::size_t fast = 0;
  for (const auto& d : net.wire(gateway))
    if (is_binding_request_with_username(d) && d.dst == kClientAddr) ++fast;
  EXPECT_GE(fast, 5u);
}

TEST_F(Fixture, IdleConnectionSurvivesForAnHour) {
  start({0});
  net.advance(3s);
  expect_traffic(550);
  net.advance(3600s);
  ASSERT_FALSE(net.stuck);
  EXPECT_TRUE(events_of<event::ConnectionFailed>(net, gateway).empty());
  EXPECT_TRUE(events_of<event::ConnectionFailed>(net, client).empty());
  EXPECT_EQ(info(gateway, kClientId).state, ConnectionState::idle);
  EXPECT_TRUE(net.node(gateway).poll_timeout().has_value());
  expect_traffic(560);
}

// ---- scenario 5: failure timers -------------------------------------------------------------

TEST_F(Fixture, PeerVanishesConnectionFailsAtSpecTimes) {
  start({0});
  net.advance(3s);
  expect_traffic(600);
  const Instant outage = net.now;
  net.set_node_online(client, false);
  net.advance(30s);
  auto failed = events_of<event::ConnectionFailed>(net, gateway);
  ASSERT_EQ(failed.size(), 1u);
  EXPECT_EQ(failed[0].second.connection, kClientId);
  // Pruned 16.5 s after the first unanswered keepalive (<= 1.5 s after the outage), plus 2 s.
  EXPECT_GE(failed[0].first - outage, 18'500ms);
  EXPECT_LE(failed[0].first - outage, 20'000ms);
  EXPECT_FALSE(net.node(gateway).has_connection(kClientId));
  auto r =
      net.send(gateway, kClientId, fz::test::make_udp_packet(ip("10.0.0.1"), ip("1.1.1.1"), 1));
  EXPECT_FALSE(r.ok());
}

TEST_F(Fixture, NoRemoteCandidateFailsAfter10s) {
  net.give_relays(gateway, {0});
  net.advance(1s);
  const Instant created = net.now;
  PresharedKey psk;
  ASSERT_TRUE(net.node(gateway)
                  .upsert_connection(kClientId, net.node(client).public_key(), psk,
                                     {"gwuf", "gatewaypasswordgatewaypw"},
                                     {"cluf", "clientpasswordclientpwd"}, net.now)
                  .ok());
  net.advance(15s);
  auto failed = events_of<event::ConnectionFailed>(net, gateway);
  ASSERT_EQ(failed.size(), 1u);
  EXPECT_EQ(failed[0].first - created, 10s);
  EXPECT_EQ(net.node(gateway).num_connections(), 0u);
}

TEST_F(Fixture, WireGuardExpiryFailsTheConnection) {
  // ICE works but the PSKs differ: the gateway answers the initiation, the client cannot read the
  // response and gives up after REKEY_ATTEMPT_TIME (15 s), which fails its connection.
  net.give_relays(client, {0});
  net.give_relays(gateway, {0});
  net.advance(1s);
  net.link(client, gateway, kClientId, kGatewayId);
  PresharedKey a, b;
  a.expose_secret_mut()[0] = 1;
  b.expose_secret_mut()[0] = 2;
  const ice::Credentials cc{"clnt", "clientpasswordclientpw"};
  const ice::Credentials gc{"gtwy", "gatewaypasswordgatewa"};
  auto& c = net.node(client);
  auto& g = net.node(gateway);
  ASSERT_TRUE(g.upsert_connection(kClientId, c.public_key(), a, gc, cc, net.now).ok());
  ASSERT_TRUE(c.upsert_connection(kGatewayId, g.public_key(), b, cc, gc, net.now).ok());
  net.advance(30s);
  Instant first_initiation{};
  for (const auto& d : net.wire(client))
    if (d.payload.size() == 148 && d.payload[0] == 1) {
      first_initiation = d.sent_at;
      break;
    }
  ASSERT_NE(first_initiation, Instant{});
  auto failed = events_of<event::ConnectionFailed>(net, client);
  ASSERT_EQ(failed.size(), 1u);
  EXPECT_GE(failed[0].first - first_initiation, 15s);
  EXPECT_LE(failed[0].first - first_initiation, 15s + 333ms);
  EXPECT_TRUE(events_of<event::ConnectionEstablished>(net, client).empty());
  // The gateway processed the initiation: established there, and ICE keeps it alive.
  EXPECT_EQ(events_of<event::ConnectionEstablished>(net, gateway).size(), 1u);
}

TEST_F(Fixture, UpsertWithoutRelaysFails) {
  PresharedKey psk;
  auto status = net.node(gateway).upsert_connection(kClientId, net.node(client).public_key(), psk,
                                                    {"a", "b"}, {"c", "d"}, net.now);
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.error().message(), "no TURN servers");
  EXPECT_EQ(net.node(gateway).num_connections(), 0u);
}

// ---- scenarios 6 and 7: goodbye -------------------------------------------------------------

TEST_F(Fixture, GatewayCloseReachesClientWithinOneLatency) {
  start({0});
  net.advance(2s);
  expect_traffic(700);
  net.clear_logs();
  const Instant closed_at = net.now;
  net.node(gateway).close_connection(kClientId, net.now);
  net.advance(1ms);  // let the harness drain the transmit
  // The goodbye: one 80-byte WireGuard data message on the direct path.
  const auto& wire = net.wire(gateway);
  ASSERT_EQ(wire.size(), 1u);
  EXPECT_EQ(wire[0].payload.size(), 80u);
  EXPECT_EQ(wire[0].payload[0], 4);
  EXPECT_EQ(wire[0].dst, kClientAddr);
  auto local = events_of<event::ConnectionClosed>(net, gateway);
  ASSERT_EQ(local.size(), 1u);
  EXPECT_EQ(local[0].second.reason, CloseReason::local);
  EXPECT_FALSE(net.node(gateway).has_connection(kClientId));

  net.advance(10ms);
  auto remote = events_of<event::ConnectionClosed>(net, client);
  ASSERT_EQ(remote.size(), 1u);
  EXPECT_EQ(remote[0].second.connection, kGatewayId);
  EXPECT_EQ(remote[0].second.reason, CloseReason::remote_goodbye);
  EXPECT_EQ(remote[0].first - closed_at, 5ms);
  EXPECT_FALSE(net.node(client).has_connection(kGatewayId));
  // No reply was sent.
  for (const auto& d : net.wire(client))
    EXPECT_NE(d.dst, kGatewayAddr) << "client answered the goodbye";
}

TEST_F(Fixture, GoodbyeOverRelayIsChannelData) {
  block_node_to_allocation();
  start();
  net.advance(5s);
  ASSERT_EQ(info(gateway, kClientId).path, PathKind::relay_to_relay);
  expect_traffic(750);
  net.clear_logs();
  const Instant closed_at = net.now;
  net.node(gateway).close_connection(kClientId, net.now);
  net.advance(1ms);
  const auto& wire = net.wire(gateway);
  ASSERT_EQ(wire.size(), 1u);
  EXPECT_EQ(wire[0].payload.size(), 84u);
  EXPECT_EQ(wire[0].dst.port, 3478);
  net.advance(100ms);
  auto remote = events_of<event::ConnectionClosed>(net, client);
  ASSERT_EQ(remote.size(), 1u);
  // gateway -> its relay -> the client's relay -> client: three links.
  EXPECT_EQ(remote[0].first - closed_at, 15ms);
}

TEST_F(Fixture, CloseAllReachesEveryConnectedPeer) {
  net.give_relays(gateway, {0});
  std::vector<std::size_t> clients;
  for (std::uint8_t i = 0; i < 3; ++i) {
    const auto a =
        net::SocketAddr{net::IpAddr::v4(198, 51, 100, static_cast<std::uint8_t>(30 + i)), 52625};
    clients.push_back(net.add_node(Role::client, a, static_cast<std::uint8_t>(10 + i)));
    net.give_relays(clients.back(), {0});
  }
  net.advance(1s);
  for (std::uint8_t i = 0; i < 3; ++i)
    net.connect(clients[i], gateway, test_uuid(static_cast<std::uint8_t>(20 + i)), kGatewayId);
  net.advance(3s);
  ASSERT_EQ(net.node(gateway).num_connections(), 3u);
  net.clear_logs();
  net.node(gateway).close_all(net.now);
  EXPECT_EQ(net.node(gateway).num_connections(), 0u);
  net.advance(10ms);
  std::size_t goodbyes = 0;
  for (const auto& d : net.wire(gateway))
    if (d.payload.size() == 80 && d.payload[0] == 4) ++goodbyes;
  EXPECT_EQ(goodbyes, 3u);
  for (std::size_t c : clients) {
    auto closed = events_of<event::ConnectionClosed>(net, c);
    ASSERT_EQ(closed.size(), 1u);
    EXPECT_EQ(closed[0].second.reason, CloseReason::remote_goodbye);
    EXPECT_EQ(net.node(c).num_connections(), 0u);
  }
  EXPECT_EQ(events_of<event::ConnectionClosed>(net, gateway).size(), 3u);
}

TEST_F(Fixture, ClosingAConnectingConnectionSendsNothing) {
  net.give_relays(gateway, {0});
  net.advance(1s);
  PresharedKey psk;
  ASSERT_TRUE(net.node(gateway)
                  .upsert_connection(kClientId, net.node(client).public_key(), psk, {"a", "b"},
                                     {"c", "d"}, net.now)
                  .ok());
  net.clear_logs();
  net.node(gateway).close_connection(kClientId, net.now);
  net.advance(1ms);
  EXPECT_EQ(net.node(gateway).num_connections(), 0u);
  EXPECT_TRUE(events_of<event::ConnectionClosed>(net, gateway).empty());
  for (const auto& d : net.wire(gateway))
    EXPECT_EQ(d.dst.port, 3478) << "only TURN traffic may leave";
}

// ---- upsert, legacy path, buffering ---------------------------------------------------------

TEST_F(Fixture, SameUpsertReusesConnectionAndSuppressesHandshake) {
  net.give_relays(client, {0});
  net.give_relays(gateway, {0});
  net.advance(1s);
  PresharedKey psk;
  psk.expose_secret_mut()[0] = 9;
  const ice::Credentials cc{"clnt", "clientpasswordclientpw"};
  const ice::Credentials gc{"gtwy", "gatewaypasswordgatewa"};
  net.link(client, gateway, kClientId, kGatewayId);
  auto& c = net.node(client);
  auto& g = net.node(gateway);
  ASSERT_TRUE(g.upsert_connection(kClientId, c.public_key(), psk, gc, cc, net.now).ok());
  ASSERT_TRUE(c.upsert_connection(kGatewayId, g.public_key(), psk, cc, gc, net.now).ok());
  net.advance(3s);
  expect_traffic(800);
  auto initiations = [&] {
    std::size_t n = 0;
    for (const auto& d : net.wire(client))
      if (d.payload.size() == 148 && d.payload[0] == 1) ++n;
    return n;
  };
  const std::size_t before = initiations();
  EXPECT_GE(before, 1u);

  // Same everything within 20 s: reused, no new handshake.
  ASSERT_TRUE(c.upsert_connection(kGatewayId, g.public_key(), psk, cc, gc, net.now).ok());
  ASSERT_TRUE(g.upsert_connection(kClientId, c.public_key(), psk, gc, cc, net.now).ok());
  net.advance(100ms);
  EXPECT_EQ(initiations(), before);
  EXPECT_EQ(events_of<event::ConnectionEstablished>(net, gateway).size(), 1u);

  // After 20 s the client re-handshakes on the same upsert; the session continues.
  net.advance(25s);
  const std::size_t later = initiations();
  ASSERT_TRUE(c.upsert_connection(kGatewayId, g.public_key(), psk, cc, gc, net.now).ok());
  net.advance(100ms);
  EXPECT_EQ(initiations(), later + 1);
  expect_traffic(810);

  // A different PSK replaces the connection.
  PresharedKey other;
  other.expose_secret_mut()[0] = 10;
  const auto old_index = info(gateway, kClientId).created_at;
  ASSERT_TRUE(g.upsert_connection(kClientId, c.public_key(), other, gc, cc, net.now).ok());
  EXPECT_GT(info(gateway, kClientId).created_at, old_index);
  EXPECT_EQ(info(gateway, kClientId).state, ConnectionState::connecting);
}

TEST_F(Fixture, LegacyOfferAnswer) {
  net.give_relays(client, {0});
  net.give_relays(gateway, {0});
  net.advance(1s);
  auto& c = net.node(client);
  auto& g = net.node(gateway);
  net.link(client, gateway, kClientId, kGatewayId);
  Offer offer = c.new_connection(kGatewayId, net.now);
  EXPECT_EQ(offer.credentials.ufrag.size(), 16u);
  EXPECT_EQ(offer.credentials.pwd.size(), 22u);
  auto answer = g.accept_connection(kClientId, offer, c.public_key(), net.now);
  ASSERT_TRUE(answer.ok());
  const std::string alphabet = "abcdefghijklmnopqrstuvxyzABCDEFGHIJKLMNOPQRSTUVXYZ0123456789";
  EXPECT_EQ(answer->credentials.ufrag.size(), 16u);
  EXPECT_EQ(answer->credentials.pwd.size(), 22u);
  for (char ch : answer->credentials.ufrag + answer->credentials.pwd)
    EXPECT_NE(alphabet.find(ch), std::string::npos);
  net.advance(10ms);
  ASSERT_TRUE(c.accept_answer(kGatewayId, g.public_key(), *answer, net.now).ok());
  net.advance(3s);
  expect_traffic(900);

  // An offer that is never answered fails after 20 s.
  const Uuid other = test_uuid(77);
  const Instant offered = net.now;
  (void)c.new_connection(other, net.now);
  net.advance(25s);
  bool failed = false;
  for (auto& [t, e] : events_of<event::ConnectionFailed>(net, client))
    if (e.connection == other) {
      failed = true;
      EXPECT_EQ(t - offered, 20s);
    }
  EXPECT_TRUE(failed);
}

TEST_F(Fixture, BufferingBeforeNomination) {
  start({0});
  // Nothing nominated yet: the client buffers, the gateway drops.
  const auto up = fz::test::make_udp_packet(ip("100.64.0.1"), ip("10.0.0.1"), 1000);
  auto r = net.send(client, kGatewayId, up);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->kind, Encapsulated::Kind::buffered);
  auto s = net.send(gateway, kClientId,
                    fz::test::make_udp_packet(ip("10.0.0.1"), ip("100.64.0.1"), 1001));
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->kind, Encapsulated::Kind::dropped);
  net.advance(2s);
  ASSERT_EQ(net.received(gateway).size(), 1u);
  EXPECT_EQ(net.received(gateway)[0].bytes, up);
  EXPECT_TRUE(net.received(client).empty());
}

// ---- demultiplexing -------------------------------------------------------------------------

TEST_F(Fixture, DemultiplexingRejectsWhatIsNotOurs) {
  start({0});
  net.advance(2s);
  auto& g = net.node(gateway);
  auto feed = [&](const net::SocketAddr& from, std::vector<std::uint8_t> bytes) {
    PacketBuffer buffer(kHeadroom + bytes.size() + kTailroom, 0);
    buffer.assign(bytes, 0);
    return g.decapsulate(kGatewayAddr, from, buffer, net.now);
  };
  // STUN from port 3478 of a relay we do not know.
  std::vector<std::uint8_t> binding(20, 0);
  binding[1] = 0x01;
  store_be32(binding.data() + 4, 0x2112A442);
  EXPECT_FALSE(feed(addr("192.0.2.99:3478"), binding).ok());
  // ChannelData from an unknown relay.
  EXPECT_FALSE(feed(addr("192.0.2.99:3478"), {0x40, 0x00, 0x00, 0x04, 1, 2, 3, 4}).ok());
  // ChannelData with a wrong length is not ChannelData and not anything else either.
  EXPECT_FALSE(feed(addr("203.0.113.1:3478"), {0x40, 0x00, 0x00, 0x08, 1, 2, 3, 4}).ok());
  // A Binding request for nobody.
  EXPECT_FALSE(feed(kClientAddr, binding).ok());
  // Junk, a WireGuard data message for an unknown index.
  EXPECT_FALSE(feed(kClientAddr, {1, 2, 3}).ok());
  std::vector<std::uint8_t> data(32, 0);
  data[0] = 4;
  data[4] = 0xEE;
  EXPECT_FALSE(feed(kClientAddr, data).ok());
  // The connection is untouched.
  expect_traffic(1100);
}

TEST_F(Fixture, ResetClosesEverythingAndChangesKey) {
  start({0});
  net.advance(2s);
  const crypto::PublicKey before = net.node(gateway).public_key();
  net.node(gateway).reset(net.now);
  net.advance(1ms);
  EXPECT_NE(net.node(gateway).public_key(), before);
  EXPECT_EQ(net.node(gateway).num_connections(), 0u);
  EXPECT_EQ(net.node(gateway).num_relays(), 0u);
  auto closed = events_of<event::ConnectionClosed>(net, gateway);
  ASSERT_EQ(closed.size(), 1u);
  EXPECT_EQ(closed[0].second.reason, CloseReason::reset);
}

TEST_F(Fixture, PollTimeoutIsTheEarliestDeadline) {
  start({0});
  net.advance(3s);
  auto& g = net.node(gateway);
  auto t = g.poll_timeout();
  ASSERT_TRUE(t.has_value());
  EXPECT_GT(*t, net.now);
  // Nothing happens before it: handling an earlier time produces nothing.
  g.handle_timeout(net.now);
  EXPECT_FALSE(g.poll_transmit().has_value());
}

}  // namespace
}  // namespace fz::p2p
