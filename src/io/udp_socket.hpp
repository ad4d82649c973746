// The gateway's UDP sockets for WireGuard, ICE and TURN traffic (spec/gateway-dataplane.md §9.3,
// spec/p2p-connections.md §2): one per family, batched both ways.
//
// * bind(): port 52625, else an ephemeral port; non-blocking; SO_MARK 0xfd002021; SO_SNDBUF 1 MiB
//   and SO_RCVBUF 10 MiB (FIREZONE_UDP_SEND_BUFFER_SIZE / FIREZONE_UDP_RECV_BUFFER_SIZE override);
//   DF set (IP_PMTUDISC_PROBE / IPV6_DONTFRAG); IP_PKTINFO / IPV6_RECVPKTINFO; UDP_GRO; IPv6 is
//   V6ONLY.
// * recv_batch(): one recvmmsg. Each message reports its source, the local address it was sent
//   to (from pktinfo) and, with GRO, several equal-size datagrams coalesced in one buffer together
//   with their segment size. Messages whose datagrams exceed the maximum size, that were
//   truncated, or whose local address is unknown are dropped before the caller sees them.
// * send_batch(): consecutive datagrams with the same (source, destination) become one message
//   with UDP_SEGMENT (GSO) as long as they have the first one's size (a shorter one may end the
//   group), all messages go out in one sendmmsg. The payloads are gathered with iovecs, never
//   copied. A GSO message the kernel refuses (EMSGSIZE/EIO, e.g. a device without checksum
//   offload) is re-sent as plain datagrams.
//
// The application waits for fd() readiness with Asio (posix::stream_descriptor::async_wait) and
// then calls recv_batch until it returns 0, or send_batch again after `would_block`.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "base/buffer.hpp"
#include "base/bytes.hpp"
#include "base/result.hpp"
#include "net/ip_addr.hpp"

namespace fz::io {

inline constexpr std::uint16_t kDefaultUdpPort = 52625;
inline constexpr int kDefaultSendBufferSize = 1 << 20;    // 1 MiB
inline constexpr int kDefaultRecvBufferSize = 10 << 20;   // 10 MiB
inline constexpr std::size_t kMaxFirezonePayload = 1316;  // MAX_FZ_PAYLOAD = 1280 + 32 + 4
inline constexpr std::size_t kMaxGroBufferSize = 65535;   // one GRO super-datagram
inline constexpr std::size_t kMaxGsoSegments = 64;        // the kernel's UDP_MAX_SEGMENTS

struct UdpOptions {
  std::optional<std::uint32_t> fwmark = 0xfd002021;
  int send_buffer_size = kDefaultSendBufferSize;
  int recv_buffer_size = kDefaultRecvBufferSize;
  // Datagrams larger than this are dropped on receipt.
  std::size_t max_datagram_size = kMaxFirezonePayload;
  // Messages per recvmmsg/sendmmsg call.
  std::size_t batch_size = 32;
  bool gro = true;
  bool gso = true;

  // The defaults, with FIREZONE_UDP_SEND_BUFFER_SIZE / FIREZONE_UDP_RECV_BUFFER_SIZE applied.
  static UdpOptions from_env();
};

// One receive buffer and what recv_batch learnt about the message that landed in it.
struct RecvSlot {
  explicit RecvSlot(std::size_t capacity = kMaxGroBufferSize, std::size_t headroom = 0)
      : buffer(capacity + headroom, headroom) {}

  PacketBuffer buffer;  // the payload: one datagram, or several with GRO
  net::SocketAddr source;
  net::SocketAddr local;           // the address the datagrams were sent to (port = our port)
  std::uint16_t segment_size = 0;  // size of every datagram but possibly the shorter last

  std::size_t segment_count() const {
    return segment_size == 0 ? 0 : (buffer.size() + segment_size - 1) / segment_size;
  }
  MutBytes segment(std::size_t i) {
    const std::size_t begin = i * segment_size;
    const std::size_t len = std::min<std::size_t>(segment_size, buffer.size() - begin);
    return buffer.span().subspan(begin, len);
  }
};

struct OutDatagram {
  std::optional<net::IpAddr>
      source;  // sent from this local address (pktinfo), else the kernel picks
  net::SocketAddr destination;
  Bytes payload;
};

struct UdpStats {
  std::uint64_t recv_syscalls = 0;
  std::uint64_t recv_messages = 0;
  std::uint64_t recv_datagrams = 0;
  std::uint64_t dropped_oversized = 0;
  std::uint64_t dropped_truncated = 0;
  std::uint64_t dropped_no_local = 0;
  std::uint64_t recv_errors = 0;
  std::uint64_t send_syscalls = 0;
  std::uint64_t send_messages = 0;
  std::uint64_t send_datagrams = 0;
  std::uint64_t send_would_block = 0;
  std::uint64_t send_errors = 0;    // datagrams dropped on a send error
  std::uint64_t gso_fallbacks = 0;  // GSO messages re-sent as plain datagrams
};

class UdpSocket {
 public:
  // Binds [::]/0.0.0.0 on `preferred_port`, or on an ephemeral port if that one is taken (or if
  // `preferred_port` is 0).
  static Result<UdpSocket> bind(net::IpFamily family,
                                std::uint16_t preferred_port = kDefaultUdpPort,
                                UdpOptions options = {});
  // Binds exactly `address` (tests, or a specific interface); no fallback.
  static Result<UdpSocket> bind_exact(net::SocketAddr address, UdpOptions options = {});

  UdpSocket(UdpSocket&& other) noexcept;
  UdpSocket& operator=(UdpSocket&& other) noexcept;
  UdpSocket(const UdpSocket&) = delete;
  UdpSocket& operator=(const UdpSocket&) = delete;
  ~UdpSocket();

  int fd() const { return fd_; }
  net::IpFamily family() const { return family_; }
  std::uint16_t local_port() const { return local_port_; }
  bool gro_enabled() const { return gro_; }
  bool gso_enabled() const { return gso_; }
  const UdpOptions& options() const { return options_; }
  const UdpStats& stats() const { return stats_; }

  // One recvmmsg into up to min(slots.size(), batch_size) slots. Returns how many slots hold a
  // message (valid ones are moved to the front); 0 when nothing is waiting.
  std::size_t recv_batch(std::span<RecvSlot> slots);

  // Sends datagrams in order. Returns how many were consumed (sent, or dropped on a hard error);
  // fewer than given means the socket buffer is full: wait for writability and send the rest.
  std::size_t send_batch(std::span<const OutDatagram> datagrams);

 private:
  struct Scratch;
  UdpSocket(int fd, net::IpFamily family, std::uint16_t port, UdpOptions options, bool gro,
            bool gso);
  // Sends messages [first, first + count) of the prepared scratch; returns how many went out or
  // were dropped, stopping at EAGAIN.
  std::size_t flush(std::size_t count);

  int fd_ = -1;
  net::IpFamily family_ = net::IpFamily::v4;
  std::uint16_t local_port_ = 0;
  UdpOptions options_;
  bool gro_ = false;
  bool gso_ = false;
  UdpStats stats_;
  std::unique_ptr<Scratch> scratch_;
};

}  // namespace fz::io
