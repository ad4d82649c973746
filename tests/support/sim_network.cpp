#include "support/sim_network.hpp"

#include <algorithm>

#include "base/bytes.hpp"
#include "crypto/rng.hpp"
#include "crypto/x25519.hpp"
#include "net/ip_packet.hpp"

namespace fz::test {

namespace {
constexpr std::int64_t kCredentialLifetime = 30 * 24 * 3600;
}

Uuid test_uuid(std::uint32_t n) {
  std::array<std::uint8_t, 16> bytes{};
  bytes[0] = 0xf2;
  store_be32(bytes.data() + 12, n);
  bytes[6] = 0x40;
  bytes[8] = 0x80;
  return Uuid(bytes);
}

std::vector<std::uint8_t> make_udp_packet(const net::IpAddr& src, const net::IpAddr& dst,
                                          std::uint32_t tag) {
  std::vector<std::uint8_t> out(64);
  std::array<std::uint8_t, 36> payload{};
  payload[0] = static_cast<std::uint8_t>(tag >> 24);
  payload[1] = static_cast<std::uint8_t>(tag >> 16);
  payload[2] = static_cast<std::uint8_t>(tag >> 8);
  payload[3] = static_cast<std::uint8_t>(tag);
  net::IpFields fields;
  fields.src = src;
  fields.dst = dst;
  auto n = net::build_udp(out, fields, 5000, 6000, payload);
  out.resize(n ? *n : 0);
  return out;
}

SimNetwork::SimNetwork(Options options) : options_(std::move(options)) {}
SimNetwork::~SimNetwork() = default;

std::size_t SimNetwork::add_relay(const net::IpAddr& public_ip) {
  RelayModel::Config config;
  config.public_v4 = public_ip;
  config.secret = options_.relay_secret;
  config.unix_time_at_origin = options_.unix_origin;
  config.seed = static_cast<std::uint8_t>(40 + relays_.size());
  SimRelay relay;
  relay.model = std::make_unique<RelayModel>(config);
  relay.ip = public_ip;
  std::array<std::uint8_t, 16> bytes{};
  bytes[0] = 0x7e;
  bytes[15] = static_cast<std::uint8_t>(relays_.size() + 1);
  relay.id = Uuid(bytes);
  relays_.push_back(std::move(relay));
  return relays_.size() - 1;
}

std::string SimNetwork::relay_username(std::size_t) const {
  return std::to_string(options_.unix_origin + kCredentialLifetime) + ":salt";
}

p2p::RelayInfo SimNetwork::relay_info(std::size_t index) const {
  const SimRelay& relay = relays_[index];
  p2p::RelayInfo info;
  info.id = relay.id;
  info.v4 = net::SocketAddr{relay.ip, 3478};
  info.username = relay_username(index);
  info.password =
      firezone_password(options_.relay_secret, options_.unix_origin + kCredentialLifetime, "salt");
  return info;
}

std::size_t SimNetwork::add_node(p2p::Role role, const net::SocketAddr& local, std::uint32_t seed) {
  std::array<std::uint8_t, 32> node_seed{};
  store_le32(node_seed.data() + 4, seed);
  node_seed[1] = 0x5a;
  crypto::ChaChaRng key_rng(node_seed);
  auto key = crypto::generate_secret_key(key_rng);
  node_seed[2] = 1;
  SimNodeState state;
  state.node = std::make_unique<p2p::Node>(
      role, std::move(key), node_seed, now,
      unix_from_seconds(options_.unix_origin) +
          std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()));
  state.local = local;
  node_by_addr_[local] = nodes_.size();
  nodes_.push_back(std::move(state));
  return nodes_.size() - 1;
}

void SimNetwork::give_relays(std::size_t node, const std::vector<std::size_t>& relays) {
  std::vector<p2p::RelayInfo> infos;
  for (std::size_t r : relays)
    infos.push_back(relay_info(r));
  nodes_[node].node->update_relays({}, infos, now);
  pump();
}

void SimNetwork::remove_relay_from(std::size_t node, std::size_t relay) {
  const Uuid id = relays_[relay].id;
  nodes_[node].node->update_relays(std::span<const Uuid>(&id, 1), {}, now);
  pump();
}

void SimNetwork::connect(std::size_t client, std::size_t gateway, const Uuid& client_id,
                         const Uuid& gateway_id) {
  p2p::Node& c = *nodes_[client].node;
  p2p::Node& g = *nodes_[gateway].node;
  ice::Credentials client_creds = c.random_credentials();
  ice::Credentials gateway_creds = g.random_credentials();
  p2p::PresharedKey psk;
  for (std::size_t i = 0; i < 32; ++i)
    psk.expose_secret_mut()[i] = static_cast<std::uint8_t>(i * 7 + client_id.bytes()[15]);
  link(client, gateway, client_id, gateway_id);
  // Both ends exist before any candidate is forwarded, as with the portal's flow messages.
  (void)g.upsert_connection(client_id, c.public_key(), psk, gateway_creds, client_creds, now);
  (void)c.upsert_connection(gateway_id, g.public_key(), psk, client_creds, gateway_creds, now);
  pump();
}

void SimNetwork::link(std::size_t client, std::size_t gateway, const Uuid& client_id,
                      const Uuid& gateway_id) {
  links_.push_back(Link{client, gateway_id, gateway, client_id});
  links_.push_back(Link{gateway, client_id, client, gateway_id});
}

std::optional<std::size_t> SimNetwork::node_at(const net::SocketAddr& addr) const {
  auto it = node_by_addr_.find(addr);
  if (it == node_by_addr_.end()) return std::nullopt;
  return it->second;
}

std::optional<std::size_t> SimNetwork::relay_at(const net::IpAddr& ip) const {
  for (std::size_t i = 0; i < relays_.size(); ++i)
    if (relays_[i].ip == ip) return i;
  return std::nullopt;
}

void SimNetwork::put_on_wire(WireDatagram datagram, std::optional<std::size_t> from_node) {
  datagram.sent_at = now;
  if (from_node) {
    if (!nodes_[*from_node].online) return;
    if (options_.record_wire) nodes_[*from_node].wire.push_back(datagram);
  }
  if (direct_blocked && node_at(datagram.src) && node_at(datagram.dst)) return;
  if (drop && drop(datagram)) return;
  in_flight_.push(InFlight{now + options_.latency, seq_++, std::move(datagram)});
}

void SimNetwork::deliver(const WireDatagram& datagram) {
  if (auto n = node_at(datagram.dst)) {
    SimNodeState& state = nodes_[*n];
    if (!state.online) return;
    PacketBuffer buffer(p2p::kHeadroom + datagram.payload.size() + p2p::kTailroom + 64, 0);
    buffer.assign(datagram.payload, 0);
    auto result = state.node->decapsulate(datagram.dst, datagram.src, buffer, now);
    if (!result) {
      state.errors++;
      return;
    }
    if (result->kind == p2p::Decapsulated::Kind::ip_packet)
      state.received.push_back(
          SimPacket{now, result->connection,
                    std::vector<std::uint8_t>(buffer.span().begin(), buffer.span().end())});
    return;
  }
  if (auto r = relay_at(datagram.dst.ip)) {
    SimRelay& relay = relays_[*r];
    if (!relay.online) return;
    if (datagram.dst.port == 3478)
      relay.model->handle_client(datagram.src, datagram.dst, datagram.payload, now);
    else
      relay.model->handle_peer(datagram.src, datagram.dst, datagram.payload, now);
  }
}

void SimNetwork::pump() {
  for (int guard = 0; guard < 1000000; ++guard) {
    bool progress = false;
    for (std::size_t i = 0; i < nodes_.size(); ++i) {
      SimNodeState& state = nodes_[i];
      while (auto t = state.node->poll_transmit()) {
        progress = true;
        WireDatagram d;
        d.src = t->src.value_or(state.local);
        d.dst = t->dst;
        d.payload.assign(t->bytes().begin(), t->bytes().end());
        put_on_wire(std::move(d), i);
      }
      while (auto e = state.node->poll_event()) {
        progress = true;
        if (auto* candidate = std::get_if<p2p::event::CandidateNew>(&*e)) {
          for (const Link& link : links_)
            if (link.node == i && link.connection == candidate->connection)
              nodes_[link.peer].node->add_remote_candidate(link.peer_connection,
                                                           candidate->candidate, now);
        } else if (auto* gone = std::get_if<p2p::event::CandidateInvalidated>(&*e)) {
          for (const Link& link : links_)
            if (link.node == i && link.connection == gone->connection)
              nodes_[link.peer].node->remove_remote_candidate(link.peer_connection, gone->candidate,
                                                              now);
        }
        state.events.push_back(SimEvent{now, std::move(*e)});
      }
    }
    for (SimRelay& relay : relays_) {
      while (auto d = relay.model->poll_datagram()) {
        progress = true;
        if (!relay.online) continue;
        put_on_wire(WireDatagram{now, d->src, d->dst, std::move(d->payload)}, std::nullopt);
      }
    }
    if (!progress) return;
  }
  stuck = true;
}

void SimNetwork::run_until(Instant t) {
  for (std::uint64_t guard = 0; guard < 50'000'000; ++guard) {
    pump();
    std::optional<Instant> next;
    auto consider = [&](std::optional<Instant> x) {
      if (x && (!next || *x < *next)) next = x;
    };
    if (!in_flight_.empty()) consider(in_flight_.top().at);
    for (auto& state : nodes_)
      consider(state.node->poll_timeout());
    for (auto& relay : relays_)
      consider(relay.model->poll_timeout());
    if (!next || *next > t) {
      now = std::max(now, t);
      return;
    }
    now = std::max(now, *next);
    while (!in_flight_.empty() && in_flight_.top().at <= now) {
      WireDatagram d = in_flight_.top().datagram;
      in_flight_.pop();
      deliver(d);
      pump();
    }
    for (auto& state : nodes_) {
      if (auto x = state.node->poll_timeout(); x && *x <= now) state.node->handle_timeout(now);
    }
    for (auto& relay : relays_) {
      if (auto x = relay.model->poll_timeout(); x && *x <= now) relay.model->handle_timeout(now);
    }
  }
  stuck = true;
}

Result<p2p::Encapsulated> SimNetwork::send(std::size_t node, const p2p::ConnectionId& connection,
                                           Bytes ip_packet) {
  SimNodeState& state = nodes_[node];
  PacketBuffer buffer(p2p::kHeadroom + ip_packet.size() + p2p::kTailroom, p2p::kHeadroom);
  buffer.assign(ip_packet, p2p::kHeadroom);
  auto result = state.node->encapsulate(connection, buffer, now);
  if (result && result->kind == p2p::Encapsulated::Kind::transmit) {
    WireDatagram d;
    d.src = result->src.value_or(state.local);
    d.dst = result->dst;
    d.payload.assign(buffer.span().begin(), buffer.span().end());
    put_on_wire(std::move(d), node);
  }
  pump();
  return result;
}

void SimNetwork::clear_logs() {
  for (auto& state : nodes_) {
    state.received.clear();
    state.events.clear();
    state.wire.clear();
    state.errors = 0;
  }
}

}  // namespace fz::test
