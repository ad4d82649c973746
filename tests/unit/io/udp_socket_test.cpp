// UdpSocket over loopback: port fallback, pktinfo, GRO split, GSO grouping, drops, options.
#include "io/udp_socket.hpp"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <vector>

#include "io/netlink.hpp"

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif

namespace fz::io {
namespace {

using net::IpAddr;
using net::IpFamily;
using net::SocketAddr;

const IpAddr kLo = IpAddr::v4(127, 0, 0, 1);
const IpAddr kLo2 = IpAddr::v4(127, 0, 0, 2);
const IpAddr kLo6 = IpAddr::v6(0, 0, 0, 0, 0, 0, 0, 1);

UdpOptions test_options() {
  UdpOptions options;
  options.fwmark = std::nullopt;  // SO_MARK needs CAP_NET_ADMIN; tested separately
  return options;
}

// A plain blocking peer socket, the other end of every test.
class Peer {
 public:
  explicit Peer(SocketAddr bind_to) {
    const bool v4 = bind_to.ip.is_v4();
    fd_ = ::socket(v4 ? AF_INET : AF_INET6, SOCK_DGRAM, 0);
    sockaddr_storage ss;
    socklen_t len = fill(bind_to, ss);
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&ss), len), 0) << std::strerror(errno);
    len = sizeof ss;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&ss), &len);
    address_ = {bind_to.ip, ntohs(reinterpret_cast<sockaddr_in&>(ss).sin_port)};
    timeval tv{2, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }
  ~Peer() { ::close(fd_); }

  static socklen_t fill(const SocketAddr& a, sockaddr_storage& ss) {
    std::memset(&ss, 0, sizeof ss);
    if (a.ip.is_v4()) {
      auto& s = reinterpret_cast<sockaddr_in&>(ss);
      s.sin_family = AF_INET;
      s.sin_port = htons(a.port);
      std::memcpy(&s.sin_addr, a.ip.raw().data(), 4);
      return sizeof s;
    }
    auto& s = reinterpret_cast<sockaddr_in6&>(ss);
    s.sin6_family = AF_INET6;
    s.sin6_port = htons(a.port);
    std::memcpy(&s.sin6_addr, a.ip.raw().data(), 16);
    return sizeof s;
  }

  void send_to(const SocketAddr& to, const std::vector<std::uint8_t>& payload,
               std::uint16_t gso_size = 0) {
    sockaddr_storage ss;
    msghdr msg{};
    msg.msg_name = &ss;
    msg.msg_namelen = fill(to, ss);
    iovec iov{const_cast<std::uint8_t*>(payload.data()), payload.size()};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    alignas(cmsghdr) std::uint8_t control[CMSG_SPACE(sizeof(std::uint16_t))] = {};
    if (gso_size != 0) {
      msg.msg_control = control;
      msg.msg_controllen = sizeof control;
      cmsghdr* c = CMSG_FIRSTHDR(&msg);
      c->cmsg_level = IPPROTO_UDP;
      c->cmsg_type = UDP_SEGMENT;
      c->cmsg_len = CMSG_LEN(sizeof gso_size);
      std::memcpy(CMSG_DATA(c), &gso_size, sizeof gso_size);
    }
    ASSERT_EQ(::sendmsg(fd_, &msg, 0), static_cast<ssize_t>(payload.size()))
        << std::strerror(errno);
  }

  // One datagram, or an empty vector on timeout.
  std::vector<std::uint8_t> receive(SocketAddr* from = nullptr) {
    std::vector<std::uint8_t> buffer(70000);
    sockaddr_storage ss;
    socklen_t len = sizeof ss;
    ssize_t n =
        ::recvfrom(fd_, buffer.data(), buffer.size(), 0, reinterpret_cast<sockaddr*>(&ss), &len);
    if (n < 0) return {};
    buffer.resize(static_cast<std::size_t>(n));
    if (from != nullptr) {
      if (ss.ss_family == AF_INET) {
        auto& s = reinterpret_cast<sockaddr_in&>(ss);
        const auto* b = reinterpret_cast<const std::uint8_t*>(&s.sin_addr);
        *from = {IpAddr::v4(b[0], b[1], b[2], b[3]), ntohs(s.sin_port)};
      } else {
        auto& s = reinterpret_cast<sockaddr_in6&>(ss);
        std::array<std::uint8_t, 16> raw{};
        std::memcpy(raw.data(), &s.sin6_addr, 16);
        *from = {IpAddr::v6(raw), ntohs(s.sin6_port)};
      }
    }
    return buffer;
  }

  bool nothing_pending() {
    pollfd p{fd_, POLLIN, 0};
    return ::poll(&p, 1, 100) == 0;
  }

  const SocketAddr& address() const { return address_; }
  int fd() const { return fd_; }

 private:
  int fd_ = -1;
  SocketAddr address_;
};

std::vector<std::uint8_t> pattern(std::size_t size, std::uint8_t seed) {
  std::vector<std::uint8_t> out(size);
  for (std::size_t i = 0; i < size; ++i)
    out[i] = static_cast<std::uint8_t>(seed + i * 7);
  return out;
}

// Waits until the socket is readable, then receives one batch.
std::size_t recv_wait(UdpSocket& socket, std::vector<RecvSlot>& slots) {
  pollfd p{socket.fd(), POLLIN, 0};
  if (::poll(&p, 1, 2000) != 1) return 0;
  return socket.recv_batch(slots);
}

std::vector<RecvSlot> make_slots(std::size_t n, std::size_t headroom = 0) {
  std::vector<RecvSlot> slots;
  slots.reserve(n);
  for (std::size_t i = 0; i < n; ++i)
    slots.emplace_back(kMaxGroBufferSize, headroom);
  return slots;
}

std::uint16_t free_port(IpFamily family) {
  Peer probe({IpAddr::unspecified(family), 0});
  return probe.address().port;
}

TEST(UdpSocket, BindsThePreferredPortAndFallsBackWhenTaken) {
  for (IpFamily family : {IpFamily::v4, IpFamily::v6}) {
    const std::uint16_t port = free_port(family);
    auto first = UdpSocket::bind(family, port, test_options());
    ASSERT_TRUE(first) << first.error().to_string();
    EXPECT_EQ(first->local_port(), port);
    EXPECT_EQ(first->family(), family);
    auto second = UdpSocket::bind(family, port, test_options());
    ASSERT_TRUE(second) << second.error().to_string();
    EXPECT_NE(second->local_port(), port);
    EXPECT_NE(second->local_port(), 0);
    // bind_exact does not fall back.
    EXPECT_FALSE(UdpSocket::bind_exact({IpAddr::unspecified(family), port}, test_options()));
  }
}

TEST(UdpSocket, SocketOptions) {
  auto socket = UdpSocket::bind(IpFamily::v6, 0, test_options());
  ASSERT_TRUE(socket);
  int v6only = 0;
  socklen_t len = sizeof v6only;
  ASSERT_EQ(::getsockopt(socket->fd(), IPPROTO_IPV6, IPV6_V6ONLY, &v6only, &len), 0);
  EXPECT_EQ(v6only, 1);
  EXPECT_TRUE(socket->gro_enabled());
  EXPECT_TRUE(socket->gso_enabled());
  if (::geteuid() == 0) {
    UdpOptions options;  // with the default fwmark
    auto marked = UdpSocket::bind(IpFamily::v4, 0, options);
    ASSERT_TRUE(marked) << marked.error().to_string();
    std::uint32_t mark = 0;
    len = sizeof mark;
    ASSERT_EQ(::getsockopt(marked->fd(), SOL_SOCKET, SO_MARK, &mark, &len), 0);
    EXPECT_EQ(mark, 0xfd002021u);
    int sndbuf = 0;
    len = sizeof sndbuf;
    ASSERT_EQ(::getsockopt(marked->fd(), SOL_SOCKET, SO_SNDBUF, &sndbuf, &len), 0);
    // The kernel doubles the value and caps it at wmem_max; it is at least the default 212992.
    EXPECT_GE(sndbuf, 2 * 106496);
  }
}

TEST(UdpSocket, OptionsFromEnvironment) {
  ::setenv("FIREZONE_UDP_SEND_BUFFER_SIZE", "123456", 1);
  ::setenv("FIREZONE_UDP_RECV_BUFFER_SIZE", "bogus", 1);
  auto options = UdpOptions::from_env();
  EXPECT_EQ(options.send_buffer_size, 123456);
  EXPECT_EQ(options.recv_buffer_size, 10 << 20);
  ::unsetenv("FIREZONE_UDP_SEND_BUFFER_SIZE");
  ::unsetenv("FIREZONE_UDP_RECV_BUFFER_SIZE");
  options = UdpOptions::from_env();
  EXPECT_EQ(options.send_buffer_size, 1 << 20);
  EXPECT_EQ(options.recv_buffer_size, 10 << 20);
}

TEST(UdpSocket, EmptySocketReceivesNothing) {
  auto socket = UdpSocket::bind(IpFamily::v4, 0, test_options());
  ASSERT_TRUE(socket);
  auto slots = make_slots(4);
  EXPECT_EQ(socket->recv_batch(slots), 0u);
  EXPECT_EQ(socket->stats().recv_errors, 0u);
}

TEST(UdpSocket, PktinfoReportsTheLocalAddressAndRepliesLeaveFromIt) {
  auto socket = UdpSocket::bind(IpFamily::v4, 0, test_options());
  ASSERT_TRUE(socket);
  const std::uint16_t port = socket->local_port();
  Peer peer({kLo, 0});
  peer.send_to({kLo2, port}, pattern(40, 1));
  peer.send_to({kLo, port}, pattern(41, 2));
  auto slots = make_slots(8, 20);
  std::size_t got = 0;
  while (got < 2) {
    std::vector<RecvSlot> more = make_slots(8, 20);
    const std::size_t n = recv_wait(*socket, more);
    ASSERT_GT(n, 0u);
    for (std::size_t i = 0; i < n; ++i)
      std::swap(slots[got++], more[i]);
  }
  EXPECT_EQ(slots[0].local, (SocketAddr{kLo2, port}));
  EXPECT_EQ(slots[0].source, peer.address());
  EXPECT_EQ(slots[0].buffer.headroom(), 20u);
  EXPECT_EQ(std::vector<std::uint8_t>(slots[0].buffer.data(),
                                      slots[0].buffer.data() + slots[0].buffer.size()),
            pattern(40, 1));
  EXPECT_EQ(slots[0].segment_size, 40);
  EXPECT_EQ(slots[0].segment_count(), 1u);
  EXPECT_EQ(slots[1].local, (SocketAddr{kLo, port}));
  EXPECT_EQ(slots[1].buffer.size(), 41u);

  // Replies from each local address.
  const auto reply1 = pattern(30, 3);
  const auto reply2 = pattern(31, 4);
  const OutDatagram out[] = {{kLo2, peer.address(), reply1}, {kLo, peer.address(), reply2}};
  EXPECT_EQ(socket->send_batch(out), 2u);
  SocketAddr from;
  EXPECT_EQ(peer.receive(&from), reply1);
  EXPECT_EQ(from, (SocketAddr{kLo2, port}));
  EXPECT_EQ(peer.receive(&from), reply2);
  EXPECT_EQ(from, (SocketAddr{kLo, port}));
}

TEST(UdpSocket, Ipv6PktinfoAndReply) {
  auto socket = UdpSocket::bind(IpFamily::v6, 0, test_options());
  ASSERT_TRUE(socket);
  Peer peer({kLo6, 0});
  peer.send_to({kLo6, socket->local_port()}, pattern(64, 9));
  auto slots = make_slots(4);
  ASSERT_EQ(recv_wait(*socket, slots), 1u);
  EXPECT_EQ(slots[0].local, (SocketAddr{kLo6, socket->local_port()}));
  EXPECT_EQ(slots[0].source, peer.address());
  const auto reply = pattern(10, 5);
  const OutDatagram out[] = {{kLo6, peer.address(), reply}};
  EXPECT_EQ(socket->send_batch(out), 1u);
  SocketAddr from;
  EXPECT_EQ(peer.receive(&from), reply);
  EXPECT_EQ(from, (SocketAddr{kLo6, socket->local_port()}));
}

TEST(UdpSocket, SplitsGroCoalescedInput) {
  auto socket = UdpSocket::bind(IpFamily::v4, 0, test_options());
  ASSERT_TRUE(socket);
  ASSERT_TRUE(socket->gro_enabled());
  Peer peer({kLo, 0});
  const auto payload = pattern(350, 11);  // 100 + 100 + 100 + 50
  peer.send_to({kLo, socket->local_port()}, payload, 100);
  auto slots = make_slots(4);
  std::vector<std::vector<std::uint8_t>> segments;
  while (segments.size() < 4) {
    const std::size_t n = recv_wait(*socket, slots);
    ASSERT_GT(n, 0u);
    for (std::size_t i = 0; i < n; ++i) {
      EXPECT_EQ(slots[i].segment_size, 100);
      for (std::size_t s = 0; s < slots[i].segment_count(); ++s) {
        auto seg = slots[i].segment(s);
        segments.emplace_back(seg.begin(), seg.end());
      }
    }
  }
  ASSERT_EQ(segments.size(), 4u);
  for (std::size_t s = 0; s < 4; ++s) {
    const std::size_t len = s < 3 ? 100 : 50;
    EXPECT_EQ(segments[s], std::vector<std::uint8_t>(payload.begin() + 100 * s,
                                                     payload.begin() + 100 * s + len));
  }
  // Over loopback the kernel hands the four back as one GRO message.
  EXPECT_EQ(socket->stats().recv_messages, 1u);
  EXPECT_EQ(socket->stats().recv_datagrams, 4u);
}

TEST(UdpSocket, DropsOversizedDatagramsBeforeProcessing) {
  auto socket = UdpSocket::bind(IpFamily::v4, 0, test_options());
  ASSERT_TRUE(socket);
  Peer peer({kLo, 0});
  peer.send_to({kLo, socket->local_port()}, pattern(1317, 1));
  peer.send_to({kLo, socket->local_port()}, pattern(1316, 2));
  // A GRO train of oversized segments is dropped as a whole.
  peer.send_to({kLo, socket->local_port()}, pattern(2800, 3), 1400);
  peer.send_to({kLo, socket->local_port()}, pattern(100, 4));
  auto slots = make_slots(8);
  std::vector<std::size_t> sizes;
  while (sizes.size() < 2) {
    const std::size_t n = recv_wait(*socket, slots);
    ASSERT_GT(n, 0u);
    for (std::size_t i = 0; i < n; ++i)
      sizes.push_back(slots[i].buffer.size());
  }
  EXPECT_EQ(sizes, (std::vector<std::size_t>{1316, 100}));
  EXPECT_EQ(socket->stats().dropped_oversized, 3u);
}

TEST(UdpSocket, GsoBatchOfEqualDatagramsArrivesAsSeparateDatagrams) {
  auto socket = UdpSocket::bind(IpFamily::v4, 0, test_options());
  ASSERT_TRUE(socket);
  ASSERT_TRUE(socket->gso_enabled());
  Peer peer({kLo, 0});
  std::vector<std::vector<std::uint8_t>> payloads;
  for (int i = 0; i < 10; ++i)
    payloads.push_back(pattern(200, static_cast<std::uint8_t>(i)));
  std::vector<OutDatagram> out;
  for (const auto& p : payloads)
    out.push_back({std::nullopt, peer.address(), p});
  EXPECT_EQ(socket->send_batch(out), 10u);
  EXPECT_EQ(socket->stats().send_syscalls, 1u);
  EXPECT_EQ(socket->stats().send_messages, 1u);
  EXPECT_EQ(socket->stats().send_datagrams, 10u);
  for (const auto& p : payloads)
    EXPECT_EQ(peer.receive(), p);
  EXPECT_TRUE(peer.nothing_pending());
}

TEST(UdpSocket, GroupsByDestinationSourceAndSize) {
  auto socket = UdpSocket::bind(IpFamily::v4, 0, test_options());
  ASSERT_TRUE(socket);
  Peer a({kLo, 0});
  Peer b({kLo, 0});
  const auto p200 = pattern(200, 1);
  const auto p100 = pattern(100, 2);
  const auto p300 = pattern(300, 3);
  const std::vector<OutDatagram> out = {
      {std::nullopt, a.address(), p200},  // message 1: 200, 200, 100 (short ends it)
      {std::nullopt, a.address(), p200},
      {std::nullopt, a.address(), p100},
      {std::nullopt, a.address(), p200},  // message 2: 200 (then a new destination)
      {std::nullopt, b.address(), p200},  // message 3: 200, 200
      {std::nullopt, b.address(), p200},
      {std::nullopt, b.address(), p300},  // message 4: larger, new message
      {kLo2, b.address(), p300},          // message 5: other source
      {std::nullopt, a.address(), p100},  // message 6
  };
  EXPECT_EQ(socket->send_batch(out), out.size());
  EXPECT_EQ(socket->stats().send_syscalls, 1u);
  EXPECT_EQ(socket->stats().send_messages, 6u);
  EXPECT_EQ(socket->stats().send_datagrams, 9u);
  for (const auto* p : {&p200, &p200, &p100, &p200, &p100})
    EXPECT_EQ(a.receive(), *p);
  SocketAddr from;
  for (const auto* p : {&p200, &p200, &p300}) {
    EXPECT_EQ(b.receive(&from), *p);
    EXPECT_EQ(from.ip, kLo);
  }
  EXPECT_EQ(b.receive(&from), p300);
  EXPECT_EQ(from.ip, kLo2);
  EXPECT_TRUE(a.nothing_pending());
  EXPECT_TRUE(b.nothing_pending());
}

TEST(UdpSocket, GsoMessagesAreCappedAt64Segments) {
  auto socket = UdpSocket::bind(IpFamily::v4, 0, test_options());
  ASSERT_TRUE(socket);
  Peer peer({kLo, 0});
  int big = 8 << 20;
  ::setsockopt(peer.fd(), SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof big);
  const auto payload = pattern(100, 1);
  std::vector<OutDatagram> out(150, OutDatagram{std::nullopt, peer.address(), payload});
  EXPECT_EQ(socket->send_batch(out), 150u);
  EXPECT_EQ(socket->stats().send_messages, 3u);  // 64 + 64 + 22
  for (int i = 0; i < 150; ++i)
    ASSERT_EQ(peer.receive(), payload) << i;
  EXPECT_TRUE(peer.nothing_pending());
}

TEST(UdpSocket, DropsDatagramsOfTheWrongFamilyAndKeepsTheRest) {
  auto socket = UdpSocket::bind(IpFamily::v4, 0, test_options());
  ASSERT_TRUE(socket);
  Peer peer({kLo, 0});
  const auto payload = pattern(50, 1);
  const std::vector<OutDatagram> out = {
      {std::nullopt, {kLo6, 9}, payload},
      {std::nullopt, peer.address(), payload},
      {std::nullopt, {kLo6, 9}, payload},
  };
  EXPECT_EQ(socket->send_batch(out), 3u);
  EXPECT_EQ(socket->stats().send_errors, 2u);
  EXPECT_EQ(peer.receive(), payload);
}

TEST(UdpSocket, HardSendErrorDropsOnlyThatMessage) {
  auto socket = UdpSocket::bind(IpFamily::v4, 0, test_options());
  ASSERT_TRUE(socket);
  Peer peer({kLo, 0});
  const auto payload = pattern(50, 1);
  // A source address the host does not have: EINVAL from the kernel for that message only.
  const std::vector<OutDatagram> out = {
      {std::nullopt, peer.address(), payload},
      {IpAddr::v4(192, 0, 2, 1), peer.address(), payload},
      {std::nullopt, peer.address(), payload},
  };
  EXPECT_EQ(socket->send_batch(out), 3u);
  EXPECT_EQ(socket->stats().send_errors, 1u);
  EXPECT_EQ(peer.receive(), payload);
  EXPECT_EQ(peer.receive(), payload);
}

}  // namespace
}  // namespace fz::io
