// Transport data through an established pair: in-place encryption, padding, keepalives, replay
// protection at the tunnel level, the queue while there is no session.
#include <gtest/gtest.h>

#include "sim.hpp"

namespace fz::wireguard::test {
namespace {

std::vector<std::uint8_t> seal(Tunnel& t, const std::vector<std::uint8_t>& packet, Instant now) {
  PacketBuffer b = buffer_with(packet);
  EXPECT_EQ(t.encapsulate(b, now).value(), Encapsulated::ready);
  return {b.span().begin(), b.span().end()};
}

Result<std::vector<std::uint8_t>> open(Peer& p, std::vector<std::uint8_t> datagram, Instant now) {
  auto routed = p.device.route(net::IpAddr::v4(203, 0, 113, 9), datagram, now);
  if (!routed) return routed.error();
  auto r = p.tunnel->decapsulate(*routed, now);
  if (!r) return r.error();
  return std::vector<std::uint8_t>(r->begin(), r->end());
}

class DataTest : public testing::Test {
 protected:
  void SetUp() override {
    sim.handshake();
    ASSERT_TRUE(sim.a.tunnel->has_usable_session(sim.now));
    ASSERT_TRUE(sim.b.tunnel->has_usable_session(sim.now));
  }
  Sim sim;
};

TEST_F(DataTest, EncapsulatesInPlaceIntoHeadroomAndTailroom) {
  const auto packet = ipv4_packet(1280);
  PacketBuffer b = buffer_with(packet);
  const std::uint8_t* plaintext_at = b.data();
  const std::size_t headroom = b.headroom();
  ASSERT_EQ(sim.a.tunnel->encapsulate(b, sim.now).value(), Encapsulated::ready);
  EXPECT_EQ(b.data(), plaintext_at - 16);
  EXPECT_EQ(b.headroom(), headroom - 16);
  EXPECT_EQ(b.size(), 1280u + 32u);
  EXPECT_EQ(load_le32(b.data()), 4u);
}

TEST_F(DataTest, NeedsHeadroomAndTailroom) {
  PacketBuffer no_head(200, 0);
  ASSERT_TRUE(no_head.assign(ipv4_packet(100), 0));
  auto r = sim.a.tunnel->encapsulate(no_head, sim.now);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Errc::out_of_range);
  PacketBuffer no_tail(116, 16);
  ASSERT_TRUE(no_tail.assign(ipv4_packet(100), 16));
  EXPECT_FALSE(sim.a.tunnel->encapsulate(no_tail, sim.now));
}

TEST_F(DataTest, CountersIncreaseFromZero) {
  for (std::uint64_t i = 0; i < 5; ++i) {
    auto d = seal(*sim.b.tunnel, ipv4_packet(40), sim.now);
    EXPECT_EQ(load_le64(d.data() + 8), i);
  }
}

TEST_F(DataTest, PaddedPlaintextIsTrimmedToIpLength) {
  // Build a padded message as wireguard-go would (plaintext padded to a multiple of 16) by
  // encrypting a longer buffer whose IP header states the shorter length.
  auto packet = ipv4_packet(45);
  auto padded = packet;
  padded.resize(48, 0);
  auto d = seal(*sim.a.tunnel, padded, sim.now);
  EXPECT_EQ(d.size(), 48u + 32u);
  auto r = open(sim.b, d, sim.now);
  ASSERT_TRUE(r);
  EXPECT_EQ(*r, packet);

  auto v6 = ipv6_packet(13);  // 53 bytes
  auto v6_padded = v6;
  v6_padded.resize(64, 0);
  auto r6 = open(sim.b, seal(*sim.a.tunnel, v6_padded, sim.now), sim.now);
  ASSERT_TRUE(r6);
  EXPECT_EQ(*r6, v6);
}

TEST_F(DataTest, NonIpPlaintextIsDropped) {
  std::vector<std::uint8_t> junk(30, 0x11);  // version 1
  auto r = open(sim.b, seal(*sim.a.tunnel, junk, sim.now), sim.now);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Errc::malformed);
  // An IPv4 header claiming more bytes than there are.
  auto longer = ipv4_packet(40);
  store_be16(longer.data() + 2, 41);
  EXPECT_FALSE(open(sim.b, seal(*sim.a.tunnel, longer, sim.now), sim.now));
  // Truncated IPv6 header.
  std::vector<std::uint8_t> short6(39, 0);
  short6[0] = 0x60;
  EXPECT_FALSE(open(sim.b, seal(*sim.a.tunnel, short6, sim.now), sim.now));
}

TEST_F(DataTest, EmptyPlaintextIsAKeepalive) {
  auto d = seal(*sim.a.tunnel, {}, sim.now);
  EXPECT_EQ(d.size(), 32u);
  const auto inbox = sim.b.inbox.size();
  auto r = open(sim.b, d, sim.now);
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->empty());
  EXPECT_EQ(sim.b.inbox.size(), inbox);
}

TEST_F(DataTest, ReplayedAndStaleCountersAreRejected) {
  std::vector<std::vector<std::uint8_t>> sealed;
  for (int i = 0; i < 5000; ++i)
    sealed.push_back(seal(*sim.a.tunnel, ipv4_packet(28, i), sim.now));
  // Out of order within the window is fine, once.
  ASSERT_TRUE(open(sim.b, sealed[4999], sim.now));
  ASSERT_TRUE(open(sim.b, sealed[2000], sim.now));
  auto dup = open(sim.b, sealed[2000], sim.now);
  ASSERT_FALSE(dup);
  EXPECT_EQ(dup.error().code(), Errc::state);
  ASSERT_FALSE(open(sim.b, sealed[4999], sim.now));
  // 4032 behind the highest (4999) is the oldest accepted; one more is too old.
  ASSERT_TRUE(open(sim.b, sealed[4999 - 4032], sim.now));
  ASSERT_FALSE(open(sim.b, sealed[4999 - 4033], sim.now));
  // 2048 reordered packets all arrive.
  for (int i = 4998; i >= 4999 - 2048; --i) {
    if (i == 2000) continue;
    ASSERT_TRUE(open(sim.b, sealed[static_cast<std::size_t>(i)], sim.now)) << i;
  }
}

TEST_F(DataTest, TamperedDataIsRejectedAndDoesNotMoveTheWindow) {
  auto d = seal(*sim.a.tunnel, ipv4_packet(60), sim.now);
  auto forged = d;
  store_le64(forged.data() + 8, 1'000'000);  // a far-ahead counter with a bad tag
  auto r = open(sim.b, forged, sim.now);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Errc::crypto);
  EXPECT_TRUE(open(sim.b, d, sim.now));  // counter 0 still fits the window
  auto flipped = seal(*sim.a.tunnel, ipv4_packet(60), sim.now);
  flipped[40] ^= 1;
  EXPECT_FALSE(open(sim.b, flipped, sim.now));
}

TEST_F(DataTest, UnknownReceiverIndexIsRejected) {
  auto d = seal(*sim.a.tunnel, ipv4_packet(60), sim.now);
  store_le32(d.data() + 4, load_le32(d.data() + 4) + 1);
  auto r = open(sim.b, d, sim.now);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Errc::not_found);
}

TEST(Queue, PacketsWaitForTheSessionAndAreFlushedInOrder) {
  Sim sim;
  sim.b.receives = false;  // the initiation is lost
  for (std::uint32_t i = 0; i < 3; ++i) {
    EXPECT_EQ(sim.send(sim.a, ipv4_packet(100, i)).value(), Encapsulated::queued);
  }
  EXPECT_EQ(sim.count('A', Kind::initiation), 1u);  // one initiation for all three
  EXPECT_EQ(sim.a.tunnel->queued_packets(), 3u);
  EXPECT_GT(sim.a.tunnel->heap_bytes(), 0u);
  sim.b.receives = true;
  sim.run_for(6s);  // the retransmission gets through
  EXPECT_EQ(sim.count('A', Kind::initiation), 2u);
  ASSERT_EQ(sim.b.inbox.size(), 3u);
  for (std::uint32_t i = 0; i < 3; ++i)
    EXPECT_EQ(sim.b.inbox[i], ipv4_packet(100, i));
  // The queued data confirmed the session, so no separate keepalive was needed.
  EXPECT_EQ(sim.count('A', Kind::keepalive), 0u);
  EXPECT_EQ(sim.a.tunnel->queued_packets(), 0u);
  EXPECT_EQ(sim.a.tunnel->heap_bytes(), 0u);  // freed once drained
}

TEST(Queue, HoldsAtMost256Packets) {
  Sim sim;
  sim.b.receives = false;
  for (std::uint32_t i = 0; i < 256; ++i) {
    ASSERT_EQ(sim.send(sim.a, ipv4_packet(60, i)).value(), Encapsulated::queued);
  }
  auto r = sim.send(sim.a, ipv4_packet(60, 256));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Errc::exhausted);
  EXPECT_EQ(sim.a.tunnel->queued_packets(), 256u);
  sim.b.receives = true;
  sim.run_for(6s);
  ASSERT_EQ(sim.b.inbox.size(), 256u);
  EXPECT_EQ(sim.b.inbox.back(), ipv4_packet(60, 255));
}

TEST(Queue, ResponderQueuesUntilConfirmedAndThenFlushes) {
  // The gateway's goodbye case (spec §5.3): B answered A's initiation but A's confirmation has
  // not arrived yet, so B has no session to send on.
  Sim sim;
  sim.a.receives = false;
  sim.a.tunnel->initiate_handshake(sim.now);
  sim.pump(sim.a);  // B answers, the response is lost
  EXPECT_FALSE(sim.b.tunnel->has_usable_session(sim.now));
  EXPECT_EQ(sim.send(sim.b, ipv4_packet(48, 2)).value(), Encapsulated::queued);
  // B starts its own handshake to get a session.
  EXPECT_EQ(sim.count('B', Kind::initiation), 1u);
  sim.a.receives = true;
  sim.a.tunnel->initiate_handshake(sim.now);  // nothing: A's handshake is still in progress
  sim.run_for(6s);
  ASSERT_FALSE(sim.a.inbox.empty());
  EXPECT_EQ(sim.a.inbox[0], ipv4_packet(48, 2));
  sim.expect_connectivity();
}

TEST(Queue, QueueIsNotAllocatedOnAnIdleTunnel) {
  // Per-peer memory: everything inline (bench/wireguard_bench.cpp measures it with malloc stats).
  EXPECT_LE(sizeof(Tunnel), 4096u);
  Sim sim;
  EXPECT_EQ(sim.a.tunnel->heap_bytes(), 0u);
  sim.handshake();
  sim.expect_connectivity();
  EXPECT_EQ(sim.a.tunnel->heap_bytes(), 0u);
  EXPECT_EQ(sim.b.tunnel->heap_bytes(), 0u);
}

TEST(Transmit, FlushedPacketsCarryHeadroomForFraming) {
  Sim sim;
  sim.b.receives = false;
  ASSERT_EQ(sim.send(sim.a, ipv4_packet(100)).value(), Encapsulated::queued);
  sim.b.receives = true;
  // Deliver the handshake by hand to look at the flushed transmit.
  sim.a.tunnel->handle_timeout(sim.now + 5s);
  auto init = sim.a.tunnel->poll_transmit();
  ASSERT_TRUE(init);
  EXPECT_EQ(init->buffer(), nullptr);
  sim.now += 5s;
  std::vector<std::uint8_t> bytes(init->payload().begin(), init->payload().end());
  auto routed = sim.b.device.route(sim.a.address, bytes, sim.now);
  ASSERT_TRUE(sim.b.tunnel->decapsulate(*routed, sim.now));
  auto resp = sim.b.tunnel->poll_transmit();
  std::vector<std::uint8_t> rbytes(resp->payload().begin(), resp->payload().end());
  auto routed2 = sim.a.device.route(sim.b.address, rbytes, sim.now);
  ASSERT_TRUE(sim.a.tunnel->decapsulate(*routed2, sim.now));
  auto data = sim.a.tunnel->poll_transmit();
  ASSERT_TRUE(data);
  ASSERT_NE(data->buffer(), nullptr);
  EXPECT_GE(data->buffer()->headroom(), 4u);  // room for TURN ChannelData
  EXPECT_EQ(data->payload().size(), 132u);
  EXPECT_FALSE(sim.a.tunnel->poll_transmit());
}

TEST(Rekey, PreviousSessionStillReceivesAfterANewHandshake) {
  Sim sim;
  sim.handshake();
  // B seals a packet on the old session, then A re-handshakes before it arrives.
  auto in_flight = seal(*sim.b.tunnel, ipv4_packet(70, 5), sim.now);
  sim.run_for(1s);
  sim.handshake();
  auto r = open(sim.a, in_flight, sim.now);
  ASSERT_TRUE(r);
  EXPECT_EQ(*r, ipv4_packet(70, 5));
  sim.expect_connectivity();
}

}  // namespace
}  // namespace fz::wireguard::test
