// The `tun-firezone` device: a non-blocking TUN fd plus its netlink configuration
// (spec/gateway-dataplane.md §9.4).
//
// The application owns the event loop: it waits for fd() to become readable (or writable after a
// write came back with `would_block`) with Asio's posix::stream_descriptor::async_wait, then calls
// read_batch()/write(). Nothing here blocks or spawns threads.
//
// configure() applies one portal `init`: MTU 1280, txqueuelen 10 000, the gateway's tunnel
// addresses as /32 and /128, link up, the rule `not fwmark 0xfd002021 lookup 0x2021fd00` for each
// configured family, and the tunnel routes in that table. It only sends what differs from the
// kernel's state, so a repeated `init` with the same addresses changes nothing, and new addresses
// replace the old ones.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "base/buffer.hpp"
#include "base/bytes.hpp"
#include "base/result.hpp"
#include "io/netlink.hpp"
#include "net/ip_addr.hpp"
#include "net/offload.hpp"

namespace fz::io {

inline constexpr const char* kTunName = "tun-firezone";
inline constexpr std::uint32_t kTunMtu = 1280;
inline constexpr std::uint32_t kTunTxQueueLen = 10000;

struct TunOptions {
  std::uint32_t mtu = kTunMtu;
  std::uint32_t txqueuelen = kTunTxQueueLen;
  std::uint32_t fwmark = kFirezoneMark;
  std::uint32_t table = kFirezoneTable;
  // Routed into the device through `table`: all client tunnel IPs.
  std::vector<net::Cidr> routes = {
      net::Cidr(net::IpAddr::v4(100, 64, 0, 0), 11),
      net::Cidr(net::IpAddr::v6(0xfd00, 0x2021, 0x1111, 0, 0, 0, 0, 0), 107),
  };
  // Reads longer than this (the device MTU) are dropped.
  std::size_t max_packet_size = kTunMtu;
  // Open with IFF_VNET_HDR and TUNSETOFFLOAD(CSUM|TSO4|TSO6[|USO4|USO6]): the kernel hands over
  // and takes TCP/UDP super-packets of up to 64 KiB; read_batch splits them and write_batch
  // coalesces TCP segments (net/offload.hpp). Falls back to plain packets if the kernel refuses.
  bool offload = true;
};

struct TunStats {
  std::uint64_t packets_read = 0;
  std::uint64_t read_syscalls = 0;
  std::uint64_t dropped_oversized = 0;
  std::uint64_t read_errors = 0;  // reads that failed with something other than EAGAIN
  bool closed = false;            // a read returned 0 bytes: the device is gone (fatal for the app)
  std::uint64_t packets_written = 0;
  std::uint64_t write_would_block = 0;
  std::uint64_t write_errors = 0;
  // Offload mode only.
  bool offload = false;                   // IFF_VNET_HDR and TUNSETOFFLOAD are in effect
  bool udp_offload = false;               // USO4/USO6 accepted as well
  std::uint64_t super_packets_read = 0;   // reads that carried a GSO super-packet
  std::uint64_t segments_read = 0;        // packets split out of those
  std::uint64_t offload_malformed = 0;    // reads dropped by the splitter
  std::uint64_t checksums_completed = 0;  // NEEDS_CSUM on plain packets
  std::uint64_t write_syscalls = 0;
  std::uint64_t super_packets_written = 0;  // writes that carried more than one TCP segment
  std::uint64_t segments_written = 0;       // packets that went into those
};

class TunDevice {
 public:
  // Opens /dev/net/tun (creating the node if missing), attaches to `name` with IFF_TUN |
  // IFF_NO_PI | IFF_MULTI_QUEUE (one queue) and, with options.offload, IFF_VNET_HDR plus the
  // offloads; makes the fd non-blocking and sets txqueuelen.
  static Result<TunDevice> create(std::string name = kTunName, TunOptions options = {});

  TunDevice(TunDevice&& other) noexcept;
  TunDevice& operator=(TunDevice&& other) noexcept;
  TunDevice(const TunDevice&) = delete;
  TunDevice& operator=(const TunDevice&) = delete;
  ~TunDevice();

  int fd() const { return fd_; }
  const std::string& name() const { return name_; }
  int ifindex() const { return ifindex_; }

  // Applies the gateway's tunnel addresses (see the file comment). A family without an address
  // gets no address, no rule and no routes (the reference adds both routes regardless). Fails only
  // when netlink fails or neither family is given.
  Status configure(std::optional<net::IpAddr> v4, std::optional<net::IpAddr> v6);
  // Makes the device's routes in the Firezone table exactly `routes`.
  Status set_routes(std::span<const net::Cidr> routes);

  // Reads packets into `buffers` (each emptied first, keeping its current headroom: hand in
  // fresh pool buffers) until the device has
  // none left (EAGAIN) or every buffer is filled. Returns how many buffers hold a packet; those
  // come first and in arrival order. Packets longer than max_packet_size are dropped and
  // counted; give buffers more tailroom than max_packet_size so that such a packet is seen whole
  // rather than cut to the buffer. A closed fd or another read error ends the batch early and is
  // logged. In offload mode a read may carry many packets: those that do not fit in `buffers`
  // are kept and come first in the next call.
  std::size_t read_batch(std::span<PacketBuffer* const> buffers);

  // Writes one IP packet (behind a GSO_NONE header in offload mode). Errc::exhausted means the
  // device queue is full (EAGAIN); the packet is
  // not written and the caller may retry after fd() becomes writable or drop it.
  Status write(Bytes ip_packet);
  // Writes packets in order until one would block; returns how many were written or dropped
  // because of a hard error (a failed packet does not stop the batch). In offload mode
  // consecutive TCP segments of one flow go out as one super-packet (one write()); if that write
  // would block, none of its packets count as written.
  std::size_t write_batch(std::span<const Bytes> ip_packets);
  // The same for packets in buffers (what the sans-IO cores hand out).
  std::size_t write_batch(std::span<const PacketBuffer> ip_packets);

  const TunStats& stats() const { return stats_; }

 private:
  TunDevice(int fd, std::string name, int ifindex, TunOptions options, Netlink netlink,
            bool offload, bool udp_offload);

  // One read() into `into`, retried on EINTR. Returns its length, or 0 when the batch must stop:
  // EAGAIN, an error or a closed device (the last two counted and logged).
  std::size_t read_once(MutBytes into);
  std::size_t read_batch_plain(std::span<PacketBuffer* const> buffers);
  std::size_t read_batch_offload(std::span<PacketBuffer* const> buffers);
  std::size_t write_batch_offload(std::span<const Bytes> ip_packets);
  void sync_split_stats();

  int fd_ = -1;
  std::string name_;
  int ifindex_ = 0;
  TunOptions options_;
  Netlink netlink_;
  TunStats stats_;
  // Offload mode: one read of up to 64 KiB + the virtio header, split across read_batch calls.
  std::vector<std::uint8_t> read_scratch_;
  net::GsoSplitter splitter_;
  std::vector<std::uint8_t> write_scratch_;
  std::vector<net::OffloadWrite> writes_;
  std::vector<Bytes> write_views_;
  net::GroCoalescer coalescer_;
};

}  // namespace fz::io
