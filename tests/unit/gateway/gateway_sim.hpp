// A GatewayState and a client-role p2p Node on one simulated network with a Firezone relay
// (RelayModel), on a virtual clock. The test plays the portal: it feeds `init` and flow messages
// to the gateway, creates the client's side of each flow, and carries candidates both ways.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <optional>
#include <queue>
#include <string>
#include <vector>

#include "base/time.hpp"
#include "crypto/rng.hpp"
#include "crypto/x25519.hpp"
#include "gateway/state.hpp"
#include "net/ip_packet.hpp"
#include "p2p/node.hpp"
#include "support/relay_model.hpp"
#include "support/sim_wire.hpp"

namespace fz::gateway::test {

inline Uuid uuid_of(std::uint8_t n) {
  std::array<std::uint8_t, 16> b{};
  b[0] = 0xc1;
  b[15] = n;
  b[6] = 0x40;
  b[8] = 0x80;
  return Uuid(b);
}

inline net::IpAddr ip(std::string_view text) {
  return *net::IpAddr::parse(text);
}

class GatewaySim {
 public:
  static constexpr std::int64_t kUnixOrigin = 1'700'000'000;
  static constexpr Duration kLatency = std::chrono::milliseconds(5);

  const net::SocketAddr relay_addr{ip("203.0.113.50"), 3478};
  const net::SocketAddr gateway_addr{ip("198.51.100.20"), 52625};
  const net::SocketAddr client_addr{ip("203.0.113.10"), 40000};
  const IpConfig gateway_tun{ip("100.64.0.1"), ip("fd00:2021:1111::1")};
  const IpConfig client_tun{ip("100.64.0.2"), ip("fd00:2021:1111::2")};
  const Uuid relay_id = uuid_of(200);
  const Uuid client_id = uuid_of(1);
  const Uuid gateway_id = uuid_of(100);

  Instant now{};
  bool direct_blocked = false;
  bool client_online = true;

  fz::test::RelayModel relay;
  GatewayState gateway;
  p2p::Node client;

  std::vector<std::vector<std::uint8_t>> tun_out;    // gateway → resources
  std::vector<std::vector<std::uint8_t>> client_rx;  // gateway → client (decrypted)
  std::vector<p2p::Event> client_events;             // everything but candidates
  std::vector<portal::EgressMessage> portal_out;     // gateway → portal
  std::vector<event::ResolveDns> resolve_requests;
  std::vector<event::TunConfigChanged> tun_configs;
  std::size_t no_turn_events = 0;
  std::size_t gateway_datagrams_sent = 0;

  GatewaySim()
      : relay(relay_config()),
        gateway(key(1), seed(2), Instant{}, unix(kUnixOrigin)),
        client(p2p::Role::client, key(3), seed(4), Instant{}, unix(kUnixOrigin)),
        wire_(relay, relay_addr, kLatency) {
    wire_.drop = [this](const net::SocketAddr& src, const net::SocketAddr& dst) {
      if (direct_blocked && is_node(src) && is_node(dst)) return true;
      return !client_online && (src == client_addr || dst == client_addr);
    };
  }

  static UnixTime unix(std::int64_t s) { return UnixTime(std::chrono::seconds(s)); }
  UnixTime utc() const {
    return unix(kUnixOrigin +
                std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count());
  }

  portal::TurnRelay turn_relay() const {
    const std::int64_t expiry = kUnixOrigin + 86'400;
    return portal::TurnRelay{relay_id, relay_addr, std::to_string(expiry) + ":salt",
                             fz::test::firezone_password("relay-secret", expiry, "salt"),
                             unix(expiry)};
  }

  // The portal's `init` for the gateway, and the client's relays.
  void init(std::vector<portal::Authorization> authorizations = {}) {
    portal::Init m;
    m.interface = portal::InterfaceConfig{gateway_tun.v4, gateway_tun.v6};
    m.relays.push_back(turn_relay());
    m.authorizations = std::move(authorizations);
    gateway.handle_portal_message(m, now);
    p2p::RelayInfo info;
    const portal::TurnRelay r = turn_relay();
    info.id = r.id;
    info.v4 = r.addr;
    info.username = r.username;
    info.password = r.password;
    client.update_relays({}, std::span(&info, 1), now);
    pump();
  }

  portal::AuthorizeFlow flow(const portal::ResourceDescription& resource,
                             std::optional<UnixTime> expires_at = std::nullopt) {
    portal::AuthorizeFlow f;
    f.ref = "ref-" + std::to_string(++refs_);
    f.resource = resource;
    f.gateway_ice_credentials = {"gwufragABCDEFGHI", "gatewaypasswordABCDEFG"};
    f.client_ice_credentials = {"clufragABCDEFGHI", "clientpasswordABCDEFGH"};
    f.client.id = client_id;
    f.client.public_key = client.public_key();
    f.client.preshared_key = psk();
    f.client.ipv4 = client_tun.v4;
    f.client.ipv6 = client_tun.v6;
    f.expires_at = expires_at;
    return f;
  }

  // authorize_flow to the gateway and, as the portal does on flow_authorized, flow_created to the
  // client (which upserts its side of the connection).
  void authorize(const portal::ResourceDescription& resource,
                 std::optional<UnixTime> expires_at = std::nullopt) {
    const portal::AuthorizeFlow f = flow(resource, expires_at);
    gateway.handle_portal_message(f, now);
    pump();
    ice::Credentials local{f.client_ice_credentials.username, f.client_ice_credentials.password};
    ice::Credentials remote{f.gateway_ice_credentials.username, f.gateway_ice_credentials.password};
    ASSERT_TRUE(
        client.upsert_connection(gateway_id, gateway.public_key(), psk(), local, remote, now).ok());
    pump();
  }

  bool connected() const {
    auto info = client.connection_info(gateway_id);
    return info && info->established_at.has_value();
  }

  // Runs until the client's connection has a WireGuard session (or `limit` passes).
  bool run_until_connected(Duration limit = std::chrono::seconds(10)) {
    const Instant end = now + limit;
    while (!connected() && now < end)
      run_until(std::min(end, now + std::chrono::milliseconds(10)));
    return connected();
  }

  // The client sends an IP packet through the tunnel.
  void client_send(std::vector<std::uint8_t> ip_packet) {
    PacketBuffer buffer(kBufferCapacity, p2p::kHeadroom);
    ASSERT_TRUE(buffer.assign(ip_packet, p2p::kHeadroom));
    auto r = client.encapsulate(gateway_id, buffer, now);
    ASSERT_TRUE(r.ok()) << r.error().to_string();
    if (r->kind == p2p::Encapsulated::Kind::transmit)
      send_on_wire(r->src.value_or(client_addr), r->dst, buffer.span());
    pump();
  }

  // A resource answers: the packet enters the gateway from the TUN device.
  void resource_reply(std::vector<std::uint8_t> ip_packet) {
    PacketBuffer buffer(kBufferCapacity, p2p::kHeadroom);
    ASSERT_TRUE(buffer.assign(ip_packet, p2p::kHeadroom));
    gateway.handle_tun_input(std::move(buffer), now);
    pump();
  }

  void run_until(Instant t) {
    pump();
    for (int guard = 0; guard < 1'000'000; ++guard) {
      std::optional<Instant> next;
      auto consider = [&](std::optional<Instant> x) {
        if (x && (!next || *x < *next)) next = x;
      };
      consider(wire_.poll_timeout());
      consider(gateway.poll_timeout());
      consider(client.poll_timeout());
      if (!next || *next > t) break;
      if (*next > now) now = *next;
      wire_.handle_timeout(now, [this](const net::SocketAddr& src, const net::SocketAddr& dst,
                                       Bytes payload) { deliver(src, dst, payload); });
      if (auto x = gateway.poll_timeout(); x && *x <= now) gateway.handle_timeout(now, utc());
      if (auto x = client.poll_timeout(); x && *x <= now) client.handle_timeout(now);
      pump();
    }
    if (t > now) now = t;
  }
  void advance(Duration d) { run_until(now + d); }

  // Drains every output of every party onto the wire (or into the logs).
  void pump() {
    for (bool progress = true; progress;) {
      progress = false;
      while (auto t = gateway.poll_transmit()) {
        progress = true;
        ++gateway_datagrams_sent;
        send_on_wire(t->src.value_or(gateway_addr), t->dst, t->bytes());
      }
      while (auto p = gateway.poll_tun_packet()) {
        progress = true;
        tun_out.emplace_back(p->span().begin(), p->span().end());
      }
      while (auto e = gateway.poll_event()) {
        progress = true;
        on_gateway_event(std::move(*e));
      }
      while (auto t = client.poll_transmit()) {
        progress = true;
        send_on_wire(t->src.value_or(client_addr), t->dst, t->bytes());
      }
      while (auto e = client.poll_event()) {
        progress = true;
        if (auto* c = std::get_if<p2p::event::CandidateNew>(&*e)) {
          gateway.add_ice_candidates(client_id, {c->candidate}, now);
        } else if (auto* c = std::get_if<p2p::event::CandidateInvalidated>(&*e)) {
          gateway.remove_ice_candidates(client_id, {c->candidate}, now);
        } else {
          client_events.push_back(std::move(*e));
        }
      }
      progress = wire_.pump_relay(now) || progress;
    }
  }

  template <class E>
  std::size_t count_client_events() const {
    std::size_t n = 0;
    for (const auto& e : client_events)
      n += std::holds_alternative<E>(e) ? 1 : 0;
    return n;
  }
  template <class M>
  std::vector<M> portal_messages() const {
    std::vector<M> out;
    for (const auto& m : portal_out)
      if (auto* x = std::get_if<M>(&m)) out.push_back(*x);
    return out;
  }

 private:
  static fz::test::RelayModel::Config relay_config() {
    fz::test::RelayModel::Config c;
    c.public_v4 = ip("203.0.113.50");
    c.unix_time_at_origin = kUnixOrigin;
    return c;
  }
  static crypto::SecretKey key(std::uint8_t n) {
    std::array<std::uint8_t, 32> s{};
    s[0] = n;
    crypto::ChaChaRng rng(s);
    return crypto::generate_secret_key(rng);
  }
  static std::array<std::uint8_t, 32> seed(std::uint8_t n) {
    std::array<std::uint8_t, 32> s{};
    s[0] = n;
    s[1] = 0x77;
    return s;
  }
  static p2p::PresharedKey psk() {
    std::array<std::uint8_t, 32> b{};
    for (std::size_t i = 0; i < b.size(); ++i)
      b[i] = static_cast<std::uint8_t>(i * 3 + 1);
    return p2p::PresharedKey(std::span<const std::uint8_t, 32>(b));
  }

  bool is_node(const net::SocketAddr& a) const { return a == gateway_addr || a == client_addr; }

  void send_on_wire(const net::SocketAddr& src, const net::SocketAddr& dst, Bytes bytes) {
    wire_.send(now, src, dst, bytes);
  }

  void deliver(const net::SocketAddr& src, const net::SocketAddr& dst, Bytes payload) {
    PacketBuffer buffer(kBufferCapacity, p2p::kHeadroom);
    if (!buffer.assign(payload, p2p::kHeadroom)) return;
    if (dst == gateway_addr) {
      gateway.handle_network_input(gateway_addr, src, std::move(buffer), now);
    } else if (dst == client_addr) {
      auto r = client.decapsulate(client_addr, src, buffer, now);
      if (r.ok() && r->kind == p2p::Decapsulated::Kind::ip_packet)
        client_rx.emplace_back(buffer.span().begin(), buffer.span().end());
    }
  }

  void on_gateway_event(Event e) {
    if (auto* m = std::get_if<event::PortalMessage>(&e)) {
      if (auto* c = std::get_if<portal::BroadcastIceCandidates>(&m->message)) {
        for (const auto& cand : c->candidates)
          client.add_remote_candidate(gateway_id, cand, now);
      } else if (auto* c = std::get_if<portal::BroadcastInvalidatedIceCandidates>(&m->message)) {
        for (const auto& cand : c->candidates)
          client.remove_remote_candidate(gateway_id, cand, now);
      }
      portal_out.push_back(m->message);
    } else if (auto* r = std::get_if<event::ResolveDns>(&e)) {
      resolve_requests.push_back(*r);
    } else if (auto* t = std::get_if<event::TunConfigChanged>(&e)) {
      tun_configs.push_back(*t);
    } else if (std::holds_alternative<event::NoTurnServers>(e)) {
      ++no_turn_events;
    }
  }

  fz::test::SimWire wire_;
  int refs_ = 0;
};

}  // namespace fz::gateway::test
