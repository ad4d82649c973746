// MAC1/MAC2, cookie replies under load, the 100/s rate limiter and cookie expiry.
#include "wireguard/cookie.hpp"

#include <gtest/gtest.h>

#include "sim.hpp"
#include "wireguard/ratelimiter.hpp"

namespace fz::wireguard::test {
namespace {

bool zero_mac2(const std::vector<std::uint8_t>& message) {
  return std::all_of(message.end() - 16, message.end(), [](std::uint8_t b) { return b == 0; });
}

// Handshake initiations with a valid mac1 from a third peer, to load B's rate limiter.
class Flooder {
 public:
  explicit Flooder(Sim& sim)
      : peer('C', 3, sim.now, kHandshakeRateLimit, net::IpAddr::v4(203, 0, 113, 3)),
        tunnel(make(sim)) {}

  void flood(Sim& sim, int n) {
    for (int i = 0; i < n; ++i) {
      // A fresh tunnel per message: initiations from one tunnel would be "in progress".
      Tunnel t = make(sim);
      t.initiate_handshake(sim.now);
      auto init = t.poll_transmit();
      std::vector<std::uint8_t> bytes(init->payload().begin(), init->payload().end());
      (void)sim.b.device.route(peer.address, bytes, sim.now);
    }
  }

  Tunnel make(Sim& sim) {
    TunnelConfig config;
    config.peer_static = sim.b.device.public_key();
    config.connection_id = peer.device.allocate_connection_id().value();
    return Tunnel::create(peer.device, std::move(config), sim.now).value();
  }

  Peer peer;
  Tunnel tunnel;
};

TEST(RateLimiter, AllowsLimitMessagesPerOneSecondWindow) {
  const Instant t0 = instant_from_nanos(5'000'000'000);
  RateLimiter limiter(100, t0);
  for (int i = 0; i < 100; ++i)
    EXPECT_FALSE(limiter.under_load(t0 + std::chrono::milliseconds(i)));
  EXPECT_TRUE(limiter.under_load(t0 + 999ms));
  EXPECT_TRUE(limiter.under_load(t0 + 1s - 1ns));
  EXPECT_FALSE(limiter.under_load(t0 + 1s));  // a new window
}

TEST(Cookie, ReplyUnderLoadThenMac2OnRetry) {
  Sim sim;
  Flooder c(sim);
  c.flood(sim, 100);  // B's limit for this second is used up
  sim.handshake();
  // B answered with a 64-byte cookie reply instead of a response.
  ASSERT_EQ(sim.count('B', Kind::cookie), 1u);
  EXPECT_EQ(sim.count('B', Kind::response), 0u);
  const auto& reply = sim.log.back().bytes;
  ASSERT_EQ(reply.size(), 64u);
  EXPECT_EQ(load_le32(reply.data()), 3u);
  const auto& init = sim.log[sim.log.size() - 2].bytes;
  EXPECT_EQ(load_le32(reply.data() + 4), load_le32(init.data() + 4));  // to the sender index
  EXPECT_TRUE(zero_mac2(init));
  EXPECT_TRUE(sim.a.errors.empty());  // A accepted the cookie

  // 5 s later B is still flooded, but A's retransmission now carries mac2 and gets through.
  sim.run_until(sim.t0 + 5s - 1ns);
  sim.now = sim.t0 + 5s;
  c.flood(sim, 150);
  sim.run_until(sim.t0 + 5s);
  const auto inits = sim.sent_at('A', Kind::initiation);
  ASSERT_EQ(inits.size(), 2u);
  EXPECT_FALSE(zero_mac2(sim.log[sim.log.size() - 3].bytes));
  EXPECT_EQ(sim.count('B', Kind::cookie), 1u);
  EXPECT_EQ(sim.count('B', Kind::response), 1u);
  EXPECT_TRUE(sim.a.tunnel->has_usable_session(sim.now));
  sim.expect_connectivity();
}

TEST(Cookie, ResponsesAreRateLimitedToo) {
  SimOptions options;
  options.rate_limit_a = 0;  // A is always under load
  Sim sim(options);
  sim.handshake();
  // B's response to A got a cookie reply from A; A has no session yet.
  EXPECT_EQ(sim.count('B', Kind::response), 1u);
  EXPECT_EQ(sim.count('A', Kind::cookie), 1u);
  EXPECT_FALSE(sim.a.tunnel->has_usable_session(sim.now));
}

TEST(Cookie, ExpiresAfter120s) {
  SimOptions options;
  options.rate_limit_b = 0;  // B is always under load
  options.rekey_attempt_time = 200s;
  Sim sim(options);
  sim.handshake();  // cookie reply at t0
  ASSERT_EQ(sim.count('B', Kind::cookie), 1u);
  sim.b.receives = false;  // A keeps retransmitting every 5 s
  sim.run_until(sim.t0 + 125s);
  std::vector<std::pair<Instant, bool>> seen;
  for (const auto& s : sim.log) {
    if (s.from == 'A' && s.kind == Kind::initiation) seen.emplace_back(s.at, zero_mac2(s.bytes));
  }
  ASSERT_EQ(seen.size(), 26u);  // 0, 5, ..., 125
  EXPECT_TRUE(seen[0].second);  // before the cookie
  for (std::size_t i = 1; i < seen.size(); ++i) {
    const bool expired = seen[i].first - sim.t0 >= 120s;
    EXPECT_EQ(seen[i].second, expired) << at(seen[i].first, sim.t0);
  }
  EXPECT_EQ(seen[23].first, sim.t0 + 115s);
  EXPECT_FALSE(seen[23].second);
  EXPECT_EQ(seen[24].first, sim.t0 + 120s);
  EXPECT_TRUE(seen[24].second);
}

TEST(Cookie, IsBoundToTheSourceIp) {
  SimOptions options;
  options.rate_limit_b = 0;
  Sim sim(options);
  sim.handshake();             // cookie for 203.0.113.1
  sim.run_until(sim.t0 + 5s);  // retransmission with mac2 from the same IP: accepted
  EXPECT_EQ(sim.count('B', Kind::response), 1u);

  // The same kind of message from another IP does not pass mac2.
  Sim other(options);
  other.handshake();
  other.a.address = net::IpAddr::v4(203, 0, 113, 77);  // A moved before its retry
  other.run_until(other.t0 + 5s);
  EXPECT_EQ(other.count('B', Kind::response), 0u);
  EXPECT_EQ(other.count('B', Kind::cookie), 2u);
}

TEST(Cookie, UnderLoadWithoutASourceAddressIsRefused) {
  SimOptions options;
  options.rate_limit_b = 0;
  Sim sim(options);
  sim.a.tunnel->initiate_handshake(sim.now);
  auto init = sim.a.tunnel->poll_transmit();
  std::vector<std::uint8_t> bytes(init->payload().begin(), init->payload().end());
  auto r = sim.b.device.route(std::nullopt, bytes, sim.now);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Errc::exhausted);
}

TEST(Cookie, ForgedOrMisaddressedRepliesAreRejected) {
  SimOptions options;
  options.rate_limit_b = 0;
  Sim sim(options);
  sim.b.receives = false;
  sim.a.tunnel->initiate_handshake(sim.now);
  auto init = sim.a.tunnel->poll_transmit();
  std::vector<std::uint8_t> bytes(init->payload().begin(), init->payload().end());
  auto routed = sim.b.device.route(sim.a.address, bytes, sim.now);
  ASSERT_EQ(routed->kind(), Incoming::Kind::send_cookie_reply);
  const Bytes reply = routed->cookie_reply_message();

  auto wrong_index = std::vector<std::uint8_t>(reply.begin(), reply.end());
  store_le32(wrong_index.data() + 4, load_le32(wrong_index.data() + 4) + 1);
  auto r1 = sim.a.device.route(sim.b.address, wrong_index, sim.now);
  ASSERT_TRUE(r1);
  EXPECT_EQ(r1->kind(), Incoming::Kind::cookie_reply);
  EXPECT_FALSE(sim.a.tunnel->decapsulate(*r1, sim.now));

  auto tampered = std::vector<std::uint8_t>(reply.begin(), reply.end());
  tampered[40] ^= 1;
  auto r2 = sim.a.device.route(sim.b.address, tampered, sim.now);
  EXPECT_FALSE(sim.a.tunnel->decapsulate(*r2, sim.now));

  auto good = std::vector<std::uint8_t>(reply.begin(), reply.end());
  auto r3 = sim.a.device.route(sim.b.address, good, sim.now);
  EXPECT_TRUE(sim.a.tunnel->decapsulate(*r3, sim.now));
}

TEST(Cookie, Mac1KeysAreLabelledHashes) {
  // mac1 key = BLAKE2s("mac1----" || pk), cookie key = BLAKE2s("cookie--" || pk).
  crypto::PublicKey pk{};
  for (std::size_t i = 0; i < pk.size(); ++i)
    pk[i] = static_cast<std::uint8_t>(i);
  std::vector<std::uint8_t> in = {'m', 'a', 'c', '1', '-', '-', '-', '-'};
  in.insert(in.end(), pk.begin(), pk.end());
  EXPECT_EQ(mac1_key(pk), crypto::blake2s(in));
  std::vector<std::uint8_t> in2 = {'c', 'o', 'o', 'k', 'i', 'e', '-', '-'};
  in2.insert(in2.end(), pk.begin(), pk.end());
  EXPECT_EQ(cookie_key(pk), crypto::blake2s(in2));
}

}  // namespace
}  // namespace fz::wireguard::test
