// The messages the portal and the gateway exchange on the `gateway` channel
// (spec/portal-protocol.md §4, §5), as typed structs, and their JSON codec.
//
// Decoding never throws and accepts what the reference accepts, plus more where that cannot widen
// access: unknown extra keys are ignored everywhere; an unknown relay type, a malformed relay, a
// malformed authorization, a bad relay id or a bad ICE candidate skips that one element instead of
// losing the whole message (the reference drops the whole message for all but candidates). A
// filter with an unknown protocol is skipped too, but a filter list that had entries and loses all
// of them makes the resource invalid: an empty list means "permit everything", so skipping must
// never turn "only X" into "everything". Keys (WireGuard public keys, PSKs) must decode to exactly
// 32 bytes. `expires_at` must be present where the reference requires it, even when it may be
// null: a missing key never turns into "no expiry".
//
// Encoding produces exactly the reference's shapes, with the keys in the reference's order, so an
// egress frame is byte-identical to the one the Rust gateway sends.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "base/result.hpp"
#include "base/time.hpp"
#include "base/uuid.hpp"
#include "crypto/util.hpp"
#include "crypto/x25519.hpp"
#include "net/ip_addr.hpp"

namespace fz::portal {

using ClientId = Uuid;
using ResourceId = Uuid;
using RelayId = Uuid;
// A WireGuard public key (a client's).
using PublicKey = crypto::PublicKey;
// A WireGuard pre-shared key: secret, never printable.
using PresharedKey = crypto::SecretBytes<32>;

// ICE ufrag and password, used verbatim.
struct IceCredentials {
  std::string username;
  std::string password;
  friend bool operator==(const IceCredentials&, const IceCredentials&) = default;
};

// ---------------------------------------------------------------------------------------------
// Resources and filters (§5.3, §5.4)

enum class FilterProtocol { tcp, udp, icmp };

// One element of a resource's `filters`. For tcp/udp the inclusive port range (a missing bound
// defaults to 0 / 65535); ICMP ignores the range and keeps it at 0..65535.
struct Filter {
  FilterProtocol protocol = FilterProtocol::icmp;
  std::uint16_t port_range_start = 0;
  std::uint16_t port_range_end = 65535;
  friend bool operator==(const Filter&, const Filter&) = default;
};

// An empty list permits everything.
using Filters = std::vector<Filter>;

struct CidrResource {
  ResourceId id;
  net::Cidr address;  // host bits masked
  std::string name;   // display only
  Filters filters;
  friend bool operator==(const CidrResource&, const CidrResource&) = default;
};

struct DnsResource {
  ResourceId id;
  std::string address;  // a domain pattern: `app.example.com`, `*.example.com`, `**.x`, `?.x`
  std::string name;     // display only
  Filters filters;
  friend bool operator==(const DnsResource&, const DnsResource&) = default;
};

// Covers 0.0.0.0/0 and ::/0; has no filters (permits everything).
struct InternetResource {
  ResourceId id;
  friend bool operator==(const InternetResource&, const InternetResource&) = default;
};

using ResourceDescription = std::variant<CidrResource, DnsResource, InternetResource>;

ResourceId resource_id(const ResourceDescription& resource);
// The resource's filters; the internet resource has none (permit all).
const Filters& resource_filters(const ResourceDescription& resource);

// ---------------------------------------------------------------------------------------------
// Relays (§5.6)

// A TURN server entry as the portal sends it: one per address family, both with the same id.
struct TurnRelay {
  RelayId id;
  net::SocketAddr addr;
  std::string username;  // opaque long-term credentials, realm "firezone"
  std::string password;  // secret
  UnixTime expires_at;
  friend bool operator==(const TurnRelay&, const TurnRelay&) = default;
};

// Accepted and ignored by the gateway; kept so the codec round-trips.
struct StunRelay {
  RelayId id;
  net::SocketAddr addr;
  friend bool operator==(const StunRelay&, const StunRelay&) = default;
};

using Relay = std::variant<TurnRelay, StunRelay>;

// One TURN server, with its addresses of both families merged.
struct RelayServer {
  RelayId id;
  std::optional<net::SocketAddr> v4;
  std::optional<net::SocketAddr> v6;
  std::string username;
  std::string password;
  UnixTime expires_at;
  friend bool operator==(const RelayServer&, const RelayServer&) = default;
};

// The TURN entries of a relay list merged by id (the reference's `turn()`): the portal sends one
// entry per family with the same id, IPv4 first. Entries with the same id are combined into one
// dual-stack server wherever they appear (the reference only merges adjacent ones); the
// credentials of the last entry win; a second address of the same family is ignored (warning).
// STUN entries are dropped. The result keeps the order in which ids first appear.
std::vector<RelayServer> merge_turn_relays(const std::vector<Relay>& relays);

// ---------------------------------------------------------------------------------------------
// Ingress (portal -> gateway), §4.1

struct InterfaceConfig {
  net::IpAddr ipv4;  // always IPv4
  net::IpAddr ipv6;  // always IPv6
  friend bool operator==(const InterfaceConfig&, const InterfaceConfig&) = default;
};

// `init.config`: unused by the gateway; kept for round-tripping. The reference requires it; we
// accept an `init` without it.
struct MasqueradeConfig {
  bool ipv4_masquerade_enabled = true;
  bool ipv6_masquerade_enabled = true;
  friend bool operator==(const MasqueradeConfig&, const MasqueradeConfig&) = default;
};

struct Authorization {
  ClientId client_id;
  ResourceId resource_id;
  UnixTime expires_at;
  friend bool operator==(const Authorization&, const Authorization&) = default;
};

struct Init {
  InterfaceConfig interface;
  std::optional<MasqueradeConfig> config;
  std::vector<Relay> relays;
  std::optional<std::string> account_slug;
  std::vector<Authorization> authorizations;
  friend bool operator==(const Init&, const Init&) = default;
};

struct FlowClient {
  ClientId id;
  PublicKey public_key;
  PresharedKey preshared_key;
  net::IpAddr ipv4;
  net::IpAddr ipv6;
  friend bool operator==(const FlowClient&, const FlowClient&) = default;
};

struct AuthorizeFlow {
  std::string ref;  // portal-signed, echoed byte-for-byte in flow_authorized
  ResourceDescription resource;
  IceCredentials gateway_ice_credentials;  // ours (local)
  IceCredentials client_ice_credentials;   // the client's (remote)
  FlowClient client;
  std::optional<UnixTime> expires_at;  // nullopt: no expiry (the key must be present)
  friend bool operator==(const AuthorizeFlow&, const AuthorizeFlow&) = default;
};

struct RejectAccess {
  ClientId client_id;
  ResourceId resource_id;
  friend bool operator==(const RejectAccess&, const RejectAccess&) = default;
};

struct AccessAuthorizationExpiryUpdated {
  ClientId client_id;
  ResourceId resource_id;
  UnixTime expires_at;
  friend bool operator==(const AccessAuthorizationExpiryUpdated&,
                         const AccessAuthorizationExpiryUpdated&) = default;
};

struct ResourceUpdated {
  ResourceDescription resource;
  friend bool operator==(const ResourceUpdated&, const ResourceUpdated&) = default;
};

struct RelaysPresence {
  std::vector<RelayId> disconnected_ids;
  std::vector<Relay> connected;  // the portal's full current selection, not a diff
  friend bool operator==(const RelaysPresence&, const RelaysPresence&) = default;
};

// Candidates in str0m's SDP form (no `a=` prefix). Strings that do not parse are skipped one by
// one when decoding.
struct IceCandidates {
  ClientId client_id;
  std::vector<std::string> candidates;
  friend bool operator==(const IceCandidates&, const IceCandidates&) = default;
};

struct InvalidateIceCandidates {
  ClientId client_id;
  std::vector<std::string> candidates;
  friend bool operator==(const InvalidateIceCandidates&, const InvalidateIceCandidates&) = default;
};

// The concrete name of a DNS resource and the client's proxy IPs for it.
struct ResolveRequest {
  std::string name;
  std::vector<net::IpAddr> proxy_ips;
  friend bool operator==(const ResolveRequest&, const ResolveRequest&) = default;
};

struct LegacyPeer {
  std::optional<std::uint16_t> persistent_keepalive;  // always 25 from the portal; ignored
  PublicKey public_key;
  PresharedKey preshared_key;  // chosen by the client
  net::IpAddr ipv4;
  net::IpAddr ipv6;
  friend bool operator==(const LegacyPeer&, const LegacyPeer&) = default;
};

struct LegacyClient {
  ClientId id;
  IceCredentials ice_parameters;         // client.payload.ice_parameters (remote)
  std::optional<ResolveRequest> domain;  // client.payload.domain
  LegacyPeer peer;
  friend bool operator==(const LegacyClient&, const LegacyClient&) = default;
};

// Legacy (pre-1.4 clients); answered with ConnectionReady.
struct RequestConnection {
  std::string ref;
  ResourceDescription resource;
  LegacyClient client;
  std::optional<UnixTime> expires_at;
  friend bool operator==(const RequestConnection&, const RequestConnection&) = default;
};

// Legacy (pre-1.4 clients reusing a connection); never answered.
struct AllowAccess {
  std::string ref;
  ClientId client_id;
  ResourceDescription resource;
  std::optional<UnixTime> expires_at;
  std::optional<ResolveRequest> payload;
  net::IpAddr client_ipv4;
  net::IpAddr client_ipv6;
  friend bool operator==(const AllowAccess&, const AllowAccess&) = default;
};

using IngressMessage =
    std::variant<Init, AuthorizeFlow, RejectAccess, AccessAuthorizationExpiryUpdated,
                 ResourceUpdated, RelaysPresence, IceCandidates, InvalidateIceCandidates,
                 RequestConnection, AllowAccess>;

// ---------------------------------------------------------------------------------------------
// Egress (gateway -> portal), §4.2

struct FlowAuthorized {
  std::string ref;  // from AuthorizeFlow, verbatim
  friend bool operator==(const FlowAuthorized&, const FlowAuthorized&) = default;
};

// The reference always sends one client id per message, candidates ordered by priority.
struct BroadcastIceCandidates {
  std::vector<ClientId> client_ids;
  std::vector<std::string> candidates;
  friend bool operator==(const BroadcastIceCandidates&, const BroadcastIceCandidates&) = default;
};

struct BroadcastInvalidatedIceCandidates {
  std::vector<ClientId> client_ids;
  std::vector<std::string> candidates;
  friend bool operator==(const BroadcastInvalidatedIceCandidates&,
                         const BroadcastInvalidatedIceCandidates&) = default;
};

// Legacy answer to RequestConnection:
// {"ref":…,"gateway_payload":{"ConnectionAccepted":{"ice_parameters":{username,password}}}}
struct ConnectionReady {
  std::string ref;
  IceCredentials ice_parameters;  // our (local) credentials
  friend bool operator==(const ConnectionReady&, const ConnectionReady&) = default;
};

using EgressMessage = std::variant<FlowAuthorized, BroadcastIceCandidates,
                                   BroadcastInvalidatedIceCandidates, ConnectionReady>;

// ---------------------------------------------------------------------------------------------
// Codec

// The frame `event` of a message.
std::string_view event_name(const IngressMessage& message);
std::string_view event_name(const EgressMessage& message);

// True for the events decode_ingress() knows.
bool is_ingress_event(std::string_view event);

// Decodes the `payload` of a frame whose `event` is `event`. An event that is not a gateway
// ingress message gives Errc::unsupported; a payload that does not have the required shape gives
// Errc::malformed (the detail names the field).
Result<IngressMessage> decode_ingress(std::string_view event, const nlohmann::json& payload);
Result<EgressMessage> decode_egress(std::string_view event, const nlohmann::json& payload);

// The payload as the portal / the reference gateway writes it, keys in the reference's order.
nlohmann::ordered_json encode_payload(const IngressMessage& message);
nlohmann::ordered_json encode_payload(const EgressMessage& message);

// Element decoders, public for tests and tools.
Result<ResourceDescription> decode_resource(const nlohmann::json& value);
// A list of resources: unknown `type`s are skipped, anything else malformed is an error.
Result<std::vector<ResourceDescription>> decode_resources(const nlohmann::json& value);
// A `filters` array (see the header comment for the skipping rule).
Result<Filters> decode_filters(const nlohmann::json& value);
Result<Filter> decode_filter(const nlohmann::json& value);
// A relay list: unknown types and malformed entries are skipped.
std::vector<Relay> decode_relays(const nlohmann::json& value);
nlohmann::ordered_json encode_resource(const ResourceDescription& resource);
nlohmann::ordered_json encode_filter(const Filter& filter);

// True if `text` parses as an ICE candidate in str0m's grammar (ice-str0m-details §2.2): the
// mandatory part `candidate:<foundation> <component> <proto> <priority> <ip> <port> typ <kind>`
// plus the rule that an optional keyword without its value is an error.
bool is_valid_candidate(std::string_view text);

// Accepts the text forms of the Rust `uuid` crate: hyphenated, 32 hex digits ("simple"),
// `{hyphenated}` and `urn:uuid:hyphenated`; hex digits in either case.
Result<Uuid> parse_uuid_any(std::string_view text);

}  // namespace fz::portal
