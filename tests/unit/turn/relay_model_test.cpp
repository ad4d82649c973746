// The relay model itself: the Firezone relay rules the client tests rely on.
#include <gtest/gtest.h>

#include "stun/credentials.hpp"
#include "turn_sim.hpp"

namespace fz::turn::test {
namespace {

stun::TransactionId tid(std::uint8_t n) {
  stun::TransactionId id{};
  id[0] = n;
  return id;
}

class Model : public ::testing::Test {
 protected:
  Model() : relay(relay_config()) {}

  // Sends a request from kPublic4 and returns the relay's answer.
  std::optional<Buf> request(const stun::MessageBuilder& b, Instant now = Instant{}) {
    relay.handle_client(kPublic4, kRelay4, b.bytes(), now);
    auto d = relay.poll_datagram();
    if (!d) return std::nullopt;
    EXPECT_EQ(d->src, kRelay4);
    EXPECT_EQ(d->dst, kPublic4);
    return d->payload;
  }

  // ALLOCATE signed with our credentials and the given nonce.
  stun::MessageBuilder allocate(std::uint8_t n, std::string_view nonce,
                                const Credentials& creds = credentials()) {
    stun::MessageBuilder b(stun::Method::allocate, stun::Class::request, tid(n));
    b.add_requested_transport(17);
    b.add_text(stun::attr::username, creds.username());
    b.add_text(stun::attr::realm, "firezone");
    b.add_text(stun::attr::nonce, nonce);
    b.add_message_integrity(creds.key_bytes());
    return b;
  }

  std::string challenge_nonce() {
    stun::MessageBuilder b(stun::Method::allocate, stun::Class::request, tid(0));
    b.add_requested_transport(17);
    auto answer = request(b);
    auto m = stun::Message::parse(*answer);
    EXPECT_EQ(m->error_code()->code, 401);
    EXPECT_FALSE(m->has_integrity());  // no USERNAME in the request: unsigned
    EXPECT_EQ(m->text(stun::attr::realm), "firezone");
    return std::string(*m->text(stun::attr::nonce));
  }

  RelayModel relay;
};

TEST_F(Model, SignsEveryResponseToASignedRequest) {
  const auto nonce = challenge_nonce();
  auto ok = request(allocate(1, nonce).add_text(stun::attr::software, "x"));
  // (The attribute after MI is ignored by the relay's integrity check.)
  auto m = stun::Message::parse(*ok);
  EXPECT_EQ(m->message_class(), stun::Class::success);
  EXPECT_TRUE(m->verify_integrity(credentials().key_bytes()));
  EXPECT_EQ(m->u32(stun::attr::lifetime), 600u);
  EXPECT_EQ(relay.allocation_expiry(kPublic4), Instant{} + 600s);
  // A second ALLOCATE on the same 5-tuple: 437, signed.
  auto again = request(allocate(2, nonce));
  auto e = stun::Message::parse(*again);
  EXPECT_EQ(e->error_code()->code, 437);
  EXPECT_TRUE(e->verify_integrity(credentials().key_bytes()));
  // A stale nonce: 438, signed, with REALM and a fresh NONCE.
  auto stale = request(allocate(3, "00000000-0000-0000-0000-000000000000"));
  auto s = stun::Message::parse(*stale);
  EXPECT_EQ(s->error_code()->code, 438);
  EXPECT_TRUE(s->verify_integrity(credentials().key_bytes()));
  EXPECT_TRUE(s->text(stun::attr::nonce).has_value());
  EXPECT_EQ(s->text(stun::attr::realm), "firezone");
}

TEST_F(Model, NonceIsGoodFor10000Requests) {
  const auto nonce = challenge_nonce();
  stun::MessageBuilder first = allocate(1, nonce);
  ASSERT_EQ(stun::Message::parse(*request(first))->message_class(), stun::Class::success);
  for (int i = 1; i < 10000; ++i) {
    stun::MessageBuilder b(stun::Method::refresh, stun::Class::request, tid(2));
    b.add_text(stun::attr::username, credentials().username());
    b.add_text(stun::attr::realm, "firezone");
    b.add_text(stun::attr::nonce, nonce);
    b.add_message_integrity(credentials().key_bytes());
    auto answer = request(b);
    ASSERT_EQ(stun::Message::parse(*answer)->message_class(), stun::Class::success) << i;
  }
  auto used_up = request(allocate(3, nonce));
  EXPECT_EQ(stun::Message::parse(*used_up)->error_code()->code, 438);
}

TEST_F(Model, ExpiredOrWrongCredentialsGet401) {
  const auto nonce = challenge_nonce();
  auto expired = request(allocate(1, nonce, credentials("salt1", -1s)));
  auto m = stun::Message::parse(*expired);
  EXPECT_EQ(m->error_code()->code, 401);
  EXPECT_TRUE(m->verify_integrity(credentials("salt1", -1s).key_bytes()));
  auto wrong = request(allocate(2, nonce, Credentials(credentials().username(), "nope")));
  auto w = stun::Message::parse(*wrong);
  EXPECT_EQ(w->error_code()->code, 401);
  EXPECT_FALSE(w->verify_integrity(Credentials(credentials().username(), "nope").key_bytes()));
  EXPECT_TRUE(w->verify_integrity(credentials().key_bytes()));  // signed with the real key
}

TEST_F(Model, AllocationExpiresAfter600Seconds) {
  const auto nonce = challenge_nonce();
  request(allocate(1, nonce));
  relay.handle_timeout(Instant{} + 599s);
  EXPECT_TRUE(relay.has_allocation(kPublic4));
  EXPECT_EQ(relay.poll_timeout(), Instant{} + 600s);
  relay.handle_timeout(Instant{} + 600s);
  EXPECT_FALSE(relay.has_allocation(kPublic4));
}

TEST_F(Model, ForwardsOnlyOverBoundChannels) {
  const auto nonce = challenge_nonce();
  const auto answer = request(allocate(1, nonce));
  auto ok = stun::Message::parse(*answer);
  const auto relay_addr = *ok->xor_address(stun::attr::xor_relayed_address);
  // Before any binding, neither direction passes.
  relay.handle_peer(kPeer4, relay_addr, Buf{1}, Instant{});
  relay.handle_client(kPublic4, kRelay4, Buf{0x40, 0x00, 0x00, 0x01, 1}, Instant{});
  EXPECT_FALSE(relay.poll_datagram().has_value());
  stun::MessageBuilder bind(stun::Method::channel_bind, stun::Class::request, tid(2));
  bind.add_xor_address(stun::attr::xor_peer_address, kPeer4).add_channel_number(0x4000);
  bind.add_text(stun::attr::username, credentials().username());
  bind.add_text(stun::attr::realm, "firezone");
  bind.add_text(stun::attr::nonce, nonce);
  bind.add_message_integrity(credentials().key_bytes());
  ASSERT_EQ(stun::Message::parse(*request(bind))->message_class(), stun::Class::success);
  relay.handle_peer(kPeer4, relay_addr, Buf{1}, Instant{});
  auto d = relay.poll_datagram();
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->payload, (Buf{0x40, 0x00, 0x00, 0x01, 1}));
  relay.handle_client(kPublic4, kRelay4, Buf{0x40, 0x00, 0x00, 0x01, 2}, Instant{});
  d = relay.poll_datagram();
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->src, relay_addr);
  EXPECT_EQ(d->dst, kPeer4);
  // The channel lapses after 600 s; the number stays reserved for 300 s more.
  relay.handle_timeout(Instant{} + 600s);
  relay.handle_peer(kPeer4, relay_addr, Buf{1}, Instant{} + 600s);
  EXPECT_FALSE(relay.poll_datagram().has_value());
}

}  // namespace
}  // namespace fz::turn::test
