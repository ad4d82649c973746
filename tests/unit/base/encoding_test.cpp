#include "base/encoding.hpp"

#include <gtest/gtest.h>

#include <string>

namespace fz {
namespace {

std::vector<std::uint8_t> bytes_of(std::string_view s) {
  return {s.begin(), s.end()};
}

// RFC 4648 §10 test vectors.
TEST(Base64, Rfc4648VectorsPadded) {
  const std::pair<const char*, const char*> cases[] = {
      {"", ""},
      {"f", "Zg=="},
      {"fo", "Zm8="},
      {"foo", "Zm9v"},
      {"foob", "Zm9vYg=="},
      {"fooba", "Zm9vYmE="},
      {"foobar", "Zm9vYmFy"},
  };
  for (auto [plain, encoded] : cases) {
    EXPECT_EQ(base64_encode(bytes_of(plain)), encoded);
    auto decoded = base64_decode(encoded);
    ASSERT_TRUE(decoded) << encoded;
    EXPECT_EQ(*decoded, bytes_of(plain));
  }
}

TEST(Base64, UnpaddedEncodeAndDecode) {
  EXPECT_EQ(base64_encode(bytes_of("f"), Base64Padding::unpadded), "Zg");
  EXPECT_EQ(base64_encode(bytes_of("fo"), Base64Padding::unpadded), "Zm8");
  EXPECT_EQ(base64_encode(bytes_of("foo"), Base64Padding::unpadded), "Zm9v");
  EXPECT_EQ(*base64_decode("Zg"), bytes_of("f"));
  EXPECT_EQ(*base64_decode("Zm8"), bytes_of("fo"));
}

TEST(Base64, RejectsBadInput) {
  EXPECT_FALSE(base64_decode("Z"));      // impossible length
  EXPECT_FALSE(base64_decode("Zg="));    // wrong amount of padding
  EXPECT_FALSE(base64_decode("Zm9v="));  // padding after a full quantum
  EXPECT_FALSE(base64_decode("Zm-v"));   // URL-safe alphabet is not accepted
  EXPECT_FALSE(base64_decode("Zm 9v"));  // whitespace
  EXPECT_FALSE(base64_decode("Zh=="));   // non-zero trailing bits
  EXPECT_FALSE(base64_decode("=Zg="));   // padding in the middle
  EXPECT_EQ(base64_decode("Z").error().code(), Errc::malformed);
}

TEST(Base64, WireGuardKeyIsFortyFourCharacters) {
  std::array<std::uint8_t, 32> key{};
  for (std::size_t i = 0; i < key.size(); ++i)
    key[i] = static_cast<std::uint8_t>(i * 7);
  const auto text = base64_encode(key);
  EXPECT_EQ(text.size(), 44u);
  auto back = base64_decode_fixed<32>(text);
  ASSERT_TRUE(back);
  EXPECT_EQ(*back, key);
  EXPECT_FALSE(base64_decode_fixed<16>(text));
}

TEST(Hex, RoundTripAndErrors) {
  const std::vector<std::uint8_t> data{0x00, 0x01, 0xab, 0xff};
  EXPECT_EQ(hex_encode(data), "0001abff");
  EXPECT_EQ(*hex_decode("0001ABff"), data);
  EXPECT_FALSE(hex_decode("abc"));
  EXPECT_FALSE(hex_decode("zz"));
  EXPECT_TRUE(hex_decode("")->empty());
}

}  // namespace
}  // namespace fz
