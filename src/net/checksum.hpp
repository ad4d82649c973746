// The Internet checksum (RFC 1071) and its incremental update (RFC 1624).
//
// Partial sums are carried as `std::uint32_t` holding the ones'-complement sum of big-endian 16-bit
// words, folded to 16 bits (so they can be added and folded again). Every partial sum must start
// at an even offset of the checksummed stream; the pseudo-header, the IP header and L4 segments all
// do.
#pragma once

#include <cstdint>

#include "base/bytes.hpp"
#include "net/ip_addr.hpp"

namespace fz::net {

// Folds a 32-bit accumulator of 16-bit words to 16 bits with end-around carry.
constexpr std::uint32_t checksum_fold(std::uint64_t sum) {
  sum = (sum & 0xffffffffu) + (sum >> 32);
  sum = (sum & 0xffffu) + (sum >> 16);
  sum = (sum & 0xffffu) + (sum >> 16);
  sum = (sum & 0xffffu) + (sum >> 16);
  return static_cast<std::uint32_t>(sum);
}

// Ones'-complement sum of `data` (an odd final byte is padded with zero), added to `initial`.
std::uint32_t checksum_partial(Bytes data, std::uint32_t initial = 0);

// Sum of the TCP/UDP/ICMPv6 pseudo-header: addresses, upper-layer length and protocol.
std::uint32_t pseudo_header_sum(const IpAddr& src, const IpAddr& dst, std::uint8_t protocol,
                                std::uint32_t length);

// The value to store in a checksum field: the complement of the folded sum.
constexpr std::uint16_t checksum_finish(std::uint32_t sum) {
  return static_cast<std::uint16_t>(~checksum_fold(sum) & 0xffffu);
}

// The checksum of `data` alone (e.g. an IPv4 header with its checksum field zeroed).
inline std::uint16_t internet_checksum(Bytes data) {
  return checksum_finish(checksum_partial(data));
}

// RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m') for one 16-bit word m changed to m'.
constexpr std::uint16_t checksum_update16(std::uint16_t check, std::uint16_t old_word,
                                          std::uint16_t new_word) {
  std::uint32_t sum = static_cast<std::uint16_t>(~check);
  sum += static_cast<std::uint16_t>(~old_word);
  sum += new_word;
  return checksum_finish(sum);
}

// The sum ~m + m' over a run of words changed from `old_data` to `new_data` (same even size),
// computed once and applied to every checksum that covers the run (IPv4 header and L4 for an
// address).
std::uint32_t checksum_delta(Bytes old_data, Bytes new_data);
constexpr std::uint16_t checksum_apply(std::uint16_t check, std::uint32_t delta) {
  return checksum_finish(static_cast<std::uint16_t>(~check) + delta);
}

// The same for a run of words (e.g. an address): `old_data` and `new_data` have the same even size.
inline std::uint16_t checksum_update(std::uint16_t check, Bytes old_data, Bytes new_data) {
  return checksum_apply(check, checksum_delta(old_data, new_data));
}

}  // namespace fz::net
