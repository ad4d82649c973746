// A two-peer simulation on a virtual clock for the WireGuard unit tests: peer A (the Firezone
// client's role, usually the initiator) and peer B (the gateway's role), each with its own Device
// and one Tunnel to the other. Datagrams are delivered without latency unless a direction is cut;
// every datagram sent is logged with its time, so tests can assert exact schedules.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "base/buffer.hpp"
#include "crypto/rng.hpp"
#include "crypto/x25519.hpp"
#include "net/ip_addr.hpp"
#include "wireguard/device.hpp"
#include "wireguard/messages.hpp"
#include "wireguard/tunnel.hpp"

namespace fz::wireguard::test {

using namespace std::chrono_literals;

inline std::array<std::uint8_t, 32> seed(std::uint8_t v) {
  std::array<std::uint8_t, 32> s{};
  s.fill(v);
  return s;
}

inline SymmetricKey key_of(std::uint8_t v) {
  SymmetricKey k;
  for (auto& b : k.expose_secret_mut())
    b = v;
  return k;
}

// A minimal IPv4 packet (ICMP protocol number, no checksum) of `total` bytes, counter in payload.
inline std::vector<std::uint8_t> ipv4_packet(std::size_t total, std::uint32_t tag = 0) {
  std::vector<std::uint8_t> p(std::max<std::size_t>(total, 24), 0);
  p[0] = 0x45;
  store_be16(p.data() + 2, static_cast<std::uint16_t>(p.size()));
  p[8] = 64;
  p[9] = 1;
  p[12] = 198, p[13] = 51, p[14] = 100, p[15] = 1;
  p[16] = 198, p[17] = 51, p[18] = 100, p[19] = 2;
  store_be32(p.data() + 20, tag);
  return p;
}

inline std::vector<std::uint8_t> ipv6_packet(std::size_t payload) {
  std::vector<std::uint8_t> p(40 + payload, 0);
  p[0] = 0x60;
  store_be16(p.data() + 4, static_cast<std::uint16_t>(payload));
  p[6] = 59;  // no next header
  p[7] = 64;
  return p;
}

inline PacketBuffer buffer_with(const std::vector<std::uint8_t>& bytes) {
  PacketBuffer b(64 + bytes.size() + 64, 64);
  b.assign(bytes, 64);
  return b;
}

enum class Kind { initiation, response, cookie, keepalive, data };

inline Kind kind_of(Bytes datagram) {
  switch (*classify(datagram)) {
    case MessageType::handshake_initiation:
      return Kind::initiation;
    case MessageType::handshake_response:
      return Kind::response;
    case MessageType::cookie_reply:
      return Kind::cookie;
    case MessageType::transport_data:
      break;
  }
  return datagram.size() == kDataOverhead ? Kind::keepalive : Kind::data;
}

struct Sent {
  Instant at;
  char from;
  Kind kind;
  std::size_t size;
  std::vector<std::uint8_t> bytes;
};

struct SimOptions {
  std::uint8_t psk_a = 7;
  std::uint8_t psk_b = 7;
  Duration jitter = Duration::zero();
  Duration rekey_attempt_time = kDefaultRekeyAttemptTime;
  std::uint32_t rate_limit_a = kHandshakeRateLimit;
  std::uint32_t rate_limit_b = kHandshakeRateLimit;
};

struct Peer {
  char name;
  crypto::ChaChaRng rng;
  Device device;
  std::optional<Tunnel> tunnel;
  net::IpAddr address;
  std::vector<std::vector<std::uint8_t>> inbox;  // IP packets delivered to this peer
  std::vector<Event> events;
  std::vector<Error> errors;  // decapsulation errors
  bool receives = true;       // false drops everything sent to this peer

  Peer(char n, std::uint8_t s, Instant now, std::uint32_t rate_limit, net::IpAddr addr)
      : name(n),
        rng(seed(s)),
        device(crypto::generate_secret_key(rng), rng, now, DeviceConfig{rate_limit}),
        address(addr) {}
};

class Sim {
 public:
  explicit Sim(SimOptions options = {})
      : t0(instant_from_nanos(1'000'000'000'000)),
        now(t0),
        a('A', 1, t0, options.rate_limit_a, net::IpAddr::v4(203, 0, 113, 1)),
        b('B', 2, t0, options.rate_limit_b, net::IpAddr::v4(203, 0, 113, 2)) {
    a.tunnel.emplace(make_tunnel(a, b, options.psk_a, options));
    b.tunnel.emplace(make_tunnel(b, a, options.psk_b, options));
  }

  static Tunnel make_tunnel(Peer& self, Peer& other, std::uint8_t psk, const SimOptions& options) {
    TunnelConfig config;
    config.peer_static = other.device.public_key();
    config.preshared_key = key_of(psk);
    config.connection_id = self.device.allocate_connection_id().value();
    config.wall_clock = noise::WallClock(std::chrono::seconds(1'700'000'000));
    config.rekey_attempt_time = options.rekey_attempt_time;
    config.max_handshake_jitter = options.jitter;
    auto t = Tunnel::create(self.device, std::move(config), instant_from_nanos(1'000'000'000'000));
    return std::move(t).value();
  }

  Peer& other(Peer& p) { return &p == &a ? b : a; }
  Tunnel& tunnel(Peer& p) { return *p.tunnel; }

  // Delivers one datagram from `from` to `to` as the layer above would.
  void deliver(Peer& from, Peer& to, std::vector<std::uint8_t> datagram) {
    if (!to.receives) return;
    auto routed = to.device.route(from.address, datagram, now);
    if (!routed) {
      to.errors.push_back(routed.error());
      return;
    }
    if (routed->kind() == Incoming::Kind::send_cookie_reply) {
      const Bytes reply = routed->cookie_reply_message();
      log.push_back({now, to.name, Kind::cookie, reply.size(), {reply.begin(), reply.end()}});
      deliver(to, from, std::vector<std::uint8_t>(reply.begin(), reply.end()));
      return;
    }
    auto result = to.tunnel->decapsulate(*routed, now);
    if (!result) {
      to.errors.push_back(result.error());
    } else if (!result->empty()) {
      to.inbox.emplace_back(result->begin(), result->end());
    }
    pump(to);
  }

  // Drains transmits and events of `p`, delivering transmits to the other peer.
  void pump(Peer& p) {
    while (auto t = p.tunnel->poll_transmit()) {
      const Bytes payload = t->payload();
      log.push_back(
          {now, p.name, kind_of(payload), payload.size(), {payload.begin(), payload.end()}});
      deliver(p, other(p), std::vector<std::uint8_t>(payload.begin(), payload.end()));
    }
    while (auto e = p.tunnel->poll_event())
      p.events.push_back(*e);
  }

  // Sends an IP packet from `p`; returns the encapsulation result.
  Result<Encapsulated> send(Peer& p, const std::vector<std::uint8_t>& packet) {
    PacketBuffer buffer = buffer_with(packet);
    auto r = p.tunnel->encapsulate(buffer, now);
    if (r && *r == Encapsulated::ready) {
      log.push_back({now, p.name, kind_of(buffer.span()), buffer.size(), {}});
      deliver(p, other(p), std::vector<std::uint8_t>(buffer.span().begin(), buffer.span().end()));
    }
    pump(p);
    return r;
  }

  // Sends and ignores whether it went out at once or was queued.
  void post(Peer& p, const std::vector<std::uint8_t>& packet) { (void)send(p, packet); }

  std::optional<Instant> next_deadline() {
    std::optional<Instant> next;
    for (Peer* p : {&a, &b}) {
      if (auto t = p->tunnel->poll_timeout()) {
        if (!next || *t < *next) next = t;
      }
    }
    return next;
  }

  // Advances the clock to `until`, firing every timer on the way exactly at its deadline.
  void run_until(Instant until) {
    for (int guard = 0; guard < 100000; ++guard) {
      auto next = next_deadline();
      if (!next || *next > until) break;
      now = std::max(now, *next);
      for (Peer* p : {&a, &b}) {
        if (auto t = p->tunnel->poll_timeout(); t && *t <= now) {
          p->tunnel->handle_timeout(now);
          pump(*p);
        }
      }
    }
    now = std::max(now, until);
  }
  void run_for(Duration d) { run_until(now + d); }

  void handshake() {
    a.tunnel->initiate_handshake(now);
    pump(a);
  }

  std::vector<Instant> sent_at(char from, Kind kind) const {
    std::vector<Instant> out;
    for (const auto& s : log) {
      if (s.from == from && s.kind == kind) out.push_back(s.at);
    }
    return out;
  }
  std::size_t count(char from, Kind kind) const { return sent_at(from, kind).size(); }

  // Both directions deliver an IP packet.
  void expect_connectivity(std::uint32_t tag = 99) {
    const std::size_t ia = a.inbox.size(), ib = b.inbox.size();
    ASSERT_TRUE(send(a, ipv4_packet(100, tag)));
    ASSERT_TRUE(send(b, ipv4_packet(100, tag)));
    EXPECT_EQ(b.inbox.size(), ib + 1);
    EXPECT_EQ(a.inbox.size(), ia + 1);
  }

  Instant t0;
  Instant now;
  Peer a;
  Peer b;
  std::vector<Sent> log;
};

inline std::string at(Instant t, Instant t0) {
  return std::to_string(std::chrono::duration<double>(t - t0).count()) + " s";
}

}  // namespace fz::wireguard::test
