#include "io/tun_device.hpp"

#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "base/log.hpp"

namespace fz::io {
namespace {

constexpr const char* kLog = "io::tun";
constexpr const char* kTunPath = "/dev/net/tun";

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

}  // namespace

Result<TunDevice> TunDevice::create(std::string name, TunOptions options) {
  if (name.empty() || name.size() >= IFNAMSIZ) {
    return Error(Errc::config, "invalid TUN device name", name);
  }
  FZ_TRY_STATUS(ensure_tun_node());
  int fd = ::open(kTunPath, O_RDWR | O_CLOEXEC);
  if (fd < 0) return sys_error("open /dev/net/tun");
  ifreq request{};
  std::memcpy(request.ifr_name, name.data(), name.size());
  request.ifr_flags = IFF_TUN | IFF_NO_PI | IFF_MULTI_QUEUE;
  if (::ioctl(fd, TUNSETIFF, &request) != 0) {
    auto error = sys_error("ioctl(TUNSETIFF)");
    ::close(fd);
    return error;
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
  TunDevice device(fd, std::move(name), link->index, std::move(options), std::move(*netlink));
  // txqueuelen at creation, like the reference; configure() re-checks it.
  if (auto status = device.netlink_.set_link(device.ifindex_, std::nullopt,
                                             device.options_.txqueuelen, std::nullopt);
      !status) {
    FZ_WARN(kLog, "could not set txqueuelen on {}: {}", device.name_, status.error().to_string());
  }
  FZ_INFO(kLog, "opened TUN device {} (index {})", device.name_, device.ifindex_);
  return device;
}

TunDevice::TunDevice(int fd, std::string name, int ifindex, TunOptions options, Netlink netlink)
    : fd_(fd),
      name_(std::move(name)),
      ifindex_(ifindex),
      options_(std::move(options)),
      netlink_(std::move(netlink)) {}

TunDevice::TunDevice(TunDevice&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)),
      name_(std::move(other.name_)),
      ifindex_(other.ifindex_),
      options_(std::move(other.options_)),
      netlink_(std::move(other.netlink_)),
      stats_(other.stats_) {}

TunDevice& TunDevice::operator=(TunDevice&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
    name_ = std::move(other.name_);
    ifindex_ = other.ifindex_;
    options_ = std::move(other.options_);
    netlink_ = std::move(other.netlink_);
    stats_ = other.stats_;
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
  FZ_TRY_STATUS(set_routes(options_.routes));
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
  std::size_t filled = 0;
  while (filled < buffers.size()) {
    PacketBuffer& buffer = *buffers[filled];
    buffer.reset(buffer.headroom());
    const std::size_t room = buffer.tailroom();
    ++stats_.read_syscalls;
    const ssize_t n = ::read(fd_, buffer.data(), room);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN) FZ_WARN(kLog, "read from {} failed: {}", name_, std::strerror(errno));
      break;
    }
    if (n == 0) {
      FZ_WARN(kLog, "read from {} returned 0 bytes (fd closed)", name_);
      break;
    }
    if (static_cast<std::size_t>(n) > options_.max_packet_size) {
      ++stats_.dropped_oversized;
      FZ_DEBUG(kLog, "dropped a {}-byte packet from {} (limit {})", n, name_,
               options_.max_packet_size);
      continue;
    }
    buffer.resize(static_cast<std::size_t>(n));
    ++stats_.packets_read;
    ++filled;
  }
  return filled;
}

Status TunDevice::write(Bytes ip_packet) {
  for (;;) {
    const ssize_t n = ::write(fd_, ip_packet.data(), ip_packet.size());
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
  std::size_t done = 0;
  for (Bytes packet : ip_packets) {
    auto status = write(packet);
    if (!status && status.error().code() == Errc::exhausted) break;
    if (!status) FZ_DEBUG(kLog, "dropped a packet to {}: {}", name_, status.error().to_string());
    ++done;
  }
  return done;
}

}  // namespace fz::io
