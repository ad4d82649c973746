// Binding messages byte for byte: fixtures F1–F7 (str0m's serializer output), the negative
// fixtures N1–N5, RFC 5769 and str0m's Chrome sample as parser/HMAC vectors, and str0m's parse
// rules for requests and responses (spec/ice-str0m-details.md §1).
#include "ice/binding.hpp"

#include <gtest/gtest.h>

#include "crypto/hash.hpp"
#include "ice_test_support.hpp"
#include "stun/credentials.hpp"

namespace fz::ice {
namespace {

using test::addr;
using test::Buf;
using test::hex;
using test::kFixtureTieBreaker;
using test::kFixtureTransaction;
using test::to_hex;

constexpr std::string_view kGatewayPwd = "zfjrrjdkbci42t2axyd45a";
constexpr std::string_view kClientPwd = "j2fqufatn7xlrrvv6fsvea";

const std::string kF1 =
    "000100442112a4420102030405060708090a0b0c00060009656a71743a68677768000000802a00080123456789ab"
    "cdef002400046efffeff000800140d55e05967f09014f83f1865f4b8c8d9c25995dd802800049044baf5";
const std::string kF2 =
    "000100482112a4420102030405060708090a0b0c00060009656a71743a68677768000000802a00080123456789ab"
    "cdef002400046efffeff002500000008001477c0f69fd5c37e92ad68e8f4cb36739d094c373b80280004be45c0c9";
const std::string kF3 =
    "0101002c2112a4420102030405060708090a0b0c002000080001ec83e721c045000800142acc23d33a1cdc996a1c"
    "9c0a750c96c3ce15062880280004bfda651b";
const std::string kF4 =
    "000100442112a4420102030405060708090a0b0c00060009686777683a656a7174000000802900080123456789ab"
    "cdef002400046efffeff0008001497ed27c9e64f04b56f448a68b9a30f765ab43604802800049d72fcbc";
const std::string kF5 =
    "010100382112a4420102030405060708090a0b0c002000140002ec830113a9fa0102030405060708090a0b0b0008"
    "001452c97085f12103872a0036e196070cdd3c3a989080280004818ba3d1";
const std::string kF6 =
    "000100442112a4420102030405060708090a0b0c00060009686777683a656a7174000000802900080123456789ab"
    "cdef002400046e3ffeff00080014545de91bf2bfd3fdc3f2be5d5a0653d7cb495207802800044bc95bf9";
const std::string kF7 =
    "000100602112a4420102030405060708090a0b0c00060021744765714f6a744775507a5070754f783a416233644566"
    "3568496a376c4d6e3970000000802a00080123456789abcdef002400046efffeff00250000000800"
    "14a5eb46aa7ffec90ec95c02e1bab58bba16465a5f80280004d949a935";

Buf request(std::string_view username, bool controlling, std::uint32_t priority, bool use_candidate,
            std::string_view pwd) {
  auto r = build_binding_request(kFixtureTransaction, username, controlling, kFixtureTieBreaker,
                                 priority, use_candidate, pwd);
  EXPECT_TRUE(r.ok());
  return r.ok() ? *r : Buf{};
}

TEST(BindingFixtures, F1ClientRequest) {
  const Buf b = request("ejqt:hgwh", true, 1862270719, false, kGatewayPwd);
  EXPECT_EQ(to_hex(b), kF1);
  EXPECT_EQ(b.size(), 88u);
}

TEST(BindingFixtures, F2ClientRequestWithUseCandidate) {
  const Buf b = request("ejqt:hgwh", true, 1862270719, true, kGatewayPwd);
  EXPECT_EQ(to_hex(b), kF2);
  EXPECT_EQ(b.size(), 92u);
}

TEST(BindingFixtures, F3GatewaySuccess) {
  const Buf b = build_binding_success(kFixtureTransaction, addr("198.51.100.7:52625"), kGatewayPwd);
  EXPECT_EQ(to_hex(b), kF3);
  EXPECT_EQ(b.size(), 64u);
}

TEST(BindingFixtures, F4GatewayRequest) {
  const Buf b = request("hgwh:ejqt", false, 1862270719, false, kClientPwd);
  EXPECT_EQ(to_hex(b), kF4);
}

TEST(BindingFixtures, F5ClientSuccessV6) {
  const Buf b = build_binding_success(kFixtureTransaction, addr("[2001:db8::7]:52625"), kClientPwd);
  EXPECT_EQ(to_hex(b), kF5);
  EXPECT_EQ(b.size(), 76u);
}

TEST(BindingFixtures, F6GatewayRequestFromRelay) {
  const Buf b = request("hgwh:ejqt", false, 1849687807, false, kClientPwd);
  EXPECT_EQ(to_hex(b), kF6);
}

TEST(BindingFixtures, F7LongUfrags) {
  const Buf b = request("tGeqOjtGuPzPpuOx:Ab3dEf5hIj7lMn9p", true, 1862270719, true,
                        "pMAxxTgHHSdpqHRzHGNvuN");
  EXPECT_EQ(to_hex(b), kF7);
}

// The HMAC covers the header with the length field set to end just after MESSAGE-INTEGRITY.
TEST(BindingFixtures, IntegrityInputOfF1) {
  const Buf f1 = hex(kF1);
  Buf input(f1.begin(), f1.begin() + 56);
  input[2] = 0x00;
  input[3] = 0x3c;
  EXPECT_EQ(to_hex(input),
            "0001003c2112a4420102030405060708090a0b0c00060009656a71743a68677768000000802a0008012345"
            "6789abcdef002400046efffeff");
  const auto mac = crypto::hmac_sha1(stun::short_term_key(kGatewayPwd), input);
  EXPECT_EQ(to_hex(Buf(mac.begin(), mac.end())), "0d55e05967f09014f83f1865f4b8c8d9c25995dd");
}

TEST(BindingFixtures, ParseAndVerifyAll) {
  struct Case {
    std::string hex;
    std::string_view key;
    std::string_view wrong_key;
  };
  for (const Case& c : {Case{kF1, kGatewayPwd, kClientPwd}, Case{kF2, kGatewayPwd, kClientPwd},
                        Case{kF3, kGatewayPwd, kClientPwd}, Case{kF4, kClientPwd, kGatewayPwd},
                        Case{kF5, kClientPwd, kGatewayPwd}, Case{kF6, kClientPwd, kGatewayPwd},
                        Case{kF7, "pMAxxTgHHSdpqHRzHGNvuN", kGatewayPwd}}) {
    const Buf b = hex(c.hex);
    const auto m = BindingMessage::parse(b);
    ASSERT_TRUE(m.has_value()) << c.hex;
    EXPECT_TRUE(m->verify_integrity(c.key)) << c.hex;
    EXPECT_FALSE(m->verify_integrity(c.wrong_key)) << c.hex;
    EXPECT_TRUE(m->message().verify_fingerprint()) << c.hex;
  }
  const Buf f2 = hex(kF2);
  const auto m = BindingMessage::parse(f2);
  ASSERT_TRUE(m);
  EXPECT_TRUE(m->is_request());
  EXPECT_EQ(m->username_receiver(), "ejqt");
  EXPECT_EQ(m->username_sender(), "hgwh");
  EXPECT_EQ(m->priority(), 1862270719u);
  EXPECT_TRUE(m->use_candidate());
  const Buf f5 = hex(kF5);
  const auto r = BindingMessage::parse(f5);
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->is_success());
  EXPECT_EQ(r->mapped_address(), addr("[2001:db8::7]:52625"));
}

// §1.8.
TEST(BindingFixtures, NegativeFixtures) {
  const Buf n1 = hex(
      "0101002c2112a4420102030405060708090a0b0c002000080001ec83e721c04500080014627571cd1dcaf0396ba9"
      "5a5620419b07c6fe273380280004f713d40d");
  const Buf n2 = hex(
      "010100242112a4420102030405060708090a0b0c002000080001ec83e721c045000800142acc23d33a1cdc996a1c"
      "9c0a750c96c3ce150628");
  const Buf n3 = hex(
      "0101002c2112a4420102030405060708090a0b0c002000080001ec83e721c045000800142acc23d33a1cdc996a1c"
      "9c0a750c96c3ce15062880280004deadbeef");
  const Buf n4 = hex(
      "0101002c2112a4420102030405060708090a0b0c002000080001ec83e721c045000800142acc23d33a1cdc996a1c"
      "9c0a750c96c3ce15062880280004bfda651b00000000");
  const Buf n5 = hex(
      "0101002c2112a4420102030405060708090a0b0c00080014f0cf76c67a5afb33ba52d643f2fe3cc5ad590f530020"
      "00080001ec83e721c04580280004a09eec0e");
  auto m1 = BindingMessage::parse(n1);
  ASSERT_TRUE(m1);
  EXPECT_FALSE(m1->verify_integrity(kGatewayPwd));  // MI over the final length: rejected (R7)
  auto m2 = BindingMessage::parse(n2);
  ASSERT_TRUE(m2);
  EXPECT_TRUE(m2->verify_integrity(kGatewayPwd));  // no FINGERPRINT: fine
  auto m3 = BindingMessage::parse(n3);
  ASSERT_TRUE(m3);
  EXPECT_TRUE(m3->verify_integrity(kGatewayPwd));  // wrong FINGERPRINT: not checked
  EXPECT_FALSE(BindingMessage::parse(n4));         // trailing bytes
  EXPECT_FALSE(BindingMessage::parse(n5));         // MI first, mapped address after it
}

// RFC 5769 §2.1–§2.3 (str0m parses and verifies all three) and str0m's Chrome request.
TEST(BindingVectors, Rfc5769AndChrome) {
  constexpr std::string_view kRfcPwd = "VOkJxbRl1RmTxUk/WvJxBt";
  const Buf rfc_request = hex(
      "000100582112a442b7e7a701bc34d686fa87dfae802200105354554e207465737420636c69656e74002400046e"
      "0001ff80290008932ff9b151263b36000600096576746a3a68367659202020000800149aeaa70cbfd8cb56781e"
      "f2b5b2d3f249c1b571a280280004e57a3bcf");
  auto r = BindingMessage::parse(rfc_request);
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->is_request());
  EXPECT_TRUE(r->verify_integrity(kRfcPwd));
  EXPECT_EQ(r->username_receiver(), "evtj");
  EXPECT_EQ(r->username_sender(), "h6vY");  // padded with spaces, which are not part of it
  EXPECT_EQ(r->priority(), 1845494271u);
  EXPECT_FALSE(r->use_candidate());

  const Buf v4 = hex(
      "0101003c2112a442b7e7a701bc34d686fa87dfae8022000b7465737420766563746f7220002000080001a147e1"
      "12a643000800142b91f599fd9e90c38c7489f92af9ba53f06be7d780280004c07d4c96");
  auto m4 = BindingMessage::parse(v4);
  ASSERT_TRUE(m4);
  EXPECT_TRUE(m4->verify_integrity(kRfcPwd));
  EXPECT_EQ(m4->mapped_address(), addr("192.0.2.1:32853"));

  const Buf v6 = hex(
      "010100482112a442b7e7a701bc34d686fa87dfae8022000b7465737420766563746f7220002000140002a14701"
      "13a9faa5d3f179bc25f4b5bed2b9d900080014a382954e4be67bf11784c97c8292c275bfe3ed4180280004c8fb"
      "0b4c");
  auto m6 = BindingMessage::parse(v6);
  ASSERT_TRUE(m6);
  EXPECT_TRUE(m6->verify_integrity(kRfcPwd));
  EXPECT_EQ(m6->mapped_address(), addr("[2001:db8:1234:5678:11:2233:4455:6677]:32853"));

  const Buf chrome = hex(
      "000100502112a4426a756331357578556e6747630006000970394b413a53514174000000c05700040001000a80"
      "2a00086eeec6e97d18395c00250000002400046e7f1eff000800145d0425a0207ab1e054102299aaf9839ca076"
      "c6d580280004360e219f");
  auto c = BindingMessage::parse(chrome);
  ASSERT_TRUE(c);
  EXPECT_TRUE(c->verify_integrity("xJcE9AQAR7kczUDVOXRUCl"));
  EXPECT_EQ(c->username_receiver(), "p9KA");
  EXPECT_EQ(c->username_sender(), "SQAt");
  EXPECT_TRUE(c->use_candidate());  // before PRIORITY: attribute order does not matter on input
  EXPECT_EQ(c->priority(), 1853824767u);
}

// A request with the client's credentials, assembled attribute by attribute, for the negative
// cases of §1.6 (Q3, Q8–Q12, Q14–Q16).
struct Assembly {
  stun::MessageBuilder b{stun::Method::binding, stun::Class::request, kFixtureTransaction};
  Buf finish(bool integrity = true, bool fingerprint = true) {
    if (integrity) b.add_message_integrity(stun::short_term_key(kGatewayPwd));
    if (fingerprint) b.add_fingerprint();
    return Buf(b.bytes().begin(), b.bytes().end());
  }
};

bool parses(const Buf& b) {
  return BindingMessage::parse(b).has_value();
}

TEST(BindingParseRules, Requests) {
  {  // Q1-like baseline
    Assembly a;
    a.b.add_text(stun::attr::username, "ejqt:hgwh").add_u64(stun::attr::ice_controlling, 1);
    a.b.add_u32(stun::attr::priority, 1);
    EXPECT_TRUE(parses(a.finish()));
  }
  {  // Q3: no PRIORITY
    Assembly a;
    a.b.add_text(stun::attr::username, "ejqt:hgwh");
    EXPECT_FALSE(parses(a.finish()));
  }
  {  // Q8: "hgwh:" — empty sender
    Assembly a;
    a.b.add_text(stun::attr::username, "ejqt:").add_u32(stun::attr::priority, 1);
    EXPECT_FALSE(parses(a.finish()));
  }
  {  // Q9: no colon
    Assembly a;
    a.b.add_text(stun::attr::username, "ejqt").add_u32(stun::attr::priority, 1);
    EXPECT_FALSE(parses(a.finish()));
  }
  {  // empty receiver part is allowed by the parser
    Assembly a;
    a.b.add_text(stun::attr::username, ":hgwh").add_u32(stun::attr::priority, 1);
    EXPECT_TRUE(parses(a.finish()));
  }
  {  // Q10: PRIORITY of 8 bytes
    Assembly a;
    a.b.add_text(stun::attr::username, "ejqt:hgwh").add_u64(stun::attr::priority, 1);
    EXPECT_FALSE(parses(a.finish()));
  }
  {  // Q11: ICE-CONTROLLED of 4 bytes
    Assembly a;
    a.b.add_text(stun::attr::username, "ejqt:hgwh").add_u32(stun::attr::ice_controlled, 1);
    a.b.add_u32(stun::attr::priority, 1);
    EXPECT_FALSE(parses(a.finish()));
  }
  {  // Q12: USE-CANDIDATE of 4 bytes
    Assembly a;
    a.b.add_text(stun::attr::username, "ejqt:hgwh").add_u32(stun::attr::priority, 1);
    a.b.add_u32(stun::attr::use_candidate, 0);
    EXPECT_FALSE(parses(a.finish()));
  }
  {  // Q14: no FINGERPRINT
    Assembly a;
    a.b.add_text(stun::attr::username, "ejqt:hgwh").add_u32(stun::attr::priority, 1);
    EXPECT_TRUE(parses(a.finish(true, false)));
  }
  {  // no MESSAGE-INTEGRITY
    Assembly a;
    a.b.add_text(stun::attr::username, "ejqt:hgwh").add_u32(stun::attr::priority, 1);
    EXPECT_FALSE(parses(a.finish(false, true)));
  }
  {  // Q15: SOFTWARE 0x8022, unknown 0x0003 and NETWORK-COST are ignored
    Assembly a;
    a.b.add_text(stun::attr::software, "x").add_u32(0x0003, 7).add_u32(0xC057, 0x0001000a);
    a.b.add_text(stun::attr::username, "ejqt:hgwh").add_u32(stun::attr::priority, 1);
    EXPECT_TRUE(parses(a.finish()));
  }
  {  // Q16: USERNAME of 129 bytes
    Assembly a;
    a.b.add_text(stun::attr::username, "ejqt:" + std::string(124, 'a'))
        .add_u32(stun::attr::priority, 1);
    EXPECT_FALSE(parses(a.finish()));
    Assembly ok;
    ok.b.add_text(stun::attr::username, "ejqt:" + std::string(123, 'a'))
        .add_u32(stun::attr::priority, 1);
    EXPECT_TRUE(parses(ok.finish()));
  }
  {  // USERNAME that is not UTF-8
    Assembly a;
    a.b.add_text(stun::attr::username, "ejqt:\xff").add_u32(stun::attr::priority, 1);
    EXPECT_FALSE(parses(a.finish()));
  }
  {  // str0m's "SOFTWARE" 0x0022 must be UTF-8
    Assembly a;
    a.b.add_text(0x0022, "\xc0\xaf").add_text(stun::attr::username, "ejqt:hgwh");
    a.b.add_u32(stun::attr::priority, 1);
    EXPECT_FALSE(parses(a.finish()));
  }
  {  // attributes after MESSAGE-INTEGRITY do not count: PRIORITY there is missing
    Assembly a;
    a.b.add_text(stun::attr::username, "ejqt:hgwh");
    a.b.add_message_integrity(stun::short_term_key(kGatewayPwd));
    a.b.add_u32(stun::attr::priority, 1);
    EXPECT_FALSE(parses(a.finish(false, false)));
  }
  {  // a later duplicate overrides an earlier one
    Assembly a;
    a.b.add_text(stun::attr::username, "xxxx:yyyy").add_text(stun::attr::username, "ejqt:hgwh");
    a.b.add_u32(stun::attr::priority, 1).add_u32(stun::attr::priority, 2);
    const Buf b = a.finish();
    const auto m = BindingMessage::parse(b);
    ASSERT_TRUE(m);
    EXPECT_EQ(m->username_receiver(), "ejqt");
    EXPECT_EQ(m->priority(), 2u);
  }
  {  // indications need nothing
    stun::MessageBuilder b(stun::Method::binding, stun::Class::indication, kFixtureTransaction);
    const auto m = BindingMessage::parse(b.bytes());
    ASSERT_TRUE(m);
    EXPECT_FALSE(m->has_username());
  }
  {  // other methods are not Binding messages
    stun::MessageBuilder b(stun::Method::allocate, stun::Class::request, kFixtureTransaction);
    EXPECT_FALSE(BindingMessage::parse(b.bytes()));
  }
}

TEST(BindingParseRules, Responses) {
  auto success = [](auto&& add) {
    stun::MessageBuilder b(stun::Method::binding, stun::Class::success, kFixtureTransaction);
    add(b);
    return Buf(b.bytes().begin(), b.bytes().end());
  };
  const auto key = stun::short_term_key(kGatewayPwd);
  // R2: no FINGERPRINT.
  EXPECT_TRUE(parses(success([&](auto& b) {
    b.add_xor_address(stun::attr::xor_mapped_address, addr("198.51.100.7:52625"));
    b.add_message_integrity(key);
  })));
  // R4: SOFTWARE 0x8022 before XOR-MAPPED.
  EXPECT_TRUE(parses(success([&](auto& b) {
    b.add_text(stun::attr::software, "x");
    b.add_xor_address(stun::attr::xor_mapped_address, addr("198.51.100.7:52625"));
    b.add_message_integrity(key).add_fingerprint();
  })));
  // R6: no MI.
  EXPECT_FALSE(parses(success([&](auto& b) {
    b.add_xor_address(stun::attr::xor_mapped_address, addr("198.51.100.7:52625"));
    b.add_fingerprint();
  })));
  // R8: XOR-MAPPED after MI.
  EXPECT_FALSE(parses(success([&](auto& b) {
    b.add_u32(0x0003, 0);
    b.add_message_integrity(key);
    b.add_xor_address(stun::attr::xor_mapped_address, addr("198.51.100.7:52625"));
  })));
  // R13: MAPPED-ADDRESS instead of XOR-MAPPED.
  EXPECT_FALSE(parses(success([&](auto& b) {
    b.add_address(stun::attr::mapped_address, addr("198.51.100.7:52625"));
    b.add_message_integrity(key).add_fingerprint();
  })));
  // R14: unknown comprehension-required attribute first.
  EXPECT_TRUE(parses(success([&](auto& b) {
    b.add_u32(0x0003, 0);
    b.add_xor_address(stun::attr::xor_mapped_address, addr("198.51.100.7:52625"));
    b.add_message_integrity(key).add_fingerprint();
  })));
  // R15: MI as the first attribute counts as absent.
  EXPECT_FALSE(parses(success([&](auto& b) {
    b.add_message_integrity(key);
    b.add_fingerprint();
  })));
  // XOR-MAPPED with an unknown family.
  {
    Buf b = success([&](auto& m) {
      m.add_xor_address(stun::attr::xor_mapped_address, addr("198.51.100.7:52625"));
      m.add_message_integrity(key);
    });
    b[20 + 5] = 3;
    EXPECT_FALSE(parses(b));
  }
  // Error responses need nothing, but a malformed ERROR-CODE is a parse error.
  {
    stun::MessageBuilder b(stun::Method::binding, stun::Class::error, kFixtureTransaction);
    b.add_error_code(487, "Role Conflict").add_message_integrity(key);
    EXPECT_TRUE(parses(Buf(b.bytes().begin(), b.bytes().end())));
    stun::MessageBuilder bad(stun::Method::binding, stun::Class::error, kFixtureTransaction);
    bad.add_error_code(700 + 87, "x");
    EXPECT_FALSE(parses(Buf(bad.bytes().begin(), bad.bytes().end())));
  }
}

TEST(BindingBuild, RefusesOverlongUsername) {
  EXPECT_FALSE(
      build_binding_request(kFixtureTransaction, std::string(129, 'a'), true, 0, 0, false, "pwd")
          .ok());
  EXPECT_TRUE(
      build_binding_request(kFixtureTransaction, std::string(128, 'a'), true, 0, 0, false, "pwd")
          .ok());
}

}  // namespace
}  // namespace fz::ice
