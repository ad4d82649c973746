// Everything the gateway knows about one client (gateway-dataplane §1.2): its tunnel addresses,
// the resources it is authorized for and until when, the filter table derived from them, the
// DNS-resource proxy-IP translations and the NAT sessions through them.
//
// ClientOnGateway is sans-IO and deterministic. It is handed decrypted client packets and TUN
// packets together with the time, rewrites them in place and says what to do with them; it never
// needs the p2p Node. GatewayState owns one per client (see PeerStore) and does the encrypting,
// the routing and the talking to the portal.
//
//   client → resource: translate_outbound  (§4.3, §4.4): anti-spoofing, filters, DNAT to the
//                      resolved IP, or an ICMP error to send back to the client
//   resource → client: translate_inbound   (§5.2): reverse NAT (also inside ICMP errors),
//                      expired-session drop, destination and source-filter checks
//   control:           handle_assigned_ips / handle_domain_resolved (§6.3, §6.4)
//   time:              expire_resources (wall clock), handle_timeout (NAT, monotonic clock)
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <variant>
#include <vector>

#include "base/bytes.hpp"
#include "base/result.hpp"
#include "base/time.hpp"
#include "gateway/filter.hpp"
#include "gateway/nat_table.hpp"
#include "gateway/resource.hpp"
#include "net/icmp.hpp"
#include "net/ip_packet.hpp"
#include "net/p2p_control.hpp"
#include "net/prefix_table.hpp"

namespace fz::gateway {

// The largest ICMP error translate_outbound/translate_inbound write into the caller's buffer
// (an IPv6 error quoting 1200 bytes is 1248; a translated error is at most the received packet).
inline constexpr std::size_t kMaxIcmpReplyLen = 1280;

// Why a packet did not go where it was headed. Replies and drops carry one; forwards carry `none`.
enum class Reason : std::uint8_t {
  none,
  // client → resource, answered with ICMP "administratively prohibited" (§5.3 "Filtered")
  spoofed_source,  // source is not the client's tunnel IP
  filtered,        // no filter covers the destination, or it denies the protocol/port
  // client → resource, answered with ICMP "unreachable"
  no_translation,   // proxy IP without a translation
  family_mismatch,  // proxy IP of one family resolved to the other (no NAT64/46)
  // client → resource, dropped (errors)
  not_nattable,   // to a proxy IP without TCP/UDP port or ICMP echo identifier
  nat_exhausted,  // every outside id towards the real IP is taken
  fragment,       // a TCP/UDP/ICMP fragment: its L4 header cannot be checked
  no_buffer,      // the caller's reply buffer is too small
  // resource → client, dropped
  unsupported_icmp,     // ICMP neither echo nor a translatable error (error)
  bad_icmp_error,       // ICMP error whose quoted packet cannot be used (error)
  expired_nat_session,  // the DNS-resource session ended (silent)
  not_client_ip,        // destination is not the client's tunnel IP (error)
  filtered_inbound,     // filters deny the source IP/port (silent)
};

std::string_view to_string(Reason reason);
// True for drops the reference reports as errors (logged at warn by GatewayState); the rest are
// normal policy outcomes (debug).
bool is_error(Reason reason);

struct OutboundVerdict {
  enum class Action : std::uint8_t {
    forward,  // write the (possibly rewritten) packet to the TUN device
    reply,    // send the ICMP error in the reply buffer (`reply_len` bytes) back to the client
    drop,
  };
  Action action = Action::drop;
  Reason reason = Reason::none;
  std::size_t reply_len = 0;
};

struct InboundVerdict {
  enum class Action : std::uint8_t {
    forward,             // send the (possibly rewritten) packet to the client
    forward_translated,  // send the translated ICMP error in the scratch buffer (`len` bytes)
    drop,
  };
  Action action = Action::drop;
  Reason reason = Reason::none;
  std::size_t len = 0;
};

// `ResolveDns` (§6.3): resolve `domain` and call handle_domain_resolved with the result.
struct ResolveDnsRequest {
  std::string domain;
  ClientId client;
  ResourceId resource;
  std::vector<net::IpAddr> proxy_ips;
  friend bool operator==(const ResolveDnsRequest&, const ResolveDnsRequest&) = default;
};

// What to do with an AssignedIps event: reply at once, or resolve first.
using AssignedIpsOutcome = std::variant<net::p2p_control::DomainStatus, ResolveDnsRequest>;

// The reply for a resolution whose client is gone (§6.4: any setup error means Inactive).
net::p2p_control::DomainStatus inactive_domain_status(const ResolveDnsRequest& request);

class ClientOnGateway {
 public:
  // `client_tun` is fixed for the lifetime of this state (§1.2).
  ClientOnGateway(ClientId id, IpConfig client_tun, IpConfig gateway_tun);

  ClientOnGateway(const ClientOnGateway&) = delete;
  ClientOnGateway& operator=(const ClientOnGateway&) = delete;
  ClientOnGateway(ClientOnGateway&&) = default;
  ClientOnGateway& operator=(ClientOnGateway&&) = default;

  ClientId id() const { return id_; }
  const IpConfig& client_tun() const { return client_tun_; }
  const IpConfig& gateway_tun() const { return gateway_tun_; }

  // -------------------------------------------------------------------------------------------
  // Authorizations (§1.4, §1.5)

  // A new resource gets `expires_at` (nullopt: never). An existing one only has its filters
  // replaced and keeps its expiry (QUIRK copied from the reference); a different resource type
  // for the same id is refused with Errc::state and changes nothing.
  Status add_resource(const ResourceDescription& resource, std::optional<UnixTime> expires_at);
  // `resource_updated`: replaces the filters if this client has the resource (same type only).
  void update_resource(const ResourceDescription& resource);
  // Returns false if the resource was not authorized.
  bool remove_resource(const ResourceId& resource);
  // `access_authorization_expiry_updated`; false if the resource is unknown.
  bool update_resource_expiry(const ResourceId& resource, UnixTime expires_at);
  // `init.authorizations`: keeps only the listed resources.
  void retain_authorizations(const std::set<ResourceId>& keep);
  // §1.5: drops every resource whose expiry is at or before `now` and returns their ids.
  std::vector<ResourceId> expire_resources(UnixTime now);

  bool is_allowed(const ResourceId& resource) const { return resources_.contains(resource); }
  // No authorization left: GatewayState removes the client and says goodbye (§1.6).
  bool has_no_resources() const { return resources_.empty(); }
  std::size_t resource_count() const { return resources_.size(); }
  // The earliest expiry among the resources, if any expires.
  std::optional<UnixTime> next_resource_expiry() const;
  std::optional<UnixTime> resource_expiry(const ResourceId& resource) const;

  // -------------------------------------------------------------------------------------------
  // DNS-resource NAT (§3.2)

  // Maps the proxy IPs the client assigned for `domain` onto its resolved addresses: the i-th
  // proxy of a family (sorted) gets the (i mod n)-th resolved address of that family (sorted),
  // falling back to the other family when the domain has none. Proxy IPs with a live NAT session
  // keep their mapping; proxy IPs outside the proxy ranges are ignored. Fails if the resource is
  // unknown, not a DNS resource, or `domain` does not match its pattern.
  Status setup_nat(std::string_view domain, const ResourceId& resource,
                   std::span<const net::IpAddr> resolved_ips,
                   std::span<const net::IpAddr> proxy_ips);

  // The resolved address a proxy IP currently maps to.
  std::optional<net::IpAddr> translation_for(const net::IpAddr& proxy_ip) const;

  // -------------------------------------------------------------------------------------------
  // Packets

  // §4.3, §4.4: a decrypted packet from this client. `packet` is rewritten in place when it is a
  // DNS-resource packet; an ICMP error for the client goes into `reply` (kMaxIcmpReplyLen bytes
  // always suffice). Never allocates for packets of existing NAT sessions.
  OutboundVerdict translate_outbound(net::IpPacket& packet, Instant now, MutBytes reply);

  // §5.2: a TUN packet routed to this client. `packet` is rewritten in place for DNS-resource
  // replies; a translated ICMP error is built into `scratch` (kMaxIcmpReplyLen bytes suffice).
  InboundVerdict translate_inbound(net::IpPacket& packet, Instant now, MutBytes scratch);

  // §2.3: may traffic to (or from) `ip` with this L4 protocol pass?
  bool ensure_allowed_resource(const net::IpAddr& ip, const L4Protocol& protocol) const;

  // -------------------------------------------------------------------------------------------
  // In-tunnel control (§6.3, §6.4)

  // AssignedIps from this client: Inactive at once if the resource is not authorized, otherwise a
  // request to resolve the domain.
  AssignedIpsOutcome handle_assigned_ips(net::p2p_control::AssignedIps event) const;
  // The result of resolving `request.domain`: runs setup_nat and says Active, or Inactive if the
  // resolution or the setup failed.
  net::p2p_control::DomainStatus handle_domain_resolved(
      const ResolveDnsRequest& request, const Result<std::vector<net::IpAddr>>& resolved);

  // -------------------------------------------------------------------------------------------
  // Time (§8)

  // Ends idle NAT sessions.
  void handle_timeout(Instant now);
  // When the next NAT session expires.
  std::optional<Instant> next_nat_deadline() const { return nat_.next_deadline(); }

  // For tests and diagnostics.
  const net::PrefixTable<FilterEngine>& filters() const { return filters_; }
  const NatTable& nat_table() const { return nat_; }
  bool internet_resource_enabled() const { return internet_resource_enabled_; }

 private:
  struct CidrAccess {
    net::Cidr network;
  };
  struct DnsAccess {
    std::string address;
    // Resolved addresses per concrete domain (lowercase, no trailing dot), for the CIDR filter
    // merge (§2.2 step 1).
    std::map<std::string, std::vector<net::IpAddr>> domains;
  };
  struct InternetAccess {};
  struct Authorized {
    std::variant<CidrAccess, DnsAccess, InternetAccess> kind;
    Filters filters;  // empty for the Internet resource
    std::optional<UnixTime> expires_at;
  };
  struct Translation {
    ResourceId resource;
    net::IpAddr resolved_ip;
  };

  void recalculate_filters();
  // Networks a resource covers, for the CIDR filter merge.
  static void covered_networks(const Authorized& resource, std::vector<net::Cidr>& out);

  OutboundVerdict reply_with(const net::IpPacket& packet, net::IcmpErrorKind kind, Reason reason,
                             MutBytes reply) const;
  InboundVerdict inbound_after_nat(const net::IpPacketView& packet, InboundVerdict verdict) const;

  ClientId id_;
  IpConfig client_tun_;
  IpConfig gateway_tun_;

  std::map<ResourceId, Authorized> resources_;
  bool internet_resource_enabled_ = false;
  net::PrefixTable<FilterEngine> filters_;
  std::unordered_map<net::IpAddr, Translation> translations_;
  NatTable nat_;
};

}  // namespace fz::gateway
