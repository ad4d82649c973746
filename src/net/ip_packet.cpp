#include "net/ip_packet.hpp"

#include <bit>
#include <cstring>

#include "net/checksum.hpp"

namespace fz::net {

// ---------------------------------------------------------------------------------------------
// Parsing (§10.1)

Result<IpPacketView> IpPacketView::parse(Bytes buffer) {
  if (buffer.empty()) return Error(Errc::truncated, "empty packet");
  IpPacketView view;
  view.data_ = buffer.data();
  Failure failure;
  switch (buffer[0] >> 4) {
    case 4:
      failure = view.parse_ipv4(buffer);
      break;
    case 6:
      failure = view.parse_ipv6(buffer);
      break;
    default:
      return Error(Errc::unsupported, "not an IPv4 or IPv6 packet");
  }
  if (failure.message == nullptr) failure = view.parse_transport();
  if (failure.message != nullptr) return Error(failure.code, failure.message);
  return view;
}

IpPacketView::Failure IpPacketView::parse_ipv4(Bytes buffer) {
  if (buffer.size() < kIpv4HeaderLen) return Failure{Errc::truncated, "truncated IPv4 header"};
  const std::uint8_t* b = buffer.data();
  const std::size_t ihl = std::size_t{b[0] & 0x0fu} * 4;
  if (ihl < kIpv4HeaderLen) return Failure{Errc::malformed, "IPv4 IHL below 5"};
  const std::size_t total = load_be16(b + 2);
  if (total < ihl) return Failure{Errc::malformed, "IPv4 total length shorter than its header"};
  if (total > buffer.size())
    return Failure{Errc::truncated, "IPv4 packet shorter than total length"};

  version_ = 4;
  size_ = static_cast<std::uint32_t>(total);
  // MF set or a non-zero offset; DF and the reserved bit do not matter.
  fragment_ = (load_be16(b + 6) & 0x3fff) != 0;
  protocol_ = b[9];
  std::size_t offset = ihl;
  // §10.1: the payload starts after AH if present (only the first fragment carries it).
  while (protocol_ == ip_proto::ah && !fragment_) {
    if (total - offset < 2) return Failure{Errc::truncated, "truncated authentication header"};
    const std::size_t len = (std::size_t{b[offset + 1]} + 2) * 4;
    if (total - offset < len) return Failure{Errc::truncated, "truncated authentication header"};
    protocol_ = b[offset];
    offset += len;
  }
  l4_offset_ = static_cast<std::uint32_t>(offset);
  return {};
}

IpPacketView::Failure IpPacketView::parse_ipv6(Bytes buffer) {
  if (buffer.size() < kIpv6HeaderLen) return Failure{Errc::truncated, "truncated IPv6 header"};
  const std::uint8_t* b = buffer.data();
  const std::size_t total = kIpv6HeaderLen + load_be16(b + 4);
  if (total > buffer.size()) {
    return Failure{Errc::truncated, "IPv6 packet shorter than its payload length"};
  }

  version_ = 6;
  size_ = static_cast<std::uint32_t>(total);
  std::uint8_t next = b[6];
  std::size_t offset = kIpv6HeaderLen;
  for (bool first = true;; first = false) {
    std::size_t len;
    switch (next) {
      case ip_proto::hop_by_hop:
        if (!first) return Failure{Errc::malformed, "IPv6 hop-by-hop options not first"};
        [[fallthrough]];
      case ip_proto::ipv6_route:
      case ip_proto::ipv6_opts:
        if (total - offset < 2) return Failure{Errc::truncated, "truncated IPv6 extension header"};
        len = (std::size_t{b[offset + 1]} + 1) * 8;
        break;
      case ip_proto::ah:
        if (total - offset < 2) return Failure{Errc::truncated, "truncated authentication header"};
        len = (std::size_t{b[offset + 1]} + 2) * 4;
        break;
      case ip_proto::ipv6_frag:
        // What follows the fragment header belongs to the reassembled packet: stop here.
        if (total - offset < 8) return Failure{Errc::truncated, "truncated IPv6 fragment header"};
        fragment_ = true;
        len = 8;
        break;
      default:
        protocol_ = next;
        l4_offset_ = static_cast<std::uint32_t>(offset);
        return {};
    }
    if (total - offset < len) return Failure{Errc::truncated, "truncated IPv6 extension header"};
    next = b[offset];
    offset += len;
    if (fragment_) {
      protocol_ = next;
      l4_offset_ = static_cast<std::uint32_t>(offset);
      return {};
    }
  }
}

IpPacketView::Failure IpPacketView::parse_transport() {
  if (protocol_ == ip_proto::icmp && is_v6()) return Failure{Errc::malformed, "ICMPv4 in IPv6"};
  if (protocol_ == ip_proto::icmpv6 && is_v4()) return Failure{Errc::malformed, "ICMPv6 in IPv4"};
  const std::size_t remaining = size_ - l4_offset_;
  l4_len_ = static_cast<std::uint32_t>(remaining);
  if (fragment_) return {};
  const std::uint8_t* l4 = data_ + l4_offset_;
  switch (protocol_) {
    case ip_proto::udp: {
      if (remaining < kUdpHeaderLen) return Failure{Errc::truncated, "truncated UDP header"};
      const std::size_t udp_len = load_be16(l4 + 4);
      if (udp_len < kUdpHeaderLen || udp_len > remaining) {
        return Failure{Errc::malformed, "UDP length inconsistent with the IP length"};
      }
      l4_len_ = static_cast<std::uint32_t>(udp_len);
      transport_ = Transport::udp;
      break;
    }
    case ip_proto::tcp: {
      if (remaining < kTcpHeaderLen) return Failure{Errc::truncated, "truncated TCP header"};
      const std::size_t data_offset = (std::size_t{l4[12]} >> 4) * 4;
      if (data_offset < kTcpHeaderLen) return Failure{Errc::malformed, "TCP data offset below 5"};
      if (data_offset > remaining) return Failure{Errc::truncated, "truncated TCP options"};
      transport_ = Transport::tcp;
      break;
    }
    case ip_proto::icmp:
      if (remaining < kIcmpHeaderLen) return Failure{Errc::truncated, "truncated ICMP header"};
      transport_ = Transport::icmpv4;
      break;
    case ip_proto::icmpv6:
      if (remaining < kIcmpHeaderLen) return Failure{Errc::truncated, "truncated ICMPv6 header"};
      transport_ = Transport::icmpv6;
      break;
    default:
      break;
  }
  return {};
}

// ---------------------------------------------------------------------------------------------
// Accessors

IpAddr IpPacketView::src() const {
  return *IpAddr::from_bytes(Bytes(data_ + src_offset(), is_v4() ? 4 : 16));
}

IpAddr IpPacketView::dst() const {
  return *IpAddr::from_bytes(Bytes(data_ + dst_offset(), is_v4() ? 4 : 16));
}

Ecn IpPacketView::ecn() const {
  return static_cast<Ecn>(is_v4() ? data_[1] & 0x3 : (data_[1] >> 4) & 0x3);
}

std::uint8_t IpPacketView::dscp() const {
  if (is_v4()) return static_cast<std::uint8_t>(data_[1] >> 2);
  return static_cast<std::uint8_t>(((data_[0] & 0x0f) << 2) | (data_[1] >> 6));
}

Bytes IpPacketView::l4_payload() const {
  std::size_t header = 0;
  switch (transport_) {
    case Transport::udp:
      header = kUdpHeaderLen;
      break;
    case Transport::tcp:
      header = (std::size_t{data_[l4_offset_ + 12]} >> 4) * 4;
      break;
    case Transport::icmpv4:
    case Transport::icmpv6:
      header = kIcmpHeaderLen;
      break;
    case Transport::none:
      break;
  }
  return l4().subspan(header);
}

std::optional<std::uint16_t> IpPacketView::src_port() const {
  if (transport_ != Transport::udp && transport_ != Transport::tcp) return std::nullopt;
  return load_be16(data_ + l4_offset_);
}

std::optional<std::uint16_t> IpPacketView::dst_port() const {
  if (transport_ != Transport::udp && transport_ != Transport::tcp) return std::nullopt;
  return load_be16(data_ + l4_offset_ + 2);
}

std::optional<std::uint8_t> IpPacketView::tcp_flags() const {
  if (transport_ != Transport::tcp) return std::nullopt;
  return data_[l4_offset_ + 13];
}

bool IpPacketView::is_tcp_rst() const {
  return transport_ == Transport::tcp && (data_[l4_offset_ + 13] & tcp_flag::rst) != 0;
}

std::optional<std::uint8_t> IpPacketView::icmp_type() const {
  if (transport_ != Transport::icmpv4 && transport_ != Transport::icmpv6) return std::nullopt;
  return data_[l4_offset_];
}

std::optional<std::uint8_t> IpPacketView::icmp_code() const {
  if (transport_ != Transport::icmpv4 && transport_ != Transport::icmpv6) return std::nullopt;
  return data_[l4_offset_ + 1];
}

std::optional<IcmpEcho> IpPacketView::icmp_echo() const {
  const std::uint8_t* l4 = data_ + l4_offset_;
  bool request;
  if (transport_ == Transport::icmpv4 && (l4[0] == 8 || l4[0] == 0)) {
    request = l4[0] == 8;
  } else if (transport_ == Transport::icmpv6 && (l4[0] == 128 || l4[0] == 129)) {
    request = l4[0] == 128;
  } else {
    return std::nullopt;
  }
  return IcmpEcho{request, load_be16(l4 + 4), load_be16(l4 + 6)};
}

bool IpPacketView::is_icmp_error() const {
  if (transport_ == Transport::icmpv4) {
    const std::uint8_t type = data_[l4_offset_];
    return type == 3 || type == 11;
  }
  if (transport_ == Transport::icmpv6) {
    const std::uint8_t type = data_[l4_offset_];
    return type == 1 || type == 2 || type == 3;
  }
  return false;
}

std::optional<FiveTuple> IpPacketView::five_tuple() const {
  if (auto sport = src_port()) return FiveTuple{src(), dst(), protocol_, *sport, *dst_port()};
  if (auto echo = icmp_echo()) {
    return FiveTuple{src(), dst(), protocol_, echo->identifier, echo->identifier};
  }
  return std::nullopt;
}

// ---------------------------------------------------------------------------------------------
// Checksums (§10.3)

std::size_t IpPacketView::l4_checksum_offset() const {
  switch (transport_) {
    case Transport::udp:
      return 6;
    case Transport::tcp:
      return 16;
    case Transport::icmpv4:
    case Transport::icmpv6:
      return 2;
    case Transport::none:
      break;
  }
  return 0;
}

namespace {

// Big-endian 16-bit fields as single memory accesses. The rewrite path stores a checksum and may
// load it again at once; byte-wise stores would defeat store-to-load forwarding and cost ~10
// cycles per packet.
bool uses_pseudo_header(Transport t) {
  return t == Transport::udp || t == Transport::tcp || t == Transport::icmpv6;
}

// Sum over the L4 segment including its checksum field; 0xffff when the checksum verifies.
std::uint32_t l4_sum(const IpPacketView& p) {
  std::uint32_t sum = checksum_partial(p.l4());
  if (uses_pseudo_header(p.transport())) {
    sum = checksum_fold(std::uint64_t{sum} +
                        pseudo_header_sum(p.src(), p.dst(), p.protocol(),
                                          static_cast<std::uint32_t>(p.l4().size())));
  }
  return sum;
}

}  // namespace

Status IpPacketView::verify_checksums() const {
  if (is_v4() && checksum_partial(Bytes(data_, ipv4_ihl_bytes())) != 0xffff) {
    return Error(Errc::checksum, "bad IPv4 header checksum");
  }
  if (fragment_ || transport_ == Transport::none) return {};
  const std::uint16_t stored = load_be16(data_ + l4_offset_ + l4_checksum_offset());
  if (transport_ == Transport::udp && stored == 0) {
    if (is_v4()) return {};
    return Error(Errc::checksum, "zero UDP checksum over IPv6");
  }
  if (l4_sum(*this) != 0xffff) return Error(Errc::checksum, "bad L4 checksum");
  return {};
}

// ---------------------------------------------------------------------------------------------
// Rewrites

Result<IpPacket> IpPacket::parse(MutBytes buffer) {
  auto view = IpPacketView::parse(buffer);
  if (!view) return view.error();
  return IpPacket(*view);
}

void IpPacket::update_l4_checksum(std::uint32_t delta) {
  std::uint8_t* field = mut() + l4_offset_ + l4_checksum_offset();
  const std::uint16_t check = load_be16(field);
  if (transport_ == Transport::udp && is_v4() && check == 0) return;  // stays "no checksum"
  std::uint16_t updated = checksum_apply(check, delta);
  if (transport_ == Transport::udp && updated == 0) updated = 0xffff;
  store_be16(field, updated);
}

std::uint32_t IpPacket::address_delta(std::size_t offset, const IpAddr& address) {
  const std::uint32_t delta =
      checksum_delta(Bytes(data_ + offset, address.size()), address.bytes());
  if (is_v4()) store_be16(mut() + 10, checksum_apply(load_be16(data_ + 10), delta));
  std::memcpy(mut() + offset, address.bytes().data(), address.size());
  return delta;
}

std::uint32_t IpPacket::l4_word_delta(std::size_t offset_in_l4, std::uint16_t value) {
  std::uint8_t* field = mut() + l4_offset_ + offset_in_l4;
  const std::uint32_t delta = static_cast<std::uint16_t>(~load_be16(field)) + std::uint32_t{value};
  store_be16(field, value);
  return delta;
}

Status IpPacket::set_address(std::size_t offset, const IpAddr& address) {
  if (address.family() != family()) return Error(Errc::malformed, "address family mismatch");
  const std::uint32_t delta = address_delta(offset, address);
  if (!fragment_ && uses_pseudo_header(transport_)) update_l4_checksum(delta);
  return {};
}

Status IpPacket::set_src(const IpAddr& address) {
  return set_address(src_offset(), address);
}
Status IpPacket::set_dst(const IpAddr& address) {
  return set_address(dst_offset(), address);
}

void IpPacket::set_l4_word(std::size_t offset_in_l4, std::uint16_t value) {
  update_l4_checksum(l4_word_delta(offset_in_l4, value));
}

Status IpPacket::translate(std::size_t address_offset, const IpAddr& address, bool dst_id,
                           std::uint16_t id) {
  if (address.family() != family()) return Error(Errc::malformed, "address family mismatch");
  std::size_t id_offset;
  if (transport_ == Transport::udp || transport_ == Transport::tcp) {
    id_offset = dst_id ? 2 : 0;
  } else if (icmp_echo()) {
    id_offset = 4;
  } else {
    return Error(Errc::unsupported, "packet has no TCP/UDP port or echo id");
  }
  // One update per checksum: the address delta goes into the IPv4 header checksum, and together
  // with the id delta into the L4 checksum.
  std::uint32_t delta = address_delta(address_offset, address);
  if (!uses_pseudo_header(transport_)) delta = 0;
  update_l4_checksum(delta + l4_word_delta(id_offset, id));
  return {};
}

Status IpPacket::set_src_port(std::uint16_t port) {
  if (transport_ != Transport::udp && transport_ != Transport::tcp) {
    return Error(Errc::unsupported, "not a TCP or UDP packet");
  }
  set_l4_word(0, port);
  return {};
}

Status IpPacket::set_dst_port(std::uint16_t port) {
  if (transport_ != Transport::udp && transport_ != Transport::tcp) {
    return Error(Errc::unsupported, "not a TCP or UDP packet");
  }
  set_l4_word(2, port);
  return {};
}

Status IpPacket::set_icmp_echo_id(std::uint16_t identifier) {
  if (!icmp_echo()) return Error(Errc::unsupported, "not an ICMP echo request or reply");
  set_l4_word(4, identifier);
  return {};
}

void IpPacket::set_ecn(Ecn ecn) {
  std::uint8_t* b = mut();
  const auto bits = static_cast<std::uint8_t>(ecn);
  if (is_v4()) {
    const std::uint16_t old_word = load_be16(b);
    b[1] = static_cast<std::uint8_t>((b[1] & ~0x03) | bits);
    store_be16(b + 10, checksum_update16(load_be16(b + 10), old_word, load_be16(b)));
  } else {
    // ECN is not covered by any IPv6 checksum.
    b[1] = static_cast<std::uint8_t>((b[1] & ~0x30) | (bits << 4));
  }
}

bool IpPacket::apply_outer_ecn(Ecn outer) {
  const Ecn inner = ecn();
  if (outer != Ecn::ce || (inner != Ecn::ect0 && inner != Ecn::ect1)) return false;
  set_ecn(Ecn::ce);
  return true;
}

Status IpPacket::translate_destination(const IpAddr& dst, std::uint16_t src_id) {
  return translate(dst_offset(), dst, /*dst_id=*/false, src_id);
}

Status IpPacket::translate_source(const IpAddr& src, std::uint16_t dst_id) {
  return translate(src_offset(), src, /*dst_id=*/true, dst_id);
}

void IpPacket::recompute_checksums() {
  std::uint8_t* b = mut();
  if (!fragment_ && transport_ != Transport::none) {
    std::uint8_t* field = b + l4_offset_ + l4_checksum_offset();
    store_be16(field, 0);
    std::uint16_t check = checksum_finish(l4_sum(*this));
    // RFC 768: a computed zero is sent as all ones; zero would mean "no checksum".
    if (transport_ == Transport::udp && check == 0) check = 0xffff;
    store_be16(field, check);
  }
  if (is_v4()) {
    store_be16(b + 10, 0);
    store_be16(b + 10, internet_checksum(Bytes(b, ipv4_ihl_bytes())));
  }
}

// ---------------------------------------------------------------------------------------------
// Builders

namespace {

// Checks sizes and writes the IP header for an L4 segment of `l4_len` bytes; returns the header
// length.
Result<std::size_t> write_ip_header(MutBytes out, const IpFields& ip, std::uint8_t protocol,
                                    std::size_t l4_len) {
  if (ip.src.family() != ip.dst.family()) {
    return Error(Errc::malformed, "source and destination families differ");
  }
  const std::size_t header_len = ip.src.is_v4() ? kIpv4HeaderLen : kIpv6HeaderLen;
  if (l4_len > 0xffff - (ip.src.is_v4() ? header_len : 0)) {
    return Error(Errc::out_of_range, "packet too long for the IP length field");
  }
  if (header_len + l4_len > out.size()) return Error(Errc::out_of_range, "output buffer too small");

  std::uint8_t* b = out.data();
  const std::uint8_t dscp = ip.dscp & 0x3f;
  const auto ecn = static_cast<std::uint8_t>(ip.ecn);
  if (ip.src.is_v4()) {
    b[0] = 0x45;
    b[1] = static_cast<std::uint8_t>((dscp << 2) | ecn);
    store_be16(b + 2, static_cast<std::uint16_t>(header_len + l4_len));
    store_be16(b + 4, ip.identification);
    store_be16(b + 6, ip.dont_fragment ? 0x4000 : 0);
    b[8] = ip.ttl;
    b[9] = protocol;
    store_be16(b + 10, 0);
    std::memcpy(b + 12, ip.src.bytes().data(), 4);
    std::memcpy(b + 16, ip.dst.bytes().data(), 4);
    store_be16(b + 10, internet_checksum(Bytes(b, header_len)));
  } else {
    const std::uint32_t flow = ip.flow_label & 0xfffff;
    store_be32(b, (6u << 28) | (std::uint32_t{dscp} << 22) | (std::uint32_t{ecn} << 20) | flow);
    store_be16(b + 4, static_cast<std::uint16_t>(l4_len));
    b[6] = protocol;
    b[7] = ip.ttl;
    std::memcpy(b + 8, ip.src.bytes().data(), 16);
    std::memcpy(b + 24, ip.dst.bytes().data(), 16);
  }
  return header_len;
}

void copy_payload(std::uint8_t* to, Bytes payload) {
  if (!payload.empty()) std::memcpy(to, payload.data(), payload.size());
}

std::uint16_t l4_checksum(const IpFields& ip, std::uint8_t protocol, Bytes segment) {
  std::uint32_t sum = checksum_partial(segment);
  if (protocol != ip_proto::icmp) {
    sum = checksum_fold(
        std::uint64_t{sum} +
        pseudo_header_sum(ip.src, ip.dst, protocol, static_cast<std::uint32_t>(segment.size())));
  }
  return checksum_finish(sum);
}

}  // namespace

Result<std::size_t> build_ip_packet(MutBytes out, const IpFields& ip, std::uint8_t protocol,
                                    Bytes payload) {
  auto header_len = write_ip_header(out, ip, protocol, payload.size());
  if (!header_len) return header_len.error();
  copy_payload(out.data() + *header_len, payload);
  return *header_len + payload.size();
}

Result<std::size_t> build_udp(MutBytes out, const IpFields& ip, std::uint16_t src_port,
                              std::uint16_t dst_port, Bytes payload) {
  const std::size_t l4_len = kUdpHeaderLen + payload.size();
  if (l4_len > 0xffff) return Error(Errc::out_of_range, "UDP datagram too long");
  auto header_len = write_ip_header(out, ip, ip_proto::udp, l4_len);
  if (!header_len) return header_len.error();
  std::uint8_t* l4 = out.data() + *header_len;
  store_be16(l4, src_port);
  store_be16(l4 + 2, dst_port);
  store_be16(l4 + 4, static_cast<std::uint16_t>(l4_len));
  store_be16(l4 + 6, 0);
  copy_payload(l4 + kUdpHeaderLen, payload);
  std::uint16_t check = l4_checksum(ip, ip_proto::udp, Bytes(l4, l4_len));
  store_be16(l4 + 6, check == 0 ? 0xffff : check);
  return *header_len + l4_len;
}

Result<std::size_t> build_tcp(MutBytes out, const IpFields& ip, const TcpFields& tcp,
                              Bytes payload) {
  const std::size_t l4_len = kTcpHeaderLen + payload.size();
  auto header_len = write_ip_header(out, ip, ip_proto::tcp, l4_len);
  if (!header_len) return header_len.error();
  std::uint8_t* l4 = out.data() + *header_len;
  store_be16(l4, tcp.src_port);
  store_be16(l4 + 2, tcp.dst_port);
  store_be32(l4 + 4, tcp.seq);
  store_be32(l4 + 8, tcp.ack);
  l4[12] = (kTcpHeaderLen / 4) << 4;
  l4[13] = tcp.flags;
  store_be16(l4 + 14, tcp.window);
  store_be16(l4 + 16, 0);
  store_be16(l4 + 18, tcp.urgent);
  copy_payload(l4 + kTcpHeaderLen, payload);
  store_be16(l4 + 16, l4_checksum(ip, ip_proto::tcp, Bytes(l4, l4_len)));
  return *header_len + l4_len;
}

Result<std::size_t> build_icmp(MutBytes out, const IpFields& ip, std::uint8_t type,
                               std::uint8_t code, std::uint32_t rest_of_header, Bytes payload) {
  const std::uint8_t protocol = ip.src.is_v4() ? ip_proto::icmp : ip_proto::icmpv6;
  const std::size_t l4_len = kIcmpHeaderLen + payload.size();
  auto header_len = write_ip_header(out, ip, protocol, l4_len);
  if (!header_len) return header_len.error();
  std::uint8_t* l4 = out.data() + *header_len;
  l4[0] = type;
  l4[1] = code;
  store_be16(l4 + 2, 0);
  store_be32(l4 + 4, rest_of_header);
  copy_payload(l4 + kIcmpHeaderLen, payload);
  store_be16(l4 + 2, l4_checksum(ip, protocol, Bytes(l4, l4_len)));
  return *header_len + l4_len;
}

Result<std::size_t> build_icmp_echo(MutBytes out, const IpFields& ip, const IcmpEcho& echo,
                                    Bytes payload) {
  std::uint8_t type;
  if (ip.src.is_v4()) {
    type = echo.is_request ? 8 : 0;
  } else {
    type = echo.is_request ? 128 : 129;
  }
  return build_icmp(out, ip, type, 0,
                    (std::uint32_t{echo.identifier} << 16) | std::uint32_t{echo.sequence}, payload);
}

}  // namespace fz::net
