// ClientState (the test client's core) and a GatewayState on one simulated network with a
// Firezone relay (RelayModel), on a virtual clock. The test plays the portal: it forwards the
// client's create_flow as authorize_flow to the gateway, answers the gateway's flow_authorized with
// flow_created to the client, and carries candidates both ways, as the real portal does
// (client-protocol.md §6.2).
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <queue>
#include <string>
#include <vector>

#include "base/encoding.hpp"
#include "base/time.hpp"
#include "client_state.hpp"
#include "crypto/rng.hpp"
#include "gateway/state.hpp"
#include "support/relay_model.hpp"
#include "support/sim_wire.hpp"

namespace fz::client::test {

inline net::IpAddr ip(std::string_view text) {
  return *net::IpAddr::parse(text);
}

inline crypto::SecretKey key(std::uint8_t n) {
  std::array<std::uint8_t, 32> s{};
  s[0] = n;
  crypto::ChaChaRng rng(s);
  return crypto::generate_secret_key(rng);
}

inline std::array<std::uint8_t, 32> seed(std::uint8_t n) {
  std::array<std::uint8_t, 32> s{};
  s[0] = n;
  s[1] = 0x55;
  return s;
}

inline constexpr std::int64_t kUnixOrigin = 1'700'000'000;
inline const char* const kCidrId = "73037362-715d-4a83-a749-f18eadd970e6";
inline const char* const kDnsId = "03000143-e25e-45c7-aafb-144990e57dcd";
inline const char* const kGatewayId = "d263d490-a0bb-452a-8990-01d27a1f1144";
inline const char* const kClientId = "3abd725a-733b-4801-ac16-72f26cd98a24";
inline const char* const kSiteId = "bf56f32d-7b2c-4f5d-a784-788977d014a4";
inline const char* const kRelayId = "0a133356-7a9e-4b9a-b413-0d95a5720fd8";

inline Uuid uuid(const char* text) {
  return *Uuid::parse(text);
}

// The client's `init`: a CIDR resource 10.0.0.0/24 and a DNS resource app.internal (dual stack).
inline nlohmann::json client_init(std::int64_t relay_expiry) {
  const std::string user = std::to_string(relay_expiry) + ":salt";
  const std::string pass = fz::test::firezone_password("relay-secret", relay_expiry, "salt");
  return nlohmann::json::parse(
      R"({"interface":{"ipv4":"100.64.0.2","ipv6":"fd00:2021:1111::2","upstream_dns":[]},
    "resources":[
      {"id":")" +
      std::string(kCidrId) +
      R"(","type":"cidr","address":"10.0.0.0/24","name":"net","address_description":null,
       "gateway_groups":[{"id":")" +
      kSiteId + R"(","name":"site"}]},
      {"id":")" +
      kDnsId + R"(","type":"dns","address":"app.internal","name":"app","gateway_groups":[{"id":")" +
      kSiteId + R"(","name":"site"}],"ip_stack":"dual"}],
    "relays":[{"id":")" +
      kRelayId + R"(","type":"turn","addr":"203.0.113.50:3478","username":")" + user +
      R"(","password":")" + pass + R"(","expires_at":)" + std::to_string(relay_expiry) + "}]}");
}

class ClientSim {
 public:
  static constexpr Duration kLatency = std::chrono::milliseconds(5);

  const net::SocketAddr relay_addr{ip("203.0.113.50"), 3478};
  const net::SocketAddr gateway_addr{ip("198.51.100.20"), 52625};
  const net::SocketAddr client_addr{ip("203.0.113.10"), 40000};
  const gateway::IpConfig gateway_tun{ip("100.64.0.1"), ip("fd00:2021:1111::1")};

  Instant now{};
  bool direct_blocked = false;
  // When false, ResolveDns requests are collected but not answered (the test answers them).
  bool auto_resolve = true;
  std::vector<net::IpAddr> resolved = {ip("10.0.1.7")};

  fz::test::RelayModel relay;
  gateway::GatewayState gateway;
  ClientState client;

  std::vector<std::vector<std::uint8_t>> tun_out;    // gateway → resources
  std::vector<std::vector<std::uint8_t>> client_rx;  // client → its TUN device
  std::vector<Event> client_events;                  // all but portal messages
  std::vector<event::PortalMessage> client_portal;   // client → portal
  std::vector<gateway::event::ResolveDns> resolve_requests;
  std::size_t flows_authorized = 0;

  ClientSim()
      : relay(relay_config()),
        gateway(key(1), seed(2), Instant{}, unix(kUnixOrigin)),
        client(key(3), seed(4), Instant{}, unix(kUnixOrigin)),
        wire_(relay, relay_addr, kLatency) {
    wire_.drop = [this](const net::SocketAddr& src, const net::SocketAddr& dst) {
      return direct_blocked && is_node(src) && is_node(dst);
    };
  }

  static UnixTime unix(std::int64_t s) { return UnixTime(std::chrono::seconds(s)); }
  UnixTime utc() const {
    return unix(kUnixOrigin +
                std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count());
  }

  void init() {
    const std::int64_t expiry = kUnixOrigin + 86'400;
    portal::Init m;
    m.interface = portal::InterfaceConfig{gateway_tun.v4, gateway_tun.v6};
    m.relays.push_back(portal::TurnRelay{
        uuid(kRelayId), relay_addr, std::to_string(expiry) + ":salt",
        fz::test::firezone_password("relay-secret", expiry, "salt"), unix(expiry)});
    gateway.handle_portal_message(m, now);
    client.handle_portal_message("init", client_init(expiry), now);
    pump();
  }

  // A packet from an application on the client host into the client's TUN device.
  void app_send(const std::vector<std::uint8_t>& ip_packet) {
    PacketBuffer buffer(ClientState::kBufferCapacity, p2p::kHeadroom);
    ASSERT_TRUE(buffer.assign(ip_packet, p2p::kHeadroom));
    client.handle_tun_input(std::move(buffer), now);
    pump();
  }

  // A resource answers: the packet enters the gateway from its TUN device.
  void resource_reply(const std::vector<std::uint8_t>& ip_packet) {
    PacketBuffer buffer(gateway::kBufferCapacity, p2p::kHeadroom);
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

  void pump() {
    for (bool progress = true; progress;) {
      progress = false;
      while (auto t = gateway.poll_transmit()) {
        progress = true;
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
      while (auto p = client.poll_tun_packet()) {
        progress = true;
        client_rx.emplace_back(p->span().begin(), p->span().end());
      }
      while (auto e = client.poll_event()) {
        progress = true;
        on_client_event(std::move(*e));
      }
      progress = wire_.pump_relay(now) || progress;
    }
  }

  std::vector<nlohmann::json> portal_payloads(std::string_view event) const {
    std::vector<nlohmann::json> out;
    for (const auto& m : client_portal)
      if (m.event == event) out.push_back(nlohmann::json::parse(m.payload));
    return out;
  }
  template <class E>
  std::size_t count_client_events() const {
    std::size_t n = 0;
    for (const auto& e : client_events)
      n += std::holds_alternative<E>(e) ? 1 : 0;
    return n;
  }

 private:
  struct PendingAuthorization {
    std::string resource_id;
  };

  static fz::test::RelayModel::Config relay_config() {
    fz::test::RelayModel::Config c;
    c.public_v4 = ip("203.0.113.50");
    c.unix_time_at_origin = kUnixOrigin;
    return c;
  }
  static p2p::PresharedKey psk() {
    std::array<std::uint8_t, 32> b{};
    for (std::size_t i = 0; i < b.size(); ++i)
      b[i] = static_cast<std::uint8_t>(i * 5 + 3);
    return p2p::PresharedKey(std::span<const std::uint8_t, 32>(b));
  }
  // Deterministic per pair, as the real portal derives them (§6.3).
  static portal::IceCredentials client_creds() { return {"sim3", "ceqc5rlg6ueluoxqoa56ze"}; }
  static portal::IceCredentials gateway_creds() { return {"bmet", "g6zhuorrjh2c2cmvvuepsa"}; }

  bool is_node(const net::SocketAddr& a) const { return a == gateway_addr || a == client_addr; }

  void send_on_wire(const net::SocketAddr& src, const net::SocketAddr& dst, Bytes bytes) {
    wire_.send(now, src, dst, bytes);
  }

  void deliver(const net::SocketAddr& src, const net::SocketAddr& dst, Bytes payload) {
    if (dst == gateway_addr) {
      PacketBuffer buffer(gateway::kBufferCapacity, p2p::kHeadroom);
      if (!buffer.assign(payload, p2p::kHeadroom)) return;
      gateway.handle_network_input(gateway_addr, src, std::move(buffer), now);
    } else if (dst == client_addr) {
      PacketBuffer buffer(ClientState::kBufferCapacity, p2p::kHeadroom);
      if (!buffer.assign(payload, p2p::kHeadroom)) return;
      client.handle_network_input(client_addr, src, std::move(buffer), now);
    }
  }

  portal::ResourceDescription gateway_resource(const std::string& id) const {
    if (id == kCidrId)
      return portal::CidrResource{uuid(kCidrId), *net::Cidr::parse("10.0.0.0/24"), "net", {}};
    return portal::DnsResource{uuid(kDnsId), "app.internal", "app", {}};
  }

  void on_client_event(Event e) {
    auto* m = std::get_if<event::PortalMessage>(&e);
    if (m == nullptr) {
      client_events.push_back(std::move(e));
      return;
    }
    client_portal.push_back(*m);
    const auto payload = nlohmann::json::parse(m->payload);
    if (m->event == "create_flow") {
      const std::string rid = payload.at("resource_id").get<std::string>();
      portal::AuthorizeFlow f;
      f.ref = "ref-" + std::to_string(refs_);
      pending_refs_[f.ref] = rid;
      ++refs_;
      f.resource = gateway_resource(rid);
      f.gateway_ice_credentials = gateway_creds();
      f.client_ice_credentials = client_creds();
      f.client.id = uuid(kClientId);
      f.client.public_key = client.public_key();
      f.client.preshared_key = psk();
      f.client.ipv4 = ip("100.64.0.2");
      f.client.ipv6 = ip("fd00:2021:1111::2");
      gateway.handle_portal_message(f, now);
    } else if (m->event == "broadcast_ice_candidates" ||
               m->event == "broadcast_invalidated_ice_candidates") {
      std::vector<std::string> candidates =
          payload.at("candidates").get<std::vector<std::string>>();
      if (m->event == "broadcast_ice_candidates") {
        gateway.add_ice_candidates(uuid(kClientId), candidates, now);
      } else {
        gateway.remove_ice_candidates(uuid(kClientId), candidates, now);
      }
    }
  }

  void on_gateway_event(gateway::Event e) {
    if (auto* m = std::get_if<gateway::event::PortalMessage>(&e)) {
      if (auto* a = std::get_if<portal::FlowAuthorized>(&m->message)) {
        ++flows_authorized;
        const std::string rid = pending_refs_.at(a->ref);
        nlohmann::json f;
        f["resource_id"] = rid;
        f["gateway_id"] = kGatewayId;
        f["gateway_group_id"] = kSiteId;
        f["gateway_public_key"] = base64_encode(gateway.public_key());
        f["gateway_ipv4"] = "100.64.0.1";
        f["gateway_ipv6"] = "fd00:2021:1111::1";
        f["preshared_key"] = base64_encode(psk().expose_secret());
        f["client_ice_credentials"] = {{"username", client_creds().username},
                                       {"password", client_creds().password}};
        f["gateway_ice_credentials"] = {{"username", gateway_creds().username},
                                        {"password", gateway_creds().password}};
        client.handle_portal_message("flow_created", f, now);
      } else if (auto* c = std::get_if<portal::BroadcastIceCandidates>(&m->message)) {
        client.handle_portal_message(
            "ice_candidates", {{"gateway_id", kGatewayId}, {"candidates", c->candidates}}, now);
      } else if (auto* c = std::get_if<portal::BroadcastInvalidatedIceCandidates>(&m->message)) {
        client.handle_portal_message("invalidate_ice_candidates",
                                     {{"gateway_id", kGatewayId}, {"candidates", c->candidates}},
                                     now);
      }
    } else if (auto* r = std::get_if<gateway::event::ResolveDns>(&e)) {
      resolve_requests.push_back(*r);
      if (auto_resolve) gateway.handle_domain_resolved(*r, resolved, now);
    }
  }

  fz::test::SimWire wire_;
  int refs_ = 0;
  std::map<std::string, std::string> pending_refs_;
};

}  // namespace fz::client::test
