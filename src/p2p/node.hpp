// The p2p Node: Firezone's snownet in C++ (spec/p2p-connections.md §1, §2, §5, §6).
//
// A Node owns one WireGuard static key (wireguard::Device), one TURN allocation per relay (shared
// by all connections) and one connection per remote peer. A connection is an ICE agent, a WireGuard
// tunnel and the relay chosen for it. All traffic shares one UDP socket per IP family, so every
// received datagram goes through decapsulate(), which sorts it (spec §2):
//
//   source port 3478 and first byte 0x00-0x03 -> STUN of a relay        -> that Allocation
//   source port 3478 and first byte 0x40-0x4F -> ChannelData (exact len) -> unwrapped, then below
//   a Binding message                         -> the ICE agent that accepts it
//   anything else                             -> WireGuard, routed by receiver index or static key
//
// The client role is ICE-controlling and starts the WireGuard handshake on every new nominated
// path; the server (gateway) role is controlled and only answers. Before nomination WireGuard
// output is kept in a ring of 128 datagrams; IP packets are kept too on the client and dropped on
// the server. Both are flushed on nomination.
//
// Sans-IO (DESIGN.md §3): no sockets, no clock, randomness from a seeded generator. Callers feed
// datagrams and time, and drain poll_transmit() and poll_event() after every call; then re-arm the
// timer at poll_timeout(). Connection deadlines live in an ordered set, so poll_timeout() is O(1)
// and handle_timeout() only touches the connections that are due, plus every relay (few).
//
// The data path is in place: encapsulate() turns an IP packet into the datagram to send in the
// same buffer (WireGuard header in the headroom, tag in the tailroom, ChannelData header in front
// when relayed); decapsulate() turns a datagram into the IP packet it carries. Callers allocate
// buffers with kHeadroom bytes of headroom and kTailroom of tailroom.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>

#include "base/buffer.hpp"
#include "base/result.hpp"
#include "base/time.hpp"
#include "base/uuid.hpp"
#include "crypto/util.hpp"
#include "crypto/x25519.hpp"
#include "ice/agent.hpp"
#include "net/ip_addr.hpp"
#include "turn/allocation.hpp"
#include "wireguard/device.hpp"

namespace fz::p2p {

// Client: ICE controlling, initiates WireGuard. Server: the gateway, ICE controlled.
enum class Role : std::uint8_t { client, server };

// The gateway keys connections by client id, the client by gateway id.
using ConnectionId = Uuid;
using RelayId = Uuid;
using PresharedKey = crypto::SecretBytes<32>;

// Headroom/tailroom callers leave in data-path buffers: WireGuard data header (16) + ChannelData
// header (4) in front, the AEAD tag (16) behind.
inline constexpr std::size_t kHeadroom = 16 + 4;
inline constexpr std::size_t kTailroom = 16;
// The largest UDP payload the node produces for a 1280-byte IP packet: 1280 + 32 + 4.
inline constexpr std::size_t kMaxDatagramSize = 1316;
// Relays are recognised by this source port (spec §2); peer traffic must never use it.
inline constexpr std::uint16_t kRelayPort = 3478;

// Spec constants (p2p-connections §1.2–§1.3).
inline constexpr Duration kIdleTimeout = std::chrono::seconds(20);
inline constexpr Duration kCandidateTimeout = std::chrono::seconds(10);
inline constexpr Duration kDisconnectTimeout = std::chrono::seconds(2);
inline constexpr Duration kHandshakeSuppression = std::chrono::seconds(20);
inline constexpr Duration kAnswerTimeout = std::chrono::seconds(20);  // HANDSHAKE_TIMEOUT
inline constexpr std::size_t kBufferedPackets = 128;

// A relay as the portal announces it. Entries of one relay id are merged into v4 and v6.
struct RelayInfo {
  RelayId id;
  std::optional<net::SocketAddr> v4;
  std::optional<net::SocketAddr> v6;
  std::string username;
  std::string password;  // never logged
  std::string realm = std::string(turn::kFirezoneRealm);
};

struct NodeConfig {
  // SOFTWARE on TURN requests; empty: snownet's "snownet; session=<hash of our public key>".
  std::string software;
  turn::DualStackAttribute dual_stack = turn::DualStackAttribute::rfc8656;
  wireguard::DeviceConfig device{};
  // Firezone overrides boringtun's 90 s with 15 s.
  Duration rekey_attempt_time = std::chrono::seconds(15);
};

// Deprecated request_connection path (spec §1.2 b).
struct Offer {
  PresharedKey session_key;  // becomes the PSK
  ice::Credentials credentials;
};
struct Answer {
  ice::Credentials credentials;
};

// Which socket a connection sends on (spec §1.7).
enum class PathKind : std::uint8_t {
  none,            // not nominated yet
  direct,          // our host socket -> peer host/srflx/prflx
  peer_to_relay,   // our host socket -> peer's relay address
  relay_to_peer,   // ChannelData through our relay -> peer host/srflx/prflx
  relay_to_relay,  // ChannelData through our relay -> peer's relay address
};
std::string_view to_string(PathKind kind);
constexpr bool is_relayed(PathKind kind) {
  return kind == PathKind::relay_to_peer || kind == PathKind::relay_to_relay;
}

enum class ConnectionState : std::uint8_t { connecting, connected, idle, failed };
std::string_view to_string(ConnectionState state);

// For the test client's status line and for tests.
struct ConnectionInfo {
  ConnectionState state = ConnectionState::connecting;
  ice::ConnectionState ice_state = ice::ConnectionState::created;
  PathKind path = PathKind::none;
  std::optional<net::SocketAddr> path_source;       // our base (direct) or relay address
  std::optional<net::SocketAddr> path_destination;  // the peer address we send to
  RelayId relay;                                    // the relay chosen for this connection
  Instant created_at;
  std::optional<Instant> established_at;  // first WireGuard handshake processed
  std::optional<Instant> last_activity;
  std::uint64_t packets_sent = 0;  // IP packets encapsulated
  std::uint64_t packets_received = 0;
  std::uint64_t bytes_sent = 0;  // IP bytes, before encryption
  std::uint64_t bytes_received = 0;
  std::uint64_t stun_bytes_direct = 0;  // ICE checks and answers sent, as snownet counts them
  std::uint64_t stun_bytes_relayed = 0;
};

// How many connections are in each state and on each path kind (a snapshot, for metrics).
struct ConnectionCounts {
  std::array<std::size_t, 4> by_state{};  // indexed by ConnectionState
  std::array<std::size_t, 5> by_path{};   // indexed by PathKind
};

// Node-wide counters.
struct NodeStats {
  std::uint64_t stun_bytes_to_relays = 0;  // TURN control traffic sent, as snownet counts it
  std::uint64_t handle_timeout_calls = 0;
  std::uint64_t connections_serviced = 0;  // connections whose deadline handle_timeout() ran
};

// A datagram for the I/O layer. `src` is set for traffic that must leave from a specific local
// address (ICE and WireGuard on a direct path: the candidate's base, via IP_PKTINFO); it is empty
// for everything sent to a relay (TURN control and ChannelData), which leaves from the socket of
// dst's family.
struct Transmit {
  std::optional<net::SocketAddr> src;
  net::SocketAddr dst;
  PacketBuffer payload;
  Bytes bytes() const { return payload.span(); }
};

// Why a connection was closed.
enum class CloseReason : std::uint8_t {
  local,           // close_connection()/close_all(): a goodbye was sent
  remote_goodbye,  // the peer sent a goodbye; nothing was sent back
  reset,           // reset()
};

namespace event {
// A local candidate to send to the peer through the portal (str0m SDP string without "a=").
struct CandidateNew {
  ConnectionId connection;
  std::string candidate;
};
struct CandidateInvalidated {
  ConnectionId connection;
  std::string candidate;
};
// The first WireGuard handshake message (initiation or response) was processed successfully.
struct ConnectionEstablished {
  ConnectionId connection;
};
// The connection failed (no candidates in 10 s, ICE disconnected for 2 s, WireGuard expired, or
// the deprecated answer never came) and is gone.
struct ConnectionFailed {
  ConnectionId connection;
};
struct ConnectionClosed {
  ConnectionId connection;
  CloseReason reason;
};
}  // namespace event
using Event =
    std::variant<event::CandidateNew, event::CandidateInvalidated, event::ConnectionEstablished,
                 event::ConnectionFailed, event::ConnectionClosed>;

// decapsulate(): what the datagram was.
struct Decapsulated {
  enum class Kind : std::uint8_t {
    consumed,   // TURN, ICE, WireGuard handshake/cookie/keepalive or a goodbye: nothing to deliver
    ip_packet,  // the buffer now holds the decrypted IP packet of `connection`
  };
  Kind kind = Kind::consumed;
  ConnectionId connection;
};

// encapsulate(): what happened to the IP packet.
struct Encapsulated {
  enum class Kind : std::uint8_t {
    transmit,  // the buffer holds the datagram: send it from `src` (if set) to `dst`
    buffered,  // kept until a path or a WireGuard session exists
    dropped,   // the server before nomination, or no TURN channel yet (a bind was started)
  };
  Kind kind = Kind::dropped;
  std::optional<net::SocketAddr> src;
  net::SocketAddr dst;
};

class Node {
 public:
  // `wall_now` is the wall-clock time at `now`; WireGuard timestamps are derived from it and the
  // virtual time passed since. `seed` seeds every random choice the node makes.
  Node(Role role, crypto::SecretKey static_key, std::array<std::uint8_t, 32> seed, Instant now,
       UnixTime wall_now, NodeConfig config = {});
  ~Node();
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;

  Role role() const { return role_; }
  const crypto::PublicKey& public_key() const;
  std::size_t num_connections() const;
  bool has_connection(const ConnectionId& id) const;
  std::optional<ConnectionInfo> connection_info(const ConnectionId& id) const;
  // The connection whose peer has this static key.
  std::optional<ConnectionId> connection_by_key(const crypto::PublicKey& remote) const;
  std::size_t num_relays() const;
  NodeStats stats() const;
  // O(connections): meant for a metrics scrape, not for the data path.
  ConnectionCounts connection_counts() const;

  // Forgets everything: every connection is closed (ConnectionClosed{reset}, nothing sent), the
  // allocations are dropped without deleting them, and a new static key is drawn. The caller must
  // rebind its sockets and announce the new public key.
  void reset(Instant now);

  // Removes the relays in `removed` (their relay candidates are invalidated everywhere) and adds or
  // replaces the ones in `added`; every other allocation is refreshed. Connections whose relay is
  // gone move to a random remaining relay on the next handle_timeout() and signal its candidates.
  void update_relays(std::span<const RelayId> removed, std::span<const RelayInfo> added,
                     Instant now);

  // Creates the connection, or reuses it when local and remote credentials, remote key and PSK are
  // all unchanged (then it wakes up, re-seeds its candidates and, as client, re-handshakes unless
  // it did so in the last 20 s). Fails with Errc::not_found "no TURN servers" without relays.
  Status upsert_connection(const ConnectionId& id, const crypto::PublicKey& remote,
                           const PresharedKey& psk, ice::Credentials local,
                           ice::Credentials remote_credentials, Instant now);

  // Deprecated path. Client: new_connection() makes the offer (random session key and str0m-style
  // credentials) and waits up to 20 s for accept_answer(). Server: accept_connection() builds the
  // connection with random local credentials and PSK = offer.session_key, and returns the answer.
  Offer new_connection(const ConnectionId& id, Instant now);
  Status accept_answer(const ConnectionId& id, const crypto::PublicKey& remote,
                       const Answer& answer, Instant now);
  Result<Answer> accept_connection(const ConnectionId& id, const Offer& offer,
                                   const crypto::PublicKey& remote, Instant now);
  // A 16-character ufrag and a 22-character pwd from str0m's alphabet (no 'w'/'W').
  ice::Credentials random_credentials();

  // Remote candidates (str0m SDP strings). Unknown connections and unparsable strings are ignored
  // with a debug log line.
  void add_remote_candidate(const ConnectionId& id, std::string_view candidate, Instant now);
  void remove_remote_candidate(const ConnectionId& id, std::string_view candidate, Instant now);

  // Drops local state only: nothing is sent, no event.
  void remove_connection(const ConnectionId& id);
  // Sends the 48-byte goodbye over the nominated path (best effort) and removes the connection,
  // emitting ConnectionClosed{local}. A connection still connecting is removed silently.
  void close_connection(const ConnectionId& id, Instant now);
  void close_all(Instant now);

  // Data path. `local` is the socket address the datagram arrived on. Errors: not for us (unknown
  // relay/channel/agent/index/key), authentication failure, malformed; log at debug and drop.
  Result<Decapsulated> decapsulate(const net::SocketAddr& local, const net::SocketAddr& from,
                                   PacketBuffer& datagram, Instant now);
  // Errors: unknown connection, failed connection, no room in the buffer.
  Result<Encapsulated> encapsulate(const ConnectionId& id, PacketBuffer& packet, Instant now);

  void handle_timeout(Instant now);
  std::optional<Instant> poll_timeout() const;
  // TURN control first, then everything else in order.
  std::optional<Transmit> poll_transmit();
  std::optional<Event> poll_event();

 private:
  struct Impl;
  Role role_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace fz::p2p
