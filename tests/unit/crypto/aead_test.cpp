#include "crypto/aead.hpp"

#include <gtest/gtest.h>

#include <vector>

#include "hex.hpp"

namespace fz::crypto {
namespace {

using test::as_bytes;
using test::hex;
using test::unhex;
using test::unhex_array;

constexpr std::string_view kSunscreen =
    "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, "
    "sunscreen would be it.";
const auto kKey80 =
    unhex_array<32>("808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f");

// Every test runs against both backends and the chosen default.
template <class T>
class ChaCha20Poly1305Test : public testing::Test {};
using Implementations =
    testing::Types<BasicChaCha20Poly1305<aead_backend::OpenSsl>,
                   BasicChaCha20Poly1305<aead_backend::OpenSslComposed>,
                   BasicChaCha20Poly1305<aead_backend::Sodium>, ChaCha20Poly1305>;
TYPED_TEST_SUITE(ChaCha20Poly1305Test, Implementations);

// RFC 8439 §2.8.2.
TYPED_TEST(ChaCha20Poly1305Test, Rfc8439Section2_8_2) {
  TypeParam aead(kKey80);
  const Nonce nonce = unhex_array<12>("070000004041424344454647");
  const auto aad = unhex("50515253c0c1c2c3c4c5c6c7");
  std::vector<std::uint8_t> data(kSunscreen.begin(), kSunscreen.end());
  Tag tag;
  ASSERT_TRUE(aead.seal(nonce, aad, data, tag));
  EXPECT_EQ(hex(data),
            "d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d6"
            "3dbea45e8ca9671282fafb69da92728b1a71de0a9e060b2905d6a5b67ecd3b36"
            "92ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc"
            "3ff4def08e4b7a9de576d26586cec64b6116");
  EXPECT_EQ(hex(tag), "1ae10b594f09e26a7e902ecbd0600691");

  ASSERT_TRUE(aead.open(nonce, aad, data, tag));
  EXPECT_EQ(std::string(data.begin(), data.end()), kSunscreen);
}

// RFC 8439 Appendix A.5: decryption of an Internet-Draft's boilerplate.
TYPED_TEST(ChaCha20Poly1305Test, Rfc8439AppendixA5Decryption) {
  TypeParam aead(
      unhex_array<32>("1c9240a5eb55d38af333888604f6b5f0473917c1402b80099dca5cbc207075c0"));
  const Nonce nonce = unhex_array<12>("000000000102030405060708");
  const auto aad = unhex("f33388860000000000004e91");
  auto data = unhex(
      "64a0861575861af460f062c79be643bd5e805cfd345cf389f108670ac76c8cb2"
      "4c6cfc18755d43eea09ee94e382d26b0bdb7b73c321b0100d4f03b7f355894cf"
      "332f830e710b97ce98c8a84abd0b948114ad176e008d33bd60f982b1ff37c855"
      "9797a06ef4f0ef61c186324e2b3506383606907b6a7c02b0f9f6157b53c867e4"
      "b9166c767b804d46a59b5216cde7a4e99040c5a40433225ee282a1b0a06c523e"
      "af4534d7f83fa1155b0047718cbc546a0d072b04b3564eea1b422273f548271a"
      "0bb2316053fa76991955ebd63159434ecebb4e466dae5a1073a6727627097a10"
      "49e617d91d361094fa68f0ff77987130305beaba2eda04df997b714d6c6f2c29"
      "a6ad5cb4022b02709b");
  const Tag tag = unhex_array<16>("eead9d67890cbb22392336fea1851f38");
  ASSERT_TRUE(aead.open(nonce, aad, data, tag));
  EXPECT_EQ(std::string(data.begin(), data.end()),
            "Internet-Drafts are draft documents valid for a maximum of six months and may be "
            "updated, replaced, or obsoleted by other documents at any time. It is inappropriate "
            "to use Internet-Drafts as reference material or to cite them other than as "
            "/\xe2\x80\x9cwork in progress./\xe2\x80\x9d");
}

TYPED_TEST(ChaCha20Poly1305Test, TamperedTagCiphertextOrAadFails) {
  TypeParam aead(kKey80);
  const auto aad = unhex("50515253c0c1c2c3c4c5c6c7");
  std::vector<std::uint8_t> sealed(kSunscreen.begin(), kSunscreen.end());
  Tag tag;
  ASSERT_TRUE(aead.seal(7, aad, sealed, tag));

  auto expect_rejected = [&](std::vector<std::uint8_t> data, Tag t, std::vector<std::uint8_t> a,
                             std::uint64_t counter) {
    EXPECT_FALSE(aead.open(counter, a, data, t));
    // No plaintext of a forgery survives.
    EXPECT_EQ(data, std::vector<std::uint8_t>(data.size(), 0));
  };
  for (std::size_t bit = 0; bit < 8 * tag.size(); bit += 13) {
    Tag t = tag;
    t[bit / 8] ^= static_cast<std::uint8_t>(1u << (bit % 8));
    expect_rejected(sealed, t, aad, 7);
  }
  for (std::size_t bit = 0; bit < 8 * sealed.size(); bit += 61) {
    auto d = sealed;
    d[bit / 8] ^= static_cast<std::uint8_t>(1u << (bit % 8));
    expect_rejected(d, tag, aad, 7);
  }
  for (std::size_t bit = 0; bit < 8 * aad.size(); bit += 11) {
    auto a = aad;
    a[bit / 8] ^= static_cast<std::uint8_t>(1u << (bit % 8));
    expect_rejected(sealed, tag, a, 7);
  }
  expect_rejected(sealed, tag, {}, 7);   // AAD dropped
  expect_rejected(sealed, tag, aad, 8);  // wrong counter
  auto truncated = sealed;
  truncated.pop_back();
  expect_rejected(truncated, tag, aad, 7);

  // The context is still usable after failures.
  auto ok = sealed;
  EXPECT_TRUE(aead.open(7, aad, ok, tag));
  EXPECT_EQ(std::string(ok.begin(), ok.end()), kSunscreen);
}

TYPED_TEST(ChaCha20Poly1305Test, InPlaceRoundTripForSizes0To2000) {
  TypeParam aead(kKey80);
  TypeParam wrong_key(
      unhex_array<32>("1c9240a5eb55d38af333888604f6b5f0473917c1402b80099dca5cbc207075c0"));
  std::vector<std::uint8_t> aad = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
  for (std::size_t size = 0; size <= 2000; ++size) {
    std::vector<std::uint8_t> plain(size);
    for (std::size_t i = 0; i < size; ++i)
      plain[i] = static_cast<std::uint8_t>(i * 31 + size);
    auto data = plain;
    Tag tag;
    const Bytes a = Bytes(aad).first(size % 17);
    ASSERT_TRUE(aead.seal(size, a, data, tag));
    if (size >= 16) {
      ASSERT_NE(data, plain) << size;
    }
    auto copy = data;
    ASSERT_FALSE(wrong_key.open(size, a, copy, tag)) << size;
    ASSERT_TRUE(aead.open(size, a, data, tag)) << size;
    ASSERT_EQ(data, plain) << size;
  }
}

// The backends are interchangeable: they seal identically and each opens what another sealed.
TEST(ChaCha20Poly1305, BackendsInteroperate) {
  aead_backend::OpenSsl openssl(kKey80);
  aead_backend::OpenSslComposed composed(kKey80);
  aead_backend::Sodium sodium(kKey80);
  for (std::size_t size = 0; size <= 1500; size += (size < 130 ? 1 : 97)) {
    std::vector<std::uint8_t> plain(size);
    for (std::size_t i = 0; i < size; ++i)
      plain[i] = static_cast<std::uint8_t>(i ^ 0x5A);
    const Nonce n = counter_nonce(size * 1000003);
    const std::string aad(size % 40, 'a');
    auto a = plain;
    auto b = plain;
    auto c = plain;
    Tag ta;
    Tag tb;
    Tag tc;
    ASSERT_TRUE(openssl.seal(n, as_bytes(aad), a, ta));
    ASSERT_TRUE(sodium.seal(n, as_bytes(aad), b, tb));
    ASSERT_TRUE(composed.seal(n, as_bytes(aad), c, tc));
    ASSERT_EQ(a, b) << size;
    ASSERT_EQ(ta, tb) << size;
    ASSERT_EQ(a, c) << size;
    ASSERT_EQ(ta, tc) << size;
    ASSERT_TRUE(sodium.open(n, as_bytes(aad), a, ta));
    ASSERT_TRUE(composed.open(n, as_bytes(aad), b, tb));
    ASSERT_TRUE(openssl.open(n, as_bytes(aad), c, tc));
    ASSERT_EQ(a, plain);
    ASSERT_EQ(b, plain);
    ASSERT_EQ(c, plain);
  }
}

TEST(ChaCha20Poly1305, CounterNonceLayout) {
  EXPECT_EQ(hex(counter_nonce(0)), "000000000000000000000000");
  EXPECT_EQ(hex(counter_nonce(1)), "000000000100000000000000");
  EXPECT_EQ(hex(counter_nonce(0x0102030405060708)), "000000000807060504030201");
  EXPECT_EQ(hex(counter_nonce(~std::uint64_t{0})), "00000000ffffffffffffffff");

  // The counter overload is the nonce overload with that layout.
  ChaCha20Poly1305 aead(kKey80);
  std::vector<std::uint8_t> a(100, 1);
  auto b = a;
  Tag ta;
  Tag tb;
  ASSERT_TRUE(aead.seal(0x1122334455667788, {}, a, ta));
  ASSERT_TRUE(aead.seal(unhex_array<12>("000000008877665544332211"), {}, b, tb));
  EXPECT_EQ(a, b);
  EXPECT_EQ(ta, tb);
}

TEST(ChaCha20Poly1305, SealsIntoAPacketBufferWithTheTagAfterThePayload) {
  // header 16 | payload | tag 16, as a WireGuard transport message is laid out.
  ChaCha20Poly1305 aead(kKey80);
  std::vector<std::uint8_t> packet(16 + 100 + kAeadTagSize, 0xEE);
  const MutBytes payload = MutBytes(packet).subspan(16, 100);
  const TagOut tag(packet.data() + 16 + 100, kAeadTagSize);
  ASSERT_TRUE(aead.seal(3, {}, payload, tag));
  EXPECT_EQ(packet[0], 0xEE);  // the header is untouched
  ASSERT_TRUE(aead.open(3, {}, payload, TagIn(tag)));
  EXPECT_EQ(std::vector<std::uint8_t>(payload.begin(), payload.end()),
            std::vector<std::uint8_t>(100, 0xEE));
}

TEST(ChaCha20Poly1305, MovedContextKeepsWorking) {
  ChaCha20Poly1305 a(kKey80);
  ChaCha20Poly1305 b = std::move(a);
  std::vector<std::uint8_t> data(10, 1);
  Tag tag;
  ASSERT_TRUE(b.seal(1, {}, data, tag));
  ASSERT_TRUE(b.open(1, {}, data, tag));
  EXPECT_EQ(data, std::vector<std::uint8_t>(10, 1));
}

// draft-irtf-cfrg-xchacha-03 §A.3.1.
TEST(XChaCha20Poly1305, DraftAppendixA3_1) {
  const XChaCha20Poly1305 aead(kKey80);
  const XNonce nonce = unhex_array<24>("404142434445464748494a4b4c4d4e4f5051525354555657");
  const auto aad = unhex("50515253c0c1c2c3c4c5c6c7");
  std::vector<std::uint8_t> sealed(kSunscreen.size() + kAeadTagSize);
  ASSERT_TRUE(aead.seal(nonce, aad, as_bytes(kSunscreen), sealed));
  EXPECT_EQ(hex(sealed),
            "bd6d179d3e83d43b9576579493c0e939572a1700252bfaccbed2902c21396cbb"
            "731c7f1b0b4aa6440bf3a82f4eda7e39ae64c6708c54c216cb96b72e1213b452"
            "2f8c9ba40db5d945b11b69b982c1bb9e3f3fac2bc369488f76b2383565d3fff9"
            "21f9664c97637da9768812f615c68b13b52e"
            "c0875924c1c7987947deafd8780acf49");

  std::vector<std::uint8_t> opened(kSunscreen.size());
  ASSERT_TRUE(aead.open(nonce, aad, sealed, opened));
  EXPECT_EQ(std::string(opened.begin(), opened.end()), kSunscreen);

  // Tampering anywhere fails and leaves no plaintext.
  for (std::size_t i = 0; i < sealed.size(); i += 7) {
    auto bad = sealed;
    bad[i] ^= 0x10;
    std::vector<std::uint8_t> out(kSunscreen.size(), 0xFF);
    EXPECT_FALSE(aead.open(nonce, aad, bad, out)) << i;
    EXPECT_EQ(out, std::vector<std::uint8_t>(out.size(), 0));
  }
  std::vector<std::uint8_t> out(kSunscreen.size());
  EXPECT_FALSE(aead.open(nonce, as_bytes("other aad"), sealed, out));
  XNonce other_nonce = nonce;
  other_nonce[23] ^= 1;
  EXPECT_FALSE(aead.open(other_nonce, aad, sealed, out));
}

TEST(XChaCha20Poly1305, RejectsWrongOutputSizes) {
  const XChaCha20Poly1305 aead(kKey80);
  const XNonce nonce{};
  std::vector<std::uint8_t> plain(16, 3);
  std::vector<std::uint8_t> too_small(31);
  EXPECT_FALSE(aead.seal(nonce, {}, plain, too_small));
  std::vector<std::uint8_t> sealed(32);
  ASSERT_TRUE(aead.seal(nonce, {}, plain, sealed));
  std::vector<std::uint8_t> out(15);
  EXPECT_FALSE(aead.open(nonce, {}, sealed, out));
  EXPECT_FALSE(aead.open(nonce, {}, Bytes(sealed).first(15), {}));  // shorter than a tag
  out.resize(16);
  ASSERT_TRUE(aead.open(nonce, {}, sealed, out));
  EXPECT_EQ(out, plain);
  // An empty plaintext seals to a bare tag.
  std::vector<std::uint8_t> bare(16);
  ASSERT_TRUE(aead.seal(nonce, {}, {}, bare));
  EXPECT_TRUE(aead.open(nonce, {}, bare, {}));
}

}  // namespace
}  // namespace fz::crypto
