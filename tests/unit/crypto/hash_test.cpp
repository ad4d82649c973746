#include "crypto/hash.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "hex.hpp"

namespace fz::crypto {
namespace {

using test::as_bytes;
using test::hex;
using test::unhex;

std::vector<std::uint8_t> repeat(std::uint8_t byte, std::size_t n) {
  return std::vector<std::uint8_t>(n, byte);
}
std::vector<std::uint8_t> counting(std::uint8_t first, std::size_t n) {
  std::vector<std::uint8_t> v(n);
  for (std::size_t i = 0; i < n; ++i)
    v[i] = static_cast<std::uint8_t>(first + i);
  return v;
}

// RFC 7693 Appendix B.
TEST(Blake2s, Rfc7693Abc) {
  EXPECT_EQ(hex(blake2s(as_bytes("abc"))),
            "508c5e8c327c14e2e1a72ba34eeb452f37458b209ed63a294d999b4c86675982");
}

TEST(Blake2s, IncrementalMatchesOneShot) {
  const std::string text(1000, 'x');
  Blake2s h;
  for (std::size_t i = 0; i < text.size(); i += 37) {
    h.update(as_bytes(std::string_view(text).substr(i, 37)));
  }
  EXPECT_EQ(h.finish(), blake2s(as_bytes(text)));
  // After finish() the object is a fresh hash again.
  h.update(as_bytes("ab")).update(as_bytes("c"));
  EXPECT_EQ(hex(h.finish()), "508c5e8c327c14e2e1a72ba34eeb452f37458b209ed63a294d999b4c86675982");
  Blake2s moved = std::move(h);
  EXPECT_EQ(moved.finish(), blake2s({}));
}

// WireGuard's initial chaining key and hash (the protocol's constants Ci and Hi), computed
// independently with Python's hashlib.blake2s.
TEST(Blake2s, WireGuardConstruction) {
  const Blake2sDigest ck = blake2s(as_bytes("Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s"));
  EXPECT_EQ(hex(ck), "60e26daef327efc02ec335e2a025d2d016eb4206f87277f52d38d1988b78cd36");
  Blake2s h;
  h.update(ck).update(as_bytes("WireGuard v1 zx2c4 Jason@zx2c4.com"));
  EXPECT_EQ(hex(h.finish()), "2211b361081ac566691243db458ad5322d9c6c662293e8b70ee19c65ba079ef3");
}

// BLAKE2 reference blake2s-kat.txt, keyed: key 00..1f, empty input, and input 00..3f.
TEST(Blake2sMac, ReferenceKeyedKat) {
  const auto key = counting(0, 32);
  auto empty = blake2s_mac32(key, {});
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(hex(*empty), "48a8997da407876b3d79c0d92325ad3b89cbb754d86ab71aee047ad345fd2c49");
  // Expected value computed independently: hashlib.blake2s(bytes(range(64)), key=bytes(range(32))).
  auto in64 = blake2s_mac32(key, counting(0, 64));
  ASSERT_TRUE(in64.ok());
  EXPECT_EQ(hex(*in64), "8975b0577fd35566d750b362b0897a26c399136df07bababbde6203ff2954ed4");
}

// 16-byte outputs as MAC1/MAC2 use them. BLAKE2s parameterises the digest length, so this is not
// a truncation of the 32-byte MAC. Expected values from Python:
// hashlib.blake2s(msg, key=key, digest_size=16).
TEST(Blake2sMac, SixteenByteOutput) {
  auto mac1 = blake2s_mac16(counting(0, 32), {});
  ASSERT_TRUE(mac1.ok());
  EXPECT_EQ(hex(*mac1), "9536f9b267655743dee97b8a670f9f53");
  auto mac2 = blake2s_mac16(counting(0, 16), as_bytes("abc"));  // a 16-byte cookie as the key
  ASSERT_TRUE(mac2.ok());
  EXPECT_EQ(hex(*mac2), "75296c2d2c0f51210b383f386bc8b1ff");
}

TEST(Blake2sMac, RejectsBadKeyLengths) {
  auto empty_key = blake2s_mac16({}, as_bytes("x"));
  ASSERT_FALSE(empty_key.ok());
  EXPECT_EQ(empty_key.error().code(), Errc::config);
  EXPECT_FALSE(blake2s_mac32(repeat(1, 33), as_bytes("x")).ok());
  EXPECT_TRUE(blake2s_mac32(repeat(1, 1), as_bytes("x")).ok());
}

// There is no published HMAC-BLAKE2s vector; expected values come from Python:
// hmac.new(key, msg, hashlib.blake2s).
TEST(HmacBlake2s, MatchesPythonHmac) {
  EXPECT_EQ(
      hex(hmac_blake2s(as_bytes("key"), as_bytes("The quick brown fox jumps over the lazy dog"))),
      "f93215bb90d4af4c3061cd932fb169fb8bb8a91d0b4022baea1271e1323cd9a0");
  EXPECT_EQ(hex(hmac_blake2s(repeat(0x0b, 20), as_bytes("Hi There"))),
            "65a8b7c5cc9136d424e82c37e2707e74e913c0655b99c75f40edf387453a3260");
  // A key longer than the 64-byte block is hashed first.
  EXPECT_EQ(hex(hmac_blake2s(repeat(0xaa, 80),
                             as_bytes("Test Using Larger Than Block-Size Key - Hash Key First"))),
            "41202b7be1fd03f84658f4c18a08b43ddbbd73eb012750c8d1ebc8601f1e064c");
}

// WireGuard KDF; expected values from a Python transcription of the paper's definition over
// hmac/hashlib (T0 = HMAC(key, input), T1 = HMAC(T0, 0x1), Ti = HMAC(T0, T(i-1) || i)), keyed
// with the construction's chaining key.
TEST(Kdf, MatchesTheWireGuardDefinition) {
  const auto ck = unhex("60e26daef327efc02ec335e2a025d2d016eb4206f87277f52d38d1988b78cd36");
  const auto three = kdf<3>(ck, as_bytes("input"));
  EXPECT_EQ(hex(three[0].expose_secret()),
            "b58cc55b688b51fcda705a763c82c5a1ea46dab2cfaeedc9c8f6bc0df2871ad8");
  EXPECT_EQ(hex(three[1].expose_secret()),
            "3064288b2ce6072476471566eabb2ab5bbbb06904ba6b0b8e0e785b713b31fc8");
  EXPECT_EQ(hex(three[2].expose_secret()),
            "a6e4e28580f50a3ad5f3fdcc00254bc616a28d39ecb88ff1dafb94b8ec21d8af");
  // KDF_n outputs are prefixes of one another.
  const auto two = kdf<2>(ck, as_bytes("input"));
  EXPECT_TRUE(two[0] == three[0]);
  EXPECT_TRUE(two[1] == three[1]);
  const auto one = kdf<1>(ck, {});
  EXPECT_EQ(hex(one[0].expose_secret()),
            "bd968725a9177942a8c2e4253d1dde31cf7b19ec001b4a3a3d141cd9d998d3ba");
}

struct HmacCase {
  std::vector<std::uint8_t> key;
  std::vector<std::uint8_t> data;
  std::string expected;
};

std::vector<std::uint8_t> text(std::string_view s) {
  return {s.begin(), s.end()};
}

// RFC 2202 §3, test cases 1-7.
TEST(HmacSha1, Rfc2202) {
  const HmacCase cases[] = {
      {repeat(0x0b, 20), text("Hi There"), "b617318655057264e28bc0b6fb378c8ef146be00"},
      {text("Jefe"), text("what do ya want for nothing?"),
       "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"},
      {repeat(0xaa, 20), repeat(0xdd, 50), "125d7342b9ac11cd91a39af48aa17b4f63f175d3"},
      {counting(1, 25), repeat(0xcd, 50), "4c9007f4026250c6bc8414f9bf50c86c2d7235da"},
      {repeat(0x0c, 20), text("Test With Truncation"), "4c1a03424b55e07fe7f27be1d58bb9324a9a5a04"},
      {repeat(0xaa, 80), text("Test Using Larger Than Block-Size Key - Hash Key First"),
       "aa4ae5e15272d00e95705637ce8a3b55ed402112"},
      {repeat(0xaa, 80),
       text("Test Using Larger Than Block-Size Key and Larger Than One Block-Size Data"),
       "e8e99d0f45237d786d6bbaa7965c7808bbff1a91"},
  };
  for (const auto& c : cases)
    EXPECT_EQ(hex(hmac_sha1(c.key, c.data)), c.expected);
  // Case 5 also lists the 96-bit truncation.
  EXPECT_EQ(hex(hmac_sha1(repeat(0x0c, 20), text("Test With Truncation"))).substr(0, 24),
            "4c1a03424b55e07fe7f27be1");
}

// RFC 4231 §4.2-4.8, test cases 1-7 (case 5 is truncated to 128 bits).
TEST(HmacSha256, Rfc4231) {
  const HmacCase cases[] = {
      {repeat(0x0b, 20), text("Hi There"),
       "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"},
      {text("Jefe"), text("what do ya want for nothing?"),
       "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"},
      {repeat(0xaa, 20), repeat(0xdd, 50),
       "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"},
      {counting(1, 25), repeat(0xcd, 50),
       "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b"},
      {repeat(0x0c, 20), text("Test With Truncation"), "a3b6167473100ee06e0c796c2955552b"},
      {repeat(0xaa, 131), text("Test Using Larger Than Block-Size Key - Hash Key First"),
       "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"},
      {repeat(0xaa, 131),
       text("This is a test using a larger than block-size key and a larger than block-size "
            "data. The key needs to be hashed before being used by the HMAC algorithm."),
       "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2"},
  };
  for (const auto& c : cases) {
    const std::string mac = hex(hmac_sha256(c.key, c.data));
    EXPECT_EQ(mac.substr(0, c.expected.size()), c.expected);
  }
}

TEST(HmacSha256, EmptyKeyAndMessage) {
  // Python: hmac.new(b"", b"", hashlib.sha256).hexdigest()
  EXPECT_EQ(hex(hmac_sha256({}, {})),
            "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad");
}

// RFC 1321 §A.5 test suite.
TEST(Md5, Rfc1321Suite) {
  const std::pair<std::string_view, std::string_view> cases[] = {
      {"", "d41d8cd98f00b204e9800998ecf8427e"},
      {"a", "0cc175b9c0f1b6a831c399e269772661"},
      {"abc", "900150983cd24fb0d6963f7d28e17f72"},
      {"message digest", "f96b697d7cb7938d525a2f31aaf161d0"},
      {"abcdefghijklmnopqrstuvwxyz", "c3fcd3d76192e4007dfb496cca67e13b"},
      {"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
       "d174ab98d277d9f5a5611c2c9f419d9f"},
      {"12345678901234567890123456789012345678901234567890123456789012345678901234567890",
       "57edf4a22be3c955ac49da2e2107b67a"},
  };
  for (const auto& [input, expected] : cases)
    EXPECT_EQ(hex(md5(as_bytes(input))), expected);
}

// FIPS 180-2 Appendix B.1 / Appendix A.1 ("abc").
TEST(Sha, Abc) {
  EXPECT_EQ(hex(sha256(as_bytes("abc"))),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(hex(sha1(as_bytes("abc"))), "a9993e364706816aba3e25717850c26c9cd0d89d");
}

TEST(Crc32, CheckValue) {
  EXPECT_EQ(crc32(as_bytes("123456789")), 0xCBF43926u);
  EXPECT_EQ(crc32({}), 0u);
  // Chaining.
  EXPECT_EQ(crc32(as_bytes("6789"), crc32(as_bytes("12345"))), 0xCBF43926u);
  // Python: zlib.crc32(b"The quick brown fox jumps over the lazy dog")
  EXPECT_EQ(crc32(as_bytes("The quick brown fox jumps over the lazy dog")), 0x414FA339u);
}

}  // namespace
}  // namespace fz::crypto
