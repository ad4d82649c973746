#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include "base/encoding.hpp"
#include "base/uuid.hpp"

namespace fz {
namespace {

RC_GTEST_PROP(Base64Property, RoundTripsBothPaddings, (const std::vector<std::uint8_t>& data)) {
  RC_ASSERT(*base64_decode(base64_encode(data)) == data);
  RC_ASSERT(*base64_decode(base64_encode(data, Base64Padding::unpadded)) == data);
}

RC_GTEST_PROP(Base64Property, ArbitraryTextNeverCrashesAndDecodesCanonically,
              (const std::string& text)) {
  auto decoded = base64_decode(text);
  if (decoded) {
    // Exactly one accepted spelling per padding style: re-encoding gives the input back.
    const bool padded = text.find('=') != std::string::npos || text.size() % 4 == 0;
    RC_ASSERT(base64_encode(*decoded, padded ? Base64Padding::padded : Base64Padding::unpadded) ==
              text);
  }
}

RC_GTEST_PROP(HexProperty, RoundTrips, (const std::vector<std::uint8_t>& data)) {
  RC_ASSERT(*hex_decode(hex_encode(data)) == data);
}

RC_GTEST_PROP(UuidProperty, RoundTrips, (const std::array<std::uint8_t, 16>& raw)) {
  const Uuid id(raw);
  auto parsed = Uuid::parse(id.to_string());
  RC_ASSERT(parsed.ok());
  RC_ASSERT(*parsed == id);
}

}  // namespace
}  // namespace fz
