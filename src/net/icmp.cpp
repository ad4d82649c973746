#include "net/icmp.hpp"

#include <algorithm>
#include <cstring>

#include "net/checksum.hpp"

namespace fz::net {

Result<std::size_t> build_icmp_error(MutBytes out, const IpPacketView& offending,
                                     IcmpErrorKind kind) {
  IpFields ip;
  ip.src = offending.dst();
  ip.dst = offending.src();
  ip.ttl = kIcmpErrorTtl;
  const Bytes packet = offending.bytes();
  if (offending.is_v4()) {
    ip.dont_fragment = true;
    const std::size_t quote = std::min(packet.size(), offending.ipv4_ihl_bytes() + 8);
    const std::uint8_t code = kind == IcmpErrorKind::prohibited ? icmpv4::code_admin_prohibited
                                                                : icmpv4::code_net_unreachable;
    return build_icmp(out, ip, icmpv4::dest_unreachable, code, 0, packet.first(quote));
  }
  const std::size_t quote = std::min(packet.size(), kIcmpv6MaxQuote);
  const std::uint8_t code = kind == IcmpErrorKind::prohibited ? icmpv6::code_admin_prohibited
                                                              : icmpv6::code_address_unreachable;
  return build_icmp(out, ip, icmpv6::dest_unreachable, code, 0, packet.first(quote));
}

namespace {

// Walks the quoted header as far as the quote goes. Sets header_len and protocol; returns false if
// the L4 header cannot be located (truncated extension headers, non-first fragment).
bool locate_quoted_l4(QuotedPacket& q) {
  const std::uint8_t* b = q.bytes.data();
  const std::size_t n = q.bytes.size();
  if (q.src.is_v4()) {
    q.protocol = b[9];
    q.header_len = std::size_t{b[0] & 0x0fu} * 4;
    return (load_be16(b + 6) & 0x1fff) == 0;
  }
  std::uint8_t next = b[6];
  std::size_t offset = kIpv6HeaderLen;
  for (;;) {
    q.protocol = next;
    q.header_len = offset;
    std::size_t len;
    switch (next) {
      case ip_proto::hop_by_hop:
      case ip_proto::ipv6_route:
      case ip_proto::ipv6_opts:
        if (n - offset < 2) return false;
        len = (std::size_t{b[offset + 1]} + 1) * 8;
        break;
      case ip_proto::ah:
        if (n - offset < 2) return false;
        len = (std::size_t{b[offset + 1]} + 2) * 4;
        break;
      case ip_proto::ipv6_frag:
        if (n - offset < 8) return false;
        if ((load_be16(b + offset + 2) & 0xfff8) != 0) return false;  // not the first fragment
        len = 8;
        break;
      default:
        return true;
    }
    if (n - offset < len) return false;
    next = b[offset];
    offset += len;
  }
}

Result<QuotedPacket> parse_quote(Bytes bytes, IpFamily family) {
  QuotedPacket q;
  q.bytes = bytes;
  if (bytes.empty()) return Error(Errc::truncated, "ICMP error without quoted packet");
  const unsigned version = bytes[0] >> 4;
  if (family == IpFamily::v4) {
    if (version != 4) return Error(Errc::malformed, "ICMPv4 error quoting a non-IPv4 packet");
    if (bytes.size() < kIpv4HeaderLen) return Error(Errc::truncated, "truncated quoted header");
    const std::size_t ihl = std::size_t{bytes[0] & 0x0fu} * 4;
    if (ihl < kIpv4HeaderLen) return Error(Errc::malformed, "quoted IPv4 IHL below 5");
    if (ihl > bytes.size()) return Error(Errc::truncated, "truncated quoted header");
    q.src = IpAddr::v4(bytes[12], bytes[13], bytes[14], bytes[15]);
    q.dst = IpAddr::v4(bytes[16], bytes[17], bytes[18], bytes[19]);
  } else {
    if (version != 6) return Error(Errc::malformed, "ICMPv6 error quoting a non-IPv6 packet");
    if (bytes.size() < kIpv6HeaderLen) return Error(Errc::truncated, "truncated quoted header");
    q.src = *IpAddr::from_bytes(bytes.subspan(8, 16));
    q.dst = *IpAddr::from_bytes(bytes.subspan(24, 16));
  }
  if (!locate_quoted_l4(q)) return q;

  const std::uint8_t* l4 = bytes.data() + q.header_len;
  const std::size_t available = bytes.size() - q.header_len;
  if ((q.protocol == ip_proto::tcp || q.protocol == ip_proto::udp) && available >= 4) {
    q.src_port = load_be16(l4);
    q.dst_port = load_be16(l4 + 2);
  }
  const bool icmp =
      family == IpFamily::v4 ? q.protocol == ip_proto::icmp : q.protocol == ip_proto::icmpv6;
  if (icmp && available >= kIcmpHeaderLen) {
    const std::uint8_t request =
        family == IpFamily::v4 ? icmpv4::echo_request : icmpv6::echo_request;
    const std::uint8_t reply = family == IpFamily::v4 ? icmpv4::echo_reply : icmpv6::echo_reply;
    if (l4[0] == request || l4[0] == reply) {
      q.echo = IcmpEcho{l4[0] == request, load_be16(l4 + 4), load_be16(l4 + 6)};
    }
  }
  return q;
}

// Overwrites `data.size()` bytes at `at` (an even offset of the checksummed region) and patches
// the 16-bit checksum at `check`.
void patch(std::uint8_t* at, Bytes data, std::uint8_t* check) {
  store_be16(check, checksum_update(load_be16(check), Bytes(at, data.size()), data));
  std::memcpy(at, data.data(), data.size());
}

}  // namespace

Result<IcmpError> parse_icmp_error(const IpPacketView& packet) {
  if (!packet.is_icmp_error()) return Error(Errc::unsupported, "not an ICMP error");
  const Bytes l4 = packet.l4();
  auto original = parse_quote(packet.l4_payload(), packet.family());
  if (!original) return original.error();
  return IcmpError{l4[0], l4[1], load_be32(l4.data() + 4), std::move(*original)};
}

Result<std::size_t> build_translated_icmp_error(MutBytes out, const IcmpError& error,
                                                const IpAddr& proxy_ip, const IpAddr& client_ip,
                                                std::uint16_t inside_id) {
  const QuotedPacket& quote = error.original;
  if (proxy_ip.family() != client_ip.family() || proxy_ip.family() != quote.src.family()) {
    return Error(Errc::malformed, "ICMP error, proxy IP and client IP families differ");
  }
  if (!quote.source_id()) return Error(Errc::unsupported, "quoted packet has no L4 id");

  IpFields ip;
  ip.src = proxy_ip;
  ip.dst = client_ip;
  ip.ttl = kIcmpErrorTtl;
  ip.dont_fragment = true;
  auto len = build_icmp(out, ip, error.type, error.code, error.rest_of_header, quote.bytes);
  if (!len) return len.error();

  // The quote sits at an even offset of the ICMP message, so the outer checksum can be patched
  // word by word. The quote's own checksums stay as they were (§5.4).
  const std::size_t icmp_offset = proxy_ip.is_v4() ? kIpv4HeaderLen : kIpv6HeaderLen;
  std::uint8_t* check = out.data() + icmp_offset + 2;
  std::uint8_t* copy = out.data() + icmp_offset + kIcmpHeaderLen;
  patch(copy + (proxy_ip.is_v4() ? 16 : 24), proxy_ip.bytes(), check);
  std::uint8_t id[2];
  store_be16(id, inside_id);
  patch(copy + quote.header_len + (quote.src_port ? 0 : 4), Bytes(id, 2), check);
  return len;
}

}  // namespace fz::net
