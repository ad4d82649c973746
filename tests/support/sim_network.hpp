// A simulated network for p2p Nodes: nodes and relays (RelayModel) on one virtual clock, links with
// a fixed latency, drop rules, and a portal stand-in that carries candidates between the two ends
// of a connection. Test support only: never linked into fz_core.
//
// Every datagram is put "on the wire" with a delivery time; run_until() jumps from event to event
// (a delivery or any timeout) in time order, so runs are deterministic for a given seed.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <queue>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "base/time.hpp"
#include "base/uuid.hpp"
#include "net/ip_addr.hpp"
#include "p2p/node.hpp"
#include "support/relay_model.hpp"

namespace fz::test {

struct WireDatagram {
  Instant sent_at;
  net::SocketAddr src;
  net::SocketAddr dst;
  std::vector<std::uint8_t> payload;
};

struct SimPacket {
  Instant time;
  p2p::ConnectionId connection;
  std::vector<std::uint8_t> bytes;
};

struct SimEvent {
  Instant time;
  p2p::Event event;
};

class SimNetwork {
 public:
  struct Options {
    Duration latency = std::chrono::milliseconds(5);  // one way, every link
    std::int64_t unix_origin = 1'700'000'000;
    std::string relay_secret = "relay-secret";
    bool record_wire = true;  // keep a copy of every datagram sent by a node
  };

  explicit SimNetwork(Options options);
  SimNetwork() : SimNetwork(Options{}) {}
  ~SimNetwork();

  Instant now{};
  // Set when the network never went quiet or the timers never settled (a bug in a node).
  bool stuck = false;

  // A relay listening on `public_ip`:3478 (allocations on the same IP). Returns its index.
  std::size_t add_relay(const net::IpAddr& public_ip);
  p2p::RelayInfo relay_info(std::size_t relay) const;
  RelayModel& relay(std::size_t index) { return *relays_[index].model; }
  std::size_t relay_count() const { return relays_.size(); }

  // A node whose socket is `local` (IPv4, no NAT). Returns its index.
  std::size_t add_node(p2p::Role role, const net::SocketAddr& local, std::uint32_t seed);
  p2p::Node& node(std::size_t index) { return *nodes_[index].node; }
  const net::SocketAddr& address(std::size_t index) const { return nodes_[index].local; }
  std::size_t node_count() const { return nodes_.size(); }

  // Tells the node about these relays (update_relays with no removals).
  void give_relays(std::size_t node, const std::vector<std::size_t>& relays);
  void remove_relay_from(std::size_t node, std::size_t relay);

  // Creates the connection on both ends as the portal's authorize_flow/flow_created would (fresh
  // credentials and PSK), and from then on forwards candidate events between them. The client
  // keys it by `gateway_id`, the gateway by `client_id`.
  void connect(std::size_t client, std::size_t gateway, const Uuid& client_id,
               const Uuid& gateway_id);
  // Only forwards candidates between the two ends (for the deprecated offer/answer path).
  void link(std::size_t client, std::size_t gateway, const Uuid& client_id, const Uuid& gateway_id);

  // Drop rules. `drop` sees every datagram as it is sent; returning true loses it.
  std::function<bool(const WireDatagram&)> drop;
  // Loses every datagram between two node addresses (no relay involved).
  bool direct_blocked = false;
  // A node or relay that is offline neither sends nor receives.
  void set_node_online(std::size_t node, bool online) { nodes_[node].online = online; }
  void set_relay_online(std::size_t relay, bool online) { relays_[relay].online = online; }

  void run_until(Instant t);
  void advance(Duration d) { run_until(now + d); }

  // Encapsulates `ip_packet` on `node` and puts the result on the wire.
  Result<p2p::Encapsulated> send(std::size_t node, const p2p::ConnectionId& connection,
                                 Bytes ip_packet);

  const std::vector<SimPacket>& received(std::size_t node) const { return nodes_[node].received; }
  const std::vector<SimEvent>& events(std::size_t node) const { return nodes_[node].events; }
  const std::vector<WireDatagram>& wire(std::size_t node) const { return nodes_[node].wire; }
  void clear_logs();
  // Number of decapsulate() errors per node.
  std::size_t errors(std::size_t node) const { return nodes_[node].errors; }

 private:
  struct SimNodeState {
    std::unique_ptr<p2p::Node> node;
    net::SocketAddr local;
    bool online = true;
    std::vector<SimPacket> received;
    std::vector<SimEvent> events;
    std::vector<WireDatagram> wire;
    std::size_t errors = 0;
  };
  struct SimRelay {
    std::unique_ptr<RelayModel> model;
    net::IpAddr ip;
    Uuid id;
    bool online = true;
  };
  struct InFlight {
    Instant at;
    std::uint64_t seq;
    WireDatagram datagram;
    bool operator>(const InFlight& other) const {
      return at != other.at ? at > other.at : seq > other.seq;
    }
  };
  struct Link {
    std::size_t node;
    p2p::ConnectionId connection;
    std::size_t peer;
    p2p::ConnectionId peer_connection;
  };

  void put_on_wire(WireDatagram datagram, std::optional<std::size_t> from_node);
  void deliver(const WireDatagram& datagram);
  void pump();
  std::optional<std::size_t> node_at(const net::SocketAddr& addr) const;
  std::optional<std::size_t> relay_at(const net::IpAddr& ip) const;
  std::string relay_username(std::size_t relay) const;

  Options options_;
  std::vector<SimNodeState> nodes_;
  std::unordered_map<net::SocketAddr, std::size_t> node_by_addr_;
  std::vector<SimRelay> relays_;
  std::priority_queue<InFlight, std::vector<InFlight>, std::greater<>> in_flight_;
  std::uint64_t seq_ = 0;
  std::vector<Link> links_;
};

// A 64-byte IPv4/UDP packet carrying `tag` (for tests that need real IP traffic).
std::vector<std::uint8_t> make_udp_packet(const net::IpAddr& src, const net::IpAddr& dst,
                                          std::uint32_t tag);
// Deterministic UUIDs for tests.
Uuid test_uuid(std::uint32_t n);

}  // namespace fz::test
