// The Noise IKpsk2 handshake between two of our engines: exact message sizes and layouts, index
// scheme, routing, wrong PSK, replayed initiations, initiations from unknown peers.
#include <gtest/gtest.h>

#include <cstring>

#include "sim.hpp"
#include "wireguard/cookie.hpp"
#include "wireguard/index.hpp"

namespace fz::wireguard::test {
namespace {

// Captures what a tunnel wants to send without delivering it.
std::vector<std::vector<std::uint8_t>> drain(Tunnel& t) {
  std::vector<std::vector<std::uint8_t>> out;
  while (auto x = t.poll_transmit())
    out.emplace_back(x->payload().begin(), x->payload().end());
  return out;
}

TEST(Handshake, FullHandshakeWithExactSizesAndLayout) {
  Sim sim;
  Tunnel& a = *sim.a.tunnel;
  Tunnel& b = *sim.b.tunnel;

  a.initiate_handshake(sim.now);
  auto from_a = drain(a);
  ASSERT_EQ(from_a.size(), 1u);
  auto& init = from_a[0];
  ASSERT_EQ(init.size(), 148u);
  EXPECT_EQ(load_le32(init.data()), 1u);  // type 1 and three reserved zero bytes
  const std::uint32_t a_index = load_le32(init.data() + 4);
  EXPECT_EQ(connection_id_of(a_index), a.connection_id());
  EXPECT_EQ(session_counter_of(a_index), 1);  // incremented before the first message
  // mac1 is keyed with B's public key; mac2 is zero without a cookie.
  EXPECT_TRUE(mac1_valid(mac1_key(sim.b.device.public_key()), init));
  EXPECT_EQ(std::vector<std::uint8_t>(init.end() - 16, init.end()),
            std::vector<std::uint8_t>(16, 0));

  auto routed = sim.b.device.route(sim.a.address, init, sim.now);
  ASSERT_TRUE(routed);
  ASSERT_EQ(routed->kind(), Incoming::Kind::handshake_initiation);
  EXPECT_EQ(routed->initiator_static(), sim.a.device.public_key());  // routed by static key
  auto r = b.decapsulate(*routed, sim.now);
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->empty());
  auto from_b = drain(b);
  ASSERT_EQ(from_b.size(), 1u);
  auto& resp = from_b[0];
  ASSERT_EQ(resp.size(), 92u);
  EXPECT_EQ(load_le32(resp.data()), 2u);
  const std::uint32_t b_index = load_le32(resp.data() + 4);
  EXPECT_EQ(load_le32(resp.data() + 8), a_index);  // receiver = initiator's sender index
  EXPECT_EQ(connection_id_of(b_index), b.connection_id());
  EXPECT_EQ(session_counter_of(b_index), 1);
  EXPECT_TRUE(mac1_valid(mac1_key(sim.a.device.public_key()), resp));
  // The responder may not send before the initiator confirms.
  EXPECT_FALSE(b.has_usable_session(sim.now));
  EXPECT_FALSE(b.poll_event());

  routed = sim.a.device.route(sim.b.address, resp, sim.now);
  ASSERT_TRUE(routed);
  ASSERT_EQ(routed->kind(), Incoming::Kind::handshake_response);
  EXPECT_EQ(routed->connection_id(), a.connection_id());  // routed by index
  r = a.decapsulate(*routed, sim.now);
  ASSERT_TRUE(r);
  EXPECT_TRUE(a.has_usable_session(sim.now));
  auto ev = a.poll_event();
  ASSERT_TRUE(ev);
  ASSERT_TRUE(std::holds_alternative<SessionEstablished>(*ev));
  EXPECT_TRUE(std::get<SessionEstablished>(*ev).we_initiated);
  EXPECT_EQ(std::get<SessionEstablished>(*ev).local_index, a_index);

  // The initiator confirms with a keepalive: 32 bytes, type 4, receiver = B's index, counter 0.
  from_a = drain(a);
  ASSERT_EQ(from_a.size(), 1u);
  auto& keepalive = from_a[0];
  ASSERT_EQ(keepalive.size(), 32u);
  EXPECT_EQ(load_le32(keepalive.data()), 4u);
  EXPECT_EQ(load_le32(keepalive.data() + 4), b_index);
  EXPECT_EQ(load_le64(keepalive.data() + 8), 0u);
  routed = sim.b.device.route(sim.a.address, keepalive, sim.now);
  ASSERT_TRUE(routed);
  EXPECT_EQ(routed->connection_id(), b.connection_id());
  r = b.decapsulate(*routed, sim.now);
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->empty());  // a keepalive delivers nothing
  EXPECT_TRUE(b.has_usable_session(sim.now));
  ev = b.poll_event();
  ASSERT_TRUE(ev);
  EXPECT_FALSE(std::get<SessionEstablished>(*ev).we_initiated);
  EXPECT_EQ(std::get<SessionEstablished>(*ev).local_index, b_index);

  // Data both ways: 16-byte header + plaintext + 16-byte tag, unpadded.
  auto packet = ipv4_packet(61);
  PacketBuffer buffer = buffer_with(packet);
  ASSERT_EQ(b.encapsulate(buffer, sim.now).value(), Encapsulated::ready);
  ASSERT_EQ(buffer.size(), 61u + 32u);
  EXPECT_EQ(load_le32(buffer.data() + 4), a_index);
  EXPECT_EQ(load_le64(buffer.data() + 8), 0u);
  routed = sim.a.device.route(sim.b.address, buffer.span(), sim.now);
  ASSERT_TRUE(routed);
  r = a.decapsulate(*routed, sim.now);
  ASSERT_TRUE(r);
  EXPECT_EQ(std::vector<std::uint8_t>(r->begin(), r->end()), packet);
  // In place: the plaintext is inside the received buffer, right after the header.
  EXPECT_EQ(r->data(), buffer.data() + 16);
}

TEST(Handshake, SecondHandshakeUsesNextSessionCounter) {
  Sim sim;
  sim.handshake();
  ASSERT_TRUE(sim.a.tunnel->has_usable_session(sim.now));
  sim.run_for(1s);
  sim.a.tunnel->initiate_handshake(sim.now);
  auto init = drain(*sim.a.tunnel)[0];
  EXPECT_EQ(session_counter_of(load_le32(init.data() + 4)), 2);
  EXPECT_EQ(connection_id_of(load_le32(init.data() + 4)), sim.a.tunnel->connection_id());
  sim.deliver(sim.a, sim.b, init);
  EXPECT_EQ(sim.count('B', Kind::response), 2u);
  sim.expect_connectivity();
}

TEST(Handshake, WrongPresharedKeyFailsCleanly) {
  Sim sim(SimOptions{.psk_a = 1, .psk_b = 2});
  sim.handshake();
  // B answered (the PSK is only mixed in at the response) but A cannot decrypt the response.
  EXPECT_EQ(sim.count('A', Kind::initiation), 1u);
  EXPECT_EQ(sim.count('B', Kind::response), 1u);
  ASSERT_EQ(sim.a.errors.size(), 1u);
  EXPECT_EQ(sim.a.errors[0].code(), Errc::crypto);
  EXPECT_FALSE(sim.a.tunnel->has_usable_session(sim.now));
  EXPECT_FALSE(sim.b.tunnel->has_usable_session(sim.now));
  EXPECT_TRUE(sim.a.events.empty());
  EXPECT_TRUE(sim.b.events.empty());
  // A keeps retrying and gives up after REKEY_ATTEMPT_TIME with ConnectionExpired.
  sim.run_for(20s);
  ASSERT_EQ(sim.a.events.size(), 1u);
  EXPECT_TRUE(std::holds_alternative<ConnectionExpired>(sim.a.events[0]));
  EXPECT_TRUE(sim.a.tunnel->expired());
  EXPECT_FALSE(sim.b.tunnel->has_usable_session(sim.now));
}

TEST(Handshake, ReplayedInitiationIsRejected) {
  Sim sim;
  sim.a.tunnel->initiate_handshake(sim.now);
  auto init = drain(*sim.a.tunnel)[0];
  auto routed = sim.b.device.route(sim.a.address, init, sim.now);
  ASSERT_TRUE(routed);
  ASSERT_TRUE(sim.b.tunnel->decapsulate(*routed, sim.now));
  drain(*sim.b.tunnel);
  auto again = sim.b.device.route(sim.a.address, init, sim.now);
  ASSERT_TRUE(again);
  auto r = sim.b.tunnel->decapsulate(*again, sim.now);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Errc::state);
  EXPECT_TRUE(drain(*sim.b.tunnel).empty());  // no second response
}

TEST(Handshake, TimestampIsWallClockPlusElapsedVirtualTime) {
  Sim sim;
  // Initiations 10 s apart: the responder accepts both (strictly newer timestamps).
  sim.handshake();
  sim.run_for(10s);
  sim.handshake();
  EXPECT_EQ(sim.count('B', Kind::response), 2u);
  EXPECT_TRUE(sim.b.errors.empty());
  EXPECT_EQ(noise::tai64n(noise::WallClock(std::chrono::seconds(1'700'000'000)) + 1500ms),
            (std::array<std::uint8_t, 12>{0x40, 0, 0, 0, 0x65, 0x53, 0xf1, 0x0b, 0x1d, 0xcd, 0x65,
                                          0x00}));
}

TEST(Handshake, InitiationFromUnknownKeyIsRoutedToNobody) {
  Sim sim;
  // A third peer C that knows B's public key (mac1 passes) but has no tunnel at B.
  Peer c('C', 3, sim.now, kHandshakeRateLimit, net::IpAddr::v4(203, 0, 113, 3));
  TunnelConfig config;
  config.peer_static = sim.b.device.public_key();
  config.connection_id = c.device.allocate_connection_id().value();
  auto tc = Tunnel::create(c.device, std::move(config), sim.now).value();
  tc.initiate_handshake(sim.now);
  auto init = drain(tc)[0];
  auto routed = sim.b.device.route(c.address, init, sim.now);
  ASSERT_TRUE(routed);
  EXPECT_EQ(routed->initiator_static(), c.device.public_key());
  EXPECT_NE(routed->initiator_static(), sim.b.tunnel->peer_static());
  // Handing it to the wrong tunnel anyway is refused.
  auto r = sim.b.tunnel->decapsulate(*routed, sim.now);
  ASSERT_FALSE(r);
}

TEST(Handshake, InitiationForAnotherNodeFailsMac1) {
  Sim sim;
  sim.a.tunnel->initiate_handshake(sim.now);
  auto init = drain(*sim.a.tunnel)[0];
  // Delivered to A's own device (wrong public key): mac1 does not verify.
  auto routed = sim.a.device.route(sim.b.address, init, sim.now);
  ASSERT_FALSE(routed);
  EXPECT_EQ(routed.error().code(), Errc::checksum);
}

TEST(Handshake, CorruptedMessagesAreRejectedWithoutStateChange) {
  Sim sim;
  sim.a.tunnel->initiate_handshake(sim.now);
  auto init = drain(*sim.a.tunnel)[0];
  // Every field but mac2, which a responder that is not under load ignores.
  for (std::size_t i = 0; i < initiation::mac2; i += 3) {
    auto bad = init;
    bad[i] ^= 0x01;
    auto routed = sim.b.device.route(sim.a.address, bad, sim.now);
    if (routed) {
      EXPECT_FALSE(sim.b.tunnel->decapsulate(*routed, sim.now)) << "byte " << i;
    }
  }
  EXPECT_TRUE(drain(*sim.b.tunnel).empty());
  // The genuine one still works afterwards.
  auto routed = sim.b.device.route(sim.a.address, init, sim.now);
  ASSERT_TRUE(routed);
  EXPECT_TRUE(sim.b.tunnel->decapsulate(*routed, sim.now));
}

TEST(Handshake, ResponseWithUnknownIndexIsRejected) {
  Sim sim;
  sim.a.tunnel->initiate_handshake(sim.now);
  auto init = drain(*sim.a.tunnel)[0];
  auto routed = sim.b.device.route(sim.a.address, init, sim.now);
  ASSERT_TRUE(sim.b.tunnel->decapsulate(*routed, sim.now));
  auto resp = drain(*sim.b.tunnel)[0];
  store_le32(resp.data() + 8, load_le32(resp.data() + 8) + 1);  // another session counter
  // mac1 no longer matches the modified message; recompute it as a forger knowing A's key could.
  const Mac mac1 = compute_mac1(mac1_key(sim.a.device.public_key()), resp);
  std::copy(mac1.begin(), mac1.end(), resp.end() - 32);
  auto r = sim.a.device.route(sim.b.address, resp, sim.now);
  ASSERT_TRUE(r);
  auto d = sim.a.tunnel->decapsulate(*r, sim.now);
  ASSERT_FALSE(d);
  EXPECT_EQ(d.error().code(), Errc::state);
  EXPECT_TRUE(sim.a.tunnel->handshake_in_progress());
}

TEST(Handshake, LowOrderPeerKeyIsRefusedAtCreation) {
  Sim sim;
  TunnelConfig config;
  config.peer_static = crypto::PublicKey{};  // all zeros: a low-order point
  EXPECT_FALSE(Tunnel::create(sim.b.device, std::move(config), sim.now));
}

TEST(Handshake, SimultaneousInitiationsConverge) {
  Sim sim;
  sim.a.tunnel->initiate_handshake(sim.now);
  sim.b.tunnel->initiate_handshake(sim.now);
  auto ia = drain(*sim.a.tunnel);
  auto ib = drain(*sim.b.tunnel);
  sim.deliver(sim.a, sim.b, ia[0]);
  sim.deliver(sim.b, sim.a, ib[0]);
  EXPECT_TRUE(sim.a.tunnel->has_usable_session(sim.now));
  EXPECT_TRUE(sim.b.tunnel->has_usable_session(sim.now));
  sim.expect_connectivity();
  sim.expect_connectivity(2);
}

}  // namespace
}  // namespace fz::wireguard::test
