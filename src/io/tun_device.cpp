#include "io/tun_device.hpp"

#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "base/log.hpp"

namespace fz::io {
namespace {

constexpr const char* kLog = "io::tun";
constexpr const char* kTunPath = "/dev/net/tun";

// Debian 12's 6.1 UAPI headers predate USO (kernel 6.2).
#ifndef TUN_F_USO4
#define TUN_F_USO4 0x20
#endif
#ifndef TUN_F_USO6
#define TUN_F_USO6 0x40
#endif

constexpr unsigned kTcpOffloads = TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN;
constexpr unsigned kUdpOffloads = TUN_F_USO4 | TUN_F_USO6;
// Room for several 64 KiB super-packets per write_batch round.
constexpr std::size_t kWriteScratchSize = 4 * (net::kVirtioNetHdrLen + net::kMaxOffloadPacket);

Error sys_error(std::string_view what) {
  return Error(Errc::state, what, std::strerror(errno));
}

// Containers sometimes lack the node; the reference creates it the same way (char 10:200).
Status ensure_tun_node() {
  struct stat st {};
  if (::stat(kTunPath, &st) == 0) return {};
  if (::mkdir("/dev/net", 0751) != 0 && errno != EEXIST) return sys_error("mkdir /dev/net");
  if (::mknod(kTunPath, S_IFCHR | 0666, makedev(10, 200)) != 0 && errno != EEXIST) {
    return sys_error("mknod /dev/net/tun");
  }
  return {};
}

struct Offloads {
  bool enabled = false;
  bool udp = false;
};

Result<int> open_queue(const std::string& name, bool vnet_hdr) {
  int fd = ::open(kTunPath, O_RDWR | O_CLOEXEC);
  if (fd < 0) return sys_error("open /dev/net/tun");
  ifreq request{};
  std::memcpy(request.ifr_name, name.data(), name.size());
  request.ifr_flags =
      static_cast<short>(IFF_TUN | IFF_NO_PI | IFF_MULTI_QUEUE | (vnet_hdr ? IFF_VNET_HDR : 0));
  if (::ioctl(fd, TUNSETIFF, &request) != 0) {
    auto error = sys_error("ioctl(TUNSETIFF)");
    ::close(fd);
    return error;
  }
  return fd;
}

// TUNSETOFFLOAD with USO needs kernel 6.2; without it TCP offloads alone still pay off.
Offloads enable_offloads(int fd) {
  int header_size = static_cast<int>(net::kVirtioNetHdrLen);
  if (::ioctl(fd, TUNSETVNETHDRSZ, &header_size) != 0) {
    FZ_INFO(kLog, "TUN offloads unavailable: TUNSETVNETHDRSZ failed: {}", std::strerror(errno));
    return {};
  }
  if (::ioctl(fd, TUNSETOFFLOAD, kTcpOffloads | kUdpOffloads) == 0) return {true, true};
  const int uso_errno = errno;
  if (::ioctl(fd, TUNSETOFFLOAD, kTcpOffloads) == 0) {
    FZ_INFO(kLog, "TUN UDP segmentation offload unavailable ({}); using TCP offloads only",
            std::strerror(uso_errno));
    return {true, false};
  }
  FZ_INFO(kLog, "TUN offloads unavailable: TUNSETOFFLOAD failed: {}", std::strerror(errno));
  return {};
}

}  // namespace

Result<TunDevice> TunDevice::create(std::string name, TunOptions options) {
  if (name.empty() || name.size() >= IFNAMSIZ) {
    return Error(Errc::config, "invalid TUN device name", name);
  }
  FZ_TRY_STATUS(ensure_tun_node());
  Offloads offloads;
  int fd = -1;
  if (options.offload) {
    auto opened = open_queue(name, true);
    if (opened) {
      fd = *opened;
      offloads = enable_offloads(fd);
      if (!offloads.enabled) {
        // The header cannot be switched off on an attached queue: reopen without it. The
        // device is not persistent, so closing its only queue removes it first.
        ::close(fd);
        fd = -1;
      }
    } else {
      FZ_INFO(kLog, "TUN offloads unavailable: {}", opened.error().to_string());
    }
  }
  if (fd < 0) {
    auto opened = open_queue(name, false);
    if (!opened) return opened.error();
    fd = *opened;
  }
  if (int flags = ::fcntl(fd, F_GETFL);
      flags < 0 || ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0) {
    auto error = sys_error("fcntl(O_NONBLOCK)");
    ::close(fd);
    return error;
  }
  auto netlink = Netlink::open();
  if (!netlink) {
    ::close(fd);
    return netlink.error();
  }
  auto link = netlink->link(name);
  if (!link) {
    ::close(fd);
    return link.error();
  }
  TunDevice device(fd, std::move(name), link->index, std::move(options), std::move(*netlink),
                   offloads.enabled, offloads.udp);
  // txqueuelen at creation, like the reference; configure() re-checks it.
  if (auto status = device.netlink_.set_link(device.ifindex_, std::nullopt,
                                             device.options_.txqueuelen, std::nullopt);
      !status) {
    FZ_WARN(kLog, "could not set txqueuelen on {}: {}", device.name_, status.error().to_string());
  }
  FZ_INFO(kLog, "opened TUN device {} (index {}, offloads: {})", device.name_, device.ifindex_,
          offloads.enabled ? (offloads.udp ? "TCP and UDP" : "TCP") : "off");
  return device;
}

TunDevice::TunDevice(int fd, std::string name, int ifindex, TunOptions options, Netlink netlink,
                     bool offload, bool udp_offload)
    : fd_(fd),
      name_(std::move(name)),
      ifindex_(ifindex),
      options_(std::move(options)),
      netlink_(std::move(netlink)),
      splitter_(options_.max_packet_size) {
  stats_.offload = offload;
  stats_.udp_offload = udp_offload;
  if (offload) {
    read_scratch_.resize(net::kVirtioNetHdrLen + net::kMaxOffloadPacket);
    write_scratch_.resize(kWriteScratchSize);
  }
}

TunDevice::TunDevice(TunDevice&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)),
      name_(std::move(other.name_)),
      ifindex_(other.ifindex_),
      options_(std::move(other.options_)),
      netlink_(std::move(other.netlink_)),
      stats_(other.stats_),
      read_scratch_(std::move(other.read_scratch_)),
      splitter_(std::move(other.splitter_)),
      write_scratch_(std::move(other.write_scratch_)),
      writes_(std::move(other.writes_)),
      coalescer_(std::move(other.coalescer_)) {}

TunDevice& TunDevice::operator=(TunDevice&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
    name_ = std::move(other.name_);
    ifindex_ = other.ifindex_;
    options_ = std::move(other.options_);
    netlink_ = std::move(other.netlink_);
    stats_ = other.stats_;
    // The splitter's view points into read_scratch_'s heap block, which moves along.
    read_scratch_ = std::move(other.read_scratch_);
    splitter_ = std::move(other.splitter_);
    write_scratch_ = std::move(other.write_scratch_);
    writes_ = std::move(other.writes_);
    coalescer_ = std::move(other.coalescer_);
  }
  return *this;
}

TunDevice::~TunDevice() {
  if (fd_ >= 0) ::close(fd_);
}

Status TunDevice::configure(std::optional<net::IpAddr> v4, std::optional<net::IpAddr> v6) {
  if (v4 && !v4->is_v4()) return Error(Errc::config, "IPv4 tunnel address is not IPv4");
  if (v6 && !v6->is_v6()) return Error(Errc::config, "IPv6 tunnel address is not IPv6");
  if (!v4 && !v6) return Error(Errc::config, "no tunnel address to configure");

  std::vector<InterfaceAddress> wanted;
  if (v4) wanted.push_back({*v4, 32});
  if (v6) wanted.push_back({*v6, 128});

  // MTU before addresses: IPv6 addresses need an MTU of at least 1280 to stay on the link.
  FZ_TRY_STATUS(netlink_.set_link(ifindex_, options_.mtu, options_.txqueuelen, std::nullopt));
  auto addresses = netlink_.sync_addresses(ifindex_, wanted);
  if (!addresses) return addresses.error();
  FZ_TRY_STATUS(netlink_.set_link(ifindex_, std::nullopt, std::nullopt, true));
  for (const auto& address : wanted) {
    auto added =
        netlink_.ensure_fwmark_rule(address.address.family(), options_.fwmark, options_.table);
    if (!added) return added.error();
  }
  // Routes only for the families that have an address: without a source address the kernel
  // could not use them, and on a host with IPv6 disabled the IPv6 route cannot even be added.
  std::vector<net::Cidr> routes;
  for (const auto& route : options_.routes) {
    if ((route.family() == net::IpFamily::v4 && v4) ||
        (route.family() == net::IpFamily::v6 && v6)) {
      routes.push_back(route);
    }
  }
  FZ_TRY_STATUS(set_routes(routes));
  FZ_INFO(kLog, "{} configured: {} address(es) added, {} removed", name_, addresses->added,
          addresses->removed);
  return {};
}

Status TunDevice::set_routes(std::span<const net::Cidr> routes) {
  auto result = netlink_.sync_routes(ifindex_, options_.table, routes);
  if (!result) return result.error();
  if (result->added != 0 || result->removed != 0) {
    FZ_DEBUG(kLog, "{} routes: {} added, {} removed", name_, result->added, result->removed);
  }
  return {};
}

std::size_t TunDevice::read_batch(std::span<PacketBuffer* const> buffers) {
  return stats_.offload ? read_batch_offload(buffers) : read_batch_plain(buffers);
}

std::size_t TunDevice::read_once(MutBytes into) {
  for (;;) {
    ++stats_.read_syscalls;
    const ssize_t n = ::read(fd_, into.data(), into.size());
    if (n > 0) return static_cast<std::size_t>(n);
    if (n == 0) {
      stats_.closed = true;
      FZ_WARN(kLog, "read from {} returned 0 bytes (fd closed)", name_);
      return 0;
    }
    if (errno == EINTR) continue;
    if (errno != EAGAIN) {
      ++stats_.read_errors;
      FZ_WARN(kLog, "read from {} failed: {}", name_, std::strerror(errno));
    }
    return 0;
  }
}

std::size_t TunDevice::read_batch_plain(std::span<PacketBuffer* const> buffers) {
  std::size_t filled = 0;
  while (filled < buffers.size()) {
    PacketBuffer& buffer = *buffers[filled];
    buffer.reset(buffer.headroom());
    const std::size_t n = read_once(MutBytes(buffer.data(), buffer.tailroom()));
    if (n == 0) break;
    if (n > options_.max_packet_size) {
      ++stats_.dropped_oversized;
      FZ_DEBUG(kLog, "dropped a {}-byte packet from {} (limit {})", n, name_,
               options_.max_packet_size);
      continue;
    }
    buffer.resize(n);
    ++stats_.packets_read;
    ++filled;
  }
  return filled;
}

std::size_t TunDevice::read_batch_offload(std::span<PacketBuffer* const> buffers) {
  std::size_t filled = 0;
  while (filled < buffers.size()) {
    if (splitter_.pending()) {
      filled += splitter_.next(buffers.subspan(filled));
      continue;
    }
    const std::size_t n = read_once(MutBytes(read_scratch_.data(), read_scratch_.size()));
    if (n == 0) break;
    (void)splitter_.load(Bytes(read_scratch_.data(), n));
  }
  sync_split_stats();
  return filled;
}

void TunDevice::sync_split_stats() {
  const net::SplitStats& s = splitter_.stats();
  stats_.packets_read = s.segments;
  stats_.dropped_oversized = s.oversized;
  stats_.super_packets_read = s.super_packets;
  stats_.offload_malformed = s.malformed;
  stats_.checksums_completed = s.checksums_completed;
  stats_.segments_read = s.super_packet_segments;
}

Status TunDevice::write(Bytes ip_packet) {
  // In offload mode a zero header (GSO_NONE without NEEDS_CSUM) goes first: the packet goes in
  // as it is.
  std::uint8_t header[net::kVirtioNetHdrLen] = {};
  iovec parts[2] = {{header, sizeof header},
                    {const_cast<std::uint8_t*>(ip_packet.data()), ip_packet.size()}};
  iovec* const first = stats_.offload ? parts : parts + 1;
  const int count = stats_.offload ? 2 : 1;
  for (;;) {
    ++stats_.write_syscalls;
    const ssize_t n = ::writev(fd_, first, count);
    if (n >= 0) {
      ++stats_.packets_written;
      return {};
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN) {
      ++stats_.write_would_block;
      return Error(Errc::exhausted, "TUN write would block");
    }
    ++stats_.write_errors;
    return Error(Errc::state, "TUN write failed", std::strerror(errno));
  }
}

std::size_t TunDevice::write_batch(std::span<const Bytes> ip_packets) {
  if (stats_.offload) return write_batch_offload(ip_packets);
  std::size_t done = 0;
  for (Bytes packet : ip_packets) {
    auto status = write(packet);
    if (!status && status.error().code() == Errc::exhausted) break;
    if (!status) FZ_DEBUG(kLog, "dropped a packet to {}: {}", name_, status.error().to_string());
    ++done;
  }
  return done;
}

std::size_t TunDevice::write_batch(std::span<const PacketBuffer> ip_packets) {
  write_views_.clear();
  for (const PacketBuffer& p : ip_packets)
    write_views_.push_back(p.span());
  return write_batch(std::span<const Bytes>(write_views_));
}

std::size_t TunDevice::write_batch_offload(std::span<const Bytes> ip_packets) {
  std::size_t done = 0;
  while (done < ip_packets.size()) {
    const std::size_t consumed =
        coalescer_.coalesce(ip_packets.subspan(done), write_scratch_, writes_);
    for (const net::OffloadWrite& w : writes_) {
      for (;;) {
        ++stats_.write_syscalls;
        const ssize_t n = ::write(fd_, write_scratch_.data() + w.offset, w.length);
        if (n >= 0) {
          stats_.packets_written += w.segments;
          if (w.segments > 1) {
            ++stats_.super_packets_written;
            stats_.segments_written += w.segments;
          }
          break;
        }
        if (errno == EINTR) continue;
        if (errno == EAGAIN) {
          ++stats_.write_would_block;
          return done + w.first_packet;
        }
        ++stats_.write_errors;
        FZ_DEBUG(kLog, "dropped {} packet(s) to {}: {}", w.segments, name_, std::strerror(errno));
        break;
      }
    }
    done += consumed;
  }
  return done;
}

}  // namespace fz::io
