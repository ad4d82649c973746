// GatewayState: the gateway's sans-IO state machine (gateway-dataplane §1–§8, §11, §12). It owns
// the p2p Node in server role and the per-client data plane (PeerStore), and turns portal
// commands, datagrams and TUN packets into transmits, TUN writes and events.
//
//   portal message ──► handle_portal_message ──► Node (connections, relays, candidates)
//                                              └► PeerStore (authorizations, filters, NAT)
//   UDP datagram ────► handle_network_input ──► Node::decapsulate ─► control / translate_outbound
//                                                                   └► poll_tun_packet()
//   TUN packet ──────► handle_tun_input ──────► route by tunnel IP ─► translate_inbound
//                                                                   └► Node::encapsulate ─►
//                                                                   poll_transmit()
//   time ────────────► handle_timeout ────────► Node timers, the 1 s expiry + NAT sweep
//
// Outputs are drained after every input: poll_transmit() (datagrams; ICMP errors and control
// replies first), poll_tun_packet() (IP packets for the TUN device), poll_event() (portal messages,
// DNS resolutions, TUN configuration). Then the runtime arms one timer at poll_timeout().
//
// Data-path buffers are moved in and out, so the runtime can recycle them: every buffer handed to
// handle_network_input/handle_tun_input needs p2p::kHeadroom bytes of headroom and p2p::kTailroom
// of tailroom beyond a 1280-byte packet (p2p::kMaxDatagramSize in total).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include "base/buffer.hpp"
#include "base/result.hpp"
#include "base/time.hpp"
#include "crypto/x25519.hpp"
#include "gateway/client.hpp"
#include "gateway/peer_store.hpp"
#include "gateway/resource.hpp"
#include "p2p/node.hpp"
#include "portal/messages.hpp"

namespace fz::gateway {

// §8: authorization expiry and NAT expiry run this often.
inline constexpr Duration kExpirySweepInterval = std::chrono::seconds(1);
// §4.1: larger datagrams are dropped before any processing.
inline constexpr std::size_t kMaxDatagramSize = p2p::kMaxDatagramSize;
// The buffer the runtime should allocate for one datagram or TUN packet.
inline constexpr std::size_t kBufferCapacity =
    p2p::kHeadroom + p2p::kMaxDatagramSize + p2p::kTailroom;

namespace event {
// A message for the portal (flow_authorized, broadcast_(invalidated_)ice_candidates,
// connection_ready).
struct PortalMessage {
  portal::EgressMessage message;
};
// Resolve `request.domain` (A and AAAA) and call handle_domain_resolved with the result. A
// non-zero `legacy_token` belongs to a deprecated request_connection/allow_access with a DNS
// payload, which continues once the name is resolved.
struct ResolveDns {
  ResolveDnsRequest request;
  std::uint64_t legacy_token = 0;
};
// The portal assigned (or re-assigned) the gateway's tunnel addresses: configure the TUN device
// and bind the DNS forwarder on them. Emitted on every `init` whose addresses differ from the last.
struct TunConfigChanged {
  IpConfig addresses;
};
// An authorization could not be served because no relay is known: reconnect to the portal to get
// a fresh `init` (the reference's behaviour).
struct NoTurnServers {};
}  // namespace event

using Event = std::variant<event::PortalMessage, event::ResolveDns, event::TunConfigChanged,
                           event::NoTurnServers>;

// Counters for diagnostics and tests.
struct GatewayStats {
  std::uint64_t packets_to_tun = 0;    // IP packets from clients, forwarded to the TUN device
  std::uint64_t packets_from_tun = 0;  // IP packets read from the TUN device (before filtering)
  std::uint64_t bytes_to_tun = 0;
  std::uint64_t bytes_from_tun = 0;
  std::uint64_t icmp_errors_sent = 0;
  std::uint64_t dropped_oversized = 0;
  std::uint64_t dropped_no_peer = 0;
  std::uint64_t dropped_policy = 0;  // filters, expired NAT sessions, unknown destinations
  std::uint64_t dropped_errors = 0;  // malformed, failed decryption, NAT exhaustion
};

class GatewayState {
 public:
  // `utc_now` is the wall-clock time at `now` (WireGuard's TAI64N timestamps derive from it).
  GatewayState(crypto::SecretKey static_key, std::array<std::uint8_t, 32> seed, Instant now,
               UnixTime utc_now, p2p::NodeConfig node_config = {});

  GatewayState(const GatewayState&) = delete;
  GatewayState& operator=(const GatewayState&) = delete;

  const crypto::PublicKey& public_key() const { return node_.public_key(); }

  // -------------------------------------------------------------------------------------------
  // Portal commands (§1.4, §1.5). Ignored once shutdown() was called.

  void handle_portal_message(const portal::IngressMessage& message, Instant now);

  void handle_init(const portal::Init& init, Instant now);
  void authorize_flow(const portal::AuthorizeFlow& flow, Instant now);
  void request_connection(const portal::RequestConnection& request, Instant now);
  void allow_access(const portal::AllowAccess& request, Instant now);
  void remove_access(const ClientId& client, const ResourceId& resource, Instant now);
  void update_resource(const portal::ResourceDescription& resource);
  void update_access_authorization_expiry(const ClientId& client, const ResourceId& resource,
                                          UnixTime expires_at);
  void retain_authorizations(const std::vector<portal::Authorization>& authorizations);
  void update_relays(std::span<const p2p::RelayId> removed,
                     const std::vector<portal::Relay>& relays, Instant now);
  void set_tun_config(const IpConfig& addresses);
  void add_ice_candidates(const ClientId& client, const std::vector<std::string>& candidates,
                          Instant now);
  void remove_ice_candidates(const ClientId& client, const std::vector<std::string>& candidates,
                             Instant now);

  // -------------------------------------------------------------------------------------------
  // Packets and time

  // A datagram received on `local` from `from`.
  void handle_network_input(const net::SocketAddr& local, const net::SocketAddr& from,
                            PacketBuffer datagram, Instant now);
  // An IP packet read from the TUN device.
  void handle_tun_input(PacketBuffer packet, Instant now);
  // `utc_now` drives authorization expiry (§1.5); `now` everything else.
  void handle_timeout(Instant now, UnixTime utc_now);
  // The answer to a ResolveDns event.
  void handle_domain_resolved(const event::ResolveDns& request,
                              const Result<std::vector<net::IpAddr>>& resolved, Instant now);

  // §11: forgets every client and says goodbye to every connected one. Afterwards portal messages
  // and resolutions are ignored; is_flushed() turns true once poll_transmit() has been drained.
  void shutdown(Instant now);
  bool is_shutting_down() const { return shutting_down_; }
  bool is_flushed() const { return shutting_down_ && flushed_; }

  std::optional<p2p::Transmit> poll_transmit();
  std::optional<PacketBuffer> poll_tun_packet();
  std::optional<Event> poll_event();
  std::optional<Instant> poll_timeout() const;

  // -------------------------------------------------------------------------------------------
  // Introspection (tests, health, diagnostics)

  const std::optional<IpConfig>& tun_config() const { return tun_; }
  const PeerStore& peers() const { return peers_; }
  const ClientOnGateway* peer(const ClientId& id) const { return peers_.get(id); }
  const p2p::Node& node() const { return node_; }
  const GatewayStats& stats() const { return stats_; }

 private:
  struct LegacyRequest {
    std::variant<portal::RequestConnection, portal::AllowAccess> message;
  };

  Status allow_access_internal(const ClientId& client, const IpConfig& client_tun,
                               std::optional<UnixTime> expires_at,
                               const portal::ResourceDescription& resource,
                               const std::optional<portal::ResolveRequest>& dns,
                               std::span<const net::IpAddr> resolved);
  void accept_legacy_connection(const portal::RequestConnection& request,
                                std::span<const net::IpAddr> resolved, Instant now);
  void handle_control_packet(ClientOnGateway& peer, const net::IpPacketView& packet, Instant now);
  void send_domain_status(const ClientId& client, const net::p2p_control::DomainStatus& status,
                          Instant now);
  // Encrypts an IP packet the gateway built itself (ICMP error, control message) to `client`.
  void send_to_client(const ClientId& client, Bytes ip_packet, Instant now);
  void encapsulate_and_queue(const ClientId& client, PacketBuffer packet, Instant now);
  void close_client(const ClientId& client, Instant now);
  // Moves the Node's events into ours, grouping candidates per client (added before removed).
  void drain_node_events();

  p2p::Node node_;
  PeerStore peers_;
  std::optional<IpConfig> tun_;
  Instant next_sweep_;

  std::deque<p2p::Transmit> transmits_;
  std::deque<PacketBuffer> tun_packets_;
  std::deque<Event> events_;

  std::map<std::uint64_t, LegacyRequest> legacy_requests_;
  std::uint64_t next_legacy_token_ = 1;

  bool shutting_down_ = false;
  bool flushed_ = false;
  GatewayStats stats_;
  std::array<std::uint8_t, kMaxIcmpReplyLen> scratch_{};
};

// Field-by-field conversions from the portal's message types.
ResourceDescription to_gateway_resource(const portal::ResourceDescription& resource);
p2p::RelayInfo to_relay_info(const portal::RelayServer& relay);

}  // namespace fz::gateway
