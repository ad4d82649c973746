// TunDevice with IFF_VNET_HDR offloads against the running kernel, in a private network namespace
// (unshare(CLONE_NEWNET): nothing to clean up, it ends with the test process). Needs root; skips
// otherwise.
//
// Forwarding between the gateway's device and a second TUN device checks both directions byte
// for byte:
//  - write: TunDevice::write_batch coalesces segments into one super-packet; the kernel forwards
//    it to a plain TUN device (no offloads), which must segment it and complete the checksums in
//    software. What comes out must be the original segments (TTL/hop limit - 1). This is what
//    proves the checksum field convention for NEEDS_CSUM on this kernel.
//  - read: a super-packet written into a second offloading device is forwarded as one GSO packet
//    (as a NIC's GRO would deliver it) to the gateway's device; read_batch must split it into the
//    original segments.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <poll.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <vector>

#include "io/netlink.hpp"
#include "io/tun_device.hpp"
#include "net/checksum.hpp"
#include "net/ip_packet.hpp"
#include "net/offload.hpp"

namespace fz::io {
namespace {

using Buf = std::vector<std::uint8_t>;

const net::IpAddr kOwn4 = net::IpAddr::v4(100, 64, 0, 1);
const net::IpAddr kOwn6 = net::IpAddr::v6(0xfd00, 0x2021, 0x1111, 0, 0, 0, 0, 1);
const net::IpAddr kResource4 = net::IpAddr::v4(203, 0, 113, 99);
const net::IpAddr kResource6 = net::IpAddr::v6(0x2001, 0xdb8, 1, 0, 0, 0, 0, 0x99);
const net::IpAddr kClient4 = net::IpAddr::v4(100, 64, 0, 7);
const net::IpAddr kClient6 = net::IpAddr::v6(0xfd00, 0x2021, 0x1111, 0, 0, 0, 0, 7);

bool write_file(const char* path, const char* value) {
  std::ofstream f(path);
  f << value;
  return static_cast<bool>(f.flush());
}

// A raw second TUN device ("fzoff-peer"), optionally with offloads.
struct PeerTun {
  int fd = -1;
  int ifindex = 0;
  ~PeerTun() {
    if (fd >= 0) ::close(fd);
  }
};

class TunOffloadTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0 || ::unshare(CLONE_NEWNET) != 0) {
      GTEST_SKIP() << "needs root to create a network namespace";
    }
    ASSERT_TRUE(write_file("/proc/sys/net/ipv4/ip_forward", "1"));
    ASSERT_TRUE(write_file("/proc/sys/net/ipv6/conf/all/forwarding", "1"));
    ASSERT_TRUE(write_file("/proc/sys/net/ipv4/conf/all/rp_filter", "0"));
    ASSERT_TRUE(write_file("/proc/sys/net/ipv4/conf/default/rp_filter", "0"));
    auto netlink = Netlink::open();
    ASSERT_TRUE(netlink.ok());
    netlink_.emplace(std::move(*netlink));
    auto lo = netlink_->link("lo");
    ASSERT_TRUE(lo.ok());
    ASSERT_TRUE(netlink_->set_link(lo->index, std::nullopt, std::nullopt, true).ok());
  }

  void open_gateway_tun(bool offload = true) {
    TunOptions options;
    options.offload = offload;
    auto tun = TunDevice::create(kTunName, options);
    ASSERT_TRUE(tun.ok()) << tun.error().to_string();
    tun_.emplace(std::move(*tun));
    ASSERT_TRUE(tun_->configure(kOwn4, kOwn6).ok());
  }

  void open_peer(bool offload) {
    peer_.fd = ::open("/dev/net/tun", O_RDWR | O_CLOEXEC);
    ASSERT_GE(peer_.fd, 0);
    ifreq request{};
    std::strcpy(request.ifr_name, "fzoff-peer");
    request.ifr_flags = static_cast<short>(IFF_TUN | IFF_NO_PI | (offload ? IFF_VNET_HDR : 0));
    ASSERT_EQ(::ioctl(peer_.fd, TUNSETIFF, &request), 0) << std::strerror(errno);
    if (offload) {
      ASSERT_EQ(::ioctl(peer_.fd, TUNSETOFFLOAD, TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6), 0);
    }
    ASSERT_EQ(::fcntl(peer_.fd, F_SETFL, O_NONBLOCK), 0);
    auto link = netlink_->link("fzoff-peer");
    ASSERT_TRUE(link.ok());
    peer_.ifindex = link->index;
    ASSERT_TRUE(netlink_->set_link(peer_.ifindex, 1500, std::nullopt, true).ok());
    // Resources are behind the peer device; clients' tunnel IPs behind the gateway's device.
    const net::Cidr resources[] = {net::Cidr::host(kResource4), net::Cidr::host(kResource6)};
    ASSERT_TRUE(netlink_->sync_routes(peer_.ifindex, 254, resources).ok());
  }

  // Packets as a client would send them through the tunnel: one TCP flow, `count` segments of
  // `size` bytes, IDs incrementing, the last with PSH.
  static std::vector<Buf> flow(const net::IpAddr& src, const net::IpAddr& dst, int count,
                               std::size_t size) {
    std::vector<Buf> out;
    net::IpFields ip;
    ip.src = src;
    ip.dst = dst;
    ip.ttl = 64;
    ip.dont_fragment = true;
    ip.identification = 0x4000;
    net::TcpFields tcp;
    tcp.src_port = 40000;
    tcp.dst_port = 5201;
    tcp.seq = 0xfffff000;
    tcp.ack = 77;
    tcp.window = 1000;
    for (int i = 0; i < count; ++i) {
      tcp.flags = i + 1 == count ? net::tcp_flag::ack | net::tcp_flag::psh : net::tcp_flag::ack;
      Buf payload(size);
      for (std::size_t j = 0; j < size; ++j)
        payload[j] = static_cast<std::uint8_t>(i * 31 + j);
      Buf packet(2048);
      auto n = net::build_tcp(packet, ip, tcp, payload);
      EXPECT_TRUE(n.ok());
      packet.resize(*n);
      out.push_back(std::move(packet));
      ++ip.identification;
      tcp.seq += static_cast<std::uint32_t>(size);
    }
    return out;
  }

  // The kernel's own IPv6 traffic on a fresh link (router solicitations, MLD reports).
  static bool is_noise(Bytes p) {
    const std::uint8_t protocol = (p[0] >> 4) == 4 ? p[9] : p[6];
    return protocol != net::ip_proto::tcp && protocol != net::ip_proto::udp;
  }

  // What a router emits: TTL / hop limit one lower, IPv4 header checksum updated.
  static Buf forwarded(Buf packet) {
    if ((packet[0] >> 4) == 4) {
      packet[8] -= 1;
      store_be16(packet.data() + 10, 0);
      store_be16(packet.data() + 10, net::internet_checksum(Bytes(packet.data(), 20)));
    } else {
      packet[7] -= 1;
    }
    return packet;
  }

  // Reads what the peer device receives, without a virtio header, until `count` packets arrived
  // or a second passed.
  std::vector<Buf> read_peer(std::size_t count) {
    std::vector<Buf> out;
    Buf buffer(70000);
    for (int waited = 0; out.size() < count && waited < 100;) {
      const ssize_t n = ::read(peer_.fd, buffer.data(), buffer.size());
      if (n < 0) {
        ::usleep(10000);
        ++waited;
        continue;
      }
      const Buf packet(buffer.begin(), buffer.begin() + n);
      if (is_noise(packet)) continue;
      out.push_back(packet);
    }
    return out;
  }

  std::vector<Buf> read_gateway(std::size_t count, std::size_t batch) {
    std::vector<Buf> out;
    std::vector<PacketBuffer> storage;
    for (std::size_t i = 0; i < batch; ++i)
      storage.emplace_back(2048, 20);
    std::vector<PacketBuffer*> pointers;
    for (auto& b : storage)
      pointers.push_back(&b);
    for (int waited = 0; out.size() < count && waited < 100;) {
      const std::size_t n = tun_->read_batch(pointers);
      if (n == 0) {
        ::usleep(10000);
        ++waited;
        continue;
      }
      for (std::size_t i = 0; i < n; ++i) {
        const Bytes p = storage[i].span();
        if (is_noise(p)) continue;
        out.emplace_back(p.begin(), p.end());
      }
    }
    return out;
  }

  std::optional<Netlink> netlink_;
  std::optional<TunDevice> tun_;
  PeerTun peer_;
};

TEST_F(TunOffloadTest, OffloadsAreNegotiated) {
  open_gateway_tun();
  EXPECT_TRUE(tun_->stats().offload);
  // USO on TUN devices exists from Linux 6.2 on; older kernels fall back to TCP offloads only.
  utsname u{};
  int major = 0;
  int minor = 0;
  ASSERT_EQ(::uname(&u), 0);
  ASSERT_EQ(std::sscanf(u.release, "%d.%d", &major, &minor), 2);
  EXPECT_EQ(tun_->stats().udp_offload, major > 6 || (major == 6 && minor >= 2)) << u.release;
}

TEST_F(TunOffloadTest, WithoutOffloadPacketsArePlain) {
  open_gateway_tun(false);
  EXPECT_FALSE(tun_->stats().offload);
  open_peer(false);
  auto packets = flow(kClient4, kResource4, 3, 1000);
  std::vector<Bytes> views(packets.begin(), packets.end());
  EXPECT_EQ(tun_->write_batch(views), 3u);
  EXPECT_EQ(tun_->stats().write_syscalls, 3u);
  auto got = read_peer(3);
  ASSERT_EQ(got.size(), 3u);
  for (std::size_t i = 0; i < 3; ++i)
    EXPECT_EQ(got[i], forwarded(packets[i]));
}

TEST_F(TunOffloadTest, CoalescedWritesAreSegmentedWithValidChecksums) {
  open_gateway_tun();
  open_peer(false);  // no offloads: the kernel must segment and checksum in software
  for (const auto& [src, dst] :
       {std::pair{kClient4, kResource4}, std::pair{kClient6, kResource6}}) {
    auto packets = flow(src, dst, 20, 1200);
    const auto before = tun_->stats();
    std::vector<Bytes> views(packets.begin(), packets.end());
    EXPECT_EQ(tun_->write_batch(views), 20u);
    EXPECT_EQ(tun_->stats().write_syscalls - before.write_syscalls, 1u);
    EXPECT_EQ(tun_->stats().super_packets_written - before.super_packets_written, 1u);
    EXPECT_EQ(tun_->stats().segments_written - before.segments_written, 20u);
    auto got = read_peer(20);
    ASSERT_EQ(got.size(), 20u) << src.to_string();
    for (std::size_t i = 0; i < 20; ++i) {
      EXPECT_EQ(got[i], forwarded(packets[i])) << src.to_string() << " segment " << i;
      auto view = net::IpPacketView::parse(got[i]);
      ASSERT_TRUE(view.ok());
      EXPECT_TRUE(view->verify_checksums().ok());
    }
  }
  // write() still works in offload mode (a GSO_NONE header in front).
  auto single = flow(kClient4, kResource4, 1, 100);
  EXPECT_TRUE(tun_->write(single[0]).ok());
  auto got = read_peer(1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0], forwarded(single[0]));
}

TEST_F(TunOffloadTest, ForwardedSuperPacketsAreSplitOnRead) {
  open_gateway_tun();
  open_peer(true);
  for (const auto& [src, dst] :
       {std::pair{kResource4, kClient4}, std::pair{kResource6, kClient6}}) {
    auto packets = flow(src, dst, 10, 1000);
    // Build the super-packet with the coalescer and inject it on the peer side.
    std::vector<Bytes> views(packets.begin(), packets.end());
    Buf scratch(70000);
    std::vector<net::OffloadWrite> writes;
    net::GroCoalescer coalescer;
    ASSERT_EQ(coalescer.coalesce(views, scratch, writes), 10u);
    ASSERT_EQ(writes.size(), 1u);
    const auto before = tun_->stats();
    ASSERT_EQ(::write(peer_.fd, scratch.data() + writes[0].offset, writes[0].length),
              static_cast<ssize_t>(writes[0].length))
        << std::strerror(errno);
    auto got = read_gateway(10, 3);  // three buffers: the splitter resumes across calls
    ASSERT_EQ(got.size(), 10u) << src.to_string();
    for (std::size_t i = 0; i < 10; ++i)
      EXPECT_EQ(got[i], forwarded(packets[i])) << src.to_string() << " segment " << i;
    EXPECT_EQ(tun_->stats().super_packets_read - before.super_packets_read, 1u);
    EXPECT_EQ(tun_->stats().segments_read - before.segments_read, 10u);
  }
}

TEST_F(TunOffloadTest, LocalUdpSegmentationIsSplitOnRead) {
  open_gateway_tun();
  const int s = ::socket(AF_INET, SOCK_DGRAM, 0);
  ASSERT_GE(s, 0);
  int segment = 1200;
  ASSERT_EQ(::setsockopt(s, SOL_UDP, UDP_SEGMENT, &segment, sizeof segment), 0);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(9999);
  to.sin_addr.s_addr = htonl(kClient4.to_u32());
  Buf payload(4800);
  for (std::size_t i = 0; i < payload.size(); ++i)
    payload[i] = static_cast<std::uint8_t>(i);
  ASSERT_EQ(
      ::sendto(s, payload.data(), payload.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to),
      4800);
  ::close(s);
  auto got = read_gateway(4, 64);
  ASSERT_EQ(got.size(), 4u);
  for (std::size_t i = 0; i < 4; ++i) {
    ASSERT_EQ(got[i].size(), 1228u);
    auto view = net::IpPacketView::parse(got[i]);
    ASSERT_TRUE(view.ok());
    EXPECT_TRUE(view->verify_checksums().ok()) << i;
    EXPECT_TRUE(std::equal(got[i].begin() + 28, got[i].end(), payload.begin() + i * 1200));
  }
  EXPECT_EQ(tun_->stats().super_packets_read, 1u);
}

}  // namespace
}  // namespace fz::io
