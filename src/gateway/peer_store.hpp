// The gateway's clients: per-client state by id, and the routing table from tunnel IP to client
// (gateway-dataplane §1.1, §1.3, §5.1), plus the 1-second sweep (§1.6, §8).
#pragma once

#include <cstddef>
#include <optional>
#include <unordered_map>
#include <vector>

#include "base/time.hpp"
#include "gateway/client.hpp"
#include "gateway/resource.hpp"
#include "net/ip_addr.hpp"
#include "net/prefix_table.hpp"

namespace fz::gateway {

class PeerStore {
 public:
  // The client's state, created with these tunnel IPs if it does not exist yet (an existing client
  // keeps the IPs it was created with, §1.2).
  ClientOnGateway& get_or_insert(const ClientId& id, const IpConfig& client_tun,
                                 const IpConfig& gateway_tun);
  ClientOnGateway* get(const ClientId& id);
  const ClientOnGateway* get(const ClientId& id) const;

  // Routes `ip` (as a host route) to the client; an entry of another client is replaced.
  void add_ip(const ClientId& id, const net::IpAddr& ip);
  // §5.1: the client whose tunnel IP `dst` is, by longest prefix.
  ClientOnGateway* peer_by_ip(const net::IpAddr& dst);

  // Removes the client and all its routes. False if unknown.
  bool remove(const ClientId& id);
  void clear();

  std::size_t size() const { return peers_.size(); }
  bool empty() const { return peers_.empty(); }

  // §1.6: expires resources by wall clock and NAT sessions by monotonic clock on every client,
  // then removes the clients left without any authorization and returns their ids (to be closed
  // with a goodbye).
  std::vector<ClientId> sweep(Instant now, UnixTime utc_now);

  // The earliest NAT-session deadline and the earliest authorization expiry over all clients.
  std::optional<Instant> next_nat_deadline() const;
  std::optional<UnixTime> next_resource_expiry() const;

  template <class Fn>
  void for_each(Fn&& fn) {
    for (auto& [id, peer] : peers_)
      fn(peer);
  }

 private:
  std::unordered_map<ClientId, ClientOnGateway> peers_;
  net::PrefixTable<ClientId> id_by_ip_;
};

}  // namespace fz::gateway
