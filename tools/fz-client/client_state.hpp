// ClientState: the sans-IO core of fz-client, the headless Firezone test client
// (spec/client-protocol.md §6.1). It plays a Firezone client towards the portal's `client`
// channel and towards gateways: the client role of the p2p Node (ICE controlling, WireGuard
// initiator), flows created on demand, DNS resources through proxy IPs and a stub resolver.
//
//   portal push ──► handle_portal_message(event, payload) ──► resources, relays, flows, candidates
//   TUN packet ───► handle_tun_input ──► stub resolver (sentinel:53) ──► poll_tun_packet()
//                                     └► resource lookup ──► pending flow ──► create_flow
//                                                        └► DNS-resource NAT gate ──► Node ──►
//                                                           poll_transmit()
//   UDP datagram ─► handle_network_input ──► Node ──► DOMAIN_STATUS / source check ──►
//                                                      poll_tun_packet()
//   time ─────────► handle_timeout ──► Node timers, ASSIGNED_IPS retransmits
//
// After every input the runtime drains poll_transmit(), poll_tun_packet() and poll_event() and
// arms one timer at poll_timeout(). Nothing here reads a clock or touches a socket.
//
// Where the test client is simpler than the reference (docs/pending/fzclient-*.md): the stub
// resolver answers only A/AAAA/HTTPS for DNS resources and NXDOMAIN for use-application-dns.net;
// every other query is answered REFUSED (nothing is recursed or forwarded into a site).
// ASSIGNED_IPS is also retransmitted by a 2 s timer while unanswered, not only on new traffic.
// There is no internet-resource route handling beyond routing 0.0.0.0/0 and ::/0 into the device.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <variant>
#include <vector>

#include "base/buffer.hpp"
#include "base/result.hpp"
#include "base/time.hpp"
#include "base/uuid.hpp"
#include "crypto/x25519.hpp"
#include "gateway/domain_pattern.hpp"
#include "net/ip_addr.hpp"
#include "net/ip_packet.hpp"
#include "net/prefix_table.hpp"
#include "p2p/node.hpp"

namespace fz::client {

using ResourceId = Uuid;
using GatewayId = Uuid;

// client-protocol.md §7.
inline constexpr Duration kCreateFlowInterval = std::chrono::seconds(2);
inline constexpr Duration kAssignedIpsInterval = std::chrono::seconds(2);
inline constexpr std::size_t kPendingFlowPackets = 128;
inline constexpr std::size_t kDnsNatBufferPackets = 32;
inline constexpr std::size_t kRecentGateways = 100;
inline constexpr std::uint32_t kProxyIpTtl = 1;
inline constexpr std::size_t kProxyIpsPerFamily = 4;

inline const net::Cidr kTunnelV4{net::IpAddr::v4(100, 64, 0, 0), 11};
inline const net::Cidr kTunnelV6{net::IpAddr::v6(0xfd00, 0x2021, 0x1111, 0, 0, 0, 0, 0), 107};
inline const net::Cidr kProxyV4{net::IpAddr::v4(100, 96, 0, 0), 11};
inline const net::Cidr kProxyV6{net::IpAddr::v6(0xfd00, 0x2021, 0x1111, 0x8000, 0, 0, 0, 0), 107};
inline const net::Cidr kSentinelV4{net::IpAddr::v4(100, 100, 111, 0), 24};
inline const net::Cidr kSentinelV6{
    net::IpAddr::v6(0xfd00, 0x2021, 0x1111, 0x8000, 0x100, 0x100, 0x111, 0), 120};
// The stub resolver's addresses: the first sentinel of each family (§5.2).
inline const net::IpAddr kSentinelDnsV4 = net::IpAddr::v4(100, 100, 111, 1);
inline const net::IpAddr kSentinelDnsV6 =
    net::IpAddr::v6(0xfd00, 0x2021, 0x1111, 0x8000, 0x100, 0x100, 0x111, 0);

// ---------------------------------------------------------------------------------------------
// Resources (client view, §3.1)

enum class IpStack : std::uint8_t { dual, ipv4_only, ipv6_only };

struct Resource {
  enum class Kind : std::uint8_t { cidr, dns, internet };
  Kind kind = Kind::cidr;
  ResourceId id;
  std::string name;
  net::Cidr cidr;       // kind == cidr
  std::string pattern;  // kind == dns: the address pattern
  IpStack ip_stack = IpStack::dual;
  friend bool operator==(const Resource&, const Resource&) = default;
};

// One element of `resources`. Errc::unsupported for an unknown type (skip it), Errc::malformed
// for a bad body (skip it) — but a non-object or a missing/non-string `type` is
// Errc::truncated: the reference then fails the whole message.
Result<Resource> decode_resource(const nlohmann::json& value);

// §5.3 ordering of DNS patterns: true if `a` is tried before `b`.
bool pattern_before(std::string_view a, std::string_view b);

// ---------------------------------------------------------------------------------------------
// Outputs

namespace event {
// A message for the portal's `client` channel. `payload` is compact JSON, keys in the reference's
// order.
struct PortalMessage {
  std::string event;
  std::string payload;
};
// Configure the TUN device: addresses /32 and /128 and exactly these routes (§3.5).
struct TunConfig {
  net::IpAddr ipv4;
  net::IpAddr ipv6;
  std::vector<net::Cidr> routes;
  friend bool operator==(const TunConfig&, const TunConfig&) = default;
};
struct FlowCreated {
  ResourceId resource;
  GatewayId gateway;
};
struct FlowCreationFailed {
  ResourceId resource;
  std::string reason;
};
struct ConnectionEstablished {
  GatewayId gateway;
};
// The connection is gone: "goodbye" (the gateway said goodbye), "failed", "closed" (we closed it),
// "reset".
struct ConnectionClosed {
  GatewayId gateway;
  std::string reason;
};
struct DomainStatus {
  GatewayId gateway;
  std::string domain;
  bool active = false;
};
// flow_created could not be served for lack of relays: reconnect to the portal for a fresh init.
struct ReconnectPortal {};
}  // namespace event

using Event = std::variant<event::PortalMessage, event::TunConfig, event::FlowCreated,
                           event::FlowCreationFailed, event::ConnectionEstablished,
                           event::ConnectionClosed, event::DomainStatus, event::ReconnectPortal>;

// One line of the status report.
struct ConnectionStatus {
  GatewayId gateway;
  p2p::ConnectionState state = p2p::ConnectionState::connecting;
  p2p::PathKind path = p2p::PathKind::none;
  std::optional<Duration> established_after;  // from upsert to the first WireGuard handshake
  std::uint64_t tx_bytes = 0;                 // IP bytes into the tunnel
  std::uint64_t rx_bytes = 0;
};
// "direct" (host/srflx both ends), "relayed" (any relay on the path) or "none".
std::string_view path_class(p2p::PathKind path);

// The DNS-resource NAT state of one (gateway, domain) (§5.4).
enum class NatState : std::uint8_t { pending, recreating, confirmed, failed };

struct ClientStats {
  std::uint64_t dropped_no_resource = 0;
  std::uint64_t dropped_malformed = 0;
  std::uint64_t dropped_source = 0;  // inbound from an address the gateway may not use
  std::uint64_t dns_queries = 0;
  std::uint64_t assigned_ips_sent = 0;
  std::uint64_t create_flow_sent = 0;
};

class ClientState {
 public:
  // `wall_now` is the wall-clock time at `now` (WireGuard timestamps).
  ClientState(crypto::SecretKey static_key, std::array<std::uint8_t, 32> seed, Instant now,
              UnixTime wall_now, p2p::NodeConfig node_config = {});

  ClientState(const ClientState&) = delete;
  ClientState& operator=(const ClientState&) = delete;

  const crypto::PublicKey& public_key() const { return node_.public_key(); }

  // A push on the `client` channel. Unknown events and malformed payloads are dropped with a log
  // line; they never disturb other state.
  void handle_portal_message(std::string_view event, const nlohmann::json& payload, Instant now);

  // A datagram received on `local` from `from`.
  void handle_network_input(const net::SocketAddr& local, const net::SocketAddr& from,
                            PacketBuffer datagram, Instant now);
  // An IP packet read from the TUN device. Buffers need p2p::kHeadroom headroom and
  // p2p::kTailroom tailroom (kBufferCapacity in total for 1280 bytes).
  void handle_tun_input(PacketBuffer packet, Instant now);
  void handle_timeout(Instant now);

  std::optional<p2p::Transmit> poll_transmit();
  std::optional<PacketBuffer> poll_tun_packet();
  std::optional<Event> poll_event();
  std::optional<Instant> poll_timeout() const;

  // Introspection (status lines, tests).
  std::vector<ConnectionStatus> connections() const;
  const std::optional<event::TunConfig>& tun_config() const { return tun_; }
  const std::map<ResourceId, Resource>& resources() const { return resources_; }
  std::optional<GatewayId> gateway_for(const ResourceId& resource) const;
  bool has_pending_flow(const ResourceId& resource) const { return pending_.count(resource) > 0; }
  // The proxy IPs handed out for (domain, resource), IPv4 first; empty if none.
  std::vector<net::IpAddr> proxy_ips(std::string_view domain, const ResourceId& resource) const;
  std::optional<NatState> nat_state(const GatewayId& gateway, std::string_view domain) const;
  const std::vector<GatewayId>& recent_gateways() const { return recent_gateways_; }
  const p2p::Node& node() const { return node_; }
  const ClientStats& stats() const { return stats_; }

  static constexpr std::size_t kBufferCapacity =
      p2p::kHeadroom + p2p::kMaxDatagramSize + p2p::kTailroom;

 private:
  using Packet = std::vector<std::uint8_t>;

  struct Interface {
    net::IpAddr ipv4;
    net::IpAddr ipv6;
  };
  struct Peer {
    net::IpAddr ipv4;
    net::IpAddr ipv6;
    // Networks the gateway may send from, with the resources that put them there.
    std::map<net::Cidr, std::set<ResourceId>> allowed;
    net::PrefixTable<bool> allowed_table;
  };
  struct PendingFlow {
    std::deque<Packet> packets;
    Instant last_sent;
  };
  struct DnsPattern {
    std::string pattern;
    gateway::DomainPattern matcher;
    ResourceId resource;
  };
  // One (domain, resource) the stub resolver answered.
  struct Assignment {
    std::string domain;  // as first queried, no trailing dot
    ResourceId resource;
    std::vector<net::IpAddr> ips;  // IPv4s then IPv6s
  };
  struct NatEntry {
    NatState state = NatState::pending;
    bool buffer = true;
    Instant last_sent;
    ResourceId resource;
    std::string domain;
    std::vector<net::IpAddr> ips;
    std::deque<Packet> buffered;
  };
  using NatKey = std::pair<GatewayId, std::string>;  // (gateway, lowercase domain)

  // Portal messages.
  void handle_init(const nlohmann::json& payload, Instant now);
  Status apply_interface(const nlohmann::json& value);
  void add_resource(const Resource& resource, Instant now);
  void remove_resource(const ResourceId& id, Instant now);
  void update_relays(const nlohmann::json& removed, const nlohmann::json& relays, Instant now);
  void handle_flow_created(const nlohmann::json& payload, Instant now);
  void handle_flow_creation_failed(const nlohmann::json& payload, Instant now);
  void handle_candidates(const nlohmann::json& payload, bool add, Instant now);
  void emit_tun_config();

  // Data path.
  std::optional<ResourceId> resource_for(const net::IpAddr& dst) const;
  void send_to_gateway(const GatewayId& gateway, PacketBuffer packet, Instant now);
  void send_bytes_to_gateway(const GatewayId& gateway, const Packet& packet, Instant now);
  void request_flow(const ResourceId& resource, Packet packet, Instant now);
  void send_create_flow(const ResourceId& resource);
  void handle_dns_query(const net::IpPacketView& packet, Instant now);
  void handle_control(const GatewayId& gateway, const net::IpPacketView& packet, Instant now);
  bool nat_gate(const GatewayId& gateway, const ResourceId& resource, const net::IpAddr& dst,
                Bytes packet, Instant now);

  // DNS resources.
  std::optional<ResourceId> match_dns(std::string_view name) const;
  const Assignment& assign(std::string_view domain, const ResourceId& resource);
  void recreate(std::string_view domain);
  void update_dns_nat(Instant now, std::deque<Packet> handed_over = {});
  void send_assigned_ips(const GatewayId& gateway, NatEntry& entry, Instant now);

  // Peers.
  void add_allowed(Peer& peer, const net::Cidr& network, const ResourceId& resource);
  void remove_resource_from_peer(Peer& peer, const ResourceId& resource);
  void cleanup_gateway(const GatewayId& gateway);
  void drain_node_events();
  void touch_recent(const GatewayId& gateway);

  p2p::Node node_;
  std::optional<Interface> interface_;
  std::optional<event::TunConfig> tun_;

  std::map<ResourceId, Resource> resources_;
  net::PrefixTable<ResourceId> cidr_table_;
  std::optional<ResourceId> internet_;
  std::vector<DnsPattern> dns_patterns_;  // in §5.3 order

  // Stub resolver (never reset, never frees).
  std::map<std::pair<std::string, ResourceId>, Assignment> assignments_;  // (lowercase domain, id)
  std::unordered_map<net::IpAddr, std::pair<std::string, ResourceId>> proxy_owner_;
  std::uint32_t next_proxy_v4_;      // the next IPv4 address as a number
  std::uint32_t next_proxy_v6_ = 0;  // offset into kProxyV6

  std::map<ResourceId, GatewayId> resource_gateway_;
  std::map<GatewayId, Peer> peers_;
  std::unordered_map<net::IpAddr, GatewayId> gateway_by_tunnel_ip_;
  std::map<ResourceId, PendingFlow> pending_;
  std::vector<GatewayId> recent_gateways_;  // most recent first
  std::map<NatKey, NatEntry> nat_;

  std::deque<p2p::Transmit> transmits_;
  std::deque<PacketBuffer> tun_packets_;
  std::deque<Event> events_;
  ClientStats stats_;
};

}  // namespace fz::client
