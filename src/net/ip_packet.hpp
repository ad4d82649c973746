// Zero-copy views over IPv4/IPv6 packets with UDP, TCP, ICMPv4 and ICMPv6, their in-place
// rewrites, and builders.
//
// `IpPacketView::parse` validates a packet once (spec gateway-dataplane §10.1) and records where
// the transport header is; the accessors then read fields straight from the buffer. `IpPacket` is
// the same view over a mutable buffer and adds the NAT rewrites, which patch checksums
// incrementally (RFC 1624) so a rewrite costs a few word operations, not a pass over the payload.
// Nothing here allocates. The caller owns the buffer and must keep it alive while a view exists.
//
// Policy (for example the gateway's 1280-byte limit) is the caller's: the parser accepts any
// length the IP header can express.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>

#include "base/bytes.hpp"
#include "base/result.hpp"
#include "net/ip_addr.hpp"

namespace fz::net {

// IANA protocol numbers used in this module.
namespace ip_proto {
inline constexpr std::uint8_t hop_by_hop = 0;
inline constexpr std::uint8_t icmp = 1;
inline constexpr std::uint8_t tcp = 6;
inline constexpr std::uint8_t udp = 17;
inline constexpr std::uint8_t ipv6_route = 43;
inline constexpr std::uint8_t ipv6_frag = 44;
inline constexpr std::uint8_t esp = 50;
inline constexpr std::uint8_t ah = 51;
inline constexpr std::uint8_t icmpv6 = 58;
inline constexpr std::uint8_t ipv6_no_next = 59;
inline constexpr std::uint8_t ipv6_opts = 60;
}  // namespace ip_proto

namespace tcp_flag {
inline constexpr std::uint8_t fin = 0x01;
inline constexpr std::uint8_t syn = 0x02;
inline constexpr std::uint8_t rst = 0x04;
inline constexpr std::uint8_t psh = 0x08;
inline constexpr std::uint8_t ack = 0x10;
inline constexpr std::uint8_t urg = 0x20;
inline constexpr std::uint8_t ece = 0x40;
inline constexpr std::uint8_t cwr = 0x80;
}  // namespace tcp_flag

inline constexpr std::size_t kIpv4HeaderLen = 20;  // without options
inline constexpr std::size_t kIpv6HeaderLen = 40;
inline constexpr std::size_t kUdpHeaderLen = 8;
inline constexpr std::size_t kTcpHeaderLen = 20;  // without options
inline constexpr std::size_t kIcmpHeaderLen = 8;  // type, code, checksum, 4 bytes rest-of-header

// The two ECN bits of the IPv4 TOS / IPv6 traffic class (RFC 3168).
enum class Ecn : std::uint8_t { not_ect = 0, ect1 = 1, ect0 = 2, ce = 3 };

// The transport the parser validated. `none` for fragments and for protocols it does not parse.
enum class Transport : std::uint8_t { none, udp, tcp, icmpv4, icmpv6 };

// Echo request/reply fields; identifier and sequence number in host order.
struct IcmpEcho {
  bool is_request = true;
  std::uint16_t identifier = 0;
  std::uint16_t sequence = 0;
  friend bool operator==(const IcmpEcho&, const IcmpEcho&) = default;
};

// Addresses plus L4 ids: ports for TCP/UDP; for ICMP echo both ids are the identifier.
struct FiveTuple {
  IpAddr src;
  IpAddr dst;
  std::uint8_t protocol = 0;
  std::uint16_t src_id = 0;
  std::uint16_t dst_id = 0;
  friend bool operator==(const FiveTuple&, const FiveTuple&) = default;
};

class IpPacketView {
 public:
  // Validates `buffer` as one IP packet (§10.1). The view is trimmed to the IP total length, so
  // padding after the packet is ignored. Fragments are accepted but their L4 is not parsed.
  static Result<IpPacketView> parse(Bytes buffer);

  // The packet, `size()` bytes.
  Bytes bytes() const { return Bytes(data_, size_); }
  std::size_t size() const { return size_; }
  unsigned version() const { return version_; }
  IpFamily family() const { return version_ == 4 ? IpFamily::v4 : IpFamily::v6; }
  bool is_v4() const { return version_ == 4; }
  bool is_v6() const { return version_ == 6; }

  IpAddr src() const;
  IpAddr dst() const;
  // The final protocol: IPv4's protocol field (after AH), IPv6's last next header.
  std::uint8_t protocol() const { return protocol_; }
  // Length of IP header, options and extension headers: the offset of the L4 header.
  std::size_t header_len() const { return l4_offset_; }
  // IPv4 only: IHL × 4.
  std::size_t ipv4_ihl_bytes() const { return std::size_t{data_[0] & 0x0fu} * 4; }
  bool is_fragment() const { return fragment_; }
  Transport transport() const { return transport_; }
  // TTL or hop limit.
  std::uint8_t ttl() const { return data_[is_v4() ? 8 : 7]; }
  Ecn ecn() const;
  std::uint8_t dscp() const;

  // The L4 segment: from `header_len()` to the end of the packet (for UDP, to its length field).
  Bytes l4() const { return Bytes(data_ + l4_offset_, l4_len_); }
  // The L4 data after the UDP/TCP/ICMP header; the whole `l4()` for other transports.
  Bytes l4_payload() const;

  // TCP/UDP only.
  std::optional<std::uint16_t> src_port() const;
  std::optional<std::uint16_t> dst_port() const;
  // TCP only.
  std::optional<std::uint8_t> tcp_flags() const;
  bool is_tcp_rst() const;
  // ICMPv4/ICMPv6 only.
  std::optional<std::uint8_t> icmp_type() const;
  std::optional<std::uint8_t> icmp_code() const;
  // Echo request/reply (ICMPv4 8/0, ICMPv6 128/129).
  std::optional<IcmpEcho> icmp_echo() const;
  // ICMPv4 destination unreachable/time exceeded; ICMPv6 destination unreachable/packet too
  // big/time exceeded (the errors the gateway translates, §5.2).
  bool is_icmp_error() const;
  // Addresses, protocol and L4 ids; nullopt without TCP/UDP/ICMP echo.
  std::optional<FiveTuple> five_tuple() const;

  // Checks the IPv4 header checksum and the L4 checksum (not for fragments). A zero UDP checksum
  // over IPv4 means "none" and passes; over IPv6 it fails. The IPv6 pseudo-header uses the
  // header's destination, not the final one of a routing header with segments left (such packets
  // do not occur between a Firezone client and the gateway).
  Status verify_checksums() const;

 protected:
  IpPacketView() = default;

  const std::uint8_t* data_ = nullptr;
  std::uint32_t size_ = 0;
  std::uint32_t l4_offset_ = 0;
  std::uint32_t l4_len_ = 0;
  std::uint8_t version_ = 0;
  std::uint8_t protocol_ = 0;
  Transport transport_ = Transport::none;
  bool fragment_ = false;

  // The parse steps report failures without building an Error (whose string member costs a
  // few ns on every packet); parse() converts at the end. A null message means success.
  struct Failure {
    Errc code = Errc::malformed;
    const char* message = nullptr;
  };
  Failure parse_ipv4(Bytes buffer);
  Failure parse_ipv6(Bytes buffer);
  Failure parse_transport();

  std::size_t src_offset() const { return is_v4() ? 12 : 8; }
  std::size_t dst_offset() const { return is_v4() ? 16 : 24; }
  // Offset of the L4 checksum within `l4()`, or 0 if the transport has none we know of.
  std::size_t l4_checksum_offset() const;
};

// A view over a packet in a mutable buffer, with in-place rewrites. Every rewrite keeps every
// checksum that verified before still verifying.
//
// UDP over IPv4 with checksum 0 ("no checksum", RFC 768): the incremental rewrites leave it 0
// (the datagram stays checksum-less, which is legal and what a router would do), whereas
// `recompute_checksums` computes a real one, as the reference does (§10.3).
class IpPacket : public IpPacketView {
 public:
  static Result<IpPacket> parse(MutBytes buffer);

  MutBytes mutable_bytes() const { return MutBytes(mut(), size_); }

  // The new address must have the packet's family. Updates the IPv4 header checksum and the
  // TCP/UDP/ICMPv6 checksum (pseudo-header).
  Status set_src(const IpAddr& address);
  Status set_dst(const IpAddr& address);
  // TCP/UDP only.
  Status set_src_port(std::uint16_t port);
  Status set_dst_port(std::uint16_t port);
  // ICMP echo request/reply only.
  Status set_icmp_echo_id(std::uint16_t identifier);
  void set_ecn(Ecn ecn);
  // §10.4, network→TUN: the inner packet becomes CE only if the outer datagram was CE and the
  // inner packet is ECN-capable. Returns true if the packet changed.
  bool apply_outer_ecn(Ecn outer);

  // §10.2 client→resource DNAT: destination address := `dst`, TCP/UDP source port or ICMP echo
  // identifier := `src_id`. Fails without changing anything if the packet has no L4 id.
  Status translate_destination(const IpAddr& dst, std::uint16_t src_id);
  // §10.2 resource→client: source address := `src`, TCP/UDP destination port or ICMP echo
  // identifier := `dst_id`.
  Status translate_source(const IpAddr& src, std::uint16_t dst_id);

  // Full recomputation of the L4 checksum (not for fragments) and the IPv4 header checksum.
  void recompute_checksums();

 private:
  explicit IpPacket(const IpPacketView& view) : IpPacketView(view) {}
  // Valid because an IpPacket is only ever built over a mutable buffer.
  std::uint8_t* mut() const { return const_cast<std::uint8_t*>(data_); }

  Status set_address(std::size_t offset, const IpAddr& address);
  void set_l4_word(std::size_t offset_in_l4, std::uint16_t value);
  // Address (or id) rewrite plus one update per checksum; `dst_id` picks the destination port.
  Status translate(std::size_t address_offset, const IpAddr& address, bool dst_id,
                   std::uint16_t id);
  // Write the new value and return its checksum delta; address_delta also patches the IPv4
  // header checksum.
  std::uint32_t address_delta(std::size_t offset, const IpAddr& address);
  std::uint32_t l4_word_delta(std::size_t offset_in_l4, std::uint16_t value);
  // Applies a delta to the L4 checksum, keeping an IPv4 UDP zero checksum at zero.
  void update_l4_checksum(std::uint32_t delta);
};

// Fields of the IP header for the builders.
struct IpFields {
  IpAddr src;
  IpAddr dst;
  std::uint8_t ttl = 64;  // hop limit for IPv6
  Ecn ecn = Ecn::not_ect;
  std::uint8_t dscp = 0;
  std::uint16_t identification = 0;  // IPv4 only
  bool dont_fragment = false;        // IPv4 only
  std::uint32_t flow_label = 0;      // IPv6 only, 20 bits
};

struct TcpFields {
  std::uint16_t src_port = 0;
  std::uint16_t dst_port = 0;
  std::uint32_t seq = 0;
  std::uint32_t ack = 0;
  std::uint8_t flags = 0;  // tcp_flag::*
  std::uint16_t window = 65535;
  std::uint16_t urgent = 0;
};

// Builders write a complete packet with valid checksums at the start of `out` and return its
// length. They fail if the addresses' families differ, if the packet would not fit in `out`, or
// if it would exceed what the length fields can express. `payload` must not overlap `out`.

// An IP header followed by `payload` as is (no L4 checksum is computed).
Result<std::size_t> build_ip_packet(MutBytes out, const IpFields& ip, std::uint8_t protocol,
                                    Bytes payload);
Result<std::size_t> build_udp(MutBytes out, const IpFields& ip, std::uint16_t src_port,
                              std::uint16_t dst_port, Bytes payload);
// A TCP header without options, then `payload`.
Result<std::size_t> build_tcp(MutBytes out, const IpFields& ip, const TcpFields& tcp,
                              Bytes payload = {});
// ICMPv4 for IPv4 addresses, ICMPv6 for IPv6: type, code, the 4-byte rest-of-header, payload.
Result<std::size_t> build_icmp(MutBytes out, const IpFields& ip, std::uint8_t type,
                               std::uint8_t code, std::uint32_t rest_of_header, Bytes payload);
Result<std::size_t> build_icmp_echo(MutBytes out, const IpFields& ip, const IcmpEcho& echo,
                                    Bytes payload = {});

}  // namespace fz::net
