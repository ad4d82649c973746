// The dev portal's protocol logic, sans-IO: the HTTP upgrade checks and the per-socket Phoenix
// channel state machines of `/gateway/websocket` (spec/portal-protocol.md) and
// `/client/websocket` (client-protocol.md §6.2), plus the flow broker between them.
//
// The server (server.hpp) feeds it upgrade requests, text frames, socket closures and time, and
// drains poll_output() into the sockets:
//
//   handle_upgrade(target, user_agent, now)  -> socket id, or an HTTP status + body to refuse with
//   handle_frame(socket, text, now)          -> replies and pushes (SendFrame), CloseSocket
//   handle_closed(socket, now)               -> the transport is gone
//   handle_timeout(now) at poll_timeout()    -> idle sockets are closed (gateway 37 s, client 307
//   s)
//
// Outputs for one socket come out in the order they were produced, so a client always gets
// `flow_created` before the ice_candidates of that gateway (client-protocol.md §6.5).
//
// The control operations (reject_access, relays_presence, forced disconnects, token revocation,
// legacy messages, policy changes, raw replays, listings) are methods; control.hpp maps them to
// HTTP. Wall-clock time (for expiries) is `start_wall + (now - start)`, so tests stay
// deterministic.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "base/result.hpp"
#include "base/rng.hpp"
#include "base/time.hpp"
#include "base/uuid.hpp"
#include "dev-portal/config.hpp"
#include "dev-portal/credentials.hpp"
#include "dev-portal/frame_log.hpp"

namespace fz::devportal {

using SocketId = std::uint64_t;

enum class PeerKind { gateway, client };
std::string_view to_string(PeerKind kind);

struct UpgradeRejected {
  int status = 0;
  std::string body;
};
using UpgradeOutcome = std::variant<SocketId, UpgradeRejected>;

struct SendFrame {
  SocketId socket = 0;
  std::string text;
};
// Close the WebSocket (close handshake, then drop).
struct CloseSocket {
  SocketId socket = 0;
};
using Output = std::variant<SendFrame, CloseSocket>;

inline constexpr Duration kGatewayIdleTimeout = std::chrono::seconds(37);
inline constexpr Duration kClientIdleTimeout = std::chrono::seconds(307);

// Parses "M.m.p" (with optional -pre/+build) into a comparable triple.
struct Version {
  int major = 0, minor = 0, patch = 0;
  friend auto operator<=>(const Version&, const Version&) = default;
};
std::optional<Version> parse_version(std::string_view text);
// The version from a User-Agent: the first space-separated token starting with `connlib/`.
std::optional<std::string> connlib_version(std::string_view user_agent);

class DevPortal {
 public:
  DevPortal(Config config, Rng& rng, Instant start, UnixTime start_wall);

  EventLog& log() { return log_; }
  const Config& config() const { return config_; }

  // --- transport inputs ----------------------------------------------------------------------
  // `target` is the HTTP request target (path and query; it holds the token: never logged).
  UpgradeOutcome handle_upgrade(std::string_view target, std::string_view user_agent, Instant now);
  void handle_frame(SocketId socket, std::string_view text, Instant now);
  void handle_closed(SocketId socket, Instant now);
  void handle_timeout(Instant now);
  std::optional<Instant> poll_timeout() const;
  std::optional<Output> poll_output();

  // --- control operations (all push frames at once; errors name the problem) -----------------
  // Sends `payload` as a server push `event` to the gateway's current socket.
  Status push_to_gateway(const Uuid& gateway_id, std::string_view event,
                         const nlohmann::ordered_json& payload, Instant now);
  Status push_to_client(const Uuid& client_id, std::string_view event,
                        const nlohmann::ordered_json& payload, Instant now);
  // reject_access to `gateway_id`, or to every connected gateway holding the authorisation (and
  // to every connected gateway of the resource's sites if none does). Forgets the authorisation.
  Result<nlohmann::json> reject_access(std::optional<Uuid> gateway_id, const Uuid& client_id,
                                       const Uuid& resource_id, Instant now);
  Result<nlohmann::json> update_expiry(std::optional<Uuid> gateway_id, const Uuid& client_id,
                                       const Uuid& resource_id, std::int64_t expires_at,
                                       Instant now);
  // Replaces the resource's filters (if given) and pushes `resource_updated` to every connected
  // gateway of its sites, and `resource_created_or_updated` to clients allowed to use it.
  Result<nlohmann::json> update_resource(const Uuid& resource_id,
                                         std::optional<portal::Filters> filters, Instant now);
  // Marks relays offline / back online and pushes `relays_presence` to every joined socket.
  Result<nlohmann::json> relays_presence(const std::vector<Uuid>& disconnected,
                                         const std::vector<Uuid>& connected, Instant now);
  enum class DisconnectMode { phx_close, close };
  Result<nlohmann::json> disconnect(PeerKind kind, const Uuid& id, DisconnectMode mode,
                                    Instant now);
  // Closes every socket that used the token; later upgrades with it get 401.
  Result<nlohmann::json> revoke_token(std::string_view token, Instant now);
  // Legacy messages. Missing fields come from the client's record and its live connection.
  Result<nlohmann::json> request_connection(const Uuid& gateway_id, const nlohmann::json& body,
                                            Instant now);
  Result<nlohmann::json> allow_access(const Uuid& gateway_id, const nlohmann::json& body,
                                      Instant now);
  Result<nlohmann::json> add_policy(const nlohmann::json& policy, Instant now);
  Result<nlohmann::json> remove_policy(const Uuid& policy_id, Instant now);
  // Sends `text` verbatim to the gateway's socket (no validation).
  Status replay(const Uuid& gateway_id, std::string text, Instant now);

  // --- listings -------------------------------------------------------------------------------
  nlohmann::json gateways_json() const;
  nlohmann::json clients_json() const;
  nlohmann::json flows_json() const;
  nlohmann::json legacy_replies_json() const { return legacy_replies_; }
  nlohmann::json policies_json(Instant now) const;

  // Derived per-record values, for tests and listings.
  std::optional<Uuid> gateway_id_for(const Uuid& site_id, std::string_view external_id) const;

 private:
  struct Socket {
    SocketId id = 0;
    PeerKind kind = PeerKind::gateway;
    Uuid peer;  // gateway or client id
    std::string token;
    std::string topic;  // "gateway" or "client"
    bool joined = false;
    Instant last_frame{};
  };

  struct GatewayRecord {
    Uuid id;
    Uuid site_id;
    std::string external_id;
    std::string name;
    std::string public_key;
    std::string version;
    net::IpAddr ipv4;
    net::IpAddr ipv6;
    PskBase psk_base{};
    std::optional<SocketId> socket;  // the socket of the latest upgrade
    // (client, resource) -> expiry (nullopt: none), as the real portal's flow cache.
    std::map<std::pair<Uuid, Uuid>, std::optional<std::int64_t>> authorizations;
  };

  struct ClientRecord {
    Uuid id;
    std::string external_id;
    std::string name;
    std::string public_key;
    std::string version;
    PskBase psk_base{};
    std::optional<SocketId> socket;
  };

  struct PendingFlow {
    Uuid client_id;
    SocketId client_socket = 0;
    Uuid resource_id;
    Uuid gateway_id;
    SocketId gateway_socket = 0;
    std::string gateway_public_key;
    net::IpAddr gateway_ipv4;
    net::IpAddr gateway_ipv6;
    Uuid site_id;
    std::string preshared_key;
    FlowIceCredentials ice;
    std::optional<std::int64_t> expires_at;
  };

  // The arguments both legacy control calls take, validated.
  struct LegacyArgs {
    Uuid client_id;
    Uuid resource_id;
    const ClientEntry* entry;
    const ResourceEntry* resource;
    std::optional<std::int64_t> expires_at;
  };
  Result<LegacyArgs> legacy_args(const nlohmann::json& body) const;

  struct LegacyPending {
    Uuid gateway_id;
    Uuid client_id;
    Uuid resource_id;
    std::optional<std::int64_t> expires_at;
  };

  UnixTime wall(Instant now) const;
  std::int64_t wall_seconds(Instant now) const;

  UpgradeOutcome reject(int status, std::string body, std::string_view path, std::string_view why,
                        Instant now);
  void send(Socket& socket, std::string text, Instant now);
  void push(Socket& socket, std::string_view event, const nlohmann::ordered_json& payload,
            Instant now);
  void reply(Socket& socket, std::string_view topic, const nlohmann::json& ref, bool ok,
             const nlohmann::ordered_json& response, Instant now);
  void error(std::string message, const Socket* socket, Instant now);
  void close_socket(Socket& socket, std::string_view reason, Instant now);
  void log_frame(const Socket& socket, std::string_view direction, std::string_view text,
                 Instant now);

  void handle_join(Socket& socket, const nlohmann::json& ref, Instant now);
  void handle_gateway_event(Socket& socket, std::string_view event, const nlohmann::json& payload,
                            const nlohmann::json& ref, Instant now);
  void handle_client_event(Socket& socket, std::string_view event, const nlohmann::json& payload,
                           const nlohmann::json& ref, Instant now);
  void create_flow(Socket& socket, const nlohmann::json& payload, Instant now);
  void flow_creation_failed(Socket& socket, const std::string& resource_id, std::string_view reason,
                            const std::vector<std::string>& violated, Instant now);

  void send_gateway_init(Socket& socket, Instant now);
  void send_client_init(Socket& socket, Instant now);

  Socket* find_socket(SocketId id);
  Socket* joined_socket_of(const std::optional<SocketId>& id);
  GatewayRecord* find_gateway(const Uuid& id);
  ClientRecord* find_client(const Uuid& id);
  const ClientEntry* client_entry(const Uuid& id) const;
  const ResourceEntry* resource_entry(const Uuid& id) const;
  const Site* site_entry(const Uuid& id) const;

  // The latest expiry among the client's active policies for the resource: nullopt if none is
  // active; an inner nullopt for "no expiry".
  std::optional<std::optional<std::int64_t>> policy_expiry(const Uuid& client_id,
                                                           const Uuid& resource_id,
                                                           Instant now) const;
  bool has_expired_policy(const Uuid& client_id, const Uuid& resource_id, Instant now) const;
  std::optional<std::int64_t> policy_absolute_expiry(const PolicyEntry& policy) const;

  nlohmann::ordered_json gateway_resource(const ResourceEntry& resource) const;
  portal::ResourceDescription gateway_resource_description(const ResourceEntry& resource) const;
  nlohmann::ordered_json client_resource(const ResourceEntry& resource) const;
  nlohmann::ordered_json relays_for(std::string_view public_key, std::int64_t expires_at) const;
  std::int64_t client_relay_expiry(const ClientEntry& client) const;

  std::pair<net::IpAddr, net::IpAddr> allocate_gateway_ips(const Uuid& site_id,
                                                           std::string_view external_id);
  std::string new_ref();

  Config config_;
  Rng& rng_;
  Instant start_;
  UnixTime start_wall_;
  EventLog log_;

  SocketId next_socket_ = 1;
  std::map<SocketId, Socket> sockets_;
  std::map<Uuid, GatewayRecord> gateways_;
  std::map<Uuid, ClientRecord> clients_;
  std::set<std::string> revoked_tokens_;
  std::set<Uuid> offline_relays_;
  std::set<net::IpAddr> used_tunnel_ips_;
  std::map<std::string, PendingFlow> pending_flows_;
  std::map<std::string, LegacyPending> legacy_pending_;
  nlohmann::json legacy_replies_ = nlohmann::json::array();
  nlohmann::json flows_ = nlohmann::json::array();  // authorised flows, for listings
  std::uint64_t next_ref_ = 1;
  std::deque<Output> outputs_;
};

}  // namespace fz::devportal
