#include "io/udp_socket.hpp"

#include <netinet/in.h>
#include <netinet/udp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <string_view>
#include <utility>

#include "base/log.hpp"
#include "io/netlink.hpp"

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif
#ifndef UDP_GRO
#define UDP_GRO 104
#endif

namespace fz::io {
namespace {

constexpr const char* kLog = "io::udp";

// Room for IP(V6)_PKTINFO plus UDP_GRO/UDP_SEGMENT, with alignment slack.
constexpr std::size_t kControlSize = 128;
struct alignas(cmsghdr) ControlBuffer {
  std::uint8_t bytes[kControlSize];
};

Error sys_error(std::string_view what) {
  return Error(Errc::state, what, std::strerror(errno));
}

socklen_t to_sockaddr(const net::SocketAddr& addr, sockaddr_storage& out) {
  std::memset(&out, 0, sizeof out);
  if (addr.ip.is_v4()) {
    auto& sin = reinterpret_cast<sockaddr_in&>(out);
    sin.sin_family = AF_INET;
    sin.sin_port = htons(addr.port);
    std::memcpy(&sin.sin_addr, addr.ip.raw().data(), 4);
    return sizeof(sockaddr_in);
  }
  auto& sin6 = reinterpret_cast<sockaddr_in6&>(out);
  sin6.sin6_family = AF_INET6;
  sin6.sin6_port = htons(addr.port);
  std::memcpy(&sin6.sin6_addr, addr.ip.raw().data(), 16);
  return sizeof(sockaddr_in6);
}

std::optional<net::SocketAddr> from_sockaddr(const sockaddr_storage& in) {
  if (in.ss_family == AF_INET) {
    const auto& sin = reinterpret_cast<const sockaddr_in&>(in);
    const auto* b = reinterpret_cast<const std::uint8_t*>(&sin.sin_addr);
    return net::SocketAddr{net::IpAddr::v4(b[0], b[1], b[2], b[3]), ntohs(sin.sin_port)};
  }
  if (in.ss_family == AF_INET6) {
    const auto& sin6 = reinterpret_cast<const sockaddr_in6&>(in);
    std::array<std::uint8_t, 16> raw{};
    std::memcpy(raw.data(), &sin6.sin6_addr, 16);
    return net::SocketAddr{net::IpAddr::v6(raw), ntohs(sin6.sin6_port)};
  }
  return std::nullopt;
}

int env_int(const char* name, int fallback) {
  const char* value = std::getenv(name);
  if (value == nullptr) return fallback;
  std::string_view text(value);
  int parsed = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), parsed);
  if (ec != std::errc() || end != text.data() + text.size() || parsed <= 0) {
    FZ_WARN(kLog, "ignoring {}={:?}: not a positive integer", name, text);
    return fallback;
  }
  return parsed;
}

// Bytes of IP + UDP header the kernel may add per GSO segment; a GSO message must stay below
// 65535 bytes including them.
constexpr std::size_t gso_header_allowance(net::IpFamily family) {
  return family == net::IpFamily::v4 ? 68 : 48;
}

}  // namespace

UdpOptions UdpOptions::from_env() {
  UdpOptions options;
  options.send_buffer_size = env_int("FIREZONE_UDP_SEND_BUFFER_SIZE", kDefaultSendBufferSize);
  options.recv_buffer_size = env_int("FIREZONE_UDP_RECV_BUFFER_SIZE", kDefaultRecvBufferSize);
  return options;
}

// Pre-allocated per-socket arrays for recvmmsg/sendmmsg, so that batches allocate nothing.
struct UdpSocket::Scratch {
  struct Group {
    std::size_t first;  // index into the datagrams given to send_batch
    std::size_t count;
    std::uint16_t segment_size;
  };
  explicit Scratch(std::size_t batch)
      : recv_msgs(batch),
        recv_iov(batch),
        recv_addr(batch),
        recv_control(batch),
        send_msgs(batch),
        send_iov(batch * kMaxGsoSegments),
        send_addr(batch),
        send_control(batch),
        groups(batch) {}

  std::vector<mmsghdr> recv_msgs;
  std::vector<iovec> recv_iov;
  std::vector<sockaddr_storage> recv_addr;
  std::vector<ControlBuffer> recv_control;

  std::vector<mmsghdr> send_msgs;
  std::vector<iovec> send_iov;
  std::vector<sockaddr_storage> send_addr;
  std::vector<ControlBuffer> send_control;
  std::vector<Group> groups;
};

Result<UdpSocket> UdpSocket::bind(net::IpFamily family, std::uint16_t preferred_port,
                                  UdpOptions options) {
  const auto any = net::IpAddr::unspecified(family);
  if (preferred_port != 0) {
    auto socket = bind_exact({any, preferred_port}, options);
    if (socket) return socket;
    FZ_INFO(kLog, "cannot bind UDP port {} ({}), using an ephemeral port", preferred_port,
            socket.error().to_string());
  }
  return bind_exact({any, 0}, options);
}

Result<UdpSocket> UdpSocket::bind_exact(net::SocketAddr address, UdpOptions options) {
  if (options.batch_size == 0) options.batch_size = 1;
  const bool v4 = address.ip.is_v4();
  const int fd = ::socket(v4 ? AF_INET : AF_INET6, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return sys_error("socket(SOCK_DGRAM)");
  auto fail = [fd](Error error) {
    ::close(fd);
    return error;
  };
  const int on = 1;
  if (!v4 && ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof on) != 0) {
    return fail(sys_error("setsockopt(IPV6_V6ONLY)"));
  }
  if (options.fwmark) {
    if (auto status = set_fwmark(fd, *options.fwmark); !status) return fail(status.error());
  }
  // The kernel caps these at wmem_max/rmem_max; a smaller buffer is not an error.
  if (::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &options.send_buffer_size,
                   sizeof options.send_buffer_size) != 0 ||
      ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &options.recv_buffer_size,
                   sizeof options.recv_buffer_size) != 0) {
    FZ_WARN(kLog, "cannot set UDP socket buffer sizes: {}", std::strerror(errno));
  }
  if (v4) {
    const int probe = IP_PMTUDISC_PROBE;
    if (::setsockopt(fd, IPPROTO_IP, IP_MTU_DISCOVER, &probe, sizeof probe) != 0) {
      return fail(sys_error("setsockopt(IP_MTU_DISCOVER)"));
    }
    if (::setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &on, sizeof on) != 0) {
      return fail(sys_error("setsockopt(IP_PKTINFO)"));
    }
  } else {
    const int probe = IPV6_PMTUDISC_PROBE;
    if (::setsockopt(fd, IPPROTO_IPV6, IPV6_MTU_DISCOVER, &probe, sizeof probe) != 0 ||
        ::setsockopt(fd, IPPROTO_IPV6, IPV6_DONTFRAG, &on, sizeof on) != 0) {
      return fail(sys_error("setsockopt(IPV6_MTU_DISCOVER/DONTFRAG)"));
    }
    if (::setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &on, sizeof on) != 0) {
      return fail(sys_error("setsockopt(IPV6_RECVPKTINFO)"));
    }
  }
  bool gro = false;
  if (options.gro) gro = ::setsockopt(fd, IPPROTO_UDP, UDP_GRO, &on, sizeof on) == 0;
  bool gso = false;
  if (options.gso) {
    // Kernels with UDP_SEGMENT (>= 4.18) answer the getsockopt.
    int segment = 0;
    socklen_t len = sizeof segment;
    gso = ::getsockopt(fd, IPPROTO_UDP, UDP_SEGMENT, &segment, &len) == 0;
  }

  sockaddr_storage storage;
  const socklen_t storage_len = to_sockaddr(address, storage);
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&storage), storage_len) != 0) {
    return fail(sys_error("bind"));
  }
  socklen_t bound_len = sizeof storage;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&storage), &bound_len) != 0) {
    return fail(sys_error("getsockname"));
  }
  const auto bound = from_sockaddr(storage);
  if (!bound) return fail(Error(Errc::state, "getsockname: unexpected address family"));
  FZ_INFO(kLog, "listening on UDP {} (GRO {}, GSO {})", bound->to_string(), gro, gso);
  return UdpSocket(fd, address.family(), bound->port, options, gro, gso);
}

UdpSocket::UdpSocket(int fd, net::IpFamily family, std::uint16_t port, UdpOptions options, bool gro,
                     bool gso)
    : fd_(fd),
      family_(family),
      local_port_(port),
      options_(options),
      gro_(gro),
      gso_(gso),
      scratch_(std::make_unique<Scratch>(options.batch_size)) {}

UdpSocket::UdpSocket(UdpSocket&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)),
      family_(other.family_),
      local_port_(other.local_port_),
      options_(other.options_),
      gro_(other.gro_),
      gso_(other.gso_),
      stats_(other.stats_),
      scratch_(std::move(other.scratch_)) {}

UdpSocket& UdpSocket::operator=(UdpSocket&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
    family_ = other.family_;
    local_port_ = other.local_port_;
    options_ = other.options_;
    gro_ = other.gro_;
    gso_ = other.gso_;
    stats_ = other.stats_;
    scratch_ = std::move(other.scratch_);
  }
  return *this;
}

UdpSocket::~UdpSocket() {
  if (fd_ >= 0) ::close(fd_);
}

// ---- receive ---------------------------------------------------------------------------------

std::size_t UdpSocket::recv_batch(std::span<RecvSlot> slots) {
  Scratch& s = *scratch_;
  const std::size_t n = std::min(slots.size(), options_.batch_size);
  if (n == 0) return 0;
  for (std::size_t i = 0; i < n; ++i) {
    PacketBuffer& buffer = slots[i].buffer;
    buffer.reset(buffer.headroom());
    s.recv_iov[i] = {buffer.data(), buffer.tailroom()};
    msghdr& hdr = s.recv_msgs[i].msg_hdr;
    hdr = {};
    hdr.msg_name = &s.recv_addr[i];
    hdr.msg_namelen = sizeof(sockaddr_storage);
    hdr.msg_iov = &s.recv_iov[i];
    hdr.msg_iovlen = 1;
    hdr.msg_control = s.recv_control[i].bytes;
    hdr.msg_controllen = kControlSize;
    s.recv_msgs[i].msg_len = 0;
  }
  int received;
  do {
    ++stats_.recv_syscalls;
    received = ::recvmmsg(fd_, s.recv_msgs.data(), static_cast<unsigned>(n), 0, nullptr);
  } while (received < 0 && errno == EINTR);
  if (received < 0) {
    if (errno != EAGAIN) {
      ++stats_.recv_errors;
      FZ_DEBUG(kLog, "recvmmsg failed: {}", std::strerror(errno));
    }
    return 0;
  }

  std::size_t valid = 0;
  for (std::size_t i = 0; i < static_cast<std::size_t>(received); ++i) {
    ++stats_.recv_messages;
    const msghdr& hdr = s.recv_msgs[i].msg_hdr;
    const std::size_t len = s.recv_msgs[i].msg_len;
    if ((hdr.msg_flags & MSG_TRUNC) != 0) {
      ++stats_.dropped_truncated;
      FZ_DEBUG(kLog, "dropped a truncated datagram");
      continue;
    }
    std::size_t segment = len;
    std::optional<net::IpAddr> local;
    for (cmsghdr* c = CMSG_FIRSTHDR(&hdr); c != nullptr;
         c = CMSG_NXTHDR(const_cast<msghdr*>(&hdr), c)) {
      if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
        in_pktinfo info;
        std::memcpy(&info, CMSG_DATA(c), sizeof info);
        const auto* b = reinterpret_cast<const std::uint8_t*>(&info.ipi_addr);
        local = net::IpAddr::v4(b[0], b[1], b[2], b[3]);
      } else if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO) {
        in6_pktinfo info;
        std::memcpy(&info, CMSG_DATA(c), sizeof info);
        std::array<std::uint8_t, 16> raw{};
        std::memcpy(raw.data(), &info.ipi6_addr, 16);
        local = net::IpAddr::v6(raw);
      } else if (c->cmsg_level == IPPROTO_UDP && c->cmsg_type == UDP_GRO) {
        int gro_size = 0;
        std::memcpy(&gro_size, CMSG_DATA(c), sizeof gro_size);
        if (gro_size > 0) segment = static_cast<std::size_t>(gro_size);
      }
    }
    if (len == 0 || segment == 0) {
      FZ_DEBUG(kLog, "dropped an empty datagram");
      continue;
    }
    if (segment > options_.max_datagram_size) {
      stats_.dropped_oversized += (len + segment - 1) / segment;
      FZ_DEBUG(kLog, "dropped a {}-byte datagram (limit {})", segment, options_.max_datagram_size);
      continue;
    }
    auto source = from_sockaddr(s.recv_addr[i]);
    if (!local || !source) {
      ++stats_.dropped_no_local;
      FZ_DEBUG(kLog, "dropped a datagram without a local address");
      continue;
    }
    RecvSlot& slot = slots[i];
    slot.buffer.resize(len);
    slot.source = *source;
    slot.local = {*local, local_port_};
    slot.segment_size = static_cast<std::uint16_t>(segment);
    stats_.recv_datagrams += slot.segment_count();
    if (i != valid) std::swap(slots[i], slots[valid]);
    ++valid;
  }
  return valid;
}

// ---- send ------------------------------------------------------------------------------------

namespace {

// Writes the pktinfo (if a source is given) and then the UDP_SEGMENT (if segment_size is not 0)
// control messages; returns the control length. UDP_SEGMENT must stay last: the GSO fallback in
// flush() cuts it off.
std::size_t build_control(ControlBuffer& control, const std::optional<net::IpAddr>& source,
                          std::uint16_t segment_size) {
  msghdr hdr{};
  hdr.msg_control = control.bytes;
  hdr.msg_controllen = kControlSize;
  std::size_t used = 0;
  cmsghdr* c = CMSG_FIRSTHDR(&hdr);
  if (source) {
    if (source->is_v4()) {
      c->cmsg_level = IPPROTO_IP;
      c->cmsg_type = IP_PKTINFO;
      c->cmsg_len = CMSG_LEN(sizeof(in_pktinfo));
      in_pktinfo info{};
      std::memcpy(&info.ipi_spec_dst, source->raw().data(), 4);
      std::memcpy(CMSG_DATA(c), &info, sizeof info);
      used += CMSG_SPACE(sizeof(in_pktinfo));
    } else {
      c->cmsg_level = IPPROTO_IPV6;
      c->cmsg_type = IPV6_PKTINFO;
      c->cmsg_len = CMSG_LEN(sizeof(in6_pktinfo));
      in6_pktinfo info{};
      std::memcpy(&info.ipi6_addr, source->raw().data(), 16);
      std::memcpy(CMSG_DATA(c), &info, sizeof info);
      used += CMSG_SPACE(sizeof(in6_pktinfo));
    }
    c = reinterpret_cast<cmsghdr*>(control.bytes + used);
  }
  if (segment_size != 0) {
    c->cmsg_level = IPPROTO_UDP;
    c->cmsg_type = UDP_SEGMENT;
    c->cmsg_len = CMSG_LEN(sizeof(std::uint16_t));
    std::memcpy(CMSG_DATA(c), &segment_size, sizeof segment_size);
    used += CMSG_SPACE(sizeof(std::uint16_t));
  }
  return used;
}

bool same_path(const OutDatagram& a, const OutDatagram& b) {
  return a.destination == b.destination && a.source == b.source;
}

}  // namespace

std::size_t UdpSocket::send_batch(std::span<const OutDatagram> datagrams) {
  Scratch& s = *scratch_;
  std::size_t consumed = 0;
  while (consumed < datagrams.size()) {
    std::size_t next = consumed;
    std::size_t messages = 0;
    std::size_t iov_used = 0;
    while (next < datagrams.size() && messages < options_.batch_size) {
      const OutDatagram& first = datagrams[next];
      const std::size_t size = first.payload.size();
      const bool valid = first.destination.family() == family_ &&
                         (!first.source || first.source->family() == family_) && size != 0 &&
                         size <= kMaxGroBufferSize - gso_header_allowance(family_);
      if (!valid) {
        if (messages != 0) break;  // send what is prepared first, keeping the order
        ++stats_.send_errors;
        FZ_DEBUG(kLog, "dropped an unsendable datagram to {} ({} bytes)",
                 first.destination.to_string(), size);
        consumed = ++next;
        continue;
      }
      std::size_t max_segments = 1;
      if (gso_) {
        max_segments =
            std::min(kMaxGsoSegments, (kMaxGroBufferSize - gso_header_allowance(family_)) / size);
      }
      std::size_t count = 1;
      s.send_iov[iov_used] = {const_cast<std::uint8_t*>(first.payload.data()), size};
      while (next + count < datagrams.size() && count < max_segments) {
        const OutDatagram& candidate = datagrams[next + count];
        const std::size_t candidate_size = candidate.payload.size();
        if (!same_path(first, candidate) || candidate_size > size || candidate_size == 0) break;
        s.send_iov[iov_used + count] = {const_cast<std::uint8_t*>(candidate.payload.data()),
                                        candidate_size};
        ++count;
        if (candidate_size < size) break;  // a short datagram ends a GSO message
      }
      const auto segment_size = static_cast<std::uint16_t>(count > 1 ? size : 0);
      msghdr& hdr = s.send_msgs[messages].msg_hdr;
      hdr = {};
      hdr.msg_name = &s.send_addr[messages];
      hdr.msg_namelen = to_sockaddr(first.destination, s.send_addr[messages]);
      hdr.msg_iov = &s.send_iov[iov_used];
      hdr.msg_iovlen = count;
      const std::size_t control_len =
          build_control(s.send_control[messages], first.source, segment_size);
      hdr.msg_control = control_len != 0 ? s.send_control[messages].bytes : nullptr;
      hdr.msg_controllen = control_len;
      s.groups[messages] = {next, count, static_cast<std::uint16_t>(size)};
      ++messages;
      iov_used += count;
      next += count;
    }
    if (messages == 0) continue;
    const std::size_t sent = flush(messages);
    const std::size_t prepared = next - consumed;
    consumed += sent;
    if (sent < prepared) break;  // would block
  }
  return consumed;
}

std::size_t UdpSocket::flush(std::size_t count) {
  Scratch& s = *scratch_;
  std::size_t done = 0;  // datagrams
  std::size_t k = 0;     // messages
  while (k < count) {
    ++stats_.send_syscalls;
    const int r = ::sendmmsg(fd_, &s.send_msgs[k], static_cast<unsigned>(count - k), 0);
    if (r > 0) {
      for (int j = 0; j < r; ++j) {
        done += s.groups[k + j].count;
        stats_.send_datagrams += s.groups[k + j].count;
      }
      stats_.send_messages += static_cast<std::uint64_t>(r);
      k += static_cast<std::size_t>(r);
      continue;
    }
    const int error = errno;
    if (error == EINTR) continue;
    if (error == EAGAIN) {
      ++stats_.send_would_block;
      return done;
    }
    const Scratch::Group& group = s.groups[k];
    msghdr& hdr = s.send_msgs[k].msg_hdr;
    if (group.count > 1 && (error == EMSGSIZE || error == EIO || error == EINVAL)) {
      // The kernel refused the GSO message; send its datagrams one by one.
      ++stats_.gso_fallbacks;
      if (error == EIO) gso_ = false;  // the device cannot segment: stop trying
      FZ_DEBUG(kLog, "GSO send failed ({}), sending {} datagrams singly", std::strerror(error),
               group.count);
      // UDP_SEGMENT is the last control message; keep only what precedes it (the pktinfo).
      const std::size_t control_len = hdr.msg_controllen - CMSG_SPACE(sizeof(std::uint16_t));
      msghdr single = hdr;
      single.msg_controllen = control_len;
      if (control_len == 0) single.msg_control = nullptr;
      for (std::size_t j = 0; j < group.count; ++j) {
        single.msg_iov = hdr.msg_iov + j;
        single.msg_iovlen = 1;
        ++stats_.send_syscalls;
        ssize_t sr;
        do {
          sr = ::sendmsg(fd_, &single, 0);
        } while (sr < 0 && errno == EINTR);
        if (sr < 0 && errno == EAGAIN) {
          ++stats_.send_would_block;
          return done + j;
        }
        if (sr < 0) {
          ++stats_.send_errors;
          FZ_DEBUG(kLog, "send failed: {}", std::strerror(errno));
        } else {
          ++stats_.send_datagrams;
          ++stats_.send_messages;
        }
      }
      done += group.count;
      ++k;
      continue;
    }
    // A hard error for this destination (unreachable network, EPERM from a firewall, ...): drop
    // the message and carry on with the rest.
    stats_.send_errors += group.count;
    FZ_DEBUG(kLog, "dropped {} datagram(s): {}", group.count, std::strerror(error));
    done += group.count;
    ++k;
  }
  return done;
}

}  // namespace fz::io
