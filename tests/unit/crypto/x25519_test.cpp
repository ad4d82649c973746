#include "crypto/x25519.hpp"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <ostream>

#include "crypto/rng.hpp"
#include "hex.hpp"

namespace fz::crypto {
namespace {

using test::hex;
using test::unhex_array;

SecretKey secret_from_hex(std::string_view s) {
  return SecretKey::from_bytes(unhex_array<32>(s));
}

std::string dh_hex(const SecretKey& k, const PublicKey& u) {
  auto r = dh(k, u);
  if (!r) return "error: " + r.error().to_string();
  return hex(r->expose_secret());
}

// RFC 7748 §5.2, the two single-call vectors. The second u has its top bit set, which X25519 must
// ignore.
TEST(X25519, Rfc7748Section5_2Vectors) {
  EXPECT_EQ(
      dh_hex(secret_from_hex("a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4"),
             unhex_array<32>("e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c")),
      "c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552");
  EXPECT_EQ(
      dh_hex(secret_from_hex("4b66e9d4d1b4673c5ad22691957d6af5c11b6421e0ea01d42ca4169e7918ba0d"),
             unhex_array<32>("e5210f12786811d3f4b7959d0538ae2c31dbe7106fc03c3efc4cd549c715a493")),
      "95cbde9476e8907d7aade45cb4b873f88b595a68799fa152e6f8f7647aac7957");
}

// RFC 7748 §5.2, the iterated vector after 1 and 1,000 iterations (the 1,000,000 one takes too
// long for a unit test).
TEST(X25519, Rfc7748Section5_2Iterated) {
  std::array<std::uint8_t, 32> k{9};
  std::array<std::uint8_t, 32> u{9};
  for (int i = 1; i <= 1000; ++i) {
    auto r = dh(SecretKey::from_bytes(k), u);
    ASSERT_TRUE(r.ok());
    u = k;
    std::copy(r->expose_secret().begin(), r->expose_secret().end(), k.begin());
    if (i == 1) {
      EXPECT_EQ(hex(k), "422c8e7a6227d7bca1350b3e2bb7279f7897b87bb6854b783c60e80311ae3079");
    }
  }
  EXPECT_EQ(hex(k), "684cf59ba83309552800ef566f2f4d3c1c3887c49360e3875f2eb94d99532c51");
}

// RFC 7748 §6.1.
TEST(X25519, Rfc7748Section6_1AliceAndBob) {
  const SecretKey alice =
      secret_from_hex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a");
  const SecretKey bob =
      secret_from_hex("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb");
  const PublicKey alice_public = public_key(alice);
  const PublicKey bob_public = public_key(bob);
  EXPECT_EQ(hex(alice_public), "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a");
  EXPECT_EQ(hex(bob_public), "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f");
  const std::string shared = "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742";
  EXPECT_EQ(dh_hex(alice, bob_public), shared);
  EXPECT_EQ(dh_hex(bob, alice_public), shared);
}

// WireGuard rejects a handshake whose DH output is all zeros (a low-order peer point).
TEST(X25519, RejectsLowOrderPoints) {
  const SecretKey k =
      secret_from_hex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a");
  const PublicKey low_order[] = {
      PublicKey{},   // 0
      PublicKey{1},  // 1
      unhex_array<32>(
          "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800"),  // order 8
      unhex_array<32>(
          "5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157"),  // order 8
      unhex_array<32>("ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"),  // p - 1
      unhex_array<32>(
          "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"),  // p (= 0)
  };
  for (const auto& point : low_order) {
    auto r = dh(k, point);
    ASSERT_FALSE(r.ok()) << hex(point);
    EXPECT_EQ(r.error().code(), Errc::crypto);
  }
}

TEST(X25519, GeneratedKeysAreClampedAndAgree) {
  ChaChaRng rng(std::array<std::uint8_t, 32>{42});
  const SecretKey a = generate_secret_key(rng);
  const SecretKey b = generate_secret_key(rng);
  EXPECT_FALSE(a == b);
  for (const SecretKey* k : {&a, &b}) {
    const auto bytes = k->expose_secret();
    EXPECT_EQ(bytes[0] & 7, 0);
    EXPECT_EQ(bytes[31] & 0x80, 0);
    EXPECT_EQ(bytes[31] & 0x40, 0x40);
  }
  auto ab = dh(a, public_key(b));
  auto ba = dh(b, public_key(a));
  ASSERT_TRUE(ab.ok());
  ASSERT_TRUE(ba.ok());
  EXPECT_TRUE(*ab == *ba);

  // The same seed gives the same keys.
  ChaChaRng again(std::array<std::uint8_t, 32>{42});
  EXPECT_TRUE(generate_secret_key(again) == a);
}

// Clamping is part of X25519 itself, so an unclamped encoding gives the same public key.
TEST(X25519, UnclampedEncodingGivesTheSamePublicKey) {
  auto raw = unhex_array<32>("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a");
  raw[0] |= 7;
  raw[31] |= 0x80;
  EXPECT_EQ(hex(public_key(SecretKey::from_bytes(raw))),
            "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a");
}

template <class T>
concept Streamable = requires(std::ostream& os, const T& t) {
  os << t;
};

TEST(X25519, SecretsAreNotPrintable) {
  static_assert(!Streamable<SecretKey>);
  static_assert(!Streamable<SharedSecret>);
  // spdlog formats through fmt, so this is what keeps secrets out of the logs.
  static_assert(!fmt::is_formattable<SecretKey>::value);
  static_assert(!fmt::is_formattable<SharedSecret>::value);
  const SharedSecret s(std::array<std::uint8_t, 32>{0xAB, 0xCD});
  const std::string printed = testing::PrintToString(s);
  EXPECT_EQ(printed.find("ab"), std::string::npos);
  EXPECT_NE(printed.find("redacted"), std::string::npos);
}

}  // namespace
}  // namespace fz::crypto
