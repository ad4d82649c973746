#include "net/checksum.hpp"

#include <bit>
#include <cassert>
#include <cstring>

namespace fz::net {

std::uint32_t checksum_partial(Bytes data, std::uint32_t initial) {
  // Sum native-endian 32-bit loads into 64-bit accumulators and swap once at the end: the
  // ones'-complement sum is byte-order independent (RFC 1071 §2(B)).
  const std::uint8_t* p = data.data();
  std::size_t n = data.size();
  std::uint64_t a = 0, b = 0;
  while (n >= 16) {
    std::uint32_t w[4];
    std::memcpy(w, p, 16);
    a += w[0];
    b += w[1];
    a += w[2];
    b += w[3];
    p += 16;
    n -= 16;
  }
  while (n >= 4) {
    std::uint32_t w;
    std::memcpy(&w, p, 4);
    a += w;
    p += 4;
    n -= 4;
  }
  if (n >= 2) {
    std::uint16_t w;
    std::memcpy(&w, p, 2);
    b += w;
    p += 2;
    n -= 2;
  }
  if (n == 1) {
    // The last byte is the high-order byte of a zero-padded big-endian word.
    std::uint8_t pad[2] = {p[0], 0};
    std::uint16_t w;
    std::memcpy(&w, pad, 2);
    b += w;
  }
  std::uint32_t folded = checksum_fold(a + b);
  if constexpr (std::endian::native == std::endian::little) {
    folded = static_cast<std::uint16_t>((folded >> 8) | (folded << 8));
  }
  return checksum_fold(std::uint64_t{folded} + initial);
}

std::uint32_t pseudo_header_sum(const IpAddr& src, const IpAddr& dst, std::uint8_t protocol,
                                std::uint32_t length) {
  std::uint64_t sum = 0;
  const auto& s = src.raw();
  const auto& d = dst.raw();
  for (std::size_t i = 0; i < src.size(); i += 2)
    sum += load_be16(s.data() + i);
  for (std::size_t i = 0; i < dst.size(); i += 2)
    sum += load_be16(d.data() + i);
  sum += protocol;
  sum += length >> 16;
  sum += length & 0xffff;
  return checksum_fold(sum);
}

std::uint32_t checksum_delta(Bytes old_data, Bytes new_data) {
  assert(old_data.size() == new_data.size() && old_data.size() % 2 == 0);
  // Native-endian 32-bit words, swapped once at the end, as in checksum_partial.
  const std::size_t n = old_data.size();
  std::uint64_t acc = 0;
  std::size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    std::uint32_t o, w;
    std::memcpy(&o, old_data.data() + i, 4);
    std::memcpy(&w, new_data.data() + i, 4);
    acc += static_cast<std::uint32_t>(~o);
    acc += w;
  }
  if (i < n) {
    std::uint16_t o, w;
    std::memcpy(&o, old_data.data() + i, 2);
    std::memcpy(&w, new_data.data() + i, 2);
    acc += static_cast<std::uint16_t>(~o);
    acc += w;
  }
  std::uint32_t folded = checksum_fold(acc);
  if constexpr (std::endian::native == std::endian::little) {
    folded = static_cast<std::uint16_t>((folded >> 8) | (folded << 8));
  }
  return folded;
}

}  // namespace fz::net
