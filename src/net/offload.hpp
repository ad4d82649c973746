// TUN offloads: the virtio-net header that a TUN device opened with IFF_VNET_HDR puts in front of
// every packet, the splitter that turns one offloaded read (a TSO/USO "super-packet") into the
// individual IP packets it stands for, and the coalescer that merges consecutive TCP segments of
// one flow into such a super-packet for writing, the way a receiver's GRO would.
//
// Why: with TUNSETOFFLOAD(CSUM|TSO4|TSO6|USO4|USO6) the kernel hands us up to 64 KiB of one flow
// per read() and takes as much per write(), so the number of TUN syscalls per byte drops by the
// segment count (spec testing-and-operations §5.2: ~2x single-stream TCP).
//
// Kernel facts this relies on (include/uapi/linux/virtio_net.h, drivers/net/tun.c, verified on
// 6.18): the header is 10 bytes in host byte order (the TUN device is little-endian unless
// TUNSETVNETBE); `csum_start` is where the L4 header starts and `csum_offset` the checksum field
// inside it; with NEEDS_CSUM the checksum field holds the folded, non-complemented pseudo-header
// sum (addresses, protocol, L4 length of the whole super-packet) and the device completes it.
// Nothing here allocates; both classes work on caller-provided memory.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "base/buffer.hpp"
#include "base/bytes.hpp"

namespace fz::net {

inline constexpr std::size_t kVirtioNetHdrLen = 10;
// The largest packet one offloaded read or write carries (IPv4 total length / IPv6 payload limit).
inline constexpr std::size_t kMaxOffloadPacket = 65535;

namespace virtio {
inline constexpr std::uint8_t kFlagNeedsCsum = 1;
inline constexpr std::uint8_t kFlagDataValid = 2;
inline constexpr std::uint8_t kGsoNone = 0;
inline constexpr std::uint8_t kGsoTcpV4 = 1;
inline constexpr std::uint8_t kGsoUdp = 3;  // legacy UFO: IP fragmentation, not supported
inline constexpr std::uint8_t kGsoTcpV6 = 4;
inline constexpr std::uint8_t kGsoUdpL4 = 5;
inline constexpr std::uint8_t kGsoEcn = 0x80;  // flag on TCPV4/TCPV6: the flow uses ECN (CWR)
}  // namespace virtio

struct VirtioNetHdr {
  std::uint8_t flags = 0;
  std::uint8_t gso_type = virtio::kGsoNone;
  std::uint16_t hdr_len = 0;
  std::uint16_t gso_size = 0;
  std::uint16_t csum_start = 0;
  std::uint16_t csum_offset = 0;

  // nullopt when `data` is shorter than the header.
  static std::optional<VirtioNetHdr> parse(Bytes data);
  // Writes the 10 bytes at the start of `out` (which must hold them).
  void serialize(MutBytes out) const;

  friend bool operator==(const VirtioNetHdr&, const VirtioNetHdr&) = default;
};

struct SplitStats {
  std::uint64_t reads = 0;                  // loads accepted (plain and offloaded)
  std::uint64_t super_packets = 0;          // loads with a GSO type
  std::uint64_t segments = 0;               // packets handed out
  std::uint64_t super_packet_segments = 0;  // those that came out of a super-packet
  std::uint64_t checksums_completed = 0;    // NEEDS_CSUM on a non-GSO packet
  std::uint64_t malformed = 0;              // loads dropped as a whole
  std::uint64_t oversized = 0;              // segments longer than the limit or the caller's buffer
};

// Turns one TUN read (virtio-net header + packet) into single IP packets with complete headers
// and checksums: IPv4 total length, identification (+1 per segment) and header checksum, IPv6
// payload length, TCP sequence numbers and flags (FIN/PSH only on the last segment, CWR only on
// the first), UDP length, and the full L4 checksum.
//
// load() validates and keeps a view of the read; next() copies segments into buffers and may be
// called again when the caller ran out of buffers: the cursor resumes where it stopped. The view
// must stay valid until pending() is false or the next load().
class GsoSplitter {
 public:
  // Segments longer than `max_packet_size` are dropped and counted (the TUN MTU policy).
  explicit GsoSplitter(std::size_t max_packet_size = kMaxOffloadPacket)
      : max_packet_size_(max_packet_size) {}

  // False (and nothing pending) when the read is malformed; it is counted and logged at debug.
  // Any segments still pending from the previous load are discarded.
  bool load(Bytes read);
  bool pending() const { return next_segment_ < segment_count_; }
  std::size_t remaining() const { return segment_count_ - next_segment_; }

  // Fills `buffers` in order, each reset to its current headroom, with the next segments. Returns
  // how many buffers hold a packet (fewer than buffers.size() only when nothing is pending).
  std::size_t next(std::span<PacketBuffer* const> buffers);

  const SplitStats& stats() const { return stats_; }

 private:
  // Writes segment `index` into `out` and returns its length (0: dropped as oversized).
  std::size_t write_segment(std::size_t index, MutBytes out);

  std::size_t max_packet_size_;
  Bytes packet_;  // the IP packet after the virtio header
  VirtioNetHdr hdr_{};
  bool is_v4_ = false;
  bool is_tcp_ = false;
  bool gso_ = false;
  std::size_t l4_offset_ = 0;    // csum_start
  std::size_t headers_len_ = 0;  // IP + L4 header, copied into every segment
  std::size_t segment_count_ = 0;
  std::size_t next_segment_ = 0;
  SplitStats stats_;
};

// One write() for the TUN device: `length` bytes at `offset` in the scratch buffer, starting with
// a virtio-net header, carrying `segments` IP packets.
struct OffloadWrite {
  std::size_t offset = 0;
  std::size_t length = 0;
  std::size_t segments = 0;
  std::size_t first_packet = 0;  // index of its first packet in the coalesce() input
  friend bool operator==(const OffloadWrite&, const OffloadWrite&) = default;
};

struct CoalesceStats {
  std::uint64_t packets = 0;             // input packets consumed
  std::uint64_t super_packets = 0;       // writes carrying more than one segment
  std::uint64_t coalesced_segments = 0;  // packets that went into those
};

// Merges consecutive TCP segments of one flow into GSO super-packets, under the rules of Linux
// GRO (tcp_gro_receive/inet_gro_receive/ipv6_gro_receive): same addresses, ports, IP version,
// TTL/hop limit, TOS / first IPv6 word (traffic class, flow label), IPv4 DF and incrementing
// identification, no IPv4 options or IPv6 extension headers, contiguous sequence numbers, same
// ACK number, window and TCP option bytes, only ACK set (PSH allowed on the last), a valid TCP
// checksum, equal payload sizes except a shorter last one, and at most 64 KiB in total.
// Everything else is written as is behind a GSO_NONE header. Packets keep their order.
class GroCoalescer {
 public:
  // Lays out `packets` (in order) in `scratch` and appends one OffloadWrite per write() to
  // `writes` (cleared first; its capacity is reused). Returns how many packets were consumed:
  // all of them unless `scratch` filled up, then the caller writes and calls again with the rest.
  // A packet longer than kMaxOffloadPacket is consumed and dropped.
  std::size_t coalesce(std::span<const Bytes> packets, MutBytes scratch,
                       std::vector<OffloadWrite>& writes);

  const CoalesceStats& stats() const { return stats_; }

 private:
  CoalesceStats stats_;
};

// The bytes one non-offloaded packet needs in the scratch buffer; size scratch buffers with it.
constexpr std::size_t offload_write_size(std::size_t packet_len) {
  return kVirtioNetHdrLen + packet_len;
}

}  // namespace fz::net
