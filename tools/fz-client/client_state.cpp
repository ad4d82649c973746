#include "client_state.hpp"

#include <algorithm>
#include <cctype>

#include "base/encoding.hpp"
#include "base/log.hpp"
#include "dns.hpp"
#include "gateway/state.hpp"
#include "net/p2p_control.hpp"
#include "portal/frame.hpp"
#include "portal/messages.hpp"

namespace fz::client {
namespace {

constexpr const char* kLog = "client";

using json = nlohmann::json;
using ordered_json = nlohmann::ordered_json;

std::string lowercase(std::string_view text) {
  std::string out(text);
  for (char& c : out)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string strip_trailing_dot(std::string_view name) {
  if (!name.empty() && name.back() == '.') name.remove_suffix(1);
  return std::string(name);
}

const json* field(const json& object, const char* key) {
  if (!object.is_object()) return nullptr;
  auto it = object.find(key);
  return it == object.end() ? nullptr : &*it;
}

std::optional<std::string> string_field(const json& object, const char* key) {
  const json* v = field(object, key);
  if (v == nullptr || !v->is_string()) return std::nullopt;
  return v->get<std::string>();
}

std::optional<Uuid> uuid_field(const json& object, const char* key) {
  auto text = string_field(object, key);
  if (!text) return std::nullopt;
  auto id = portal::parse_uuid_any(*text);
  if (!id) return std::nullopt;
  return *id;
}

std::optional<net::IpAddr> ip_field(const json& object, const char* key) {
  auto text = string_field(object, key);
  if (!text) return std::nullopt;
  auto ip = net::IpAddr::parse(*text);
  if (!ip) return std::nullopt;
  return *ip;
}

std::optional<ice::Credentials> credentials_field(const json& object, const char* key) {
  const json* v = field(object, key);
  if (v == nullptr) return std::nullopt;
  auto user = string_field(*v, "username");
  auto pass = string_field(*v, "password");
  if (!user || !pass) return std::nullopt;
  return ice::Credentials{*user, *pass};
}

template <std::size_t N>
std::optional<std::array<std::uint8_t, N>> key_field(const json& object, const char* key) {
  auto text = string_field(object, key);
  if (!text) return std::nullopt;
  auto bytes = base64_decode_fixed<N>(*text);
  if (!bytes) return std::nullopt;
  return *bytes;
}

bool sites_valid(const json& object) {
  const json* sites = field(object, "gateway_groups");
  if (sites == nullptr || !sites->is_array()) return false;
  for (const auto& site : *sites)
    if (!uuid_field(site, "id") || !string_field(site, "name")) return false;
  return true;
}

// The priority of a candidate string ("candidate:<f> <c> <proto> <priority> ..."), 0 if unreadable.
std::uint64_t candidate_priority(std::string_view candidate) {
  std::size_t pos = 0;
  for (int i = 0; i < 3; ++i) {
    pos = candidate.find(' ', pos);
    if (pos == std::string_view::npos) return 0;
    ++pos;
  }
  std::uint64_t value = 0;
  while (pos < candidate.size() && candidate[pos] >= '0' && candidate[pos] <= '9')
    value = value * 10 + static_cast<std::uint64_t>(candidate[pos++] - '0');
  return value;
}

PacketBuffer buffer_with(Bytes bytes) {
  PacketBuffer buffer(ClientState::kBufferCapacity, p2p::kHeadroom);
  if (!buffer.assign(bytes, p2p::kHeadroom)) buffer.reset(p2p::kHeadroom);
  return buffer;
}

// A ring of `limit` packets that skips byte-identical duplicates (§4.2, §5.4).
void push_ring(std::deque<std::vector<std::uint8_t>>& ring, std::vector<std::uint8_t> packet,
               std::size_t limit) {
  if (std::find(ring.begin(), ring.end(), packet) != ring.end()) return;
  if (ring.size() >= limit) ring.pop_front();
  ring.push_back(std::move(packet));
}

std::vector<std::string> gateway_ids_json(const std::vector<GatewayId>& ids) {
  std::vector<GatewayId> sorted = ids;
  std::sort(sorted.begin(), sorted.end());
  std::vector<std::string> out;
  out.reserve(sorted.size());
  for (const auto& id : sorted)
    out.push_back(id.to_string());
  return out;
}

const net::IpAddr kIgmpV4 = net::IpAddr::v4(224, 0, 0, 22);
const net::IpAddr kAllRoutersV6 = net::IpAddr::v6(0xff02, 0, 0, 0, 0, 0, 0, 2);

}  // namespace

// ---------------------------------------------------------------------------------------------
// Resources

Result<Resource> decode_resource(const json& value) {
  if (!value.is_object()) return Error(Errc::truncated, "resource is not an object");
  auto type = string_field(value, "type");
  if (!type) return Error(Errc::truncated, "resource has no string `type`");
  Resource r;
  if (*type == "cidr") {
    r.kind = Resource::Kind::cidr;
  } else if (*type == "dns") {
    r.kind = Resource::Kind::dns;
  } else if (*type == "internet") {
    r.kind = Resource::Kind::internet;
  } else {
    return Error(Errc::unsupported, "unknown resource type " + *type);
  }
  auto id = uuid_field(value, "id");
  if (!id) return Error(Errc::malformed, "resource `id`");
  r.id = *id;
  if (!sites_valid(value)) return Error(Errc::malformed, "resource `gateway_groups`");
  auto name = string_field(value, "name");
  if (r.kind == Resource::Kind::internet) {
    r.name = name.value_or("Internet Resource");
    return r;
  }
  if (!name) return Error(Errc::malformed, "resource `name`");
  r.name = *name;
  auto address = string_field(value, "address");
  if (!address) return Error(Errc::malformed, "resource `address`");
  if (r.kind == Resource::Kind::cidr) {
    auto cidr = net::Cidr::parse(*address);
    if (!cidr) return Error(Errc::malformed, "resource `address` is not a CIDR");
    const auto slash = address->find('/');
    auto ip = net::IpAddr::parse(std::string_view(*address).substr(0, slash));
    if (!ip || *ip != cidr->network())
      return Error(Errc::malformed, "resource CIDR has host bits set");
    r.cidr = *cidr;
    return r;
  }
  if (!gateway::DomainPattern::parse(*address))
    return Error(Errc::malformed, "resource `address` is not a domain pattern");
  r.pattern = *address;
  const json* stack = field(value, "ip_stack");
  if (stack != nullptr && !stack->is_null()) {
    if (!stack->is_string()) return Error(Errc::malformed, "resource `ip_stack`");
    const auto s = stack->get<std::string>();
    if (s == "dual") {
      r.ip_stack = IpStack::dual;
    } else if (s == "ipv4_only") {
      r.ip_stack = IpStack::ipv4_only;
    } else if (s == "ipv6_only") {
      r.ip_stack = IpStack::ipv6_only;
    } else {
      return Error(Errc::malformed, "resource `ip_stack`");
    }
  }
  return r;
}

bool pattern_before(std::string_view a_text, std::string_view b_text) {
  const std::string a = lowercase(a_text);
  const std::string b = lowercase(b_text);
  const auto wild = [](char c) { return c == '*' || c == '?'; };
  for (std::size_t i = 1;; ++i) {
    const bool a_end = i > a.size();
    const bool b_end = i > b.size();
    if (a_end && b_end) return false;
    if (a_end) return true;
    if (b_end) return false;
    const char ca = a[a.size() - i];
    const char cb = b[b.size() - i];
    if (ca == cb) continue;
    if (wild(ca) && wild(cb)) return ca == '?';
    if (wild(ca)) return false;
    if (wild(cb)) return true;
    return ca > cb;
  }
}

std::string_view path_class(p2p::PathKind path) {
  switch (path) {
    case p2p::PathKind::none:
      return "none";
    case p2p::PathKind::direct:
      return "direct";
    case p2p::PathKind::peer_to_relay:
    case p2p::PathKind::relay_to_peer:
    case p2p::PathKind::relay_to_relay:
      return "relayed";
  }
  return "none";
}

// ---------------------------------------------------------------------------------------------
// Construction and portal messages

ClientState::ClientState(crypto::SecretKey static_key, std::array<std::uint8_t, 32> seed,
                         Instant now, UnixTime wall_now, p2p::NodeConfig node_config)
    : node_(p2p::Role::client, std::move(static_key), seed, now, wall_now, std::move(node_config)),
      next_proxy_v4_(kProxyV4.network().to_u32() + 1) {}

void ClientState::handle_portal_message(std::string_view event, const json& payload, Instant now) {
  if (event == "init") {
    handle_init(payload, now);
  } else if (event == "config_changed") {
    const json* iface = field(payload, "interface");
    if (iface == nullptr) {
      FZ_WARN(kLog, "config_changed without `interface`; ignored");
      return;
    }
    if (auto s = apply_interface(*iface); !s) {
      FZ_WARN(kLog, "config_changed: {}", s.error().to_string());
      return;
    }
    emit_tun_config();
  } else if (event == "resource_created_or_updated") {
    auto resource = decode_resource(payload);
    if (!resource) {
      FZ_WARN(kLog, "ignoring resource_created_or_updated: {}", resource.error().to_string());
      return;
    }
    add_resource(*resource, now);
    emit_tun_config();
  } else if (event == "resource_deleted") {
    if (!payload.is_string()) {
      FZ_WARN(kLog, "resource_deleted payload is not a string; ignored");
      return;
    }
    auto id = portal::parse_uuid_any(payload.get<std::string>());
    if (!id) {
      FZ_WARN(kLog, "resource_deleted with a bad id; ignored");
      return;
    }
    remove_resource(*id, now);
    emit_tun_config();
  } else if (event == "relays_presence") {
    const json* removed = field(payload, "disconnected_ids");
    const json* connected = field(payload, "connected");
    if (removed == nullptr || !removed->is_array() || connected == nullptr ||
        !connected->is_array()) {
      FZ_WARN(kLog, "relays_presence without `disconnected_ids`/`connected`; ignored");
      return;
    }
    update_relays(*removed, *connected, now);
  } else if (event == "flow_created") {
    handle_flow_created(payload, now);
  } else if (event == "flow_creation_failed") {
    handle_flow_creation_failed(payload, now);
  } else if (event == "ice_candidates") {
    handle_candidates(payload, true, now);
  } else if (event == "invalidate_ice_candidates") {
    handle_candidates(payload, false, now);
  } else {
    FZ_DEBUG(kLog, "ignoring portal event '{}'", event);
  }
  drain_node_events();
}

Status ClientState::apply_interface(const json& value) {
  auto v4 = ip_field(value, "ipv4");
  auto v6 = ip_field(value, "ipv6");
  if (!v4 || !v4->is_v4() || !v6 || !v6->is_v6())
    return Error(Errc::malformed, "interface needs `ipv4` and `ipv6`");
  interface_ = Interface{*v4, *v6};
  return {};
}

void ClientState::handle_init(const json& payload, Instant now) {
  const json* iface = field(payload, "interface");
  if (iface == nullptr) {
    FZ_WARN(kLog, "init without `interface`; ignored");
    return;
  }
  // Validate everything before applying anything: a failing element fails the whole message.
  std::vector<Resource> resources;
  if (const json* list = field(payload, "resources"); list != nullptr && !list->is_null()) {
    if (!list->is_array()) {
      FZ_WARN(kLog, "init `resources` is not an array; ignored");
      return;
    }
    for (const auto& element : *list) {
      auto resource = decode_resource(element);
      if (resource) {
        resources.push_back(std::move(*resource));
      } else if (resource.error().code() == Errc::truncated) {
        FZ_WARN(kLog, "init ignored: {}", resource.error().to_string());
        return;
      } else {
        FZ_WARN(kLog, "skipping a resource: {}", resource.error().to_string());
      }
    }
  }
  if (auto s = apply_interface(*iface); !s) {
    FZ_WARN(kLog, "init ignored: {}", s.error().to_string());
    return;
  }
  // Remove what is gone, then add or update the rest (§2.1).
  std::set<ResourceId> listed;
  for (const auto& r : resources)
    listed.insert(r.id);
  std::vector<ResourceId> gone;
  for (const auto& [id, r] : resources_)
    if (listed.count(id) == 0) gone.push_back(id);
  for (const auto& id : gone)
    remove_resource(id, now);
  for (const auto& r : resources)
    add_resource(r, now);
  if (const json* relays = field(payload, "relays"); relays != nullptr && relays->is_array())
    update_relays(json::array(), *relays, now);
  FZ_INFO(kLog, "init: tunnel {} {}, {} resources, {} relays", interface_->ipv4.to_string(),
          interface_->ipv6.to_string(), resources_.size(), node_.num_relays());
  emit_tun_config();
}

void ClientState::emit_tun_config() {
  if (!interface_) return;
  event::TunConfig config{interface_->ipv4, interface_->ipv6, {}};
  for (const auto& cidr : {kTunnelV4, kTunnelV6, kProxyV4, kProxyV6, kSentinelV4, kSentinelV6})
    config.routes.push_back(cidr);
  for (const auto& [id, r] : resources_) {
    if (r.kind == Resource::Kind::cidr &&
        std::find(config.routes.begin(), config.routes.end(), r.cidr) == config.routes.end())
      config.routes.push_back(r.cidr);
  }
  if (internet_) {
    config.routes.emplace_back(net::IpAddr::v4(0, 0, 0, 0), 0);
    config.routes.emplace_back(net::IpAddr::unspecified(net::IpFamily::v6), 0);
  }
  if (tun_ && *tun_ == config) return;
  tun_ = config;
  events_.emplace_back(std::move(config));
}

void ClientState::add_resource(const Resource& resource, Instant now) {
  if (auto it = resources_.find(resource.id); it != resources_.end()) {
    const Resource& old = it->second;
    const bool moved = old.kind != resource.kind || old.cidr != resource.cidr ||
                       old.pattern != resource.pattern || old.ip_stack != resource.ip_stack;
    if (!moved) {
      it->second.name = resource.name;
      return;
    }
    remove_resource(resource.id, now);
  }
  resources_[resource.id] = resource;
  switch (resource.kind) {
    case Resource::Kind::cidr:
      // Same CIDR twice: the connected one keeps the slot, else the later one wins (§3.2).
      if (const ResourceId* current = cidr_table_.find(resource.cidr);
          current != nullptr && resource_gateway_.count(*current) > 0) {
        break;
      }
      cidr_table_.insert(resource.cidr, resource.id);
      break;
    case Resource::Kind::dns: {
      auto matcher = gateway::DomainPattern::parse(resource.pattern);
      if (!matcher) break;
      std::erase_if(dns_patterns_, [&](const DnsPattern& p) {
        return lowercase(p.pattern) == lowercase(resource.pattern);
      });
      DnsPattern entry{resource.pattern, std::move(*matcher), resource.id};
      auto pos = std::find_if(dns_patterns_.begin(), dns_patterns_.end(), [&](const DnsPattern& p) {
        return pattern_before(entry.pattern, p.pattern);
      });
      dns_patterns_.insert(pos, std::move(entry));
      break;
    }
    case Resource::Kind::internet:
      internet_ = resource.id;
      break;
  }
  FZ_DEBUG(kLog, "resource {} ({}) added", resource.id.to_string(), resource.name);
}

void ClientState::remove_resource(const ResourceId& id, Instant now) {
  auto it = resources_.find(id);
  if (it == resources_.end()) return;
  const Resource resource = it->second;
  resources_.erase(it);
  switch (resource.kind) {
    case Resource::Kind::cidr:
      if (const ResourceId* current = cidr_table_.find(resource.cidr);
          current != nullptr && *current == id) {
        cidr_table_.erase(resource.cidr);
        // Another resource with the same CIDR takes over.
        for (const auto& [other_id, other] : resources_)
          if (other.kind == Resource::Kind::cidr && other.cidr == resource.cidr)
            cidr_table_.insert(other.cidr, other_id);
      }
      break;
    case Resource::Kind::dns:
      std::erase_if(dns_patterns_, [&](const DnsPattern& p) { return p.resource == id; });
      break;
    case Resource::Kind::internet:
      if (internet_ == id) internet_.reset();
      break;
  }
  pending_.erase(id);
  std::erase_if(nat_, [&](const auto& entry) { return entry.second.resource == id; });
  auto gw = resource_gateway_.find(id);
  if (gw == resource_gateway_.end()) return;
  const GatewayId gateway = gw->second;
  resource_gateway_.erase(gw);
  auto peer = peers_.find(gateway);
  if (peer == peers_.end()) return;
  remove_resource_from_peer(peer->second, id);
  if (peer->second.allowed.empty()) {
    FZ_INFO(kLog, "gateway {} serves no resource any more; closing the connection",
            gateway.to_string());
    node_.close_connection(gateway, now);
    drain_node_events();
    cleanup_gateway(gateway);
  }
}

void ClientState::update_relays(const json& removed, const json& relays, Instant now) {
  std::vector<p2p::RelayId> removed_ids;
  for (const auto& element : removed) {
    if (!element.is_string()) continue;
    if (auto id = portal::parse_uuid_any(element.get<std::string>())) removed_ids.push_back(*id);
  }
  std::vector<p2p::RelayInfo> added;
  for (const auto& server : portal::merge_turn_relays(portal::decode_relays(relays)))
    added.push_back(gateway::to_relay_info(server));
  node_.update_relays(removed_ids, added, now);
}

void ClientState::handle_flow_created(const json& payload, Instant now) {
  auto resource = uuid_field(payload, "resource_id");
  auto gateway = uuid_field(payload, "gateway_id");
  auto site = uuid_field(payload, "gateway_group_id");
  auto key = key_field<32>(payload, "gateway_public_key");
  auto psk = key_field<32>(payload, "preshared_key");
  auto gw_v4 = ip_field(payload, "gateway_ipv4");
  auto gw_v6 = ip_field(payload, "gateway_ipv6");
  auto local = credentials_field(payload, "client_ice_credentials");
  auto remote = credentials_field(payload, "gateway_ice_credentials");
  if (!resource || !gateway || !site || !key || !psk || !gw_v4 || !gw_v4->is_v4() || !gw_v6 ||
      !gw_v6->is_v6() || !local || !remote) {
    FZ_WARN(kLog, "ignoring a malformed flow_created");
    return;
  }
  auto res = resources_.find(*resource);
  if (res == resources_.end()) {
    FZ_WARN(kLog, "flow_created for unknown resource {}; ignored", resource->to_string());
    return;
  }
  auto pending = pending_.find(*resource);
  if (pending == pending_.end()) {
    FZ_WARN(kLog, "flow_created for resource {} without a pending flow; ignored",
            resource->to_string());
    return;
  }
  std::deque<Packet> buffered = std::move(pending->second.packets);
  pending_.erase(pending);
  resource_gateway_[*resource] = *gateway;

  const p2p::PresharedKey preshared{std::span<const std::uint8_t, 32>(*psk)};
  if (auto s = node_.upsert_connection(*gateway, *key, preshared, *local, *remote, now); !s) {
    FZ_WARN(kLog, "cannot connect to gateway {}: {}", gateway->to_string(), s.error().to_string());
    events_.emplace_back(event::ReconnectPortal{});
    return;
  }
  touch_recent(*gateway);
  auto [peer_it, created] = peers_.try_emplace(*gateway);
  Peer& peer = peer_it->second;
  if (created || peer.ipv4 != *gw_v4 || peer.ipv6 != *gw_v6) {
    gateway_by_tunnel_ip_.erase(peer.ipv4);
    gateway_by_tunnel_ip_.erase(peer.ipv6);
    peer.ipv4 = *gw_v4;
    peer.ipv6 = *gw_v6;
    gateway_by_tunnel_ip_[*gw_v4] = *gateway;
    gateway_by_tunnel_ip_[*gw_v6] = *gateway;
  }
  FZ_INFO(kLog, "flow created: resource {} ({}) via gateway {}", resource->to_string(),
          res->second.name, gateway->to_string());
  events_.emplace_back(event::FlowCreated{*resource, *gateway});

  switch (res->second.kind) {
    case Resource::Kind::cidr:
      add_allowed(peer, res->second.cidr, *resource);
      for (const auto& packet : buffered)
        send_bytes_to_gateway(*gateway, packet, now);
      break;
    case Resource::Kind::internet:
      add_allowed(peer, net::Cidr(net::IpAddr::v4(0, 0, 0, 0), 0), *resource);
      add_allowed(peer, net::Cidr(net::IpAddr::unspecified(net::IpFamily::v6), 0), *resource);
      for (const auto& packet : buffered)
        send_bytes_to_gateway(*gateway, packet, now);
      break;
    case Resource::Kind::dns:
      update_dns_nat(now, std::move(buffered));
      break;
  }
}

void ClientState::handle_flow_creation_failed(const json& payload, Instant now) {
  (void)now;
  auto resource = uuid_field(payload, "resource_id");
  auto reason = string_field(payload, "reason");
  if (!resource || !reason) {
    FZ_WARN(kLog, "ignoring a malformed flow_creation_failed");
    return;
  }
  FZ_WARN(kLog, "flow creation failed for resource {}: {}", resource->to_string(), *reason);
  events_.emplace_back(event::FlowCreationFailed{*resource, *reason});
  if (*reason != "offline") return;  // the pending flow stays (§4.5)
  pending_.erase(*resource);
  auto gw = resource_gateway_.find(*resource);
  if (gw != resource_gateway_.end()) {
    const GatewayId gateway = gw->second;
    node_.remove_connection(gateway);
    cleanup_gateway(gateway);
  }
}

void ClientState::handle_candidates(const json& payload, bool add, Instant now) {
  auto gateway = uuid_field(payload, "gateway_id");
  const json* candidates = field(payload, "candidates");
  if (!gateway || candidates == nullptr || !candidates->is_array()) {
    FZ_WARN(kLog, "ignoring malformed {} candidates", add ? "new" : "invalidated");
    return;
  }
  for (const auto& c : *candidates) {
    if (!c.is_string()) continue;
    const auto text = c.get<std::string>();
    if (add) {
      node_.add_remote_candidate(*gateway, text, now);
    } else {
      node_.remove_remote_candidate(*gateway, text, now);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Data path: TUN → gateway

void ClientState::handle_tun_input(PacketBuffer packet, Instant now) {
  auto view = net::IpPacketView::parse(packet.span());
  if (!view) {
    ++stats_.dropped_malformed;
    FZ_DEBUG(kLog, "dropping a malformed packet from the TUN device: {}", view.error().to_string());
    return;
  }
  const net::IpAddr dst = view->dst();
  if (kSentinelV4.contains(dst) || kSentinelV6.contains(dst)) {
    handle_dns_query(*view, now);
    return;
  }
  if (dst == kIgmpV4 || dst == kAllRoutersV6) return;
  if (kTunnelV4.contains(dst) || kTunnelV6.contains(dst)) {
    auto gw = gateway_by_tunnel_ip_.find(dst);
    if (gw == gateway_by_tunnel_ip_.end()) {
      ++stats_.dropped_no_resource;
      FZ_DEBUG(kLog, "no gateway has tunnel address {}", dst.to_string());
      return;
    }
    packet.truncate(view->size());
    send_to_gateway(gw->second, std::move(packet), now);
    return;
  }
  const auto resource = resource_for(dst);
  if (!resource) {
    ++stats_.dropped_no_resource;
    FZ_DEBUG(kLog, "no resource for {}", dst.to_string());
    return;
  }
  packet.truncate(view->size());
  auto gw = resource_gateway_.find(*resource);
  if (gw == resource_gateway_.end() || !node_.has_connection(gw->second) ||
      peers_.count(gw->second) == 0) {
    request_flow(*resource, Packet(packet.span().begin(), packet.span().end()), now);
    return;
  }
  if (resources_.at(*resource).kind == Resource::Kind::dns &&
      nat_gate(gw->second, *resource, dst, packet.span(), now)) {
    return;
  }
  send_to_gateway(gw->second, std::move(packet), now);
}

std::optional<ResourceId> ClientState::resource_for(const net::IpAddr& dst) const {
  if (auto it = proxy_owner_.find(dst); it != proxy_owner_.end()) {
    if (resources_.count(it->second.second) > 0) return it->second.second;
  }
  if (const ResourceId* id = cidr_table_.longest_match(dst)) return *id;
  return internet_;
}

void ClientState::request_flow(const ResourceId& resource, Packet packet, Instant now) {
  auto [it, created] = pending_.try_emplace(resource);
  push_ring(it->second.packets, std::move(packet), kPendingFlowPackets);
  if (created || now - it->second.last_sent >= kCreateFlowInterval) {
    it->second.last_sent = now;
    send_create_flow(resource);
  }
}

void ClientState::send_create_flow(const ResourceId& resource) {
  ordered_json payload;
  payload["resource_id"] = resource.to_string();
  payload["connected_gateway_ids"] = gateway_ids_json(recent_gateways_);
  ++stats_.create_flow_sent;
  FZ_INFO(kLog, "requesting a flow for resource {}", resource.to_string());
  events_.emplace_back(event::PortalMessage{"create_flow", portal::dump_json(payload)});
}

void ClientState::send_to_gateway(const GatewayId& gateway, PacketBuffer packet, Instant now) {
  auto result = node_.encapsulate(gateway, packet, now);
  if (!result) {
    FZ_DEBUG(kLog, "cannot send to gateway {}: {}", gateway.to_string(),
             result.error().to_string());
    return;
  }
  if (result->kind != p2p::Encapsulated::Kind::transmit) return;
  transmits_.push_back(p2p::Transmit{result->src, result->dst, std::move(packet)});
}

void ClientState::send_bytes_to_gateway(const GatewayId& gateway, const Packet& packet,
                                        Instant now) {
  send_to_gateway(gateway, buffer_with(packet), now);
}

// §5.4: true if the packet was kept in the (gateway, domain) buffer.
bool ClientState::nat_gate(const GatewayId& gateway, const ResourceId& resource,
                           const net::IpAddr& dst, Bytes packet, Instant now) {
  auto owner = proxy_owner_.find(dst);
  if (owner == proxy_owner_.end() || owner->second.second != resource) return false;
  auto it = nat_.find(NatKey{gateway, owner->second.first});
  if (it == nat_.end()) return false;
  NatEntry& entry = it->second;
  if (entry.state != NatState::pending) return false;
  if (now - entry.last_sent >= kAssignedIpsInterval) send_assigned_ips(gateway, entry, now);
  if (!entry.buffer) return false;
  push_ring(entry.buffered, Packet(packet.begin(), packet.end()), kDnsNatBufferPackets);
  return true;
}

// ---------------------------------------------------------------------------------------------
// Stub resolver (§5.1–§5.3)

std::optional<ResourceId> ClientState::match_dns(std::string_view name) const {
  for (const auto& p : dns_patterns_)
    if (p.matcher.matches(name)) return p.resource;
  return std::nullopt;
}

const ClientState::Assignment& ClientState::assign(std::string_view domain,
                                                   const ResourceId& resource) {
  const std::string key = lowercase(domain);
  auto [it, created] = assignments_.try_emplace({key, resource});
  if (!created) return it->second;
  Assignment& a = it->second;
  a.domain = std::string(domain);
  a.resource = resource;
  const IpStack stack = resources_.at(resource).ip_stack;
  if (stack != IpStack::ipv6_only) {
    for (std::size_t i = 0; i < kProxyIpsPerFamily; ++i) {
      if (kSentinelV4.contains(net::IpAddr::v4_from_u32(next_proxy_v4_)))
        next_proxy_v4_ = kSentinelV4.network().to_u32() + 256;
      const std::uint32_t broadcast = kProxyV4.network().to_u32() | 0x001fffffu;
      if (next_proxy_v4_ >= broadcast) {
        FZ_ERROR(kLog, "IPv4 proxy addresses exhausted");
        break;
      }
      a.ips.push_back(net::IpAddr::v4_from_u32(next_proxy_v4_++));
    }
  }
  if (stack != IpStack::ipv4_only) {
    for (std::size_t i = 0; i < kProxyIpsPerFamily; ++i) {
      if (next_proxy_v6_ >= (1u << 21)) {
        FZ_ERROR(kLog, "IPv6 proxy addresses exhausted");
        break;
      }
      std::array<std::uint8_t, 16> bytes = kProxyV6.network().raw();
      const std::uint32_t offset = next_proxy_v6_++;
      bytes[13] = static_cast<std::uint8_t>(bytes[13] | (offset >> 16));
      bytes[14] = static_cast<std::uint8_t>(offset >> 8);
      bytes[15] = static_cast<std::uint8_t>(offset);
      a.ips.push_back(net::IpAddr::v6(bytes));
    }
  }
  for (const auto& ip : a.ips)
    proxy_owner_[ip] = {key, resource};
  FZ_DEBUG(kLog, "assigned {} proxy IPs to {}", a.ips.size(), a.domain);
  return a;
}

void ClientState::handle_dns_query(const net::IpPacketView& packet, Instant now) {
  if (packet.transport() != net::Transport::udp || packet.dst_port() != std::uint16_t{53}) {
    FZ_DEBUG(kLog, "dropping non-UDP/53 packet to the DNS sentinel {}", packet.dst().to_string());
    return;
  }
  const Bytes raw = packet.l4_payload();
  auto query = dns::parse_query(raw);
  if (!query) {
    ++stats_.dropped_malformed;
    FZ_DEBUG(kLog, "dropping an unparsable DNS query: {}", query.error().to_string());
    return;
  }
  ++stats_.dns_queries;
  const std::string name = strip_trailing_dot(query->name);
  std::uint8_t rcode = dns::kRcodeRefused;
  std::vector<net::IpAddr> answers;
  bool local = false;
  if (lowercase(name) == "use-application-dns.net") {
    rcode = dns::kRcodeNxDomain;
    local = true;
  } else if (auto resource = match_dns(name)) {
    if (query->qtype == dns::kTypeA || query->qtype == dns::kTypeAaaa) {
      const Assignment& a = assign(name, *resource);
      const bool want_v4 = query->qtype == dns::kTypeA;
      for (const auto& ip : a.ips)
        if (ip.is_v4() == want_v4) answers.push_back(ip);
      rcode = dns::kRcodeNoError;
      local = true;
    } else if (query->qtype == dns::kTypeHttps) {
      rcode = dns::kRcodeNoError;
      local = true;
    }
  }
  FZ_DEBUG(kLog, "DNS {} type {}: rcode {}, {} records", name, query->qtype, rcode, answers.size());
  const auto response = dns::build_response(*query, raw, rcode, answers, kProxyIpTtl);
  net::IpFields ip;
  ip.src = packet.dst();
  ip.dst = packet.src();
  PacketBuffer out(std::max<std::size_t>(kBufferCapacity, response.size() + 64), p2p::kHeadroom);
  out.resize(out.capacity() - p2p::kHeadroom);
  auto len = net::build_udp(out.span(), ip, 53, packet.src_port().value_or(0), response);
  if (!len) {
    FZ_WARN(kLog, "cannot build the DNS answer: {}", len.error().to_string());
    return;
  }
  out.truncate(*len);
  tun_packets_.push_back(std::move(out));
  if (local && !answers.empty()) {
    recreate(name);
    update_dns_nat(now);
  }
}

void ClientState::recreate(std::string_view domain) {
  const std::string key = lowercase(domain);
  for (auto& [k, entry] : nat_) {
    if (k.second != key) continue;
    if (entry.state == NatState::confirmed) {
      entry.state = NatState::recreating;
      entry.buffer = false;
    } else if (entry.state == NatState::failed) {
      entry.state = NatState::recreating;
      entry.buffer = true;
    }
  }
}

void ClientState::update_dns_nat(Instant now, std::deque<Packet> handed_over) {
  for (auto& [key, a] : assignments_) {
    auto gw = resource_gateway_.find(a.resource);
    if (gw == resource_gateway_.end()) continue;
    auto peer = peers_.find(gw->second);
    if (peer == peers_.end()) continue;
    const GatewayId gateway = gw->second;
    for (const auto& ip : a.ips)
      add_allowed(peer->second, net::Cidr::host(ip), a.resource);
    auto [it, created] = nat_.try_emplace(NatKey{gateway, key.first});
    NatEntry& entry = it->second;
    if (created) {
      entry.state = NatState::pending;
      entry.buffer = true;
      entry.resource = a.resource;
      entry.domain = a.domain;
      entry.ips = a.ips;
      send_assigned_ips(gateway, entry, now);
    } else if (entry.state == NatState::recreating) {
      entry.state = NatState::pending;
      send_assigned_ips(gateway, entry, now);
    } else if (entry.state == NatState::pending && now - entry.last_sent >= kAssignedIpsInterval) {
      send_assigned_ips(gateway, entry, now);
    }
  }
  // Hand the packets buffered by the pending flow to their (gateway, domain) entry.
  for (auto& packet : handed_over) {
    auto view = net::IpPacketView::parse(packet);
    if (!view) continue;
    auto owner = proxy_owner_.find(view->dst());
    if (owner == proxy_owner_.end()) continue;
    auto gw = resource_gateway_.find(owner->second.second);
    if (gw == resource_gateway_.end()) continue;
    auto it = nat_.find(NatKey{gw->second, owner->second.first});
    if (it != nat_.end() && it->second.state == NatState::pending && it->second.buffer) {
      push_ring(it->second.buffered, std::move(packet), kDnsNatBufferPackets);
    } else {
      send_bytes_to_gateway(gw->second, packet, now);
    }
  }
}

void ClientState::send_assigned_ips(const GatewayId& gateway, NatEntry& entry, Instant now) {
  entry.last_sent = now;
  net::p2p_control::AssignedIps message{entry.resource, entry.domain, entry.ips};
  PacketBuffer packet(kBufferCapacity, p2p::kHeadroom);
  packet.resize(net::p2p_control::kMaxPacketLen);
  auto len = net::p2p_control::encode_assigned_ips(packet.span(), message);
  if (!len) {
    FZ_WARN(kLog, "cannot encode ASSIGNED_IPS for {}: {}", entry.domain, len.error().to_string());
    return;
  }
  packet.truncate(*len);
  ++stats_.assigned_ips_sent;
  FZ_DEBUG(kLog, "ASSIGNED_IPS {} ({} IPs) to gateway {}", entry.domain, entry.ips.size(),
           gateway.to_string());
  send_to_gateway(gateway, std::move(packet), now);
}

// ---------------------------------------------------------------------------------------------
// Data path: gateway → TUN

void ClientState::handle_network_input(const net::SocketAddr& local, const net::SocketAddr& from,
                                       PacketBuffer datagram, Instant now) {
  auto decapsulated = node_.decapsulate(local, from, datagram, now);
  if (!decapsulated) {
    FZ_DEBUG(kLog, "dropping a datagram from {}: {}", from.to_string(),
             decapsulated.error().to_string());
    drain_node_events();
    return;
  }
  if (decapsulated->kind == p2p::Decapsulated::Kind::consumed) {
    drain_node_events();
    return;
  }
  const GatewayId gateway = decapsulated->connection;
  auto view = net::IpPacketView::parse(datagram.span());
  if (!view) {
    ++stats_.dropped_malformed;
    FZ_DEBUG(kLog, "gateway {} sent a malformed packet", gateway.to_string());
    return;
  }
  if (net::p2p_control::is_control_packet(*view)) {
    handle_control(gateway, *view, now);
    return;
  }
  auto peer = peers_.find(gateway);
  const net::IpAddr src = view->src();
  if (peer == peers_.end() || (src != peer->second.ipv4 && src != peer->second.ipv6 &&
                               peer->second.allowed_table.longest_match(src) == nullptr)) {
    ++stats_.dropped_source;
    FZ_DEBUG(kLog, "dropping a packet from {} via gateway {}: not allowed", src.to_string(),
             gateway.to_string());
    return;
  }
  datagram.truncate(view->size());
  tun_packets_.push_back(std::move(datagram));
}

void ClientState::handle_control(const GatewayId& gateway, const net::IpPacketView& packet,
                                 Instant now) {
  auto message = net::p2p_control::decode(packet);
  if (!message) return;
  if (message->event_type != net::p2p_control::event_type::domain_status) {
    FZ_DEBUG(kLog, "ignoring control event {} from gateway {}", message->event_type,
             gateway.to_string());
    return;
  }
  auto status = net::p2p_control::parse_domain_status(message->body);
  if (!status) {
    FZ_DEBUG(kLog, "malformed DOMAIN_STATUS: {}", status.error().to_string());
    return;
  }
  auto it = nat_.find(NatKey{gateway, lowercase(strip_trailing_dot(status->domain))});
  if (it == nat_.end()) {
    FZ_DEBUG(kLog, "DOMAIN_STATUS for unknown domain {}", status->domain);
    return;
  }
  NatEntry& entry = it->second;
  const bool active = status->status == net::p2p_control::ResolutionStatus::active;
  FZ_INFO(kLog, "domain {} is {} on gateway {}", entry.domain, active ? "active" : "inactive",
          gateway.to_string());
  events_.emplace_back(event::DomainStatus{gateway, entry.domain, active});
  std::deque<Packet> buffered = std::move(entry.buffered);
  entry.buffered.clear();
  if (!active) {
    entry.state = NatState::failed;
    return;
  }
  entry.state = NatState::confirmed;
  for (const auto& p : buffered)
    send_bytes_to_gateway(gateway, p, now);
}

// ---------------------------------------------------------------------------------------------
// Peers and connection events

void ClientState::add_allowed(Peer& peer, const net::Cidr& network, const ResourceId& resource) {
  auto& owners = peer.allowed[network];
  if (!owners.insert(resource).second) return;
  peer.allowed_table.insert(network, true);
}

void ClientState::remove_resource_from_peer(Peer& peer, const ResourceId& resource) {
  for (auto it = peer.allowed.begin(); it != peer.allowed.end();) {
    it->second.erase(resource);
    if (it->second.empty()) {
      peer.allowed_table.erase(it->first);
      it = peer.allowed.erase(it);
    } else {
      ++it;
    }
  }
}

void ClientState::cleanup_gateway(const GatewayId& gateway) {
  auto peer = peers_.find(gateway);
  if (peer != peers_.end()) {
    gateway_by_tunnel_ip_.erase(peer->second.ipv4);
    gateway_by_tunnel_ip_.erase(peer->second.ipv6);
    peers_.erase(peer);
  }
  std::erase_if(resource_gateway_, [&](const auto& e) { return e.second == gateway; });
  std::erase_if(nat_, [&](const auto& e) { return e.first.first == gateway; });
}

void ClientState::touch_recent(const GatewayId& gateway) {
  std::erase(recent_gateways_, gateway);
  recent_gateways_.insert(recent_gateways_.begin(), gateway);
  if (recent_gateways_.size() > kRecentGateways) recent_gateways_.resize(kRecentGateways);
}

void ClientState::drain_node_events() {
  // Candidates are batched per connection, added before removed, highest priority first.
  std::map<GatewayId, std::vector<std::string>> added;
  std::map<GatewayId, std::vector<std::string>> removed;
  while (auto e = node_.poll_event()) {
    if (auto* c = std::get_if<p2p::event::CandidateNew>(&*e)) {
      added[c->connection].push_back(std::move(c->candidate));
    } else if (auto* c = std::get_if<p2p::event::CandidateInvalidated>(&*e)) {
      removed[c->connection].push_back(std::move(c->candidate));
    } else if (auto* c = std::get_if<p2p::event::ConnectionEstablished>(&*e)) {
      FZ_INFO(kLog, "connection to gateway {} established", c->connection.to_string());
      events_.emplace_back(event::ConnectionEstablished{c->connection});
    } else if (auto* c = std::get_if<p2p::event::ConnectionFailed>(&*e)) {
      FZ_WARN(kLog, "connection to gateway {} failed", c->connection.to_string());
      cleanup_gateway(c->connection);
      events_.emplace_back(event::ConnectionClosed{c->connection, "failed"});
    } else if (auto* c = std::get_if<p2p::event::ConnectionClosed>(&*e)) {
      std::string reason = c->reason == p2p::CloseReason::remote_goodbye ? "goodbye"
                           : c->reason == p2p::CloseReason::local        ? "closed"
                                                                         : "reset";
      if (c->reason == p2p::CloseReason::remote_goodbye)
        FZ_INFO(kLog, "goodbye received from gateway {}", c->connection.to_string());
      cleanup_gateway(c->connection);
      events_.emplace_back(event::ConnectionClosed{c->connection, std::move(reason)});
    }
  }
  const auto emit = [&](const char* name, std::map<GatewayId, std::vector<std::string>>& batch) {
    for (auto& [gateway, list] : batch) {
      std::stable_sort(list.begin(), list.end(), [](const std::string& a, const std::string& b) {
        return candidate_priority(a) > candidate_priority(b);
      });
      list.erase(std::unique(list.begin(), list.end()), list.end());
      ordered_json payload;
      payload["gateway_ids"] = std::vector<std::string>{gateway.to_string()};
      payload["candidates"] = list;
      events_.emplace_back(event::PortalMessage{name, portal::dump_json(payload)});
    }
  };
  emit("broadcast_ice_candidates", added);
  emit("broadcast_invalidated_ice_candidates", removed);
}

// ---------------------------------------------------------------------------------------------
// Time and outputs

void ClientState::handle_timeout(Instant now) {
  node_.handle_timeout(now);
  for (auto& [key, entry] : nat_) {
    if (entry.state == NatState::pending && now - entry.last_sent >= kAssignedIpsInterval)
      send_assigned_ips(key.first, entry, now);
  }
  drain_node_events();
}

std::optional<Instant> ClientState::poll_timeout() const {
  std::optional<Instant> next = node_.poll_timeout();
  for (const auto& [key, entry] : nat_) {
    if (entry.state != NatState::pending) continue;
    const Instant due = entry.last_sent + kAssignedIpsInterval;
    if (!next || due < *next) next = due;
  }
  return next;
}

std::optional<p2p::Transmit> ClientState::poll_transmit() {
  if (auto t = node_.poll_transmit()) return t;
  if (transmits_.empty()) return std::nullopt;
  p2p::Transmit t = std::move(transmits_.front());
  transmits_.pop_front();
  return t;
}

std::optional<PacketBuffer> ClientState::poll_tun_packet() {
  if (tun_packets_.empty()) return std::nullopt;
  PacketBuffer p = std::move(tun_packets_.front());
  tun_packets_.pop_front();
  return p;
}

std::optional<Event> ClientState::poll_event() {
  drain_node_events();
  if (events_.empty()) return std::nullopt;
  Event e = std::move(events_.front());
  events_.pop_front();
  return e;
}

std::vector<ConnectionStatus> ClientState::connections() const {
  std::vector<ConnectionStatus> out;
  for (const auto& [gateway, peer] : peers_) {
    auto info = node_.connection_info(gateway);
    if (!info) continue;
    ConnectionStatus s;
    s.gateway = gateway;
    s.state = info->state;
    s.path = info->path;
    if (info->established_at) s.established_after = *info->established_at - info->created_at;
    s.tx_bytes = info->bytes_sent;
    s.rx_bytes = info->bytes_received;
    out.push_back(s);
  }
  return out;
}

std::optional<GatewayId> ClientState::gateway_for(const ResourceId& resource) const {
  auto it = resource_gateway_.find(resource);
  if (it == resource_gateway_.end()) return std::nullopt;
  return it->second;
}

std::vector<net::IpAddr> ClientState::proxy_ips(std::string_view domain,
                                                const ResourceId& resource) const {
  auto it = assignments_.find({lowercase(domain), resource});
  if (it == assignments_.end()) return {};
  return it->second.ips;
}

std::optional<NatState> ClientState::nat_state(const GatewayId& gateway,
                                               std::string_view domain) const {
  auto it = nat_.find(NatKey{gateway, lowercase(domain)});
  if (it == nat_.end()) return std::nullopt;
  return it->second.state;
}

}  // namespace fz::client
