#include "base/uuid.hpp"

#include <cstring>

namespace fz {
namespace {

int hex_nibble(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

constexpr bool is_dash_position(std::size_t i) {
  return i == 8 || i == 13 || i == 18 || i == 23;
}

}  // namespace

Result<Uuid> Uuid::parse(std::string_view text) {
  if (text.size() != 36) return Error(Errc::malformed, "uuid must be 36 characters (8-4-4-4-12)");
  std::array<std::uint8_t, 16> bytes{};
  std::size_t out = 0;
  for (std::size_t i = 0; i < 36;) {
    if (is_dash_position(i)) {
      if (text[i] != '-') return Error(Errc::malformed, "uuid is missing a hyphen");
      ++i;
      continue;
    }
    const int hi = hex_nibble(text[i]);
    const int lo = hex_nibble(text[i + 1]);
    if (hi < 0 || lo < 0) return Error(Errc::malformed, "uuid contains a non-hex character");
    bytes[out++] = static_cast<std::uint8_t>((hi << 4) | lo);
    i += 2;
  }
  return Uuid(bytes);
}

std::string Uuid::to_string() const {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(36);
  for (std::size_t i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out += '-';
    out += kDigits[bytes_[i] >> 4];
    out += kDigits[bytes_[i] & 15];
  }
  return out;
}

bool Uuid::is_nil() const {
  for (auto b : bytes_)
    if (b != 0) return false;
  return true;
}

}  // namespace fz

std::size_t std::hash<fz::Uuid>::operator()(const fz::Uuid& id) const noexcept {
  // UUIDs from the portal are random (v4), so folding the two halves is a good hash.
  std::uint64_t a, b;
  std::memcpy(&a, id.bytes().data(), 8);
  std::memcpy(&b, id.bytes().data() + 8, 8);
  return static_cast<std::size_t>(a ^ (b * 0x9e3779b97f4a7c15ULL));
}
