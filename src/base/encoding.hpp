// Text encodings of binary data: base64 (standard alphabet, RFC 4648 §4) and hex.
//
// WireGuard keys travel as padded base64 (44 characters for 32 bytes); some Firezone payloads use
// the unpadded form, so the decoder accepts both and the encoder can produce both.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/bytes.hpp"
#include "base/result.hpp"

namespace fz {

enum class Base64Padding { padded, unpadded };

std::string base64_encode(Bytes data, Base64Padding padding = Base64Padding::padded);
// Accepts padded and unpadded input; rejects other alphabets, whitespace, misplaced padding and
// non-zero trailing bits (so every byte string has exactly one accepted encoding per padding).
Result<std::vector<std::uint8_t>> base64_decode(std::string_view text);

// Decodes exactly N bytes (for keys); anything else is an error.
template <std::size_t N>
Result<std::array<std::uint8_t, N>> base64_decode_fixed(std::string_view text) {
  auto bytes = base64_decode(text);
  if (!bytes) return bytes.error();
  if (bytes->size() != N) return Error(Errc::malformed, "base64 value has the wrong length");
  std::array<std::uint8_t, N> out{};
  for (std::size_t i = 0; i < N; ++i)
    out[i] = (*bytes)[i];
  return out;
}

std::string hex_encode(Bytes data);  // lowercase
// Accepts upper and lower case; an odd length or a non-hex character is an error.
Result<std::vector<std::uint8_t>> hex_decode(std::string_view text);

}  // namespace fz
