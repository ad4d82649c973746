// The Node, in the order a connection lives: relays and candidates, connections, the receive path,
// the send path, timers, closing.
#include "p2p/node.hpp"

#include <algorithm>
#include <cstring>
#include <deque>
#include <map>
#include <set>
#include <unordered_map>
#include <vector>

#include "base/log.hpp"
#include "crypto/rng.hpp"
#include "ice/binding.hpp"
#include "net/ip_packet.hpp"
#include "net/p2p_control.hpp"
#include "stun/message.hpp"
#include "turn/channel_data.hpp"
#include "wireguard/tunnel.hpp"

namespace fz::p2p {

std::string_view to_string(PathKind kind) {
  switch (kind) {
    case PathKind::none:
      return "none";
    case PathKind::direct:
      return "direct";
    case PathKind::peer_to_relay:
      return "peer-to-relay";
    case PathKind::relay_to_peer:
      return "relay-to-peer";
    case PathKind::relay_to_relay:
      return "relay-to-relay";
  }
  return "?";
}

std::string_view to_string(ConnectionState state) {
  switch (state) {
    case ConnectionState::connecting:
      return "connecting";
    case ConnectionState::connected:
      return "connected";
    case ConnectionState::idle:
      return "idle";
    case ConnectionState::failed:
      return "failed";
  }
  return "?";
}

namespace {

// Keep transaction ids of our checks this long to route the answers to their agent without asking
// every agent. Answers come within a round trip; anything later is ignored by str0m's rules anyway
// only if it is older than the remembered attempts, so 30 s is ample.
constexpr Duration kTransactionTtl = std::chrono::seconds(30);

constexpr std::string_view kCredentialAlphabet =
    "abcdefghijklmnopqrstuvxyzABCDEFGHIJKLMNOPQRSTUVXYZ0123456789";

struct KeyHash {
  std::size_t operator()(const crypto::PublicKey& key) const noexcept {
    std::size_t v;
    std::memcpy(&v, key.data(), sizeof v);
    return v;
  }
};
struct TransactionHash {
  std::size_t operator()(const stun::TransactionId& id) const noexcept {
    std::size_t v;
    std::memcpy(&v, id.data(), sizeof v);
    return v ^ load_le32(id.data() + 8);
  }
};

std::optional<ice::Candidate> to_ice(const turn::Candidate& candidate) {
  Result<ice::Candidate> out = Error(Errc::unsupported, "candidate kind");
  switch (candidate.kind) {
    case turn::CandidateKind::host:
      out = ice::Candidate::host(candidate.addr);
      break;
    case turn::CandidateKind::server_reflexive:
      out = ice::Candidate::server_reflexive(candidate.addr, candidate.base);
      break;
    case turn::CandidateKind::relayed:
      out = ice::Candidate::relayed(candidate.addr, candidate.base);
      break;
  }
  if (!out) return std::nullopt;
  return std::move(out).value();
}

PacketBuffer buffer_with(Bytes bytes, std::size_t headroom) {
  PacketBuffer buffer(headroom + bytes.size() + kTailroom, headroom);
  buffer.assign(bytes, headroom);
  return buffer;
}

bool is_goodbye(Bytes packet) {
  if (packet.size() < net::kIpv6HeaderLen + net::p2p_control::kHeaderLen) return false;
  if ((packet[0] >> 4) != 6 || packet[6] != net::p2p_control::kIpProtocol) return false;
  auto view = net::IpPacketView::parse(packet);
  if (!view) return false;
  auto message = net::p2p_control::decode(*view);
  return message && message->event_type == net::p2p_control::event_type::goodbye;
}

}  // namespace

// The socket a connection sends on, from the last NominatedSend.
struct PeerSocket {
  PathKind kind = PathKind::none;
  net::SocketAddr source;
  net::SocketAddr destination;
  friend bool operator==(const PeerSocket&, const PeerSocket&) = default;
};

struct Connection {
  Connection(const ConnectionId& cid, ice::Agent&& ice_agent, wireguard::Tunnel&& wg,
             const crypto::PublicKey& key, const PresharedKey& preshared, Instant now)
      : id(cid),
        agent(std::move(ice_agent)),
        tunnel(std::move(wg)),
        remote_key(key),
        psk(preshared),
        created_at(now),
        last_activity(now) {}

  ConnectionId id;
  ice::Agent agent;
  wireguard::Tunnel tunnel;
  crypto::PublicKey remote_key;
  PresharedKey psk;
  RelayId relay;
  ConnectionState state = ConnectionState::connecting;
  PeerSocket socket;
  Instant created_at;
  Instant last_activity;
  std::optional<Instant> disconnected_at;
  std::optional<Instant> last_proactive_handshake;
  std::optional<Instant> established_at;
  std::optional<Instant> scheduled;  // key in Impl::deadlines

  // While connecting: WireGuard datagrams (any role) and IP packets (client) waiting for a path.
  struct Pending {
    std::deque<PacketBuffer> wireguard;
    std::deque<PacketBuffer> ip;
  };
  std::unique_ptr<Pending> pending;

  std::uint64_t packets_sent = 0, packets_received = 0, bytes_sent = 0, bytes_received = 0;
  std::uint64_t stun_bytes_direct = 0, stun_bytes_relayed = 0;
};

struct Relay {
  RelayInfo info;
  turn::Allocation allocation;
};

struct Node::Impl {
  Impl(Role r, crypto::SecretKey key, std::array<std::uint8_t, 32> seed, Instant now,
       UnixTime wall_now, NodeConfig c)
      : role(r),
        config(std::move(c)),
        rng(seed),
        origin(now),
        wall_origin(wall_now),
        last_now(now) {
    device.emplace(std::move(key), rng, now, config.device);
    if (config.software.empty()) use_session_software = true;
  }

  Role role;
  NodeConfig config;
  bool use_session_software = false;
  crypto::ChaChaRng rng;
  Instant origin;
  UnixTime wall_origin;
  Instant last_now;
  std::optional<wireguard::Device> device;

  std::map<RelayId, Relay> relays;
  bool migration_pending = false;

  std::unordered_map<ConnectionId, std::unique_ptr<Connection>> connections;
  std::unordered_map<std::uint32_t, ConnectionId> by_wireguard_id;
  std::unordered_map<crypto::PublicKey, ConnectionId, KeyHash> by_key;
  std::unordered_multimap<std::string, ConnectionId> by_ufrag;  // our local ufrag
  std::unordered_map<stun::TransactionId, ConnectionId, TransactionHash> by_transaction;
  std::deque<std::pair<Instant, stun::TransactionId>> transaction_order;
  std::set<std::pair<Instant, ConnectionId>> deadlines;
  std::vector<ConnectionId> failed;
  std::vector<ConnectionId> due;  // scratch for handle_timeout

  struct PendingOffer {
    Offer offer;
    Instant deadline;
  };
  std::map<ConnectionId, PendingOffer> offers;

  std::deque<Transmit> transmits;
  std::deque<Event> events;
  NodeStats stats;

  // ---- helpers ------------------------------------------------------------------------------

  Connection* find(const ConnectionId& id) {
    auto it = connections.find(id);
    return it == connections.end() ? nullptr : it->second.get();
  }
  Relay* relay_of(const Connection& c) {
    auto it = relays.find(c.relay);
    return it == relays.end() ? nullptr : &it->second;
  }
  Relay* relay_with_address(const net::SocketAddr& relayed, const Connection* prefer) {
    if (prefer) {
      if (Relay* r = relay_of(*prefer); r && r->allocation.has_relay_address(relayed)) return r;
    }
    for (auto& [id, relay] : relays)
      if (relay.allocation.has_relay_address(relayed)) return &relay;
    return nullptr;
  }
  Relay* relay_by_server(const net::SocketAddr& from) {
    for (auto& [id, relay] : relays)
      if (relay.allocation.server().matches(from)) return &relay;
    return nullptr;
  }

  wireguard::noise::WallClock wall_clock(Instant now) const;

  std::optional<RelayId> random_relay() {
    if (relays.empty()) return std::nullopt;
    auto it = relays.begin();
    std::advance(it, static_cast<long>(rng.uniform(relays.size())));
    return it->first;
  }

  turn::AllocationOptions allocation_options() const {
    turn::AllocationOptions options;
    options.software =
        use_session_software ? turn::software_for_session(device->public_key()) : config.software;
    options.dual_stack = config.dual_stack;
    return options;
  }

  // ---- relays -------------------------------------------------------------------------------

  void add_relay(const RelayInfo& info, Instant now) {
    turn::RelaySocket server{info.v4, info.v6};
    turn::Credentials credentials(info.username, info.password, info.realm);
    relays.erase(info.id);
    RelayInfo stored = info;
    stored.password.clear();  // the allocation keeps only the derived key
    relays.emplace(std::piecewise_construct, std::forward_as_tuple(info.id),
                   std::forward_as_tuple(
                       Relay{std::move(stored), turn::Allocation(server, std::move(credentials),
                                                                 allocation_options(), rng, now)}));
  }

  // Every connection forgets the relay candidates of this allocation.
  void invalidate_relay_candidates(Relay& relay, Instant now) {
    for (const turn::Candidate& candidate : relay.allocation.relay_candidates())
      remove_local_everywhere(candidate, now);
  }

  void remove_local_everywhere(const turn::Candidate& candidate, Instant now) {
    auto ice_candidate = to_ice(candidate);
    if (!ice_candidate) return;
    for (auto& [id, c] : connections) {
      if (c->agent.remove_local_candidate(*ice_candidate)) {
        drain_agent(*c, now);
        reschedule(*c, now);
      }
    }
  }

  void process_relay_events(Instant now) {
    for (auto& [relay_id, relay] : relays) {
      while (auto event = relay.allocation.poll_event()) {
        if (auto* added = std::get_if<turn::CandidateNew>(&*event)) {
          auto candidate = to_ice(added->candidate);
          if (!candidate) continue;
          for (auto& [id, c] : connections) {
            if (c->relay != relay_id) continue;
            c->agent.add_local_candidate(*candidate);
            drain_agent(*c, now);
            reschedule(*c, now);
          }
        } else if (auto* gone = std::get_if<turn::CandidateInvalidated>(&*event)) {
          remove_local_everywhere(gone->candidate, now);
        } else if (std::holds_alternative<turn::RelayFailed>(*event)) {
          FZ_DEBUG("p2p", "relay {} failed", relay_id.to_string());
        }
      }
    }
  }

  // Host and server-reflexive candidates of every relay, relayed ones of the connection's relay,
  // best first.
  void seed_candidates(Connection& c) {
    std::vector<ice::Candidate> candidates;
    auto add = [&](const turn::Candidate& candidate) {
      auto ice_candidate = to_ice(candidate);
      if (!ice_candidate) return;
      for (const auto& existing : candidates)
        if (existing.same_identity(*ice_candidate)) return;
      candidates.push_back(std::move(*ice_candidate));
    };
    for (auto& [id, relay] : relays)
      for (const auto& candidate : relay.allocation.host_and_server_reflexive_candidates())
        add(candidate);
    if (Relay* relay = relay_of(c))
      for (const auto& candidate : relay->allocation.relay_candidates())
        add(candidate);
    std::stable_sort(candidates.begin(), candidates.end(),
                     [](const ice::Candidate& a, const ice::Candidate& b) {
                       return a.priority() > b.priority();
                     });
    for (auto& candidate : candidates)
      c.agent.add_local_candidate(std::move(candidate));
  }

  void bind_channels_for_remote(Connection& c, Instant now) {
    Relay* relay = relay_of(c);
    if (!relay) return;
    for (const ice::Candidate& remote : c.agent.remote_candidates())
      if (!remote.discarded() && remote.kind() != ice::CandidateKind::host)
        relay->allocation.bind_channel(remote.addr(), now);
  }

  void migrate(Instant now) {
    migration_pending = false;
    if (relays.empty()) return;
    for (auto& [id, c] : connections) {
      if (relays.count(c->relay) != 0 || c->state == ConnectionState::failed) continue;
      c->relay = *random_relay();
      FZ_DEBUG("p2p", "connection {} migrates to relay {}", id.to_string(), c->relay.to_string());
      seed_candidates(*c);
      bind_channels_for_remote(*c, now);
      drain_agent(*c, now);
      reschedule(*c, now);
    }
  }

  // ---- connection lifecycle -----------------------------------------------------------------

  Status create_connection(const ConnectionId& id, const crypto::PublicKey& remote,
                           const PresharedKey& psk, ice::Credentials local,
                           ice::Credentials remote_credentials, Instant now) {
    auto relay = random_relay();
    if (!relay) return Error(Errc::not_found, "no TURN servers");
    auto wireguard_id = device->allocate_connection_id();
    if (!wireguard_id) return wireguard_id.error();
    wireguard::TunnelConfig tunnel_config;
    tunnel_config.peer_static = remote;
    tunnel_config.preshared_key = psk;
    tunnel_config.connection_id = *wireguard_id;
    tunnel_config.wall_clock = wall_clock(now);
    tunnel_config.rekey_attempt_time = config.rekey_attempt_time;
    auto tunnel = wireguard::Tunnel::create(*device, std::move(tunnel_config), now);
    if (!tunnel) return tunnel.error();

    const std::string ufrag = local.ufrag;
    ice::Agent agent(role == Role::client ? ice::Role::controlling : ice::Role::controlled,
                     std::move(local), rng, ice::Timing::firezone_default());
    agent.set_remote_credentials(std::move(remote_credentials));

    auto connection =
        std::make_unique<Connection>(id, std::move(agent), std::move(*tunnel), remote, psk, now);
    connection->relay = *relay;
    Connection& c = *connection;
    connections.emplace(id, std::move(connection));
    by_wireguard_id[*wireguard_id] = id;
    by_key[remote] = id;
    by_ufrag.emplace(ufrag, id);

    seed_candidates(c);
    drain_agent(c, now);
    reschedule(c, now);
    FZ_DEBUG("p2p", "new connection {} on relay {}", id.to_string(), relay->to_string());
    return {};
  }

  void erase_connection(const ConnectionId& id) {
    auto it = connections.find(id);
    if (it == connections.end()) return;
    Connection& c = *it->second;
    by_wireguard_id.erase(c.tunnel.connection_id());
    if (auto k = by_key.find(c.remote_key); k != by_key.end() && k->second == id) by_key.erase(k);
    auto [first, last] = by_ufrag.equal_range(c.agent.local_credentials().ufrag);
    for (auto u = first; u != last; ++u) {
      if (u->second == id) {
        by_ufrag.erase(u);
        break;
      }
    }
    if (c.scheduled) deadlines.erase({*c.scheduled, id});
    connections.erase(it);
  }

  void fail(Connection& c, std::string_view why) {
    if (c.state == ConnectionState::failed) return;
    FZ_DEBUG("p2p", "connection {} failed: {}", c.id.to_string(), why);
    c.state = ConnectionState::failed;
    c.pending.reset();
    failed.push_back(c.id);
  }

  void wake(Connection& c, Instant now) {
    c.last_activity = now;
    if (c.state == ConnectionState::idle) {
      c.state = ConnectionState::connected;
      c.agent.set_timing(ice::Timing::firezone_default());
      reschedule(c, now);
    }
  }

  void proactive_handshake(Connection& c, Instant now) {
    if (role != Role::client) return;
    if (c.last_proactive_handshake && now - *c.last_proactive_handshake < kHandshakeSuppression)
      return;
    c.last_proactive_handshake = now;
    c.tunnel.initiate_handshake(now);
    drain_tunnel(c, now);
  }

  // ---- agent and tunnel outputs -------------------------------------------------------------

  void drain_agent(Connection& c, Instant now) {
    while (auto event = c.agent.poll_event()) {
      std::visit(
          [&](auto& e) {
            using E = std::decay_t<decltype(e)>;
            if constexpr (std::is_same_v<E, ice::event::StateChanged>) {
              if (e.state == ice::ConnectionState::disconnected) {
                if (!c.disconnected_at) c.disconnected_at = now;
              } else {
                c.disconnected_at.reset();
              }
            } else if constexpr (std::is_same_v<E, ice::event::NominatedSend>) {
              on_nominated(c, e.source, e.destination, now);
            } else if constexpr (std::is_same_v<E, ice::event::CandidateToSignal>) {
              events.emplace_back(event::CandidateNew{c.id, e.candidate.to_sdp_string()});
            } else if constexpr (std::is_same_v<E, ice::event::CandidateInvalidated>) {
              events.emplace_back(event::CandidateInvalidated{c.id, e.candidate.to_sdp_string()});
            }
          },
          *event);
    }
    while (auto transmit = c.agent.poll_transmit())
      send_stun(c, *transmit, now);
  }

  void send_stun(Connection& c, const ice::Transmit& transmit, Instant now) {
    const Bytes payload(transmit.payload);
    if (payload.size() >= 20 && payload[0] == 0x00 && payload[1] == 0x01) {
      stun::TransactionId id;
      std::memcpy(id.data(), payload.data() + 8, id.size());
      by_transaction[id] = c.id;
      transaction_order.emplace_back(now, id);
    }
    if (Relay* relay = relay_with_address(transmit.source, &c)) {
      PacketBuffer buffer = buffer_with(payload, turn::kChannelDataHeaderSize);
      auto dst = relay->allocation.encapsulate(transmit.destination, buffer, now);
      if (!dst) return;  // a channel is being bound; the check is retried on schedule
      c.stun_bytes_relayed += buffer.size();
      transmits.push_back(Transmit{std::nullopt, *dst, std::move(buffer)});
      return;
    }
    c.stun_bytes_direct += payload.size();
    transmits.push_back(Transmit{transmit.source, transmit.destination, buffer_with(payload, 0)});
  }

  void drain_tunnel(Connection& c, Instant now) {
    while (auto event = c.tunnel.poll_event()) {
      if (std::holds_alternative<wireguard::ConnectionExpired>(*event))
        fail(c, "WireGuard connection expired");
    }
    while (auto transmit = c.tunnel.poll_transmit()) {
      PacketBuffer buffer = transmit->buffer() ? std::move(*transmit->buffer())
                                               : buffer_with(transmit->payload(), kHeadroom);
      send_wireguard(c, std::move(buffer), now);
    }
  }

  void send_wireguard(Connection& c, PacketBuffer buffer, Instant now) {
    if (c.state == ConnectionState::failed) return;
    if (c.socket.kind == PathKind::none) {
      if (!c.pending) c.pending = std::make_unique<Connection::Pending>();
      if (c.pending->wireguard.size() == kBufferedPackets) c.pending->wireguard.pop_front();
      c.pending->wireguard.push_back(std::move(buffer));
      return;
    }
    if (auto transmit = frame_for_path(c, buffer, now))
      transmits.push_back(Transmit{transmit->src, transmit->dst, std::move(buffer)});
  }

  // Puts a WireGuard datagram on the connection's path (ChannelData in place when relayed).
  std::optional<Encapsulated> frame_for_path(Connection& c, PacketBuffer& buffer, Instant now) {
    if (!is_relayed(c.socket.kind))
      return Encapsulated{Encapsulated::Kind::transmit, c.socket.source, c.socket.destination};
    Relay* relay = relay_of(c);
    if (!relay) relay = relay_with_address(c.socket.source, nullptr);
    if (!relay) return std::nullopt;
    auto dst = relay->allocation.encapsulate(c.socket.destination, buffer, now);
    if (!dst) return std::nullopt;
    return Encapsulated{Encapsulated::Kind::transmit, std::nullopt, *dst};
  }

  void on_nominated(Connection& c, const net::SocketAddr& source,
                    const net::SocketAddr& destination, Instant now) {
    const bool local_relayed = relay_with_address(source, &c) != nullptr;
    bool remote_relayed = false;
    for (const ice::Candidate& remote : c.agent.remote_candidates())
      if (remote.kind() == ice::CandidateKind::relayed && remote.addr() == destination)
        remote_relayed = true;
    PeerSocket socket{local_relayed
                          ? (remote_relayed ? PathKind::relay_to_relay : PathKind::relay_to_peer)
                          : (remote_relayed ? PathKind::peer_to_relay : PathKind::direct),
                      source, destination};
    if (socket == c.socket) return;
    FZ_DEBUG("p2p", "connection {} sends {} from {} to {}", c.id.to_string(),
             to_string(socket.kind), source.to_string(), destination.to_string());
    c.socket = socket;
    if (c.state == ConnectionState::connecting) {
      c.state = ConnectionState::connected;
      c.last_activity = now;
      if (auto pending = std::move(c.pending)) {
        for (auto& buffer : pending->wireguard)
          send_wireguard(c, std::move(buffer), now);
        for (auto& packet : pending->ip)
          encapsulate_and_send(c, packet, now);
      }
    }
    proactive_handshake(c, now);
  }

  void encapsulate_and_send(Connection& c, PacketBuffer& packet, Instant now) {
    auto result = c.tunnel.encapsulate(packet, now);
    if (result && *result == wireguard::Encapsulated::ready) {
      if (auto transmit = frame_for_path(c, packet, now))
        transmits.push_back(Transmit{transmit->src, transmit->dst, std::move(packet)});
    }
    drain_tunnel(c, now);
  }

  // ---- timers -------------------------------------------------------------------------------

  Instant deadline_of(const Connection& c) const {
    if (c.state == ConnectionState::failed) return c.created_at;
    Instant next = c.agent.poll_timeout().value_or(c.created_at);
    auto consider = [&](Instant t) { next = std::min(next, t); };
    if (auto t = c.tunnel.poll_timeout()) consider(*t);
    if (c.state == ConnectionState::connected && c.agent.state() == ice::ConnectionState::connected)
      consider(c.last_activity + kIdleTimeout);
    if (c.agent.remote_candidates().empty()) consider(c.created_at + kCandidateTimeout);
    if (c.disconnected_at) consider(*c.disconnected_at + kDisconnectTimeout);
    return next;
  }

  void reschedule(Connection& c, Instant) {
    const Instant next = deadline_of(c);
    if (c.scheduled) {
      if (*c.scheduled == next) return;
      deadlines.erase({*c.scheduled, c.id});
    }
    deadlines.emplace(next, c.id);
    c.scheduled = next;
  }

  // On the data path only an earlier tunnel deadline needs the set touched; a deadline that is
  // now too early costs one spurious service() later.
  void reschedule_if_earlier(Connection& c, Instant now) {
    auto t = c.tunnel.poll_timeout();
    if (!t || (c.scheduled && *c.scheduled <= *t)) return;
    reschedule(c, now);
  }

  void service(Connection& c, Instant now) {
    c.agent.handle_timeout(now);
    drain_agent(c, now);
    if (c.state == ConnectionState::failed) return;
    if (c.state == ConnectionState::connected &&
        c.agent.state() == ice::ConnectionState::connected &&
        now >= c.last_activity + kIdleTimeout) {
      FZ_DEBUG("p2p", "connection {} is idle", c.id.to_string());
      c.state = ConnectionState::idle;
      c.agent.set_timing(ice::Timing::firezone_idle());
    }
    if (c.agent.remote_candidates().empty() && now >= c.created_at + kCandidateTimeout)
      fail(c, "no remote candidates");
    if (c.disconnected_at && now >= *c.disconnected_at + kDisconnectTimeout)
      fail(c, "ICE disconnected");
    if (c.state == ConnectionState::failed) return;
    c.tunnel.handle_timeout(now);
    drain_tunnel(c, now);
  }

  void collect_failed() {
    for (const ConnectionId& id : failed) {
      Connection* c = find(id);
      if (!c || c->state != ConnectionState::failed) continue;
      erase_connection(id);
      events.emplace_back(event::ConnectionFailed{id});
    }
    failed.clear();
  }
};

// WireGuard's TAI64N needs wall-clock time; it is the construction-time reference plus virtual
// time elapsed since, so the core never reads a clock.
wireguard::noise::WallClock Node::Impl::wall_clock(Instant now) const {
  return wireguard::noise::WallClock(wall_origin.time_since_epoch()) + (now - origin);
}

// ---- public API ------------------------------------------------------------------------------

Node::Node(Role role, crypto::SecretKey static_key, std::array<std::uint8_t, 32> seed, Instant now,
           UnixTime wall_now, NodeConfig config)
    : role_(role),
      impl_(std::make_unique<Impl>(role, std::move(static_key), seed, now, wall_now,
                                   std::move(config))) {}

Node::~Node() = default;

const crypto::PublicKey& Node::public_key() const {
  return impl_->device->public_key();
}
std::size_t Node::num_connections() const {
  return impl_->connections.size();
}
bool Node::has_connection(const ConnectionId& id) const {
  return impl_->connections.count(id) != 0;
}
std::size_t Node::num_relays() const {
  return impl_->relays.size();
}
NodeStats Node::stats() const {
  return impl_->stats;
}
ConnectionCounts Node::connection_counts() const {
  ConnectionCounts counts;
  for (const auto& [id, c] : impl_->connections) {
    counts.by_state.at(static_cast<std::size_t>(c->state))++;
    counts.by_path.at(static_cast<std::size_t>(c->socket.kind))++;
  }
  return counts;
}

std::optional<ConnectionInfo> Node::connection_info(const ConnectionId& id) const {
  const Connection* c = impl_->find(id);
  if (!c) return std::nullopt;
  ConnectionInfo info;
  info.state = c->state;
  info.ice_state = c->agent.state();
  info.path = c->socket.kind;
  if (c->socket.kind != PathKind::none) {
    info.path_source = c->socket.source;
    info.path_destination = c->socket.destination;
  }
  info.relay = c->relay;
  info.created_at = c->created_at;
  info.established_at = c->established_at;
  info.last_activity = c->last_activity;
  info.packets_sent = c->packets_sent;
  info.packets_received = c->packets_received;
  info.bytes_sent = c->bytes_sent;
  info.bytes_received = c->bytes_received;
  info.stun_bytes_direct = c->stun_bytes_direct;
  info.stun_bytes_relayed = c->stun_bytes_relayed;
  return info;
}

std::optional<ConnectionId> Node::connection_by_key(const crypto::PublicKey& remote) const {
  auto it = impl_->by_key.find(remote);
  if (it == impl_->by_key.end()) return std::nullopt;
  return it->second;
}

void Node::reset(Instant now) {
  Impl& s = *impl_;
  s.last_now = std::max(s.last_now, now);
  std::vector<ConnectionId> ids;
  for (auto& [id, c] : s.connections)
    ids.push_back(id);
  std::sort(ids.begin(), ids.end());
  for (const ConnectionId& id : ids) {
    s.erase_connection(id);
    s.events.emplace_back(event::ConnectionClosed{id, CloseReason::reset});
  }
  s.offers.clear();
  s.relays.clear();
  s.transmits.clear();
  s.failed.clear();
  s.by_transaction.clear();
  s.transaction_order.clear();
  s.migration_pending = false;
  s.device.reset();
  s.device.emplace(crypto::generate_secret_key(s.rng), s.rng, now, s.config.device);
}

void Node::update_relays(std::span<const RelayId> removed, std::span<const RelayInfo> added,
                         Instant now) {
  Impl& s = *impl_;
  s.last_now = std::max(s.last_now, now);
  for (const RelayId& id : removed) {
    auto it = s.relays.find(id);
    if (it == s.relays.end()) continue;
    FZ_DEBUG("p2p", "relay {} removed", id.to_string());
    s.invalidate_relay_candidates(it->second, now);
    s.relays.erase(it);
    s.migration_pending = true;
  }
  std::set<RelayId> fresh;
  for (const RelayInfo& info : added) {
    if (!info.v4 && !info.v6) continue;
    auto it = s.relays.find(info.id);
    turn::RelaySocket server{info.v4, info.v6};
    if (it != s.relays.end()) {
      if (it->second.allocation.matches(
              server, turn::Credentials(info.username, info.password, info.realm)))
        continue;
      FZ_DEBUG("p2p", "relay {} replaced", info.id.to_string());
      s.invalidate_relay_candidates(it->second, now);
    }
    s.add_relay(info, now);
    fresh.insert(info.id);
  }
  for (auto& [id, relay] : s.relays)
    if (fresh.count(id) == 0) relay.allocation.refresh(now);
  s.process_relay_events(now);
  // Connections left without a relay (none was known when they were created) pick one now.
  if (!fresh.empty()) {
    for (auto& [id, c] : s.connections)
      if (s.relays.count(c->relay) == 0) s.migration_pending = true;
  }
}

Status Node::upsert_connection(const ConnectionId& id, const crypto::PublicKey& remote,
                               const PresharedKey& psk, ice::Credentials local,
                               ice::Credentials remote_credentials, Instant now) {
  Impl& s = *impl_;
  s.last_now = std::max(s.last_now, now);
  if (s.relays.empty()) return Error(Errc::not_found, "no TURN servers");
  if (Connection* c = s.find(id); c && c->state != ConnectionState::failed) {
    const bool same = c->agent.local_credentials() == local &&
                      c->agent.remote_credentials() == remote_credentials &&
                      c->remote_key == remote && c->psk == psk;
    if (same) {
      FZ_DEBUG("p2p", "connection {} reused", id.to_string());
      s.wake(*c, now);
      s.seed_candidates(*c);
      s.drain_agent(*c, now);
      s.proactive_handshake(*c, now);
      s.reschedule(*c, now);
      return {};
    }
  }
  s.erase_connection(id);
  return s.create_connection(id, remote, psk, std::move(local), std::move(remote_credentials), now);
}

ice::Credentials Node::random_credentials() {
  auto draw = [&](std::size_t n) {
    std::string out(n, ' ');
    for (char& ch : out)
      ch = kCredentialAlphabet[impl_->rng.uniform(kCredentialAlphabet.size())];
    return out;
  };
  ice::Credentials credentials;
  credentials.ufrag = draw(16);
  credentials.pwd = draw(22);
  return credentials;
}

Offer Node::new_connection(const ConnectionId& id, Instant now) {
  Impl& s = *impl_;
  s.last_now = std::max(s.last_now, now);
  Offer offer;
  s.rng.fill(offer.session_key.expose_secret_mut());
  offer.credentials = random_credentials();
  s.offers.insert_or_assign(id, Impl::PendingOffer{offer, now + kAnswerTimeout});
  return offer;
}

Status Node::accept_answer(const ConnectionId& id, const crypto::PublicKey& remote,
                           const Answer& answer, Instant now) {
  Impl& s = *impl_;
  auto it = s.offers.find(id);
  if (it == s.offers.end()) return Error(Errc::not_found, "no offer for this connection");
  Offer offer = std::move(it->second.offer);
  s.offers.erase(it);
  return upsert_connection(id, remote, offer.session_key, std::move(offer.credentials),
                           answer.credentials, now);
}

Result<Answer> Node::accept_connection(const ConnectionId& id, const Offer& offer,
                                       const crypto::PublicKey& remote, Instant now) {
  ice::Credentials local = random_credentials();
  Answer answer{local};
  Status status =
      upsert_connection(id, remote, offer.session_key, std::move(local), offer.credentials, now);
  if (!status) return status.error();
  return answer;
}

void Node::add_remote_candidate(const ConnectionId& id, std::string_view text, Instant now) {
  Impl& s = *impl_;
  s.last_now = std::max(s.last_now, now);
  Connection* c = s.find(id);
  if (!c) {
    FZ_DEBUG("p2p", "candidate for unknown connection {}", id.to_string());
    return;
  }
  auto candidate = ice::Candidate::parse(text);
  if (!candidate) {
    FZ_DEBUG("p2p", "bad candidate for {}: {}", id.to_string(), candidate.error().to_string());
    return;
  }
  const ice::CandidateKind kind = candidate->kind();
  const net::SocketAddr addr = candidate->addr();
  c->agent.add_remote_candidate(std::move(*candidate));
  Relay* relay = s.relay_of(*c);
  if (kind != ice::CandidateKind::host && relay) relay->allocation.bind_channel(addr, now);

  // Optimistic candidates: the peer's public IP with its host port, in case its NAT forwards it.
  std::vector<ice::Candidate> optimistic;
  for (const ice::Candidate& srflx : c->agent.remote_candidates()) {
    if (srflx.kind() != ice::CandidateKind::server_reflexive || srflx.discarded()) continue;
    for (const ice::Candidate& host : c->agent.remote_candidates()) {
      if (host.kind() != ice::CandidateKind::host || host.discarded() ||
          host.addr().family() != srflx.addr().family())
        continue;
      const net::SocketAddr guess{srflx.addr().ip, host.addr().port};
      bool known = false;
      for (const ice::Candidate& existing : c->agent.remote_candidates())
        if (existing.addr() == guess) known = true;
      for (const ice::Candidate& pending : optimistic)
        if (pending.addr() == guess) known = true;
      if (known) continue;
      if (auto made = ice::Candidate::server_reflexive(guess, host.addr()))
        optimistic.push_back(std::move(*made));
    }
  }
  for (auto& guess : optimistic) {
    const net::SocketAddr guess_addr = guess.addr();
    c->agent.add_remote_candidate(std::move(guess));
    if (relay) relay->allocation.bind_channel(guess_addr, now);
  }
  s.wake(*c, now);
  s.drain_agent(*c, now);
  s.reschedule(*c, now);
}

void Node::remove_remote_candidate(const ConnectionId& id, std::string_view text, Instant now) {
  Impl& s = *impl_;
  s.last_now = std::max(s.last_now, now);
  Connection* c = s.find(id);
  if (!c) return;
  auto candidate = ice::Candidate::parse(text);
  if (!candidate) {
    FZ_DEBUG("p2p", "bad candidate for {}: {}", id.to_string(), candidate.error().to_string());
    return;
  }
  if (c->agent.remove_remote_candidate(*candidate)) {
    c->agent.handle_timeout(now);
    s.drain_agent(*c, now);
  }
  s.reschedule(*c, now);
}

void Node::remove_connection(const ConnectionId& id) {
  impl_->erase_connection(id);
  impl_->offers.erase(id);
}

void Node::close_connection(const ConnectionId& id, Instant now) {
  Impl& s = *impl_;
  s.last_now = std::max(s.last_now, now);
  s.offers.erase(id);
  Connection* c = s.find(id);
  if (!c) return;
  if (c->state == ConnectionState::connecting || c->state == ConnectionState::failed) {
    FZ_DEBUG("p2p", "connection {} closed before it was connected", id.to_string());
    s.erase_connection(id);
    return;
  }
  s.events.emplace_back(event::ConnectionClosed{id, CloseReason::local});
  PacketBuffer goodbye(kHeadroom + net::p2p_control::kMaxPacketLen + kTailroom, kHeadroom);
  MutBytes body = goodbye.append(48);
  if (auto written = net::p2p_control::encode_goodbye(body); written && *written == 48) {
    auto result = c->tunnel.encapsulate(goodbye, now);
    if (result && *result == wireguard::Encapsulated::ready) {
      if (auto where = s.frame_for_path(*c, goodbye, now))
        s.transmits.push_back(Transmit{where->src, where->dst, std::move(goodbye)});
    }
    // Without a session the goodbye waits in the tunnel, which is dropped below; what goes out is
    // the handshake initiation (as in the reference).
    while (auto transmit = c->tunnel.poll_transmit()) {
      PacketBuffer buffer = transmit->buffer() ? std::move(*transmit->buffer())
                                               : buffer_with(transmit->payload(), kHeadroom);
      if (auto where = s.frame_for_path(*c, buffer, now))
        s.transmits.push_back(Transmit{where->src, where->dst, std::move(buffer)});
    }
  }
  s.erase_connection(id);
}

void Node::close_all(Instant now) {
  std::vector<ConnectionId> ids;
  for (auto& [id, c] : impl_->connections)
    ids.push_back(id);
  std::sort(ids.begin(), ids.end());
  for (const ConnectionId& id : ids)
    close_connection(id, now);
}

Result<Decapsulated> Node::decapsulate(const net::SocketAddr& local, const net::SocketAddr& from,
                                       PacketBuffer& datagram, Instant now) {
  Impl& s = *impl_;
  s.last_now = std::max(s.last_now, now);
  net::SocketAddr source = from;
  net::SocketAddr destination = local;
  Relay* via = nullptr;

  // 1. Relay traffic: only from port 3478.
  if (from.port == kRelayPort && !datagram.empty()) {
    const std::uint8_t first = datagram.data()[0];
    if (first <= 0x03) {
      if (auto message = stun::Message::parse(datagram.span())) {
        Relay* relay = s.relay_by_server(from);
        if (!relay) return Error(Errc::not_found, "STUN from an unknown relay");
        relay->allocation.handle_message(from, local, *message, now);
        s.process_relay_events(now);
        return Decapsulated{};
      }
    } else if (first >= 0x40 && first <= 0x4F) {
      if (auto channel_data = turn::decode_channel_data(datagram.span())) {
        Relay* relay = s.relay_by_server(from);
        if (!relay) return Error(Errc::not_found, "ChannelData from an unknown relay");
        auto unwrapped = relay->allocation.decapsulate(from, *channel_data, now);
        if (!unwrapped) return Error(Errc::not_found, "ChannelData on an unbound channel");
        const std::size_t offset =
            static_cast<std::size_t>(unwrapped->payload.data() - datagram.data());
        const std::size_t size = unwrapped->payload.size();
        datagram.consume_front(offset);
        datagram.truncate(size);
        source = unwrapped->peer;
        destination = unwrapped->relay;
        via = relay;
      }
    }
  }

  // 2. ICE. The magic cookie check keeps WireGuard data from paying for a STUN parse.
  const bool maybe_stun = datagram.size() >= 20 && (datagram.data()[0] & 0xC0) == 0 &&
                          load_be32(datagram.data() + 4) == 0x2112A442;
  if (auto binding = maybe_stun ? ice::BindingMessage::parse(datagram.span()) : std::nullopt) {
    Connection* owner = nullptr;
    if (binding->is_request() || binding->is_indication()) {
      if (binding->has_username()) {
        auto [first, last] = s.by_ufrag.equal_range(std::string(binding->username_receiver()));
        for (auto it = first; it != last && !owner; ++it) {
          Connection* c = s.find(it->second);
          if (c && c->agent.handle_input(source, destination, *binding, now)) owner = c;
        }
      }
    } else {
      auto it = s.by_transaction.find(binding->transaction_id());
      if (it != s.by_transaction.end()) {
        Connection* c = s.find(it->second);
        if (c && c->agent.handle_input(source, destination, *binding, now)) owner = c;
      }
    }
    if (!owner) return Error(Errc::not_found, "no agent accepts the STUN message");
    s.drain_agent(*owner, now);
    s.reschedule(*owner, now);
    return Decapsulated{};
  }

  // 3. WireGuard.
  auto incoming = s.device->route(source.ip, datagram.span(), now);
  if (!incoming) return incoming.error();
  if (incoming->kind() == wireguard::Incoming::Kind::send_cookie_reply) {
    PacketBuffer reply = buffer_with(incoming->cookie_reply_message(), kHeadroom);
    if (via) {
      if (auto dst = via->allocation.encapsulate(source, reply, now))
        s.transmits.push_back(Transmit{std::nullopt, *dst, std::move(reply)});
    } else {
      s.transmits.push_back(Transmit{local, from, std::move(reply)});
    }
    return Decapsulated{};
  }
  Connection* c = nullptr;
  if (incoming->kind() == wireguard::Incoming::Kind::handshake_initiation) {
    auto it = s.by_key.find(incoming->initiator_static());
    if (it != s.by_key.end()) c = s.find(it->second);
    if (!c) return Error(Errc::not_found, "handshake from an unknown static key");
  } else {
    auto it = s.by_wireguard_id.find(incoming->connection_id());
    if (it != s.by_wireguard_id.end()) c = s.find(it->second);
    if (!c) return Error(Errc::not_found, "unknown receiver index");
  }
  if (c->state == ConnectionState::failed) return Error(Errc::state, "connection failed");
  const auto kind = incoming->kind();
  auto packet = c->tunnel.decapsulate(*incoming, now);
  if (!packet) {
    s.drain_tunnel(*c, now);
    return packet.error();
  }
  if ((kind == wireguard::Incoming::Kind::handshake_initiation ||
       kind == wireguard::Incoming::Kind::handshake_response) &&
      !c->established_at) {
    c->established_at = now;
    s.events.emplace_back(event::ConnectionEstablished{c->id});
  }
  const ConnectionId id = c->id;
  if (!packet->empty() && is_goodbye(*packet)) {
    FZ_DEBUG("p2p", "connection {} closed by the peer", id.to_string());
    s.erase_connection(id);
    s.events.emplace_back(event::ConnectionClosed{id, CloseReason::remote_goodbye});
    return Decapsulated{};
  }
  s.drain_tunnel(*c, now);
  if (packet->empty()) {
    s.reschedule(*c, now);
    return Decapsulated{};
  }
  const std::size_t offset = static_cast<std::size_t>(packet->data() - datagram.data());
  const std::size_t size = packet->size();
  datagram.consume_front(offset);
  datagram.truncate(size);
  c->packets_received++;
  c->bytes_received += size;
  s.wake(*c, now);
  s.reschedule_if_earlier(*c, now);
  return Decapsulated{Decapsulated::Kind::ip_packet, id};
}

Result<Encapsulated> Node::encapsulate(const ConnectionId& id, PacketBuffer& packet, Instant now) {
  Impl& s = *impl_;
  s.last_now = std::max(s.last_now, now);
  Connection* c = s.find(id);
  if (!c) return Error(Errc::not_found, "unknown connection");
  if (c->state == ConnectionState::failed) return Error(Errc::state, "connection failed");
  c->packets_sent++;
  c->bytes_sent += packet.size();
  s.wake(*c, now);

  if (c->state == ConnectionState::connecting) {
    if (s.role == Role::server) return Encapsulated{Encapsulated::Kind::dropped, {}, {}};
    if (!c->pending) c->pending = std::make_unique<Connection::Pending>();
    auto& ip = c->pending->ip;
    if (ip.size() == kBufferedPackets) ip.pop_front();
    ip.push_back(buffer_with(packet.span(), kHeadroom));
    return Encapsulated{Encapsulated::Kind::buffered, {}, {}};
  }

  auto result = c->tunnel.encapsulate(packet, now);
  if (!result) return result.error();
  if (*result == wireguard::Encapsulated::queued) {
    s.drain_tunnel(*c, now);
    s.reschedule(*c, now);
    return Encapsulated{Encapsulated::Kind::buffered, {}, {}};
  }
  s.reschedule_if_earlier(*c, now);
  if (auto where = s.frame_for_path(*c, packet, now)) return *where;
  return Encapsulated{Encapsulated::Kind::dropped, {}, {}};
}

void Node::handle_timeout(Instant now) {
  Impl& s = *impl_;
  s.last_now = std::max(s.last_now, now);
  for (auto& [id, relay] : s.relays)
    relay.allocation.handle_timeout(now);
  s.process_relay_events(now);

  s.due.clear();
  while (!s.deadlines.empty() && s.deadlines.begin()->first <= now) {
    const ConnectionId id = s.deadlines.begin()->second;
    s.deadlines.erase(s.deadlines.begin());
    if (Connection* c = s.find(id)) c->scheduled.reset();
    s.due.push_back(id);
  }
  s.stats.handle_timeout_calls++;
  for (const ConnectionId& id : s.due) {
    Connection* c = s.find(id);
    if (!c) continue;
    s.stats.connections_serviced++;
    s.service(*c, now);
    if (c->state != ConnectionState::failed) s.reschedule(*c, now);
  }

  for (auto it = s.offers.begin(); it != s.offers.end();) {
    if (it->second.deadline <= now) {
      FZ_DEBUG("p2p", "no answer for {}", it->first.to_string());
      s.events.emplace_back(event::ConnectionFailed{it->first});
      it = s.offers.erase(it);
    } else {
      ++it;
    }
  }

  for (auto it = s.relays.begin(); it != s.relays.end();) {
    if (it->second.allocation.finished()) {
      FZ_DEBUG("p2p", "relay {} freed", it->first.to_string());
      s.invalidate_relay_candidates(it->second, now);
      it = s.relays.erase(it);
      s.migration_pending = true;
    } else {
      ++it;
    }
  }
  if (s.migration_pending) s.migrate(now);
  s.collect_failed();

  while (!s.transaction_order.empty() &&
         s.transaction_order.front().first + kTransactionTtl <= now) {
    s.by_transaction.erase(s.transaction_order.front().second);
    s.transaction_order.pop_front();
  }
}

std::optional<Instant> Node::poll_timeout() const {
  const Impl& s = *impl_;
  if (s.migration_pending || !s.failed.empty()) return s.last_now;
  for (const auto& [id, relay] : s.relays)
    if (relay.allocation.finished()) return s.last_now;  // to be freed
  std::optional<Instant> next;
  auto consider = [&](std::optional<Instant> t) {
    if (t && (!next || *t < *next)) next = t;
  };
  if (!s.deadlines.empty()) consider(s.deadlines.begin()->first);
  for (const auto& [id, relay] : s.relays)
    consider(relay.allocation.poll_timeout());
  for (const auto& [id, offer] : s.offers)
    consider(offer.deadline);
  return next;
}

std::optional<Transmit> Node::poll_transmit() {
  Impl& s = *impl_;
  for (auto& [id, relay] : s.relays) {
    if (auto t = relay.allocation.poll_transmit()) {
      s.stats.stun_bytes_to_relays += t->payload.size();
      return Transmit{t->src, t->dst, buffer_with(t->payload, 0)};
    }
  }
  if (s.transmits.empty()) return std::nullopt;
  Transmit out = std::move(s.transmits.front());
  s.transmits.pop_front();
  return out;
}

std::optional<Event> Node::poll_event() {
  Impl& s = *impl_;
  if (s.events.empty()) return std::nullopt;
  Event out = std::move(s.events.front());
  s.events.pop_front();
  return out;
}

}  // namespace fz::p2p
