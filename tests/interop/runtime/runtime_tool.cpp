// Drives TunDevice, Netlink and UdpSocket inside a network namespace for run.sh. Each mode prints
// what it observed, one fact per line, and exits 0 only if its own checks held.
//
//   tun-sequence <v4a> <v6a> <v4b> <v6b>
//       create tun-firezone, configure(a) and print "configured 1"; after a line on stdin,
//       configure(a) again ("configured 2"); after the next line, configure(b) ("configured 3");
//       after the next line, exit (the device disappears with the fd).
//   loop-check <peer4> <peer6> <port>
//       configure the TUN, add default routes to the Firezone table, then send "marked" from
//       UdpSockets (fwmark) and "unmarked" from plain sockets to the peer; read the TUN: marked
//       traffic must not appear there, unmarked traffic must.
//   gso-fallback <dst4>
//       routes <dst4>/32 through the TUN (MTU 1280); a GSO batch of 1300-byte datagrams is
//       refused and re-sent singly (each then fails: EMSGSIZE), a batch of 100-byte ones then goes
//       out as one GSO message and arrives as 5 packets on the TUN.
//   recv <port> <seconds>
//       plain v4+v6 sockets on <port>; prints "got <payload> from <addr>" for each datagram.
//   echo <seconds>
//       UdpSockets on port 52625 (v4 and v6); echoes every datagram back from the address it
//       was received on; prints "echo <local> <source>".
//   probe <addr:port>...
//       sends "probe" from a plain socket to each address and checks that the reply comes from
//       exactly that address; prints "reply from <addr>".
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#include "io/netlink.hpp"
#include "io/tun_device.hpp"
#include "io/udp_socket.hpp"
#include "net/ip_addr.hpp"

using namespace fz;
using net::IpAddr;
using net::SocketAddr;

namespace {

IpAddr ip(const char* text) {
  auto parsed = IpAddr::parse(text);
  if (!parsed) {
    std::fprintf(stderr, "bad address %s\n", text);
    std::exit(2);
  }
  return *parsed;
}

template <class T>
T must(Result<T> result, const char* what) {
  if (!result) {
    std::printf("error %s: %s\n", what, result.error().to_string().c_str());
    std::fflush(stdout);
    std::exit(1);
  }
  return std::move(*result);
}

void must(Status status, const char* what) {
  if (!status) {
    std::printf("error %s: %s\n", what, status.error().to_string().c_str());
    std::fflush(stdout);
    std::exit(1);
  }
}

void say(const std::string& line) {
  std::printf("%s\n", line.c_str());
  std::fflush(stdout);
}

socklen_t fill(const SocketAddr& a, sockaddr_storage& ss) {
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

SocketAddr parse_sockaddr(const sockaddr_storage& ss) {
  if (ss.ss_family == AF_INET) {
    const auto& s = reinterpret_cast<const sockaddr_in&>(ss);
    const auto* b = reinterpret_cast<const std::uint8_t*>(&s.sin_addr);
    return {IpAddr::v4(b[0], b[1], b[2], b[3]), ntohs(s.sin_port)};
  }
  const auto& s = reinterpret_cast<const sockaddr_in6&>(ss);
  std::array<std::uint8_t, 16> raw{};
  std::memcpy(raw.data(), &s.sin6_addr, 16);
  return {IpAddr::v6(raw), ntohs(s.sin6_port)};
}

int plain_socket(net::IpFamily family, std::uint16_t port) {
  const int fd = ::socket(family == net::IpFamily::v4 ? AF_INET : AF_INET6, SOCK_DGRAM, 0);
  if (family == net::IpFamily::v6) {
    int on = 1;
    ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof on);
  }
  sockaddr_storage ss;
  const socklen_t len = fill({IpAddr::unspecified(family), port}, ss);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0) {
    std::printf("error bind: %s\n", std::strerror(errno));
    std::exit(1);
  }
  return fd;
}

void plain_send(int fd, const SocketAddr& to, std::string_view payload) {
  sockaddr_storage ss;
  const socklen_t len = fill(to, ss);
  if (::sendto(fd, payload.data(), payload.size(), 0, reinterpret_cast<sockaddr*>(&ss), len) < 0) {
    say(std::string("send error: ") + std::strerror(errno));
  }
}

bool wait_line() {
  std::string line;
  return static_cast<bool>(std::getline(std::cin, line));
}

// Packets on the TUN during `ms` whose IP destination is `dst`, by family.
int tun_packets_to(io::TunDevice& tun, const IpAddr& dst, int ms) {
  std::vector<PacketBuffer> storage;
  for (int i = 0; i < 16; ++i)
    storage.emplace_back(2048, 0);
  std::vector<PacketBuffer*> buffers;
  for (auto& b : storage)
    buffers.push_back(&b);
  int count = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd p{tun.fd(), POLLIN, 0};
    ::poll(&p, 1, 20);
    const std::size_t n = tun.read_batch(buffers);
    for (std::size_t i = 0; i < n; ++i) {
      auto bytes = buffers[i]->span();
      if (bytes.empty()) continue;
      const int version = bytes[0] >> 4;
      if (version == 4 && dst.is_v4() && bytes.size() >= 20 &&
          std::memcmp(bytes.data() + 16, dst.raw().data(), 4) == 0) {
        ++count;
      } else if (version == 6 && dst.is_v6() && bytes.size() >= 40 &&
                 std::memcmp(bytes.data() + 24, dst.raw().data(), 16) == 0) {
        ++count;
      }
    }
  }
  return count;
}

int tun_sequence(char** argv) {
  auto tun = must(io::TunDevice::create(), "create");
  must(tun.configure(ip(argv[0]), ip(argv[1])), "configure 1");
  say("configured 1");
  if (!wait_line()) return 1;
  must(tun.configure(ip(argv[0]), ip(argv[1])), "configure 2");
  say("configured 2");
  if (!wait_line()) return 1;
  must(tun.configure(ip(argv[2]), ip(argv[3])), "configure 3");
  say("configured 3");
  wait_line();
  return 0;
}

int loop_check(char** argv) {
  const IpAddr peer4 = ip(argv[0]);
  const IpAddr peer6 = ip(argv[1]);
  const auto port = static_cast<std::uint16_t>(std::stoi(argv[2]));
  auto tun = must(io::TunDevice::create(), "create");
  must(tun.configure(IpAddr::v4(100, 64, 0, 1), IpAddr::v6(0xfd00, 0x2021, 0x1111, 0, 0, 0, 0, 1)),
       "configure");
  std::vector<net::Cidr> routes = io::TunOptions{}.routes;
  routes.push_back(net::Cidr(IpAddr::unspecified(net::IpFamily::v4), 0));
  routes.push_back(net::Cidr(IpAddr::unspecified(net::IpFamily::v6), 0));
  must(tun.set_routes(routes), "routes");
  say("default routes installed");

  auto udp4 = must(io::UdpSocket::bind(net::IpFamily::v4), "bind v4");
  auto udp6 = must(io::UdpSocket::bind(net::IpFamily::v6), "bind v6");
  const std::string marked = "marked";
  const io::OutDatagram out4[] = {
      {std::nullopt, {peer4, port}, {reinterpret_cast<const std::uint8_t*>(marked.data()), 6}}};
  const io::OutDatagram out6[] = {
      {std::nullopt, {peer6, port}, {reinterpret_cast<const std::uint8_t*>(marked.data()), 6}}};
  const bool sent = udp4.send_batch(out4) == 1 && udp6.send_batch(out6) == 1 &&
                    udp4.stats().send_errors == 0 && udp6.stats().send_errors == 0;
  say(sent ? "marked sent" : "marked send failed");
  const int marked_on_tun = tun_packets_to(tun, peer4, 300) + tun_packets_to(tun, peer6, 300);
  say("marked packets on tun: " + std::to_string(marked_on_tun));

  const int plain4 = plain_socket(net::IpFamily::v4, 0);
  const int plain6 = plain_socket(net::IpFamily::v6, 0);
  plain_send(plain4, {peer4, port}, "unmarked");
  const int unmarked4 = tun_packets_to(tun, peer4, 300);
  plain_send(plain6, {peer6, port}, "unmarked");
  const int unmarked6 = tun_packets_to(tun, peer6, 300);
  say("unmarked packets on tun: " + std::to_string(unmarked4) + " " + std::to_string(unmarked6));
  ::close(plain4);
  ::close(plain6);
  return sent && marked_on_tun == 0 && unmarked4 == 1 && unmarked6 == 1 ? 0 : 1;
}

int gso_fallback(char** argv) {
  const IpAddr dst = ip(argv[0]);
  auto tun = must(io::TunDevice::create(), "create");
  must(tun.configure(IpAddr::v4(100, 64, 0, 1), std::nullopt), "configure");
  // Route dst through the TUN in the main table; the socket's mark skips only the Firezone table.
  auto netlink = must(io::Netlink::open(), "netlink");
  const net::Cidr host = net::Cidr::host(dst);
  must(netlink.sync_routes(tun.ifindex(), 254 /* main */, std::span(&host, 1)), "route");
  auto udp = must(io::UdpSocket::bind(net::IpFamily::v4), "bind");
  if (!udp.gso_enabled()) {
    say("GSO unsupported");
    return 1;
  }
  // The TUN's MTU is 1280: a GSO message of 1300-byte segments is refused (EINVAL), the
  // fallback re-sends the datagrams singly, and each of those fails with EMSGSIZE (DF is set).
  std::vector<std::uint8_t> big(1300, 0xab);
  std::vector<io::OutDatagram> too_big(5, io::OutDatagram{std::nullopt, {dst, 9}, big});
  const std::size_t consumed_big = udp.send_batch(too_big);
  // The next batch fits and goes out as one GSO message of 5 segments.
  std::vector<std::uint8_t> small(100, 0xcd);
  std::vector<io::OutDatagram> fits(5, io::OutDatagram{std::nullopt, {dst, 9}, small});
  const std::size_t consumed_small = udp.send_batch(fits);
  const auto& s = udp.stats();
  say("consumed " + std::to_string(consumed_big) + " " + std::to_string(consumed_small) +
      " fallbacks " + std::to_string(s.gso_fallbacks) + " messages " +
      std::to_string(s.send_messages) + " datagrams " + std::to_string(s.send_datagrams) +
      " errors " + std::to_string(s.send_errors));
  const int on_tun = tun_packets_to(tun, dst, 300);
  say("packets on tun: " + std::to_string(on_tun));
  return consumed_big == 5 && consumed_small == 5 && s.gso_fallbacks == 1 && s.send_errors == 5 &&
                 s.send_datagrams == 5 && s.send_messages == 1 && on_tun == 5
             ? 0
             : 1;
}

int recv_mode(char** argv) {
  const auto port = static_cast<std::uint16_t>(std::stoi(argv[0]));
  const int seconds = std::stoi(argv[1]);
  const int fds[2] = {plain_socket(net::IpFamily::v4, port), plain_socket(net::IpFamily::v6, port)};
  say("listening");
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd p[2] = {{fds[0], POLLIN, 0}, {fds[1], POLLIN, 0}};
    if (::poll(p, 2, 100) <= 0) continue;
    for (int i = 0; i < 2; ++i) {
      if ((p[i].revents & POLLIN) == 0) continue;
      char buffer[2048];
      sockaddr_storage ss;
      socklen_t len = sizeof ss;
      const ssize_t n =
          ::recvfrom(fds[i], buffer, sizeof buffer, 0, reinterpret_cast<sockaddr*>(&ss), &len);
      if (n < 0) continue;
      say("got " + std::string(buffer, static_cast<std::size_t>(n)) + " from " +
          parse_sockaddr(ss).ip.to_string());
    }
  }
  return 0;
}

int echo_mode(char** argv) {
  const int seconds = std::stoi(argv[0]);
  io::UdpSocket sockets[2] = {must(io::UdpSocket::bind(net::IpFamily::v4), "bind v4"),
                              must(io::UdpSocket::bind(net::IpFamily::v6), "bind v6")};
  say("echo ports " + std::to_string(sockets[0].local_port()) + " " +
      std::to_string(sockets[1].local_port()));
  std::vector<io::RecvSlot> slots;
  for (int i = 0; i < 8; ++i)
    slots.emplace_back(io::kMaxGroBufferSize, 0);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd p[2] = {{sockets[0].fd(), POLLIN, 0}, {sockets[1].fd(), POLLIN, 0}};
    if (::poll(p, 2, 100) <= 0) continue;
    for (auto& socket : sockets) {
      const std::size_t n = socket.recv_batch(slots);
      for (std::size_t i = 0; i < n; ++i) {
        const io::OutDatagram reply[] = {
            {slots[i].local.ip, slots[i].source, slots[i].buffer.span()}};
        say("echo " + slots[i].local.to_string() + " " + slots[i].source.to_string());
        socket.send_batch(reply);
      }
    }
  }
  return 0;
}

int probe_mode(int argc, char** argv) {
  int failures = 0;
  for (int i = 0; i < argc; ++i) {
    const SocketAddr to = must(SocketAddr::parse(argv[i]), "address");
    const int fd = plain_socket(to.family(), 0);
    timeval tv{2, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    plain_send(fd, to, "probe");
    char buffer[64];
    sockaddr_storage ss;
    socklen_t len = sizeof ss;
    const ssize_t n =
        ::recvfrom(fd, buffer, sizeof buffer, 0, reinterpret_cast<sockaddr*>(&ss), &len);
    if (n != 5 || std::memcmp(buffer, "probe", 5) != 0) {
      say("no reply from " + to.to_string());
      ++failures;
    } else {
      const SocketAddr from = parse_sockaddr(ss);
      say("reply from " + from.to_string());
      if (from != to) ++failures;
    }
    ::close(fd);
  }
  return failures == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: runtime_tool <mode> ...\n");
    return 2;
  }
  const std::string mode = argv[1];
  if (mode == "tun-sequence" && argc == 6) return tun_sequence(argv + 2);
  if (mode == "loop-check" && argc == 5) return loop_check(argv + 2);
  if (mode == "gso-fallback" && argc == 3) return gso_fallback(argv + 2);
  if (mode == "recv" && argc == 4) return recv_mode(argv + 2);
  if (mode == "echo" && argc == 3) return echo_mode(argv + 2);
  if (mode == "probe" && argc >= 3) return probe_mode(argc - 2, argv + 2);
  std::fprintf(stderr, "bad arguments\n");
  return 2;
}
