// The wire of a simulated network: datagrams in flight between endpoints and one Firezone relay
// model, each delivered after a fixed latency on a virtual clock, in send order for equal times.
// Test harnesses that drive a gateway and a client (tests/unit/gateway/gateway_sim.hpp,
// tools/fz-client/tests/client_sim.hpp) put every transmit here and let the wire hand each
// datagram to the relay or back to them. Test support only: never linked into fz_core.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <queue>
#include <vector>

#include "base/bytes.hpp"
#include "base/time.hpp"
#include "net/ip_addr.hpp"
#include "support/relay_model.hpp"

namespace fz::test {

class SimWire {
 public:
  // Delivers one datagram to a simulated endpoint (not the relay).
  using Deliver =
      std::function<void(const net::SocketAddr& src, const net::SocketAddr& dst, Bytes payload)>;

  SimWire(RelayModel& relay, net::SocketAddr relay_addr, Duration latency)
      : relay_(relay), relay_addr_(relay_addr), latency_(latency) {}

  // Returns true to lose a datagram as it is sent.
  std::function<bool(const net::SocketAddr& src, const net::SocketAddr& dst)> drop;

  void send(Instant now, const net::SocketAddr& src, const net::SocketAddr& dst, Bytes payload) {
    if (drop && drop(src, dst)) return;
    queue_.push(InFlight{now + latency_, seq_++, src, dst, {payload.begin(), payload.end()}});
  }

  // Moves the relay's output onto the wire; true if there was any.
  bool pump_relay(Instant now) {
    bool any = false;
    while (auto d = relay_.poll_datagram()) {
      any = true;
      send(now, d->src, d->dst, d->payload);
    }
    return any;
  }

  // The earliest of the next delivery and the relay's timer.
  std::optional<Instant> poll_timeout() const {
    std::optional<Instant> next = relay_.poll_timeout();
    if (!queue_.empty() && (!next || queue_.top().at < *next)) next = queue_.top().at;
    return next;
  }

  // Delivers everything due at `now` (relay-bound datagrams to the relay model, the rest through
  // `deliver`) and runs the relay's timer if it is due.
  void handle_timeout(Instant now, const Deliver& deliver) {
    while (!queue_.empty() && queue_.top().at <= now) {
      const InFlight d = queue_.top();
      queue_.pop();
      if (d.dst == relay_addr_) {
        relay_.handle_client(d.src, d.dst, d.bytes, now);
      } else if (d.dst.ip == relay_addr_.ip) {
        relay_.handle_peer(d.src, d.dst, d.bytes, now);
      } else {
        deliver(d.src, d.dst, d.bytes);
      }
    }
    if (auto t = relay_.poll_timeout(); t && *t <= now) relay_.handle_timeout(now);
  }

 private:
  struct InFlight {
    Instant at;
    std::uint64_t seq;
    net::SocketAddr src;
    net::SocketAddr dst;
    std::vector<std::uint8_t> bytes;
    bool operator>(const InFlight& o) const { return at != o.at ? at > o.at : seq > o.seq; }
  };

  RelayModel& relay_;
  net::SocketAddr relay_addr_;
  Duration latency_;
  std::priority_queue<InFlight, std::vector<InFlight>, std::greater<>> queue_;
  std::uint64_t seq_ = 0;
};

}  // namespace fz::test
