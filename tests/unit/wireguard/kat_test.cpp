// Known answers from an independent implementation: kat/wireguard_kat.py, pure Python written
// from RFC 7748, RFC 8439, draft-irtf-cfrg-xchacha and the WireGuard paper (its primitives check
// themselves against the RFC vectors). Same inputs on both sides: static, ephemeral and pre-shared
// keys, indices, timestamp, cookie secret and nonce. Regenerate with
//   python3 tests/unit/wireguard/kat/wireguard_kat.py
#include <gtest/gtest.h>

#include <deque>
#include <string_view>
#include <vector>

#include "base/buffer.hpp"
#include "base/encoding.hpp"
#include "wireguard/cookie.hpp"
#include "wireguard/noise.hpp"
#include "wireguard/session.hpp"
#include "wireguard/transport_cipher.hpp"

namespace fz::wireguard::test {
namespace {

constexpr std::string_view kInitiatorStaticPublic =
    "7b4e909bbe7ffe44c465a220037d608ee35897d31ef972f07f74892cb0f73f13";
constexpr std::string_view kResponderStaticPublic =
    "0faa684ed28867b97f4a6a2dee5df8ce974e76b7018e3f22a1c4cf2678570f20";
constexpr std::string_view kInitiation =
    "01000000010c0b0a7b0d47d93427f8311160781c7c733fd89f88970aef490d8a"
    "a0ee19a4cb8a1b1481e498317da959fba46669572516a5e6c021bfa620bb6c56"
    "ca0082e1feae14988c2c64d024c617734a263f76a008df04d0f94bad8ee75ec8"
    "e699a440b4a50daa11f4b49e4391d702b229aa3b46a074f6fa44077da88312d5"
    "1672257800000000000000000000000000000000";
constexpr std::string_view kResponse =
    "0200000001030201010c0b0aff2ee45601ec1b67310c7790404585ae697331ee"
    "e1c1f8cf2419731c1fff3e6bda81a927fedf673417b5274250355a3fb1fe5d27"
    "655d1ea2918f1fe62256661600000000000000000000000000000000";
constexpr std::string_view kInitiatorSendingKey =
    "a007faf842d83f5bd3be20a14e0ffcec34c84867b78b051980602713205922de";
constexpr std::string_view kInitiatorReceivingKey =
    "d982d5cd10d34a7802b6c19fa441cd9164d70e4f4d62007ab416879ee8bd1b99";
constexpr std::string_view kPacket = "4500001c0000000040010000c6336401c63364020800f7ff00000000";
constexpr std::string_view kDataCounter0 =
    "0400000001030201000000000000000049504a821f2defcdfd5c064cb1224f4c"
    "d97d92a1c17a7ab6d501917c62ddf478922e3a43a14b09e59758c65f";
constexpr std::string_view kKeepaliveCounter1 =
    "04000000010302010100000000000000be64ecc3e8aa73793be05f608ae95d4e";
constexpr std::string_view kCookie = "71469b0dc6e88e0eb70f1eaea93b1955";
constexpr std::string_view kCookieReply =
    "03000000010c0b0a777777777777777777777777777777777777777777777777"
    "503aeb24430e2a00bfbf46292345a51db1384b56997c32e6cc00ed95eda91688";
constexpr std::string_view kInitiationMac2 = "97beb5dd54faacd342b55c385080ec05";

std::vector<std::uint8_t> unhex(std::string_view s) {
  return hex_decode(s).value();
}
std::string hex(Bytes b) {
  return hex_encode(b);
}

// Hands out exactly the byte strings it was given, in order.
class ScriptedRng final : public Rng {
 public:
  explicit ScriptedRng(std::deque<std::vector<std::uint8_t>> chunks) : chunks_(std::move(chunks)) {}
  void fill(std::span<std::uint8_t> out) override {
    ASSERT_FALSE(chunks_.empty()) << "unexpected draw of " << out.size() << " bytes";
    ASSERT_EQ(chunks_.front().size(), out.size());
    std::copy(chunks_.front().begin(), chunks_.front().end(), out.begin());
    chunks_.pop_front();
  }
  bool drained() const { return chunks_.empty(); }

 private:
  std::deque<std::vector<std::uint8_t>> chunks_;
};

std::vector<std::uint8_t> repeated(std::uint8_t b, std::size_t n) {
  return std::vector<std::uint8_t>(n, b);
}

crypto::SecretKey key(std::uint8_t b) {
  std::array<std::uint8_t, 32> k;
  k.fill(b);
  return crypto::SecretKey::from_bytes(k);
}

TEST(KnownAnswer, HandshakeTransportAndCookieMatchAnIndependentImplementation) {
  const Instant now = instant_from_nanos(42);
  const crypto::SecretKey s_i = key(0x11), s_r = key(0x22);
  const crypto::PublicKey S_i = crypto::public_key(s_i), S_r = crypto::public_key(s_r);
  ASSERT_EQ(hex(S_i), kInitiatorStaticPublic);
  ASSERT_EQ(hex(S_r), kResponderStaticPublic);
  SymmetricKey psk;
  for (auto& b : psk.expose_secret_mut())
    b = 0x55;
  const std::uint32_t sender_i = 0x0A0B0C01, sender_r = 0x01020301;
  const noise::Tai64n timestamp = noise::tai64n(
      noise::WallClock(std::chrono::seconds(1'700'000'000) + std::chrono::nanoseconds(123456789)));

  // Initiation.
  ScriptedRng rng_i({repeated(0x33, 32)});
  std::array<std::uint8_t, kInitiationSize> initiation;
  auto sent = noise::write_initiation(initiation, sender_i, S_i, S_r, crypto::dh(s_i, S_r).value(),
                                      timestamp, rng_i);
  ASSERT_TRUE(sent);
  CookieJar jar_i(S_r);
  jar_i.add_macs(initiation, sender_i, mac1_key(S_r), now);
  EXPECT_EQ(hex(initiation), kInitiation);

  // The responder reads it and answers.
  auto received = noise::read_initiation_static(initiation, s_r, noise::initial_state(S_r));
  ASSERT_TRUE(received);
  EXPECT_EQ(received->initiator_static, S_i);
  EXPECT_EQ(received->sender_index, sender_i);
  auto ts = noise::read_initiation_timestamp(*received, crypto::dh(s_r, S_i).value());
  ASSERT_TRUE(ts);
  EXPECT_EQ(*ts, timestamp);
  ScriptedRng rng_r({repeated(0x44, 32)});
  std::array<std::uint8_t, kResponseSize> response;
  auto keys_r = noise::write_response(response, sender_r, *received, psk, rng_r);
  ASSERT_TRUE(keys_r);
  CookieJar jar_r(S_i);
  jar_r.add_macs(response, sender_r, mac1_key(S_i), now);
  EXPECT_EQ(hex(response), kResponse);

  // The initiator reads the response; both derive the same transport keys.
  auto keys_i = noise::read_response(response, *sent, s_i, psk);
  ASSERT_TRUE(keys_i);
  EXPECT_EQ(hex(keys_i->sending.expose_secret()), kInitiatorSendingKey);
  EXPECT_EQ(hex(keys_i->receiving.expose_secret()), kInitiatorReceivingKey);
  EXPECT_EQ(hex(keys_r->receiving.expose_secret()), kInitiatorSendingKey);
  EXPECT_EQ(hex(keys_r->sending.expose_secret()), kInitiatorReceivingKey);

  // Transport data, counter 0, then a keepalive with counter 1.
  TransportCipher cipher;
  Session initiator(sender_i, sender_r, std::move(*keys_i), true, now, cipher.new_key_id());
  Session responder(sender_r, sender_i, std::move(*keys_r), false, now, cipher.new_key_id());
  const auto packet = unhex(kPacket);
  PacketBuffer buffer(16 + packet.size() + 16, 16);
  ASSERT_TRUE(buffer.assign(packet, 16));
  ASSERT_TRUE(initiator.seal(cipher, buffer));
  EXPECT_EQ(hex(buffer.span()), kDataCounter0);
  std::array<std::uint8_t, kDataOverhead> keepalive{};
  initiator.seal(cipher, keepalive);
  EXPECT_EQ(hex(keepalive), kKeepaliveCounter1);
  auto opened = responder.open(cipher, buffer.span());
  ASSERT_TRUE(opened);
  EXPECT_EQ(hex(*opened), kPacket);

  // The responder under load: a cookie reply for 203.0.113.1, and mac2 on the next initiation.
  ScriptedRng rng_c({repeated(0x66, 32), repeated(0x77, 24)});
  CookieChecker checker(S_r, rng_c, now);
  const auto reply = checker.make_reply(initiation, net::IpAddr::v4(203, 0, 113, 1), now, rng_c);
  EXPECT_EQ(hex(reply), kCookieReply);
  EXPECT_TRUE(rng_c.drained());
  ASSERT_TRUE(jar_i.consume_reply(reply, now));
  ASSERT_TRUE(jar_i.cookie(now));
  EXPECT_EQ(hex(*jar_i.cookie(now)), kCookie);
  jar_i.add_macs(initiation, sender_i, mac1_key(S_r), now);
  EXPECT_EQ(hex(Bytes(initiation).last(16)), kInitiationMac2);
  EXPECT_TRUE(checker.mac2_valid(initiation, net::IpAddr::v4(203, 0, 113, 1), now));
  EXPECT_FALSE(checker.mac2_valid(initiation, net::IpAddr::v4(203, 0, 113, 2), now));
}

}  // namespace
}  // namespace fz::wireguard::test
