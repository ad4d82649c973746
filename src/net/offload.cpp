#include "net/offload.hpp"

#include <algorithm>
#include <cstring>

#include "base/log.hpp"
#include "net/checksum.hpp"
#include "net/ip_packet.hpp"

namespace fz::net {
namespace {

constexpr const char* kLog = "net::offload";

constexpr std::size_t kTcpChecksumOffset = 16;
constexpr std::size_t kUdpChecksumOffset = 6;

// Addresses (contiguous in both headers), protocol and L4 length, not folded.
std::uint32_t pseudo_sum(const std::uint8_t* ip, bool is_v4, std::uint8_t protocol,
                         std::size_t l4_len) {
  const std::size_t address_offset = is_v4 ? 12 : 8;
  const std::size_t address_len = is_v4 ? 8 : 32;
  std::uint32_t sum = checksum_partial(Bytes(ip + address_offset, address_len));
  sum += protocol;
  sum += static_cast<std::uint32_t>(l4_len >> 16) + static_cast<std::uint32_t>(l4_len & 0xffff);
  return sum;
}

void set_ipv4_header_checksum(std::uint8_t* ip, std::size_t header_len) {
  store_be16(ip + 10, 0);
  store_be16(ip + 10, internet_checksum(Bytes(ip, header_len)));
}

// Sets the L4 checksum of a complete packet whose L4 header starts at `l4`.
void set_l4_checksum(std::uint8_t* ip, std::size_t len, std::size_t l4, bool is_v4, bool is_tcp) {
  std::uint8_t* field = ip + l4 + (is_tcp ? kTcpChecksumOffset : kUdpChecksumOffset);
  store_be16(field, 0);
  const std::uint8_t protocol = is_tcp ? ip_proto::tcp : ip_proto::udp;
  std::uint32_t sum = pseudo_sum(ip, is_v4, protocol, len - l4);
  std::uint16_t check = checksum_finish(checksum_partial(Bytes(ip + l4, len - l4), sum));
  if (check == 0 && !is_tcp) check = 0xffff;  // UDP: zero means "no checksum"
  store_be16(field, check);
}

}  // namespace

std::optional<VirtioNetHdr> VirtioNetHdr::parse(Bytes data) {
  if (data.size() < kVirtioNetHdrLen) return std::nullopt;
  VirtioNetHdr h;
  h.flags = data[0];
  h.gso_type = data[1];
  h.hdr_len = load_native16(data.data() + 2);
  h.gso_size = load_native16(data.data() + 4);
  h.csum_start = load_native16(data.data() + 6);
  h.csum_offset = load_native16(data.data() + 8);
  return h;
}

void VirtioNetHdr::serialize(MutBytes out) const {
  out[0] = flags;
  out[1] = gso_type;
  store_native16(out.data() + 2, hdr_len);
  store_native16(out.data() + 4, gso_size);
  store_native16(out.data() + 6, csum_start);
  store_native16(out.data() + 8, csum_offset);
}

// --- splitting ------------------------------------------------------------------------------

bool GsoSplitter::load(Bytes read) {
  segment_count_ = 0;
  next_segment_ = 0;
  auto drop = [this](const char* why) {
    ++stats_.malformed;
    FZ_DEBUG(kLog, "dropped an offloaded TUN read: {}", why);
    return false;
  };
  auto hdr = VirtioNetHdr::parse(read);
  if (!hdr) return drop("shorter than the virtio-net header");
  hdr_ = *hdr;
  packet_ = read.subspan(kVirtioNetHdrLen);
  const std::size_t size = packet_.size();
  if (size == 0) return drop("no packet after the virtio-net header");
  if (size > kMaxOffloadPacket) return drop("longer than 64 KiB");
  const std::uint8_t* ip = packet_.data();
  const std::uint8_t gso = hdr_.gso_type & static_cast<std::uint8_t>(~virtio::kGsoEcn);

  if (gso == virtio::kGsoNone) {
    if (hdr_.gso_type != virtio::kGsoNone) return drop("ECN flag without a GSO type");
    if ((hdr_.flags & virtio::kFlagNeedsCsum) != 0 &&
        std::size_t{hdr_.csum_start} + hdr_.csum_offset + 2 > size) {
      return drop("checksum field beyond the packet");
    }
    gso_ = false;
    segment_count_ = 1;
    ++stats_.reads;
    return true;
  }

  if (gso != virtio::kGsoTcpV4 && gso != virtio::kGsoTcpV6 && gso != virtio::kGsoUdpL4) {
    return drop("unsupported GSO type");
  }
  is_tcp_ = gso != virtio::kGsoUdpL4;
  if (!is_tcp_ && (hdr_.gso_type & virtio::kGsoEcn) != 0) return drop("ECN flag on UDP GSO");
  if (hdr_.gso_size == 0) return drop("GSO size 0");
  const unsigned version = ip[0] >> 4;
  if (version == 4) {
    if (gso == virtio::kGsoTcpV6) return drop("TCPV6 GSO on an IPv4 packet");
    if (size < kIpv4HeaderLen) return drop("truncated IPv4 header");
    const std::size_t ihl = std::size_t{ip[0] & 0x0fu} * 4;
    if (ihl < kIpv4HeaderLen || ihl > size) return drop("bad IPv4 header length");
    if ((load_be16(ip + 6) & 0x3fffu) != 0) return drop("IPv4 fragment");
    if (ip[9] != (is_tcp_ ? ip_proto::tcp : ip_proto::udp)) return drop("IPv4 protocol mismatch");
    l4_offset_ = ihl;
    is_v4_ = true;
  } else if (version == 6) {
    if (gso == virtio::kGsoTcpV4) return drop("TCPV4 GSO on an IPv6 packet");
    if (size < kIpv6HeaderLen) return drop("truncated IPv6 header");
    // Extension headers would need walking and are not produced by the stack for TSO/USO here.
    if (ip[6] != (is_tcp_ ? ip_proto::tcp : ip_proto::udp)) return drop("IPv6 next header");
    l4_offset_ = kIpv6HeaderLen;
    is_v4_ = false;
  } else {
    return drop("not an IP packet");
  }
  if (hdr_.csum_start != l4_offset_) return drop("csum_start is not the L4 header");
  if (is_tcp_) {
    if (size < l4_offset_ + kTcpHeaderLen) return drop("truncated TCP header");
    const std::size_t thl = static_cast<std::size_t>(ip[l4_offset_ + 12] >> 4) * 4;
    if (thl < kTcpHeaderLen || l4_offset_ + thl > size) return drop("bad TCP header length");
    headers_len_ = l4_offset_ + thl;
  } else {
    if (size < l4_offset_ + kUdpHeaderLen) return drop("truncated UDP header");
    headers_len_ = l4_offset_ + kUdpHeaderLen;
  }
  const std::size_t payload = size - headers_len_;
  if (payload == 0) return drop("GSO packet without payload");
  gso_ = true;
  segment_count_ = (payload + hdr_.gso_size - 1) / hdr_.gso_size;
  ++stats_.reads;
  ++stats_.super_packets;
  return true;
}

std::size_t GsoSplitter::write_segment(std::size_t index, MutBytes out) {
  const std::uint8_t* src = packet_.data();
  if (!gso_) {
    const std::size_t len = packet_.size();
    if (len > max_packet_size_ || len > out.size()) return 0;
    std::memcpy(out.data(), src, len);
    if ((hdr_.flags & virtio::kFlagNeedsCsum) != 0) {
      // The field holds the pseudo-header sum; the device would sum from csum_start to the end.
      std::uint16_t check = checksum_finish(
          checksum_partial(Bytes(out.data() + hdr_.csum_start, len - hdr_.csum_start)));
      if (check == 0) check = 0xffff;  // as skb_checksum_help does
      store_be16(out.data() + hdr_.csum_start + hdr_.csum_offset, check);
      ++stats_.checksums_completed;
    }
    return len;
  }
  const std::size_t gso_size = hdr_.gso_size;
  const std::size_t offset = index * gso_size;
  const std::size_t payload = std::min(gso_size, packet_.size() - headers_len_ - offset);
  const std::size_t len = headers_len_ + payload;
  if (len > max_packet_size_ || len > out.size()) return 0;
  std::uint8_t* ip = out.data();
  std::memcpy(ip, src, headers_len_);
  std::memcpy(ip + headers_len_, src + headers_len_ + offset, payload);

  if (is_v4_) {
    store_be16(ip + 2, static_cast<std::uint16_t>(len));
    store_be16(ip + 4, static_cast<std::uint16_t>(load_be16(src + 4) + index));
    set_ipv4_header_checksum(ip, l4_offset_);
  } else {
    store_be16(ip + 4, static_cast<std::uint16_t>(len - kIpv6HeaderLen));
  }
  std::uint8_t* l4 = ip + l4_offset_;
  if (is_tcp_) {
    store_be32(l4 + 4, static_cast<std::uint32_t>(load_be32(src + l4_offset_ + 4) + offset));
    std::uint8_t flags = l4[13];
    if (index + 1 != segment_count_)
      flags &= static_cast<std::uint8_t>(~(tcp_flag::fin | tcp_flag::psh));
    if (index != 0) flags &= static_cast<std::uint8_t>(~tcp_flag::cwr);
    l4[13] = flags;
  } else {
    store_be16(l4 + 4, static_cast<std::uint16_t>(len - l4_offset_));
  }
  set_l4_checksum(ip, len, l4_offset_, is_v4_, is_tcp_);
  return len;
}

std::size_t GsoSplitter::next(std::span<PacketBuffer* const> buffers) {
  std::size_t filled = 0;
  while (filled < buffers.size() && next_segment_ < segment_count_) {
    PacketBuffer& buffer = *buffers[filled];
    buffer.reset(buffer.headroom());
    const std::size_t index = next_segment_++;
    const std::size_t len = write_segment(index, MutBytes(buffer.data(), buffer.tailroom()));
    if (len == 0) {
      ++stats_.oversized;
      FZ_DEBUG(kLog, "dropped an oversized TUN segment (limit {}, buffer {})", max_packet_size_,
               buffer.tailroom());
      continue;
    }
    buffer.resize(len);
    ++stats_.segments;
    if (gso_) ++stats_.super_packet_segments;
    ++filled;
  }
  return filled;
}

// --- coalescing ------------------------------------------------------------------------------

namespace {

// A TCP packet that GRO could merge: plain IPv4 (no options, not a fragment) or IPv6 without
// extension headers, lengths consistent with the buffer.
struct TcpSegment {
  const std::uint8_t* ip = nullptr;
  std::size_t size = 0;
  bool is_v4 = false;
  std::size_t ip_len = 0;   // 20 or 40
  std::size_t tcp_len = 0;  // with options
  std::size_t payload = 0;
  std::uint32_t seq = 0;
  std::uint8_t flags = 0;

  const std::uint8_t* tcp() const { return ip + ip_len; }
  std::size_t headers() const { return ip_len + tcp_len; }
};

std::optional<TcpSegment> classify(Bytes packet) {
  TcpSegment s;
  s.ip = packet.data();
  s.size = packet.size();
  if (s.size < kIpv4HeaderLen) return std::nullopt;
  const std::uint8_t* ip = s.ip;
  if (ip[0] == 0x45) {
    if (ip[9] != ip_proto::tcp || load_be16(ip + 2) != s.size) return std::nullopt;
    if ((load_be16(ip + 6) & 0x3fffu) != 0) return std::nullopt;  // MF or an offset
    s.is_v4 = true;
    s.ip_len = kIpv4HeaderLen;
  } else if ((ip[0] >> 4) == 6) {
    if (s.size < kIpv6HeaderLen || ip[6] != ip_proto::tcp) return std::nullopt;
    if (load_be16(ip + 4) != s.size - kIpv6HeaderLen) return std::nullopt;
    s.ip_len = kIpv6HeaderLen;
  } else {
    return std::nullopt;
  }
  if (s.size < s.ip_len + kTcpHeaderLen) return std::nullopt;
  s.tcp_len = static_cast<std::size_t>(ip[s.ip_len + 12] >> 4) * 4;
  if (s.tcp_len < kTcpHeaderLen || s.ip_len + s.tcp_len > s.size) return std::nullopt;
  s.payload = s.size - s.ip_len - s.tcp_len;
  s.seq = load_be32(s.tcp() + 4);
  s.flags = s.tcp()[13];
  return s;
}

bool checksums_valid(const TcpSegment& s) {
  if (s.is_v4 && checksum_fold(checksum_partial(Bytes(s.ip, s.ip_len))) != 0xffff) return false;
  const std::uint32_t sum = pseudo_sum(s.ip, s.is_v4, ip_proto::tcp, s.size - s.ip_len);
  return checksum_fold(checksum_partial(Bytes(s.tcp(), s.size - s.ip_len), sum)) == 0xffff;
}

// The open super-packet: its head is already in scratch at `offset + kVirtioNetHdrLen`.
struct Group {
  std::size_t first_packet = 0;
  std::size_t offset = 0;
  std::size_t length = 0;  // header + IP packet so far
  std::size_t segments = 0;
  TcpSegment head;  // `ip` points into scratch
  std::size_t gso_size = 0;
  std::uint32_t next_seq = 0;
  bool closed = false;  // a short or PSH segment ended it
  bool last_psh = false;
};

bool same_flow_headers(const Group& g, const TcpSegment& s) {
  const TcpSegment& h = g.head;
  if (s.is_v4 != h.is_v4 || s.tcp_len != h.tcp_len) return false;
  const std::uint8_t* a = h.ip;
  const std::uint8_t* b = s.ip;
  if (h.is_v4) {
    if (a[1] != b[1] || a[8] != b[8] || (a[6] & 0x40) != (b[6] & 0x40)) return false;
    if (std::memcmp(a + 12, b + 12, 8) != 0) return false;
    if (static_cast<std::uint16_t>(load_be16(a + 4) + g.segments) != load_be16(b + 4)) return false;
  } else {
    if (std::memcmp(a, b, 4) != 0 || a[7] != b[7]) return false;
    if (std::memcmp(a + 8, b + 8, 32) != 0) return false;
  }
  const std::uint8_t* ta = h.tcp();
  const std::uint8_t* tb = s.tcp();
  // Ports, ACK number, data offset, window, urgent pointer and the options must match.
  return std::memcmp(ta, tb, 4) == 0 && std::memcmp(ta + 8, tb + 8, 5) == 0 &&
         std::memcmp(ta + 14, tb + 14, 2) == 0 && std::memcmp(ta + 18, tb + 18, 2) == 0 &&
         std::memcmp(ta + kTcpHeaderLen, tb + kTcpHeaderLen, h.tcp_len - kTcpHeaderLen) == 0;
}

bool can_append(Group& g, const TcpSegment& s) {
  if (g.closed) return false;
  if (s.flags != tcp_flag::ack && s.flags != (tcp_flag::ack | tcp_flag::psh)) return false;
  if (s.payload == 0 || s.payload > g.gso_size || s.seq != g.next_seq) return false;
  if (g.length - kVirtioNetHdrLen + s.payload > kMaxOffloadPacket) return false;
  if (!same_flow_headers(g, s)) return false;
  // GRO drops nothing silently: a corrupt segment is passed on alone so the receiver rejects
  // it, instead of being hidden under the super-packet's fresh checksum.
  if (g.segments == 1 && !checksums_valid(g.head)) {
    g.closed = true;
    return false;
  }
  return checksums_valid(s);
}

void finish(const Group& g, MutBytes scratch, std::vector<OffloadWrite>& writes,
            CoalesceStats& stats) {
  std::uint8_t* out = scratch.data() + g.offset;
  VirtioNetHdr hdr;
  if (g.segments > 1) {
    std::uint8_t* ip = out + kVirtioNetHdrLen;
    const std::size_t len = g.length - kVirtioNetHdrLen;
    const TcpSegment& h = g.head;
    hdr.flags = virtio::kFlagNeedsCsum;
    hdr.gso_type = h.is_v4 ? virtio::kGsoTcpV4 : virtio::kGsoTcpV6;
    hdr.hdr_len = static_cast<std::uint16_t>(h.headers());
    hdr.gso_size = static_cast<std::uint16_t>(g.gso_size);
    hdr.csum_start = static_cast<std::uint16_t>(h.ip_len);
    hdr.csum_offset = kTcpChecksumOffset;
    if (h.is_v4) {
      store_be16(ip + 2, static_cast<std::uint16_t>(len));
      set_ipv4_header_checksum(ip, h.ip_len);
    } else {
      store_be16(ip + 4, static_cast<std::uint16_t>(len - kIpv6HeaderLen));
    }
    std::uint8_t* tcp = ip + h.ip_len;
    if (g.last_psh) tcp[13] |= tcp_flag::psh;
    // NEEDS_CSUM: the field holds the folded pseudo-header sum over the whole L4 length.
    store_be16(tcp + kTcpChecksumOffset, static_cast<std::uint16_t>(checksum_fold(pseudo_sum(
                                             ip, h.is_v4, ip_proto::tcp, len - h.ip_len))));
    ++stats.super_packets;
    stats.coalesced_segments += g.segments;
  }
  hdr.serialize(MutBytes(out, kVirtioNetHdrLen));
  writes.push_back(OffloadWrite{g.offset, g.length, g.segments, g.first_packet});
}

}  // namespace

std::size_t GroCoalescer::coalesce(std::span<const Bytes> packets, MutBytes scratch,
                                   std::vector<OffloadWrite>& writes) {
  writes.clear();
  std::size_t used = 0;
  std::optional<Group> open;
  auto close = [&] {
    if (open) finish(*open, scratch, writes, stats_);
    open.reset();
  };
  std::size_t consumed = 0;
  for (; consumed < packets.size(); ++consumed) {
    const Bytes packet = packets[consumed];
    if (packet.empty() || packet.size() > kMaxOffloadPacket) {
      FZ_DEBUG(kLog, "dropped a {}-byte packet for the TUN device", packet.size());
      ++stats_.packets;
      continue;
    }
    const std::optional<TcpSegment> segment = classify(packet);
    if (open && segment && can_append(*open, *segment)) {
      if (used + segment->payload > scratch.size()) break;
      std::memcpy(scratch.data() + used, segment->tcp() + segment->tcp_len, segment->payload);
      used += segment->payload;
      open->length += segment->payload;
      ++open->segments;
      open->next_seq += static_cast<std::uint32_t>(segment->payload);
      open->closed = segment->payload < open->gso_size || (segment->flags & tcp_flag::psh) != 0;
      open->last_psh = (segment->flags & tcp_flag::psh) != 0;
      ++stats_.packets;
      continue;
    }
    const std::size_t need = offload_write_size(packet.size());
    if (used + need > scratch.size()) {
      // A scratch buffer too small for even one packet would never make progress: drop it.
      if (used == 0) {
        FZ_DEBUG(kLog, "dropped a {}-byte packet: scratch buffer too small", packet.size());
        ++stats_.packets;
        continue;
      }
      break;
    }
    close();
    std::uint8_t* out = scratch.data() + used;
    std::memcpy(out + kVirtioNetHdrLen, packet.data(), packet.size());
    ++stats_.packets;
    if (segment && segment->flags == tcp_flag::ack && segment->payload > 0) {
      Group g;
      g.first_packet = consumed;
      g.offset = used;
      g.length = need;
      g.segments = 1;
      g.head = *segment;
      g.head.ip = out + kVirtioNetHdrLen;
      g.gso_size = segment->payload;
      g.next_seq = segment->seq + static_cast<std::uint32_t>(segment->payload);
      open = g;
    } else {
      VirtioNetHdr{}.serialize(MutBytes(out, kVirtioNetHdrLen));
      writes.push_back(OffloadWrite{used, need, 1, consumed});
    }
    used += need;
  }
  close();
  return consumed;
}

}  // namespace fz::net
