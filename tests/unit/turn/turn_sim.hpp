// A tiny network for TURN client tests: one Allocation, the relay model, a NAT in front of the
// client's IPv4 address, peers behind the relay, and a virtual clock that jumps from timeout to
// timeout. Everything the client sends is recorded with its send time.
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/buffer.hpp"
#include "crypto/rng.hpp"
#include "stun/message.hpp"
#include "support/relay_model.hpp"
#include "turn/allocation.hpp"

namespace fz::turn::test {

using fz::test::Datagram;
using fz::test::RelayModel;
using Buf = std::vector<std::uint8_t>;
using namespace std::chrono_literals;

inline net::SocketAddr addr(const char* text) {
  return *net::SocketAddr::parse(text);
}
inline net::IpAddr ip(const char* text) {
  return *net::IpAddr::parse(text);
}

inline const net::SocketAddr kRelay4 = addr("203.0.113.10:3478");
inline const net::SocketAddr kRelay6 = addr("[2001:db8::10]:3478");
inline const net::SocketAddr kLocal4 = addr("198.51.100.2:52625");
inline const net::SocketAddr kPublic4 = addr("203.0.113.99:40001");  // our NAT mapping
inline const net::SocketAddr kLocal6 = addr("[2001:db8:1::2]:52625");
inline const net::SocketAddr kPeer4 = addr("198.51.100.50:52625");
inline const net::SocketAddr kPeer6 = addr("[2001:db8:2::50]:52625");
inline constexpr std::int64_t kUnixOrigin = 1'700'000'000;
inline const std::string kSecret = "relay-secret";

inline Instant at(Duration d) {
  return Instant{} + d;
}

// A recorded transmit. The bytes are shared between copies, so a parsed view stays valid as long
// as the simulation that recorded it.
struct Sent {
  Sent(Instant t, Transmit tx)
      : time(t), transmit(std::move(tx)), bytes(std::make_shared<Buf>(transmit.payload)) {}
  Instant time;
  Transmit transmit;
  std::shared_ptr<const Buf> bytes;
  stun::Message message() const { return *stun::Message::parse(*bytes); }
};

struct Received {
  Instant time;
  net::SocketAddr peer;
  Buf payload;
  net::SocketAddr relay;
};

struct TimedEvent {
  Instant time;
  Event event;
};

inline RelayModel::Config relay_config() {
  RelayModel::Config c;
  c.public_v4 = ip("203.0.113.10");
  c.public_v6 = ip("2001:db8::10");
  c.secret = kSecret;
  c.unix_time_at_origin = kUnixOrigin;
  return c;
}

// Valid credentials for the model's secret, expiring `valid_for` after Instant zero.
inline Credentials credentials(std::string salt = "salt1",
                               std::chrono::seconds valid_for = std::chrono::hours(24 * 30)) {
  const std::int64_t expiry = kUnixOrigin + valid_for.count();
  return Credentials(std::to_string(expiry) + ":" + salt,
                     fz::test::firezone_password(kSecret, expiry, salt));
}

class Sim {
 public:
  explicit Sim(RelayModel::Config config = relay_config())
      : relay(std::move(config)), rng_(seed()) {}

  void start(RelaySocket server = RelaySocket{kRelay4, kRelay6}, Credentials creds = credentials(),
             AllocationOptions options = {}) {
    if (options.software.empty()) options.software = "snownet; session=TEST";
    allocation.reset();
    allocation.emplace(server, std::move(creds), std::move(options), rng_, now);
    pump();
  }

  // Delivers everything in flight until the network is quiet.
  void pump() {
    for (int guard = 0; guard < 100000; ++guard) {
      bool progress = false;
      while (auto t = allocation->poll_transmit()) {
        progress = true;
        sent.push_back(Sent{now, *t});
        if (!relay_reachable || (drop && drop(*t))) continue;
        relay.handle_client(t->dst.ip.is_v4() ? public4 : kLocal6, t->dst, t->payload, now);
      }
      while (auto d = relay.poll_datagram()) {
        progress = true;
        if (d->dst == public4 || d->dst == kLocal6) {
          if (!relay_reachable) continue;
          deliver(d->src, d->dst == public4 ? local4 : kLocal6, d->payload);
        } else {
          at_peers.push_back(std::move(*d));
        }
      }
      while (auto e = allocation->poll_event()) {
        progress = true;
        events.push_back(TimedEvent{now, *e});
      }
      if (!progress) return;
    }
    ADD_FAILURE() << "network never went quiet";
  }

  // A datagram from the relay (or anyone) to our local socket.
  void deliver(const net::SocketAddr& from, const net::SocketAddr& local, Bytes payload) {
    if (turn::looks_like_channel_data(payload)) {
      if (auto d = allocation->decapsulate(from, payload, now)) {
        at_client.push_back(
            Received{now, d->peer, Buf(d->payload.begin(), d->payload.end()), d->relay});
      }
      return;
    }
    allocation->handle_input(from, local, payload, now);
  }

  // Runs every timer up to and including `t`, then sets the clock to `t`.
  void run_until(Instant t) {
    for (int guard = 0; guard < 1000000; ++guard) {
      std::optional<Instant> next = allocation->poll_timeout();
      if (auto r = relay.poll_timeout(); r && (!next || *r < *next)) next = r;
      if (!next || *next > t) {
        now = std::max(now, t);
        return;
      }
      now = std::max(now, *next);
      allocation->handle_timeout(now);
      relay.handle_timeout(now);
      pump();
    }
    ADD_FAILURE() << "timers never settled";
  }
  void advance(Duration d) { run_until(now + d); }

  // The client sends `payload` to `peer` through the relay; false if it had to drop it.
  bool send_to_peer(const net::SocketAddr& peer, const Buf& payload) {
    PacketBuffer buffer(2048, 64);
    buffer.assign(payload, 64);
    auto dst = allocation->encapsulate(peer, buffer, now);
    if (!dst) {
      pump();
      return false;
    }
    Transmit t{std::nullopt, *dst, Buf(buffer.span().begin(), buffer.span().end())};
    sent.push_back(Sent{now, t});
    if (relay_reachable) relay.handle_client(public4, *dst, t.payload, now);
    pump();
    return true;
  }

  // A peer sends `payload` to our relay address.
  void peer_sends(const net::SocketAddr& peer, const net::SocketAddr& relay_addr,
                  const Buf& payload) {
    relay.handle_peer(peer, relay_addr, payload, now);
    pump();
  }

  std::vector<Sent> requests(stun::Method method) const {
    std::vector<Sent> out;
    for (const auto& s : sent) {
      auto m = stun::Message::parse(s.transmit.payload);
      if (m && m->method() == method && m->message_class() == stun::Class::request)
        out.push_back(s);
    }
    return out;
  }
  std::vector<Instant> request_times(stun::Method method) const {
    std::vector<Instant> out;
    for (const auto& s : requests(method))
      out.push_back(s.time);
    return out;
  }

  std::vector<TimedEvent> take_events() {
    auto out = std::move(events);
    events.clear();
    return out;
  }

  RelayModel relay;
  std::optional<Allocation> allocation;
  Instant now{};
  net::SocketAddr local4 = kLocal4;
  net::SocketAddr public4 = kPublic4;
  bool relay_reachable = true;
  std::function<bool(const Transmit&)> drop;
  std::vector<Sent> sent;
  std::vector<Datagram> at_peers;
  std::vector<Received> at_client;
  std::vector<TimedEvent> events;

 private:
  static std::array<std::uint8_t, 32> seed() {
    std::array<std::uint8_t, 32> s{};
    s[0] = 42;
    return s;
  }
  crypto::ChaChaRng rng_;
};

// Attribute types of a message in wire order.
inline std::vector<std::uint16_t> attribute_types(const stun::Message& m) {
  std::vector<std::uint16_t> out;
  for (const auto& a : m)
    out.push_back(a.type);
  return out;
}

}  // namespace fz::turn::test
