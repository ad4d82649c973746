#include "gateway/peer_store.hpp"

#include "base/log.hpp"

namespace fz::gateway {

namespace {
constexpr std::string_view kLog = "gateway";
}  // namespace

ClientOnGateway& PeerStore::get_or_insert(const ClientId& id, const IpConfig& client_tun,
                                          const IpConfig& gateway_tun) {
  auto found = peers_.find(id);
  if (found != peers_.end()) return found->second;
  return peers_.try_emplace(id, id, client_tun, gateway_tun).first->second;
}

ClientOnGateway* PeerStore::get(const ClientId& id) {
  auto found = peers_.find(id);
  return found == peers_.end() ? nullptr : &found->second;
}

const ClientOnGateway* PeerStore::get(const ClientId& id) const {
  auto found = peers_.find(id);
  return found == peers_.end() ? nullptr : &found->second;
}

void PeerStore::add_ip(const ClientId& id, const net::IpAddr& ip) {
  const net::Cidr route = net::Cidr::host(ip);
  if (const ClientId* previous = id_by_ip_.find(route); previous && *previous != id) {
    FZ_WARN(kLog, "Tunnel IP {} moves from client {} to client {}", ip.to_string(),
            previous->to_string(), id.to_string());
  }
  id_by_ip_.insert(route, id);
}

ClientOnGateway* PeerStore::peer_by_ip(const net::IpAddr& dst) {
  const ClientId* id = id_by_ip_.longest_match(dst);
  return id == nullptr ? nullptr : get(*id);
}

bool PeerStore::remove(const ClientId& id) {
  std::vector<net::Cidr> routes;
  id_by_ip_.for_each([&](const net::Cidr& route, const ClientId& owner) {
    if (owner == id) routes.push_back(route);
  });
  for (const auto& route : routes)
    id_by_ip_.erase(route);
  return peers_.erase(id) != 0;
}

void PeerStore::clear() {
  peers_.clear();
  id_by_ip_.clear();
}

std::vector<ClientId> PeerStore::sweep(Instant now, UnixTime utc_now) {
  std::vector<ClientId> emptied;
  for (auto& [id, peer] : peers_) {
    (void)peer.expire_resources(utc_now);
    peer.handle_timeout(now);
    if (peer.has_no_resources()) emptied.push_back(id);
  }
  for (const auto& id : emptied) {
    FZ_DEBUG(kLog, "Access to last resource for client {} removed", id.to_string());
    remove(id);
  }
  return emptied;
}

std::optional<Instant> PeerStore::next_nat_deadline() const {
  std::optional<Instant> earliest;
  for (const auto& [id, peer] : peers_) {
    const auto deadline = peer.next_nat_deadline();
    if (deadline && (!earliest || *deadline < *earliest)) earliest = deadline;
  }
  return earliest;
}

std::optional<UnixTime> PeerStore::next_resource_expiry() const {
  std::optional<UnixTime> earliest;
  for (const auto& [id, peer] : peers_) {
    const auto expiry = peer.next_resource_expiry();
    if (expiry && (!earliest || *expiry < *earliest)) earliest = expiry;
  }
  return earliest;
}

}  // namespace fz::gateway
