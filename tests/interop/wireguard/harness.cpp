// The interop harness: our WireGuard engine over a plain UDP socket with a real clock, facing
// wireguard-go in another network namespace (run.sh sets both up). It generates ICMP echo requests
// itself and answers the ones it receives, so it needs no TUN device.
//
//   wg_interop_harness <scenario> --listen IP:PORT --peer IP:PORT --key FILE --peer-pub FILE
//                      --psk FILE --local-ip A --peer-ip A --local-ip6 A --peer-ip6 A
//                      [--count N] [--timeout SECONDS] [--rekey-attempt SECONDS]
//   wg_interop_harness udp-echo-client --to IP:PORT --count N
//
// Scenarios (exit 0 on success, 1 on failure; RESULT lines on stdout):
//   ping          we initiate; echo requests over IPv4 and IPv6 must all be answered
//   respond       the peer initiates; we answer echo requests until --count were answered
//   flood         we initiate; --count echo requests (windowed) must all be answered, and --count
//                 UDP datagrams to port 9999 from `udp-echo-client` on the peer side must all
//                 arrive (we echo each back, and the client counts the echoes)
//   psk-mismatch  the PSKs differ: first the peer initiates (we answer, it cannot decrypt), then
//                 we initiate (we reject its response); no session, and the connection expires
//                 after --rekey-attempt
//   restart       we initiate and ping; the peer is restarted (run.sh) and initiates again; the
//                 same Tunnel must get a second session and traffic must flow again
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "base/buffer.hpp"
#include "base/encoding.hpp"
#include "crypto/rng.hpp"
#include "net/ip_addr.hpp"
#include "wireguard/device.hpp"
#include "wireguard/tunnel.hpp"

namespace {

using namespace fz;
using namespace fz::wireguard;
using namespace std::chrono_literals;

Instant now_instant() {
  return instant_from_nanos(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                std::chrono::steady_clock::now().time_since_epoch())
                                .count());
}

double seconds_since(Instant start) {
  return std::chrono::duration<double>(now_instant() - start).count();
}

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "harness: %s\n", what.c_str());
  std::exit(2);
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) die("cannot read " + path);
  std::string s;
  std::getline(in, s);
  return s;
}

std::array<std::uint8_t, 32> read_key(const std::string& path) {
  auto k = base64_decode_fixed<32>(read_file(path));
  if (!k) die("bad key in " + path);
  return *k;
}

sockaddr_in to_sockaddr(const std::string& text) {
  auto addr = net::SocketAddr::parse(text);
  if (!addr || !addr->ip.is_v4()) die("bad IPv4 socket address " + text);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(addr->port);
  std::memcpy(&sa.sin_addr, addr->ip.bytes().data(), 4);
  return sa;
}

net::IpAddr parse_ip(const std::string& text) {
  auto ip = net::IpAddr::parse(text);
  if (!ip) die("bad IP address " + text);
  return *ip;
}

// ---------------------------------------------------------------------------------------------
// ICMP echo packets (IPv4 and IPv6), built and answered by hand.

std::uint32_t sum16(const std::uint8_t* p, std::size_t n, std::uint32_t acc = 0) {
  for (std::size_t i = 0; i + 1 < n; i += 2)
    acc += load_be16(p + i);
  if (n % 2) acc += std::uint32_t{p[n - 1]} << 8;
  return acc;
}

std::uint16_t fold(std::uint32_t acc) {
  while (acc >> 16)
    acc = (acc & 0xffff) + (acc >> 16);
  return static_cast<std::uint16_t>(~acc);
}

void fix_checksums(std::vector<std::uint8_t>& p) {
  if ((p[0] >> 4) == 4) {
    const std::size_t ihl = (p[0] & 0xf) * 4u;
    store_be16(p.data() + 10, 0);
    store_be16(p.data() + 10, fold(sum16(p.data(), ihl)));
    if (p[9] == 1) {
      store_be16(p.data() + ihl + 2, 0);
      store_be16(p.data() + ihl + 2, fold(sum16(p.data() + ihl, p.size() - ihl)));
    }
  } else if (p[6] == 58) {
    std::uint32_t acc = sum16(p.data() + 8, 32);  // source and destination
    acc += static_cast<std::uint32_t>(p.size() - 40);
    acc += 58;
    store_be16(p.data() + 42, 0);
    store_be16(p.data() + 42, fold(sum16(p.data() + 40, p.size() - 40, acc)));
  }
}

std::vector<std::uint8_t> echo_request(const net::IpAddr& src, const net::IpAddr& dst,
                                       std::uint16_t id, std::uint16_t seq) {
  constexpr std::size_t kPayload = 56;
  std::vector<std::uint8_t> p;
  if (src.is_v4()) {
    p.assign(20 + 8 + kPayload, 0);
    p[0] = 0x45;
    store_be16(p.data() + 2, static_cast<std::uint16_t>(p.size()));
    store_be16(p.data() + 4, seq);
    p[8] = 64;
    p[9] = 1;
    std::memcpy(p.data() + 12, src.bytes().data(), 4);
    std::memcpy(p.data() + 16, dst.bytes().data(), 4);
    p[20] = 8;
    store_be16(p.data() + 24, id);
    store_be16(p.data() + 26, seq);
    for (std::size_t i = 0; i < kPayload; ++i)
      p[28 + i] = static_cast<std::uint8_t>(i);
  } else {
    p.assign(40 + 8 + kPayload, 0);
    p[0] = 0x60;
    store_be16(p.data() + 4, static_cast<std::uint16_t>(8 + kPayload));
    p[6] = 58;
    p[7] = 64;
    std::memcpy(p.data() + 8, src.bytes().data(), 16);
    std::memcpy(p.data() + 24, dst.bytes().data(), 16);
    p[40] = 128;
    store_be16(p.data() + 44, id);
    store_be16(p.data() + 46, seq);
    for (std::size_t i = 0; i < kPayload; ++i)
      p[48 + i] = static_cast<std::uint8_t>(i);
  }
  fix_checksums(p);
  return p;
}

struct Echo {
  bool request;
  bool v6;
  std::uint16_t id;
  std::uint16_t seq;
};

std::optional<Echo> parse_echo(Bytes p) {
  if (p.size() >= 28 && (p[0] >> 4) == 4 && p[9] == 1) {
    const std::size_t ihl = (p[0] & 0xf) * 4u;
    if (p.size() < ihl + 8) return std::nullopt;
    const std::uint8_t type = p[ihl];
    if (type != 8 && type != 0) return std::nullopt;
    return Echo{type == 8, false, load_be16(p.data() + ihl + 4), load_be16(p.data() + ihl + 6)};
  }
  if (p.size() >= 48 && (p[0] >> 4) == 6 && p[6] == 58) {
    const std::uint8_t type = p[40];
    if (type != 128 && type != 129) return std::nullopt;
    return Echo{type == 128, true, load_be16(p.data() + 44), load_be16(p.data() + 46)};
  }
  return std::nullopt;
}

std::vector<std::uint8_t> echo_reply_to(Bytes request) {
  std::vector<std::uint8_t> p(request.begin(), request.end());
  if ((p[0] >> 4) == 4) {
    std::array<std::uint8_t, 4> a;
    std::memcpy(a.data(), p.data() + 12, 4);
    std::memcpy(p.data() + 12, p.data() + 16, 4);
    std::memcpy(p.data() + 16, a.data(), 4);
    p[(p[0] & 0xf) * 4u] = 0;
  } else {
    std::array<std::uint8_t, 16> a;
    std::memcpy(a.data(), p.data() + 8, 16);
    std::memcpy(p.data() + 8, p.data() + 24, 16);
    std::memcpy(p.data() + 24, a.data(), 16);
    p[40] = 129;
  }
  fix_checksums(p);
  return p;
}

// The same datagram back to its sender (IPv4, ports swapped, UDP checksum 0 = none).
std::vector<std::uint8_t> udp_reply_to(Bytes request) {
  std::vector<std::uint8_t> p(request.begin(), request.end());
  std::array<std::uint8_t, 4> a;
  std::memcpy(a.data(), p.data() + 12, 4);
  std::memcpy(p.data() + 12, p.data() + 16, 4);
  std::memcpy(p.data() + 16, a.data(), 4);
  const std::size_t ihl = (p[0] & 0xf) * 4u;
  const std::uint16_t sport = load_be16(p.data() + ihl);
  store_be16(p.data() + ihl, load_be16(p.data() + ihl + 2));
  store_be16(p.data() + ihl + 2, sport);
  store_be16(p.data() + ihl + 6, 0);
  fix_checksums(p);
  return p;
}

bool is_udp_to_port(Bytes p, std::uint16_t port) {
  if (p.size() >= 28 && (p[0] >> 4) == 4 && p[9] == 17) {
    const std::size_t ihl = (p[0] & 0xf) * 4u;
    return p.size() >= ihl + 8 && load_be16(p.data() + ihl + 2) == port;
  }
  return false;
}

// ---------------------------------------------------------------------------------------------

struct Options {
  std::string scenario;
  std::string listen, peer, key, peer_pub, psk;
  net::IpAddr local_ip, peer_ip, local_ip6, peer_ip6;
  int count = 0;
  double timeout = 10;
  double rekey_attempt = 15;
  std::string to;
};

class Harness {
 public:
  explicit Harness(const Options& o)
      : options_(o),
        rng_(random_seed()),
        start_(now_instant()),
        device_(crypto::SecretKey::from_bytes(read_key(o.key)), rng_, start_),
        tunnel_(make_tunnel(o)),
        peer_(to_sockaddr(o.peer)) {
    fd_ = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    if (fd_ < 0) die("socket");
    const int big = 8 << 20;
    setsockopt(fd_, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof big);
    setsockopt(fd_, SOL_SOCKET, SO_SNDBUFFORCE, &big, sizeof big);
    const sockaddr_in local = to_sockaddr(o.listen);
    if (bind(fd_, reinterpret_cast<const sockaddr*>(&local), sizeof local) != 0) die("bind");
    std::printf("LISTENING %s\n", o.listen.c_str());
    std::fflush(stdout);
  }

  // Sends an IP packet through the tunnel (queued if there is no session yet).
  void send_ip(const std::vector<std::uint8_t>& packet) {
    PacketBuffer buffer(64 + packet.size() + 32, 64);
    buffer.assign(packet, 64);
    auto r = tunnel_.encapsulate(buffer, now_instant());
    if (!r) {
      ++encapsulate_errors_;
    } else if (*r == Encapsulated::ready) {
      send_datagram(buffer.span());
    }
    drain();
  }

  void ping(bool v6, std::uint16_t seq) {
    const auto& src = v6 ? options_.local_ip6 : options_.local_ip;
    const auto& dst = v6 ? options_.peer_ip6 : options_.peer_ip;
    sent_requests_[{v6, seq}] = now_instant();
    send_ip(echo_request(src, dst, kEchoId, seq));
  }

  // Runs the event loop until `done()` or the deadline; true if done.
  template <class Done>
  bool run(double seconds, Done done) {
    const Instant deadline = now_instant() + std::chrono::duration_cast<Duration>(
                                                 std::chrono::duration<double>(seconds));
    while (!done()) {
      const Instant now = now_instant();
      if (now >= deadline) return false;
      if (auto t = tunnel_.poll_timeout(); t && *t <= now) {
        tunnel_.handle_timeout(now);
        drain();
        continue;
      }
      Instant wake = deadline;
      if (auto t = tunnel_.poll_timeout(); t && *t < wake) wake = *t;
      const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(wake - now).count();
      pollfd pfd{fd_, POLLIN, 0};
      poll(&pfd, 1, static_cast<int>(std::clamp<long>(ms, 0, 20)));
      receive_all();
    }
    return true;
  }

  void receive_all() {
    for (;;) {
      std::array<std::uint8_t, 2048> buf;
      sockaddr_in from{};
      socklen_t len = sizeof from;
      const ssize_t n =
          recvfrom(fd_, buf.data(), buf.size(), 0, reinterpret_cast<sockaddr*>(&from), &len);
      if (n < 0) return;
      net::IpAddr source = net::IpAddr::v4_from_u32(ntohl(from.sin_addr.s_addr));
      on_datagram(source, MutBytes(buf.data(), static_cast<std::size_t>(n)));
    }
  }

  void on_datagram(const net::IpAddr& source, MutBytes datagram) {
    const Instant now = now_instant();
    auto routed = device_.route(source, datagram, now);
    if (!routed) {
      ++route_errors_;
      std::printf("route error: %s\n", routed.error().to_string().c_str());
      return;
    }
    if (routed->kind() == Incoming::Kind::send_cookie_reply) {
      send_datagram(routed->cookie_reply_message());
      return;
    }
    if (routed->kind() == Incoming::Kind::handshake_initiation) ++initiations_received_;
    if (routed->routed_by_index() && routed->connection_id() != tunnel_.connection_id()) {
      ++route_errors_;
      return;
    }
    auto packet = tunnel_.decapsulate(*routed, now);
    if (!packet) {
      ++decapsulate_errors_;
      if (packet.error().code() == Errc::crypto) ++crypto_errors_;
      std::printf("decapsulate error: %s\n", packet.error().to_string().c_str());
    } else if (!packet->empty()) {
      on_ip_packet(*packet);
    }
    drain();
  }

  void on_ip_packet(Bytes packet) {
    ++ip_received_;
    if (is_udp_to_port(packet, 9999)) {
      ++udp_received_;
      send_ip(udp_reply_to(packet));
      return;
    }
    auto echo = parse_echo(packet);
    if (!echo) return;
    if (echo->request) {
      ++requests_answered_;
      send_ip(echo_reply_to(packet));
      return;
    }
    auto it = sent_requests_.find({echo->v6, echo->seq});
    if (echo->id == kEchoId && it != sent_requests_.end()) {
      rtt_total_ += std::chrono::duration<double>(now_instant() - it->second).count();
      sent_requests_.erase(it);
      ++replies_received_;
      (echo->v6 ? replies_v6_ : replies_v4_)++;
    }
  }

  void drain() {
    while (auto t = tunnel_.poll_transmit())
      send_datagram(t->payload());
    while (auto e = tunnel_.poll_event()) {
      if (auto* s = std::get_if<SessionEstablished>(&*e)) {
        ++sessions_;
        if (!s->we_initiated) ++sessions_as_responder_;
        std::printf("EVENT session established (%s) after %.3f s, local index %08x\n",
                    s->we_initiated ? "initiator" : "responder", seconds_since(start_),
                    s->local_index);
        if (first_session_at_ < 0) first_session_at_ = seconds_since(start_);
      } else {
        ++expired_;
        std::printf("EVENT connection expired after %.3f s\n", seconds_since(start_));
      }
      std::fflush(stdout);
    }
  }

  void send_datagram(Bytes payload) {
    for (;;) {
      const ssize_t n = sendto(fd_, payload.data(), payload.size(), 0,
                               reinterpret_cast<const sockaddr*>(&peer_), sizeof peer_);
      if (n >= 0 || errno != EAGAIN) break;
      pollfd pfd{fd_, POLLOUT, 0};
      poll(&pfd, 1, 10);
    }
    ++datagrams_sent_;
  }

  int scenario_ping() {
    const int n = options_.count > 0 ? options_.count : 5;
    for (int i = 0; i < n; ++i) {
      ping(false, static_cast<std::uint16_t>(i));
      ping(true, static_cast<std::uint16_t>(i));
      run(0.1, [] { return false; });
    }
    const bool ok = run(options_.timeout, [&] { return replies_received_ == 2 * n; });
    std::printf("RESULT handshake_s=%.3f replies_v4=%d replies_v6=%d expected=%d rtt_avg_ms=%.3f\n",
                first_session_at_, replies_v4_, replies_v6_, n,
                replies_received_ ? 1000 * rtt_total_ / replies_received_ : 0.0);
    return ok && tunnel_.connection_id() == initial_id_ ? 0 : 1;
  }

  int scenario_respond() {
    const int n = options_.count > 0 ? options_.count : 3;
    const bool ok = run(options_.timeout, [&] { return requests_answered_ >= n; });
    // Let the last replies leave before exiting.
    run(0.2, [] { return false; });
    std::printf("RESULT answered=%d sessions_as_responder=%d initiations=%d\n", requests_answered_,
                sessions_as_responder_, initiations_received_);
    return ok && sessions_as_responder_ >= 1 ? 0 : 1;
  }

  int scenario_flood() {
    const int n = options_.count > 0 ? options_.count : 10000;
    ping(false, 0);
    if (!run(options_.timeout, [&] { return replies_received_ == 1; })) {
      std::printf("RESULT no session\n");
      return 1;
    }
    std::printf("ESTABLISHED\n");
    std::fflush(stdout);
    // Echo requests with at most `window` outstanding, so nothing overflows a queue.
    constexpr int kWindow = 32;
    const Instant start = now_instant();
    int next = 1;
    const bool echo_ok = run(options_.timeout, [&] {
      while (next <= n && next - 1 - (replies_received_ - 1) < kWindow) {
        ping(false, static_cast<std::uint16_t>(next++));
      }
      return replies_received_ - 1 == n;
    });
    const double echo_s = std::chrono::duration<double>(now_instant() - start).count();
    // The peer side's UDP echo client was started when we printed ESTABLISHED.
    const bool udp_ok = run(options_.timeout, [&] { return udp_received_ >= n; });
    run(0.3, [] { return false; });  // anything beyond n would be a duplicate
    std::printf(
        "RESULT echo_requests_sent=%d echo_replies=%d udp_received=%d expected=%d echo_s=%.3f "
        "echo_pps=%.0f\n",
        next - 1, replies_received_ - 1, udp_received_, n, echo_s, 2.0 * n / echo_s);
    return echo_ok && udp_ok && udp_received_ == n && replies_received_ - 1 == n ? 0 : 1;
  }

  int scenario_psk_mismatch() {
    // First the peer initiates (run.sh pings from its side): we answer, it cannot decrypt our
    // response, so it never confirms and we never get a session.
    run(2.5, [] { return false; });
    // Then we initiate: the peer answers and we cannot decrypt its response.
    const Instant initiated = now_instant();
    ping(false, 0);
    const bool expired = run(options_.rekey_attempt + 5, [&] { return expired_ > 0; });
    std::printf(
        "RESULT expired=%d sessions=%d crypto_errors=%d initiations_received=%d replies=%d "
        "expired_after_s=%.3f\n",
        expired_, sessions_, crypto_errors_, initiations_received_, replies_received_,
        std::chrono::duration<double>(now_instant() - initiated).count());
    return expired && sessions_ == 0 && crypto_errors_ >= 1 && initiations_received_ >= 1 &&
                   replies_received_ == 0
               ? 0
               : 1;
  }

  int scenario_restart() {
    std::uint16_t seq = 0;
    ping(false, seq++);
    if (!run(options_.timeout, [&] { return replies_received_ >= 1; })) return 1;
    std::printf("PHASE1 replies=%d\n", replies_received_);
    std::fflush(stdout);
    // Keep pinging while the peer restarts; it initiates a new handshake when it pings us.
    int replies_after = 0;
    int replies_at_second = -1;
    Instant last = now_instant();
    const bool ok = run(options_.timeout, [&] {
      if (now_instant() - last >= 200ms) {
        last = now_instant();
        ping(false, seq++);
      }
      if (sessions_ >= 2 && replies_at_second < 0) replies_at_second = replies_received_;
      if (replies_at_second >= 0) replies_after = replies_received_ - replies_at_second;
      return sessions_ >= 2 && replies_after >= 3 && requests_answered_ >= 3;
    });
    std::printf(
        "RESULT sessions=%d as_responder=%d replies_after_second_session=%d answered=%d "
        "same_tunnel=%d\n",
        sessions_, sessions_as_responder_, replies_after, requests_answered_,
        tunnel_.connection_id() == initial_id_ ? 1 : 0);
    return ok && tunnel_.connection_id() == initial_id_ ? 0 : 1;
  }

 private:
  static constexpr std::uint16_t kEchoId = 0x4657;

  static std::array<std::uint8_t, 32> random_seed() {
    std::random_device rd;
    std::array<std::uint8_t, 32> s;
    for (auto& b : s)
      b = static_cast<std::uint8_t>(rd());
    return s;
  }

  Tunnel make_tunnel(const Options& o) {
    TunnelConfig config;
    config.peer_static = read_key(o.peer_pub);
    config.preshared_key = SymmetricKey(read_key(o.psk));
    config.connection_id = device_.allocate_connection_id().value();
    initial_id_ = config.connection_id;
    config.wall_clock =
        std::chrono::time_point_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now());
    config.rekey_attempt_time =
        std::chrono::duration_cast<Duration>(std::chrono::duration<double>(o.rekey_attempt));
    auto t = Tunnel::create(device_, std::move(config), start_);
    if (!t) die("tunnel: " + t.error().to_string());
    return std::move(t).value();
  }

  Options options_;
  crypto::ChaChaRng rng_;
  Instant start_;
  Device device_;
  std::uint32_t initial_id_ = 0;
  Tunnel tunnel_;
  sockaddr_in peer_;
  int fd_ = -1;

  std::map<std::pair<bool, std::uint16_t>, Instant> sent_requests_;
  int replies_received_ = 0, replies_v4_ = 0, replies_v6_ = 0;
  int requests_answered_ = 0, udp_received_ = 0, ip_received_ = 0;
  int sessions_ = 0, sessions_as_responder_ = 0, expired_ = 0;
  int route_errors_ = 0, decapsulate_errors_ = 0, crypto_errors_ = 0, encapsulate_errors_ = 0;
  int initiations_received_ = 0, datagrams_sent_ = 0;
  double first_session_at_ = -1, rtt_total_ = 0;
};

// Runs on the peer's side: sends --count UDP datagrams to --to through wireguard-go, at most 32
// unanswered at a time, and counts the echoes our harness sends back.
int udp_echo_client(const Options& o) {
  const int fd = socket(AF_INET, SOCK_DGRAM, 0);
  const sockaddr_in to = to_sockaddr(o.to);
  const timeval tv{0, 200000};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  constexpr int kWindow = 32;
  std::vector<bool> answered(static_cast<std::size_t>(o.count), false);
  std::array<std::uint8_t, 100> payload{};
  int sent = 0, echoes = 0, idle_timeouts = 0;
  const auto start = std::chrono::steady_clock::now();
  while (echoes < o.count && idle_timeouts < 25) {
    while (sent < o.count && sent - echoes < kWindow) {
      store_be32(payload.data(), static_cast<std::uint32_t>(sent));
      if (sendto(fd, payload.data(), payload.size(), 0, reinterpret_cast<const sockaddr*>(&to),
                 sizeof to) != static_cast<ssize_t>(payload.size())) {
        die("udp send failed");
      }
      ++sent;
    }
    std::array<std::uint8_t, 200> in;
    const ssize_t n = recv(fd, in.data(), in.size(), 0);
    if (n < 0) {
      ++idle_timeouts;
      continue;
    }
    const std::uint32_t seq = load_be32(in.data());
    if (n == static_cast<ssize_t>(payload.size()) && seq < answered.size() && !answered[seq]) {
      answered[seq] = true;
      ++echoes;
    }
  }
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("RESULT udp_sent=%d udp_echoes=%d seconds=%.3f\n", sent, echoes, s);
  return sent == o.count && echoes == o.count ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) die("usage: see the comment at the top of harness.cpp");
  Options o;
  o.scenario = argv[1];
  for (int i = 2; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--listen")
      o.listen = v;
    else if (k == "--peer")
      o.peer = v;
    else if (k == "--key")
      o.key = v;
    else if (k == "--peer-pub")
      o.peer_pub = v;
    else if (k == "--psk")
      o.psk = v;
    else if (k == "--local-ip")
      o.local_ip = parse_ip(v);
    else if (k == "--peer-ip")
      o.peer_ip = parse_ip(v);
    else if (k == "--local-ip6")
      o.local_ip6 = parse_ip(v);
    else if (k == "--peer-ip6")
      o.peer_ip6 = parse_ip(v);
    else if (k == "--count")
      o.count = std::stoi(v);
    else if (k == "--timeout")
      o.timeout = std::stod(v);
    else if (k == "--rekey-attempt")
      o.rekey_attempt = std::stod(v);
    else if (k == "--to")
      o.to = v;
    else
      die("unknown option " + k);
  }
  if (o.scenario == "udp-echo-client") return udp_echo_client(o);

  Harness h(o);
  int rc = 2;
  if (o.scenario == "ping")
    rc = h.scenario_ping();
  else if (o.scenario == "respond")
    rc = h.scenario_respond();
  else if (o.scenario == "flood")
    rc = h.scenario_flood();
  else if (o.scenario == "psk-mismatch")
    rc = h.scenario_psk_mismatch();
  else if (o.scenario == "restart")
    rc = h.scenario_restart();
  else
    die("unknown scenario " + o.scenario);
  std::fflush(stdout);
  return rc;
}
