// Fuzzes received WireGuard datagrams: Device::route() and Tunnel::decapsulate() of a node whose
// tunnel is in one of several states, interleaved with timer runs and outgoing packets.
//
// Input: byte 0 picks the state (see Setup), then records of [op][len LE16][len bytes]:
//   op % 4 == 0  datagram from the peer's address     op % 4 == 1  datagram without a source
//   op % 4 == 2  advance the clock by len * 50 ms     op % 4 == 3  encapsulate the bytes
// Everything is deterministic (fixed seeds, virtual clock), so committed seeds made from real
// messages (FZ_WRITE_WG_CORPUS=<dir>, see write_corpus) stay valid.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "base/buffer.hpp"
#include "crypto/rng.hpp"
#include "net/ip_addr.hpp"
#include "wireguard/device.hpp"
#include "wireguard/tunnel.hpp"

namespace {

using namespace fz;
using namespace fz::wireguard;
using Datagram = std::vector<std::uint8_t>;

std::array<std::uint8_t, 32> seed(std::uint8_t v) {
  std::array<std::uint8_t, 32> s{};
  s.fill(v);
  return s;
}

const net::IpAddr kPeerAddress = net::IpAddr::v4(203, 0, 113, 2);

enum class Setup : std::uint8_t {
  fresh,            // no handshake yet
  initiation_sent,  // we initiated, no response yet
  established,      // we initiated and confirmed
  established_responder,
  responder_pending,  // we answered the peer, no confirmation yet
  under_load,         // our rate limit is 0: we initiated, the response needs mac2
  kCount,
};

struct Node {
  crypto::ChaChaRng rng;
  Device device;
  std::optional<Tunnel> tunnel;

  Node(std::uint8_t s, Instant now, std::uint32_t rate_limit)
      : rng(seed(s)),
        device(crypto::generate_secret_key(rng), rng, now, DeviceConfig{rate_limit}) {}

  std::vector<Datagram> drain() {
    std::vector<Datagram> out;
    while (auto t = tunnel->poll_transmit()) {
      out.emplace_back(t->payload().begin(), t->payload().end());
    }
    while (tunnel->poll_event()) {
    }
    return out;
  }

  void receive(const net::IpAddr& from, Datagram d, Instant now) {
    auto routed = device.route(from, d, now);
    if (routed && routed->kind() != Incoming::Kind::send_cookie_reply) {
      (void)tunnel->decapsulate(*routed, now);
    }
  }
};

// Our node and the peer, with two tunnels that know each other's keys.
struct World {
  Instant now = instant_from_nanos(1'000'000'000'000);
  Node us;
  Node peer;
  std::vector<Datagram> sent_by_us;  // during setup

  explicit World(Setup setup, std::uint32_t peer_rate_limit = kHandshakeRateLimit)
      : us(1, now, setup == Setup::under_load ? 0 : kHandshakeRateLimit),
        peer(2, now, peer_rate_limit) {
    us.tunnel.emplace(make(us, peer.device.public_key()));
    peer.tunnel.emplace(make(peer, us.device.public_key()));
    switch (setup) {
      case Setup::fresh:
      case Setup::kCount:
        break;
      case Setup::initiation_sent:
        us.tunnel->initiate_handshake(now);
        sent_by_us = us.drain();
        break;
      case Setup::established:
      case Setup::under_load:
        handshake(us, peer);
        break;
      case Setup::established_responder:
        handshake(peer, us);
        break;
      case Setup::responder_pending:
        peer.tunnel->initiate_handshake(now);
        for (auto& d : peer.drain())
          us.receive(kPeerAddress, d, now);
        sent_by_us = us.drain();
        break;
    }
  }

  Tunnel make(Node& n, const crypto::PublicKey& other) {
    TunnelConfig c;
    c.peer_static = other;
    for (auto& b : c.preshared_key.expose_secret_mut())
      b = 0x42;
    c.connection_id = n.device.allocate_connection_id().value();
    c.wall_clock = noise::WallClock(std::chrono::seconds(1'700'000'000));
    c.max_handshake_jitter = Duration::zero();
    return Tunnel::create(n.device, std::move(c), now).value();
  }

  // A complete handshake that `initiator` starts.
  void handshake(Node& initiator, Node& responder) {
    initiator.tunnel->initiate_handshake(now);
    for (int round = 0; round < 4; ++round) {
      for (auto& d : initiator.drain())
        responder.receive(net::IpAddr::v4(203, 0, 113, 1), d, now);
      for (auto& d : responder.drain())
        initiator.receive(kPeerAddress, d, now);
    }
  }
};

void run(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return;
  World world(static_cast<Setup>(data[0] % static_cast<std::uint8_t>(Setup::kCount)));
  std::size_t pos = 1;
  while (pos + 3 <= size) {
    const std::uint8_t op = data[pos];
    const std::size_t len =
        std::min<std::size_t>(data[pos + 1] | (data[pos + 2] << 8), size - pos - 3);
    const std::uint8_t* bytes = data + pos + 3;
    pos += 3 + len;
    switch (op % 4) {
      case 0:
      case 1: {
        // A mutable copy with exactly `len` bytes, so ASan sees any read past the datagram.
        std::vector<std::uint8_t> d(bytes, bytes + len);
        std::optional<net::IpAddr> source;
        if (op % 4 == 0) source = kPeerAddress;
        auto routed = world.us.device.route(source, d, world.now);
        if (!routed) break;
        if (routed->kind() == Incoming::Kind::send_cookie_reply) {
          if (routed->cookie_reply_message().size() != kCookieReplySize) std::abort();
          break;
        }
        if (routed->routed_by_index() &&
            routed->connection_id() != world.us.tunnel->connection_id()) {
          break;
        }
        if (routed->kind() == Incoming::Kind::handshake_initiation &&
            routed->initiator_static() != world.us.tunnel->peer_static()) {
          break;
        }
        auto r = world.us.tunnel->decapsulate(*routed, world.now);
        if (r && !r->empty() &&
            (r->data() < d.data() || r->data() + r->size() > d.data() + d.size())) {
          std::abort();  // the plaintext must lie inside the datagram
        }
        break;
      }
      case 2:
        world.now += len * std::chrono::milliseconds(50);
        if (auto t = world.us.tunnel->poll_timeout(); t && *t <= world.now) {
          world.us.tunnel->handle_timeout(world.now);
        }
        break;
      case 3: {
        PacketBuffer b(64 + len + 16, 64);
        b.assign(Bytes(bytes, len), 64);
        (void)world.us.tunnel->encapsulate(b, world.now);
        break;
      }
    }
    for (const auto& d : world.us.drain()) {
      if (!is_wireguard(d)) std::abort();  // everything we send is a well-formed message
    }
  }
}

// Seeds made from real messages of the same deterministic worlds.
void write_corpus(const std::string& dir) {
  int n = 0;
  auto write = [&](Setup setup, const std::vector<std::pair<std::uint8_t, Datagram>>& records) {
    std::vector<std::uint8_t> out{static_cast<std::uint8_t>(setup)};
    for (const auto& [op, d] : records) {
      out.push_back(op);
      out.push_back(static_cast<std::uint8_t>(d.size()));
      out.push_back(static_cast<std::uint8_t>(d.size() >> 8));
      out.insert(out.end(), d.begin(), d.end());
    }
    std::ofstream(dir + "/seed-" + std::to_string(n++), std::ios::binary)
        .write(reinterpret_cast<const char*>(out.data()), static_cast<std::streamsize>(out.size()));
  };
  auto sealed = [](World& w, const Datagram& plaintext) {
    PacketBuffer b(64 + plaintext.size() + 16, 64);
    b.assign(plaintext, 64);
    (void)w.peer.tunnel->encapsulate(b, w.now);
    return Datagram(b.span().begin(), b.span().end());
  };
  Datagram ip(40, 0);
  ip[0] = 0x45;
  ip[3] = 40;
  Datagram ip6(48, 0);
  ip6[0] = 0x60;
  ip6[5] = 8;

  {  // the peer's initiation to a fresh tunnel, and again under load (cookie reply)
    World w(Setup::fresh);
    w.peer.tunnel->initiate_handshake(w.now);
    auto init = w.peer.drain().at(0);
    write(Setup::fresh, {{0, init}});
    write(Setup::under_load, {{0, init}, {1, init}});
    write(Setup::established, {{0, init}, {2, Datagram(20, 0)}});
  }
  {  // the peer's response to our initiation, then a retransmission timer
    World w(Setup::initiation_sent);
    for (auto& d : w.sent_by_us)
      w.peer.receive(net::IpAddr::v4(203, 0, 113, 1), d, w.now);
    auto resp = w.peer.drain().at(0);
    write(Setup::initiation_sent, {{0, resp}, {3, ip}});
    write(Setup::initiation_sent, {{2, Datagram(100, 0)}, {2, Datagram(100, 0)}, {0, resp}});
  }
  {  // a cookie reply for our initiation from a peer under load
    World w(Setup::initiation_sent, /*peer_rate_limit=*/0);
    Datagram init = w.sent_by_us.at(0);
    auto routed = w.peer.device.route(net::IpAddr::v4(203, 0, 113, 1), init, w.now);
    const Bytes reply = routed.value().cookie_reply_message();
    write(Setup::initiation_sent,
          {{0, Datagram(reply.begin(), reply.end())}, {2, Datagram(110, 0)}});
  }
  {  // data, padded data, IPv6, keepalive on an established session; replays
    World w(Setup::established);
    auto d1 = sealed(w, ip);
    Datagram padded = ip;
    padded.resize(48, 0);
    auto d2 = sealed(w, padded);
    auto d3 = sealed(w, ip6);
    auto ka = sealed(w, {});
    write(Setup::established, {{0, d1}, {0, d2}, {0, d3}, {0, ka}, {0, d1}});
    write(Setup::established, {{3, ip}, {2, Datagram(300, 0)}, {0, d2}});
    write(Setup::under_load, {{0, d1}});
  }
  {  // data confirming a pending responder session
    World w(Setup::responder_pending);
    for (auto& d : w.sent_by_us)
      w.peer.receive(net::IpAddr::v4(203, 0, 113, 1), d, w.now);
    auto confirm = w.peer.drain();
    std::vector<std::pair<std::uint8_t, Datagram>> records;
    for (auto& d : confirm)
      records.emplace_back(0, d);
    records.emplace_back(3, ip);
    write(Setup::responder_pending, records);
  }
  {
    World w(Setup::established_responder);
    write(Setup::established_responder, {{0, sealed(w, ip)}, {2, Datagram(250, 0)}});
  }
  write(Setup::fresh, {{3, ip}, {2, Datagram(200, 0)}, {0, Datagram(148, 1)}});
  write(Setup::fresh, {{0, Datagram{1, 0, 0, 0}}, {0, Datagram(32, 4)}});
  std::printf("wrote %d seeds to %s\n", n, dir.c_str());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const bool wrote = [] {
    if (const char* dir = std::getenv("FZ_WRITE_WG_CORPUS")) {
      write_corpus(dir);
      std::exit(0);
    }
    return false;
  }();
  (void)wrote;
  run(data, size);
  return 0;
}
