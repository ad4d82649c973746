// ICMP errors: the ones the gateway originates towards a client (§5.3), the ones it receives from
// the resource side (with the quoted original packet), and their translation back through the
// DNS-resource NAT (§5.4).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>

#include "base/bytes.hpp"
#include "base/result.hpp"
#include "net/ip_addr.hpp"
#include "net/ip_packet.hpp"

namespace fz::net {

// TTL / hop limit of every ICMP error the gateway builds.
inline constexpr std::uint8_t kIcmpErrorTtl = 20;
// ICMPv6 errors quote at most this much of the offending packet (1280 − 40 − 40).
inline constexpr std::size_t kIcmpv6MaxQuote = 1200;

namespace icmpv4 {
inline constexpr std::uint8_t echo_reply = 0;
inline constexpr std::uint8_t dest_unreachable = 3;
inline constexpr std::uint8_t echo_request = 8;
inline constexpr std::uint8_t time_exceeded = 11;
inline constexpr std::uint8_t code_net_unreachable = 0;
inline constexpr std::uint8_t code_frag_needed = 4;
inline constexpr std::uint8_t code_admin_prohibited = 13;
}  // namespace icmpv4

namespace icmpv6 {
inline constexpr std::uint8_t dest_unreachable = 1;
inline constexpr std::uint8_t packet_too_big = 2;
inline constexpr std::uint8_t time_exceeded = 3;
inline constexpr std::uint8_t echo_request = 128;
inline constexpr std::uint8_t echo_reply = 129;
inline constexpr std::uint8_t code_admin_prohibited = 1;
inline constexpr std::uint8_t code_address_unreachable = 3;
}  // namespace icmpv6

enum class IcmpErrorKind : std::uint8_t {
  prohibited,   // filtered: v4 type 3 code 13, v6 type 1 code 1
  unreachable,  // no translation / family mismatch: v4 type 3 code 0, v6 type 1 code 3
};

// §5.3: the error answering `offending` (src S, dst D), from D to S: IPv4 with IHL 5, ID 0, DF,
// TTL 20, quoting min(len, IHL×4 + 8) bytes; IPv6 with hop limit 20, quoting min(len, 1200).
// Needs at most 96 (IPv4) or 1248 (IPv6) bytes of `out`.
Result<std::size_t> build_icmp_error(MutBytes out, const IpPacketView& offending,
                                     IcmpErrorKind kind);

// The original packet quoted in an ICMP error, parsed leniently: it is usually truncated, so only
// its IP header and the first bytes of L4 need to be present.
struct QuotedPacket {
  Bytes bytes;  // the whole quote as received (the ICMP payload)
  IpAddr src;
  IpAddr dst;
  std::uint8_t protocol = 0;   // final next header, as far as the quote shows
  std::size_t header_len = 0;  // offset of the L4 header in `bytes`
  // TCP/UDP ports, when the first 4 bytes of the L4 header are quoted.
  std::optional<std::uint16_t> src_port;
  std::optional<std::uint16_t> dst_port;
  // ICMP(v6) echo request/reply, when its first 8 bytes are quoted.
  std::optional<IcmpEcho> echo;

  // The id the sender chose: TCP/UDP source port or echo identifier (the NAT's outside id).
  std::optional<std::uint16_t> source_id() const {
    if (src_port) return src_port;
    if (echo) return echo->identifier;
    return std::nullopt;
  }
};

struct IcmpError {
  std::uint8_t type = 0;
  std::uint8_t code = 0;
  // Bytes 4..7 of the ICMP header, host order: the MTU of "fragmentation needed" (low 16 bits)
  // and of ICMPv6 "packet too big", the pointer of a parameter problem.
  std::uint32_t rest_of_header = 0;
  QuotedPacket original;
};

// Parses an ICMPv4 destination unreachable/time exceeded or ICMPv6 destination unreachable/packet
// too big/time exceeded with its quoted packet, which must be of the same family.
Result<IcmpError> parse_icmp_error(const IpPacketView& packet);

// §5.4: the error to pass to the client for `error` (received for a NATed flow): the quote's
// destination becomes `proxy_ip` and its L4 source id `inside_id` (quoted checksums are left as
// they are), wrapped in a new ICMP error with the same type, code and rest-of-header from
// `proxy_ip` to `client_ip`, TTL 20. All three families must match.
Result<std::size_t> build_translated_icmp_error(MutBytes out, const IcmpError& error,
                                                const IpAddr& proxy_ip, const IpAddr& client_ip,
                                                std::uint16_t inside_id);

}  // namespace fz::net
