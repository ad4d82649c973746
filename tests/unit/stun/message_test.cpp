// STUN codec tests: the RFC 5769 sample messages (parsed, verified and rebuilt byte for byte), the
// str0m fixtures from spec/ice-str0m-details.md §1.4/§1.8, framing rules and attribute codecs.
#include "stun/message.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "base/encoding.hpp"
#include "crypto/hash.hpp"
#include "stun/credentials.hpp"

namespace fz::stun {
namespace {

using Buf = std::vector<std::uint8_t>;

Buf hex(std::string_view text) {
  std::string clean;
  for (char c : text) {
    if (c != ' ' && c != '\n') clean.push_back(c);
  }
  auto bytes = hex_decode(clean);
  EXPECT_TRUE(bytes.ok());
  return bytes.ok() ? *bytes : Buf{};
}

Buf to_buf(Bytes b) {
  return Buf(b.begin(), b.end());
}

Bytes text_bytes(std::string_view s) {
  return Bytes(reinterpret_cast<const std::uint8_t*>(s.data()), s.size());
}

TransactionId tid_of(const Buf& message) {
  TransactionId id;
  std::copy_n(message.begin() + 8, 12, id.begin());
  return id;
}

constexpr std::string_view kRfcPassword = "VOkJxbRl1RmTxUk/WvJxBt";

// RFC 5769 §2.1-§2.4.
const Buf kRfcRequest = hex(
    "000100582112a442b7e7a701bc34d686fa87dfae802200105354554e207465737420636c69656e74002400046e00"
    "01ff80290008932ff9b151263b36000600096576746a3a68367659202020000800149aeaa70cbfd8cb56781ef2b5"
    "b2d3f249c1b571a280280004e57a3bcf");
const Buf kRfcResponseV4 = hex(
    "0101003c2112a442b7e7a701bc34d686fa87dfae8022000b7465737420766563746f7220002000080001a147e112"
    "a643000800142b91f599fd9e90c38c7489f92af9ba53f06be7d780280004c07d4c96");
const Buf kRfcResponseV6 = hex(
    "010100482112a442b7e7a701bc34d686fa87dfae8022000b7465737420766563746f7220002000140002a1470113"
    "a9faa5d3f179bc25f4b5bed2b9d900080014a382954e4be67bf11784c97c8292c275bfe3ed4180280004c8fb0b4c");
const Buf kRfcLongTerm = hex(
    "000100602112a44278ad3433c6ad72c029da412e00060012e3839ee38388e383aae38383e382afe382b900000015"
    "001c662f2f3439396b3935346436"
    "4f4c33346f4c39465354767936347341001400"
    "0b6578616d706c652e6f726700000800"
    "14f67024656dd64a3e02b8e0712e85c9a28ca89666");
// "マトリックス" in UTF-8, as the RFC gives it after SASLprep.
const std::string kMatrix =
    "\xe3\x83\x9e\xe3\x83\x88\xe3\x83\xaa\xe3\x83\x83\xe3\x82\xaf\xe3\x82\xb9";

TEST(StunType, MethodAndClassBits) {
  EXPECT_EQ(message_type(Method::binding, Class::request), 0x0001);
  EXPECT_EQ(message_type(Method::binding, Class::success), 0x0101);
  EXPECT_EQ(message_type(Method::binding, Class::error), 0x0111);
  EXPECT_EQ(message_type(Method::binding, Class::indication), 0x0011);
  EXPECT_EQ(message_type(Method::allocate, Class::request), 0x0003);
  EXPECT_EQ(message_type(Method::allocate, Class::success), 0x0103);
  EXPECT_EQ(message_type(Method::allocate, Class::error), 0x0113);
  EXPECT_EQ(message_type(Method::refresh, Class::error), 0x0114);
  EXPECT_EQ(message_type(Method::channel_bind, Class::request), 0x0009);
  EXPECT_EQ(message_type(Method::send, Class::indication), 0x0016);
  EXPECT_EQ(message_type(Method::data, Class::indication), 0x0017);
  for (std::uint16_t m = 0; m < 0x1000; ++m) {
    for (int c = 0; c < 4; ++c) {
      const auto type = message_type(static_cast<Method>(m), static_cast<Class>(c));
      EXPECT_EQ(method_of(type), static_cast<Method>(m));
      EXPECT_EQ(class_of(type), static_cast<Class>(c));
    }
  }
}

TEST(Rfc5769, RequestParsesAndVerifies) {
  auto m = Message::parse(kRfcRequest);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->method(), Method::binding);
  EXPECT_EQ(m->message_class(), Class::request);
  EXPECT_EQ(m->text(attr::software), "STUN test client");
  EXPECT_EQ(m->u32(attr::priority), 0x6e0001ffu);
  EXPECT_EQ(m->u64(attr::ice_controlled), 0x932ff9b151263b36u);
  EXPECT_EQ(m->text(attr::username), "evtj:h6vY");
  EXPECT_TRUE(m->verify_integrity(short_term_key(kRfcPassword)));
  EXPECT_FALSE(m->verify_integrity(short_term_key("VOkJxbRl1RmTxUk/WvJxBu")));
  EXPECT_TRUE(m->verify_fingerprint());
}

TEST(Rfc5769, RequestIsRebuiltByteForByte) {
  // The sample pads USERNAME with spaces; everything else is ours.
  MessageBuilder b(Method::binding, Class::request, tid_of(kRfcRequest));
  b.add_text(attr::software, "STUN test client")
      .add_u32(attr::priority, 0x6e0001ff)
      .add_u64(attr::ice_controlled, 0x932ff9b151263b36)
      .add(attr::username, text_bytes("evtj:h6vY"), ' ')
      .add_message_integrity(short_term_key(kRfcPassword))
      .add_fingerprint();
  EXPECT_EQ(to_buf(b.bytes()), kRfcRequest);
}

TEST(Rfc5769, Ipv4ResponseParsesVerifiesAndRebuilds) {
  auto m = Message::parse(kRfcResponseV4);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->message_class(), Class::success);
  EXPECT_EQ(m->text(attr::software), "test vector");
  EXPECT_EQ(m->xor_mapped_address(), *net::SocketAddr::parse("192.0.2.1:32853"));
  EXPECT_TRUE(m->verify_integrity(short_term_key(kRfcPassword)));
  EXPECT_TRUE(m->verify_fingerprint());

  MessageBuilder b(Method::binding, Class::success, tid_of(kRfcResponseV4));
  b.add(attr::software, text_bytes("test vector"), ' ')
      .add_xor_address(attr::xor_mapped_address, *net::SocketAddr::parse("192.0.2.1:32853"))
      .add_message_integrity(short_term_key(kRfcPassword))
      .add_fingerprint();
  EXPECT_EQ(to_buf(b.bytes()), kRfcResponseV4);
}

TEST(Rfc5769, Ipv6ResponseParsesVerifiesAndRebuilds) {
  const auto mapped = *net::SocketAddr::parse("[2001:db8:1234:5678:11:2233:4455:6677]:32853");
  auto m = Message::parse(kRfcResponseV6);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->xor_mapped_address(), mapped);
  EXPECT_TRUE(m->verify_integrity(short_term_key(kRfcPassword)));
  EXPECT_TRUE(m->verify_fingerprint());

  MessageBuilder b(Method::binding, Class::success, tid_of(kRfcResponseV6));
  b.add(attr::software, text_bytes("test vector"), ' ')
      .add_xor_address(attr::xor_mapped_address, mapped)
      .add_message_integrity(short_term_key(kRfcPassword))
      .add_fingerprint();
  EXPECT_EQ(to_buf(b.bytes()), kRfcResponseV6);
}

TEST(Rfc5769, LongTermRequestParsesVerifiesAndRebuilds) {
  auto m = Message::parse(kRfcLongTerm);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->text(attr::username), kMatrix);
  EXPECT_EQ(m->text(attr::nonce), "f//499k954d6OL34oL9FSTvy64sA");
  EXPECT_EQ(m->text(attr::realm), "example.org");
  EXPECT_FALSE(m->has_fingerprint());
  // The RFC's password "The<U+00AD>M<U+00AA>tr<U+2168>" is "TheMatrIX" after SASLprep.
  const auto key = long_term_key(kMatrix, "example.org", "TheMatrIX");
  EXPECT_TRUE(m->verify_integrity(key.expose_secret()));
  EXPECT_FALSE(
      m->verify_integrity(long_term_key(kMatrix, "example.org", "thematrix").expose_secret()));
  EXPECT_FALSE(m->verify_integrity(short_term_key("TheMatrIX")));

  MessageBuilder b(Method::binding, Class::request, tid_of(kRfcLongTerm));
  b.add_text(attr::username, kMatrix)
      .add_text(attr::nonce, "f//499k954d6OL34oL9FSTvy64sA")
      .add_text(attr::realm, "example.org")
      .add_message_integrity(key.expose_secret());
  EXPECT_EQ(to_buf(b.bytes()), kRfcLongTerm);
}

TEST(Rfc5769, LongTermKeyIsMd5OfUserRealmPassword) {
  const std::string input = "user:firezone:pass";
  const auto md5 = crypto::md5(text_bytes(input));
  const auto key = long_term_key("user", "firezone", "pass");
  EXPECT_EQ(to_buf(key.expose_secret()), Buf(md5.begin(), md5.end()));
}

TEST(Rfc8489, Sha256IntegrityOfAppendixB1) {
  // RFC 8489 Appendix B.1 as corrected by erratum 6268: USERHASH, NONCE, REALM,
  // PASSWORD-ALGORITHM (SHA-256), MESSAGE-INTEGRITY-SHA256. With SHA-256 as the password
  // algorithm the key is SHA-256(username:realm:password).
  const Buf sample = hex(
      "000100902112a44278ad3433c6ad72c029da412e001e00204a3cf38fef6992bda952c6780417da0f24819415569e"
      "60b205c46e41407f17040015002"
      "96f624d61744a6f73324141414366"
      "2f2f3439396b3935346436"
      "4f4c33346f4c394653547679363473410000000014000b6578616d706c652e6f7267"
      "00001d000400020000001c0020b5c7bf005b6c52a21c51c5e892f81924136296cb927c431493092"
      "78cc6518e65");
  auto m = Message::parse(sample);
  ASSERT_TRUE(m.ok());
  ASSERT_TRUE(m->has_integrity_sha256());
  const std::string input = kMatrix + ":example.org:TheMatrIX";
  const auto key = crypto::sha256(text_bytes(input));
  EXPECT_TRUE(m->verify_integrity_sha256(key));
  EXPECT_FALSE(m->verify_integrity_sha256(crypto::sha256(text_bytes("x"))));

  MessageBuilder b(Method::binding, Class::request, tid_of(sample));
  for (const auto& a : *m) {
    if (a.type != attr::message_integrity_sha256) b.add(a);
  }
  b.add_message_integrity_sha256(key);
  EXPECT_EQ(to_buf(b.bytes()), sample);
}

// --- str0m fixtures (ice-str0m-details.md §1.4, §1.7, §1.8) --------------------------------------

const TransactionId kTid = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
constexpr std::string_view kGatewayPwd = "zfjrrjdkbci42t2axyd45a";
constexpr std::string_view kClientPwd = "j2fqufatn7xlrrvv6fsvea";
constexpr std::uint64_t kTieBreaker = 0x0123456789abcdef;

Buf check_request(std::string_view username, std::uint16_t role, std::uint32_t priority,
                  bool use_candidate, std::string_view pwd) {
  MessageBuilder b(Method::binding, Class::request, kTid);
  b.add_text(attr::username, username).add_u64(role, kTieBreaker).add_u32(attr::priority, priority);
  if (use_candidate) b.add_empty(attr::use_candidate);
  b.add_message_integrity(short_term_key(pwd)).add_fingerprint();
  return to_buf(b.bytes());
}

TEST(Str0mFixtures, RequestsAreReproduced) {
  EXPECT_EQ(check_request("ejqt:hgwh", attr::ice_controlling, 1862270719, false, kGatewayPwd),
            hex("000100442112a4420102030405060708090a0b0c00060009656a71743a68677768000000802a0008"
                "0123456789abcdef002400046efffeff000800140d55e05967f09014f83f1865f4b8c8d9c25995dd"
                "802800049044baf5"));  // F1
  EXPECT_EQ(check_request("ejqt:hgwh", attr::ice_controlling, 1862270719, true, kGatewayPwd),
            hex("000100482112a4420102030405060708090a0b0c00060009656a71743a68677768000000802a0008"
                "0123456789abcdef002400046efffeff002500000008001477c0f69fd5c37e92ad68e8f4cb36739d"
                "094c373b80280004be45c0c9"));  // F2
  EXPECT_EQ(check_request("hgwh:ejqt", attr::ice_controlled, 1862270719, false, kClientPwd),
            hex("000100442112a4420102030405060708090a0b0c00060009686777683a656a7174000000802900"
                "080123456789abcdef002400046efffeff0008001497ed27c9e64f04b56f448a68b9a30f765ab4"
                "3604802800049d72fcbc"));  // F4
  EXPECT_EQ(check_request("hgwh:ejqt", attr::ice_controlled, 1849687807, false, kClientPwd),
            hex("000100442112a4420102030405060708090a0b0c00060009686777683a656a7174000000802900"
                "080123456789abcdef002400046e3ffeff00080014545de91bf2bfd3fdc3f2be5d5a0653d7cb49"
                "5207802800044bc95bf9"));  // F6
  EXPECT_EQ(check_request("tGeqOjtGuPzPpuOx:Ab3dEf5hIj7lMn9p", attr::ice_controlling, 1862270719,
                          true, "pMAxxTgHHSdpqHRzHGNvuN"),
            hex("000100602112a4420102030405060708090a0b0c00060021744765714f6a744775507a5070754f78"
                "3a4162336445663568496a376c4d6e3970000000802a00080123456789abcdef002400046efffeff"
                "0025000000080014a5eb46aa7ffec90ec95c02e1bab58bba16465a5f80280004d949a935"));  // F7
}

TEST(Str0mFixtures, ResponsesAreReproduced) {
  MessageBuilder f3(Method::binding, Class::success, kTid);
  f3.add_xor_address(attr::xor_mapped_address, *net::SocketAddr::parse("198.51.100.7:52625"))
      .add_message_integrity(short_term_key(kGatewayPwd))
      .add_fingerprint();
  EXPECT_EQ(to_buf(f3.bytes()),
            hex("0101002c2112a4420102030405060708090a0b0c002000080001ec83e721c0450008001"
                "42acc23d33a1cdc996a1c9c0a750c96c3ce15062880280004bfda651b"));
  MessageBuilder f5(Method::binding, Class::success, kTid);
  f5.add_xor_address(attr::xor_mapped_address, *net::SocketAddr::parse("[2001:db8::7]:52625"))
      .add_message_integrity(short_term_key(kClientPwd))
      .add_fingerprint();
  EXPECT_EQ(to_buf(f5.bytes()),
            hex("010100382112a4420102030405060708090a0b0c002000140002ec830113a9fa0102030405060708"
                "090a0b0b0008001452c97085f12103872a0036e196070cdd3c3a989080280004818ba3d1"));
}

TEST(Str0mFixtures, ChromeRequestVerifies) {
  const Buf chrome =
      hex("000100502112a4426a756331357578556e6747630006000970394b413a53514174000000c057000400010"
          "00a802a00086eeec6e97d18395c00250000002400046e7f1eff000800145d0425a0207ab1e054102299aaf9"
          "839ca076c6d580280004360e219f");
  auto m = Message::parse(chrome);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->text(attr::username), "p9KA:SQAt");
  EXPECT_TRUE(m->has(attr::use_candidate));
  EXPECT_EQ(m->u32(attr::priority), 1853824767u);
  EXPECT_TRUE(m->has(0xC057));  // NETWORK-COST: unknown to us, still there
  EXPECT_TRUE(m->verify_integrity(short_term_key("xJcE9AQAR7kczUDVOXRUCl")));
  EXPECT_TRUE(m->verify_fingerprint());
}

TEST(Str0mFixtures, NegativeFixtures) {
  const Bytes key = short_term_key(kGatewayPwd);
  // N1: MI hashed over the final length (FINGERPRINT included) does not verify.
  const Buf n1_bytes =
      hex("0101002c2112a4420102030405060708090a0b0c002000080001ec83e721c04500"
          "080014627571cd1dcaf0396ba95a5620419b07c6fe273380280004f713d40d");
  auto n1 = Message::parse(n1_bytes);
  ASSERT_TRUE(n1.ok());
  EXPECT_FALSE(n1->verify_integrity(key));
  // N2: no FINGERPRINT; MI still verifies.
  const Buf n2_bytes =
      hex("010100242112a4420102030405060708090a0b0c002000080001ec83e721c04500"
          "0800142acc23d33a1cdc996a1c9c0a750c96c3ce150628");
  auto n2 = Message::parse(n2_bytes);
  ASSERT_TRUE(n2.ok());
  EXPECT_TRUE(n2->verify_integrity(key));
  EXPECT_FALSE(n2->verify_fingerprint());
  // N3: a wrong FINGERPRINT does not affect MI.
  const Buf n3_bytes =
      hex("0101002c2112a4420102030405060708090a0b0c002000080001ec83e721c04500"
          "0800142acc23d33a1cdc996a1c9c0a750c96c3ce15062880280004deadbeef");
  auto n3 = Message::parse(n3_bytes);
  ASSERT_TRUE(n3.ok());
  EXPECT_TRUE(n3->verify_integrity(key));
  EXPECT_FALSE(n3->verify_fingerprint());
  // N4: trailing bytes.
  EXPECT_FALSE(Message::parse(hex("0101002c2112a4420102030405060708090a0b0c002000080001ec83e721c0"
                                  "45000800142acc23d33a1cdc996a1c9c0a750c96c3ce15062880280004bfda"
                                  "651b00000000"))
                   .ok());
  // N5: XOR-MAPPED-ADDRESS after MESSAGE-INTEGRITY is not covered and therefore not seen.
  const Buf n5_bytes =
      hex("0101002c2112a4420102030405060708090a0b0c00080014f0cf76c67a5afb33ba"
          "52d643f2fe3cc5ad590f53002000080001ec83e721c04580280004a09eec0e");
  auto n5 = Message::parse(n5_bytes);
  ASSERT_TRUE(n5.ok());
  EXPECT_FALSE(n5->xor_mapped_address().has_value());
  EXPECT_TRUE(n5->has_fingerprint());
}

// --- Framing ------------------------------------------------------------------------------------

Buf simple_message() {
  MessageBuilder b(Method::binding, Class::request, kTid);
  b.add_text(attr::software, "abc");
  return to_buf(b.bytes());
}

TEST(Framing, RejectsBadHeaders) {
  const Buf good = simple_message();
  ASSERT_TRUE(Message::parse(good).ok());
  EXPECT_FALSE(Message::parse(Bytes(good.data(), 19)).ok());
  EXPECT_FALSE(Message::parse(Bytes{}).ok());
  Buf top_bits = good;
  top_bits[0] |= 0x40;
  EXPECT_FALSE(Message::parse(top_bits).ok());
  Buf cookie = good;
  cookie[5] ^= 1;
  EXPECT_FALSE(Message::parse(cookie).ok());
  Buf odd_length = good;
  odd_length[3] = 6;
  EXPECT_FALSE(Message::parse(odd_length).ok());
  Buf short_length = good;
  short_length[3] = 4;
  EXPECT_FALSE(Message::parse(short_length).ok());
  Buf trailing = good;
  trailing.insert(trailing.end(), {0, 0, 0, 0});
  EXPECT_FALSE(Message::parse(trailing).ok());
}

TEST(Framing, RejectsBadAttributes) {
  Buf overrun = simple_message();
  overrun[23] = 9;  // SOFTWARE claims 9 bytes in an 8-byte slot
  EXPECT_FALSE(Message::parse(overrun).ok());

  MessageBuilder mi(Method::binding, Class::request, kTid);
  mi.add(attr::message_integrity, Buf(16, 0));
  EXPECT_FALSE(Message::parse(mi.bytes()).ok());

  MessageBuilder fp_not_last(Method::binding, Class::request, kTid);
  fp_not_last.add_fingerprint().add_text(attr::software, "x");
  EXPECT_FALSE(Message::parse(fp_not_last.bytes()).ok());

  MessageBuilder fp_len(Method::binding, Class::request, kTid);
  fp_len.add(attr::fingerprint, Buf(8, 0));
  EXPECT_FALSE(Message::parse(fp_len.bytes()).ok());

  MessageBuilder sha(Method::binding, Class::request, kTid);
  sha.add(attr::message_integrity_sha256, Buf(12, 0));
  EXPECT_FALSE(Message::parse(sha.bytes()).ok());
}

TEST(Framing, LooksLikeStun) {
  EXPECT_TRUE(Message::looks_like_stun(simple_message()));
  EXPECT_FALSE(Message::looks_like_stun(Buf{0x40, 0x00, 0x00, 0x00}));
  Buf wg(148, 0);
  wg[0] = 1;
  EXPECT_FALSE(Message::looks_like_stun(wg));
}

TEST(Framing, UnknownAttributesArePreservedInOrder) {
  MessageBuilder b(Method::binding, Class::success, kTid);
  b.add(0x0003, Buf{1, 2, 3})
      .add_text(attr::software, "x")
      .add(0xC057, Buf{0, 1, 0, 10})
      .add(0x7FFF, Buf{})
      .add_fingerprint();
  auto m = Message::parse(b.bytes());
  ASSERT_TRUE(m.ok());
  std::vector<std::uint16_t> types;
  MessageBuilder copy(m->type(), m->transaction_id());
  for (const auto& a : *m) {
    types.push_back(a.type);
    copy.add(a);
  }
  EXPECT_EQ(types, (std::vector<std::uint16_t>{0x0003, attr::software, 0xC057, 0x7FFF,
                                               attr::fingerprint}));
  EXPECT_EQ(to_buf(copy.bytes()), to_buf(b.bytes()));
  EXPECT_EQ(to_buf(m->find(0x0003)->value), (Buf{1, 2, 3}));
}

TEST(Framing, AttributesAfterIntegrityAreIgnoredExceptFingerprint) {
  MessageBuilder b(Method::allocate, Class::success, kTid);
  b.add_u32(attr::lifetime, 600)
      .add_message_integrity(short_term_key("k"))
      .add_u32(attr::priority, 5)
      .add_message_integrity_sha256(short_term_key("k"))
      .add_fingerprint();
  auto m = Message::parse(b.bytes());
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->u32(attr::lifetime), 600u);
  EXPECT_FALSE(m->u32(attr::priority).has_value());
  EXPECT_TRUE(m->verify_integrity(short_term_key("k")));
  EXPECT_TRUE(m->verify_integrity_sha256(short_term_key("k")));
  EXPECT_TRUE(m->verify_fingerprint());
  // Tampering with a covered attribute breaks MI; with an uncovered one it does not.
  Buf tampered = to_buf(b.bytes());
  tampered[27] ^= 1;  // LIFETIME value
  EXPECT_FALSE(Message::parse(tampered)->verify_integrity(short_term_key("k")));
  tampered = to_buf(b.bytes());
  tampered[20 + 8 + 24 + 7] ^= 1;  // PRIORITY value, after MI
  EXPECT_TRUE(Message::parse(tampered)->verify_integrity(short_term_key("k")));
  EXPECT_FALSE(Message::parse(tampered)->verify_integrity_sha256(short_term_key("k")));
}

TEST(Framing, IntegrityLengthFieldCountsThroughIntegrityOnly) {
  MessageBuilder b(Method::binding, Class::request, kTid);
  b.add_text(attr::software, "abcd");
  b.add_message_integrity(short_term_key("pw"));
  // HMAC over the header (length = 8 + 24) and SOFTWARE.
  Buf input =
      to_buf(b.bytes()).size() >= 28 ? Buf(b.bytes().begin(), b.bytes().begin() + 28) : Buf{};
  input[3] = 8 + 24;
  const auto mac = crypto::hmac_sha1(short_term_key("pw"), input);
  b.add_fingerprint();
  EXPECT_EQ(load_be16(b.bytes().data() + 2), 8 + 24 + 8);
  EXPECT_EQ(Buf(b.bytes().begin() + 32, b.bytes().begin() + 52), Buf(mac.begin(), mac.end()));
}

TEST(Builder, OversizedValueFails) {
  MessageBuilder b(Method::binding, Class::request, kTid);
  b.add(0x0003, Buf(70000, 0));
  EXPECT_FALSE(b.ok());
  EXPECT_EQ(b.size(), kHeaderSize);
}

// --- Attribute codecs ---------------------------------------------------------------------------

TEST(Attributes, TurnAttributesHaveTheirWireForm) {
  MessageBuilder b(Method::allocate, Class::request, kTid);
  b.add_requested_transport(kTransportUdp)
      .add_address_family(attr::additional_address_family, net::IpFamily::v6)
      .add_address_family(attr::requested_address_family, net::IpFamily::v4)
      .add_channel_number(0x4001)
      .add_u32(attr::lifetime, 0)
      .add_error_code(438, "Stale Nonce")
      .add_unknown_attributes(std::vector<std::uint16_t>{0x0019, 0x8000});
  const Buf expected =
      hex("00030044"
          "2112a442"
          "0102030405060708090a0b0c"
          "0019000411000000"
          "8000000402000000"
          "0017000401000000"
          "000c000440010000"
          "000d000400000000"
          "0009000f00000426"
          "5374616c65204e6f6e636500"
          "000a000400198000");
  EXPECT_EQ(to_buf(b.bytes()), expected);
  auto m = Message::parse(b.bytes());
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->requested_transport(), kTransportUdp);
  EXPECT_EQ(m->address_family(attr::additional_address_family), net::IpFamily::v6);
  EXPECT_EQ(m->address_family(attr::requested_address_family), net::IpFamily::v4);
  EXPECT_EQ(m->channel_number(), 0x4001);
  EXPECT_EQ(m->u32(attr::lifetime), 0u);
  EXPECT_EQ(m->error_code()->code, 438);
  EXPECT_EQ(m->error_code()->reason, "Stale Nonce");
  std::array<std::uint16_t, 4> unknown{};
  ASSERT_EQ(m->unknown_attributes(unknown), 2u);
  EXPECT_EQ(unknown[0], 0x0019);
  EXPECT_EQ(unknown[1], 0x8000);
}

TEST(Attributes, ErrorCodeWithNulPaddedReason) {
  // coturn counts the NULs of "Bad Request\0" in the attribute length.
  const Buf value =
      hex("00000400"
          "42616420526571756573740"
          "0");
  auto code = decode_error_code(value);
  ASSERT_TRUE(code.ok());
  EXPECT_EQ(code->code, 400);
  EXPECT_EQ(code->reason, "Bad Request");
  EXPECT_FALSE(decode_error_code(hex("00000264")).ok());  // class 2
  EXPECT_FALSE(decode_error_code(hex("00000464")).ok());  // number 100
  EXPECT_FALSE(decode_error_code(hex("000004")).ok());
}

TEST(Attributes, XorAddressesBothFamilies) {
  for (const char* text : {"203.0.113.10:49152", "[2001:db8::1]:65535", "0.0.0.0:0"}) {
    const auto addr = *net::SocketAddr::parse(text);
    for (auto type :
         {attr::xor_peer_address, attr::xor_relayed_address, attr::xor_mapped_address}) {
      MessageBuilder b(Method::channel_bind, Class::request, kTid);
      b.add_xor_address(type, addr);
      auto m = Message::parse(b.bytes());
      ASSERT_TRUE(m.ok());
      EXPECT_EQ(m->xor_address(type), addr) << text;
    }
    MessageBuilder b(Method::binding, Class::success, kTid);
    b.add_address(attr::mapped_address, addr);
    EXPECT_EQ(*decode_address(Message::parse(b.bytes())->find(attr::mapped_address)->value), addr);
  }
  EXPECT_FALSE(decode_xor_address(hex("0003000000000000"), kTid).ok());    // family 3
  EXPECT_FALSE(decode_xor_address(hex("000100000000000000"), kTid).ok());  // v4, 9 bytes
  EXPECT_FALSE(decode_xor_address(hex("0002000000000000"), kTid).ok());    // v6, 8 bytes
}

}  // namespace
}  // namespace fz::stun
