#include "gateway/state.hpp"

#include <algorithm>
#include <set>
#include <utility>

#include "base/log.hpp"
#include "net/p2p_control.hpp"

namespace fz::gateway {

namespace {

constexpr std::string_view kLog = "gateway";

Filters to_gateway_filters(const portal::Filters& filters) {
  Filters out;
  out.reserve(filters.size());
  for (const auto& f : filters) {
    Filter g;
    switch (f.protocol) {
      case portal::FilterProtocol::tcp:
        g.protocol = FilterProtocol::tcp;
        break;
      case portal::FilterProtocol::udp:
        g.protocol = FilterProtocol::udp;
        break;
      case portal::FilterProtocol::icmp:
        g.protocol = FilterProtocol::icmp;
        break;
    }
    g.port_range_start = f.port_range_start;
    g.port_range_end = f.port_range_end;
    out.push_back(g);
  }
  return out;
}

IpConfig client_tun_of(const net::IpAddr& v4, const net::IpAddr& v6) {
  return IpConfig{v4, v6};
}

PacketBuffer buffer_with(Bytes bytes) {
  PacketBuffer buffer(kBufferCapacity, p2p::kHeadroom);
  if (!buffer.assign(bytes, p2p::kHeadroom)) buffer.reset(p2p::kHeadroom);
  return buffer;
}

}  // namespace

ResourceDescription to_gateway_resource(const portal::ResourceDescription& resource) {
  return std::visit(
      [](const auto& r) -> ResourceDescription {
        using T = std::decay_t<decltype(r)>;
        if constexpr (std::is_same_v<T, portal::CidrResource>) {
          return CidrResource{r.id, r.address, to_gateway_filters(r.filters)};
        } else if constexpr (std::is_same_v<T, portal::DnsResource>) {
          return DnsResource{r.id, r.address, to_gateway_filters(r.filters)};
        } else {
          return InternetResource{r.id};
        }
      },
      resource);
}

p2p::RelayInfo to_relay_info(const portal::RelayServer& relay) {
  p2p::RelayInfo info;
  info.id = relay.id;
  info.v4 = relay.v4;
  info.v6 = relay.v6;
  info.username = relay.username;
  info.password = relay.password;
  return info;
}

GatewayState::GatewayState(crypto::SecretKey static_key, std::array<std::uint8_t, 32> seed,
                           Instant now, UnixTime utc_now, p2p::NodeConfig node_config)
    : node_(p2p::Role::server, std::move(static_key), seed, now, utc_now, std::move(node_config)),
      next_sweep_(now + kExpirySweepInterval) {}

// ---------------------------------------------------------------------------------------------
// Portal commands

void GatewayState::handle_portal_message(const portal::IngressMessage& message, Instant now) {
  if (shutting_down_) {
    FZ_DEBUG(kLog, "Ignoring portal message {} while shutting down", portal::event_name(message));
    return;
  }
  std::visit(
      [&](const auto& m) {
        using T = std::decay_t<decltype(m)>;
        if constexpr (std::is_same_v<T, portal::Init>) {
          handle_init(m, now);
        } else if constexpr (std::is_same_v<T, portal::AuthorizeFlow>) {
          authorize_flow(m, now);
        } else if constexpr (std::is_same_v<T, portal::RejectAccess>) {
          remove_access(m.client_id, m.resource_id, now);
        } else if constexpr (std::is_same_v<T, portal::AccessAuthorizationExpiryUpdated>) {
          update_access_authorization_expiry(m.client_id, m.resource_id, m.expires_at);
        } else if constexpr (std::is_same_v<T, portal::ResourceUpdated>) {
          update_resource(m.resource);
        } else if constexpr (std::is_same_v<T, portal::RelaysPresence>) {
          update_relays(m.disconnected_ids, m.connected, now);
        } else if constexpr (std::is_same_v<T, portal::IceCandidates>) {
          add_ice_candidates(m.client_id, m.candidates, now);
        } else if constexpr (std::is_same_v<T, portal::InvalidateIceCandidates>) {
          remove_ice_candidates(m.client_id, m.candidates, now);
        } else if constexpr (std::is_same_v<T, portal::RequestConnection>) {
          request_connection(m, now);
        } else if constexpr (std::is_same_v<T, portal::AllowAccess>) {
          allow_access(m, now);
        }
      },
      message);
}

void GatewayState::handle_init(const portal::Init& init, Instant now) {
  // portal-protocol §4.1 `init`, in the reference's order: relays, tunnel config, authorizations.
  update_relays({}, init.relays, now);
  set_tun_config(IpConfig{init.interface.ipv4, init.interface.ipv6});
  retain_authorizations(init.authorizations);
}

void GatewayState::set_tun_config(const IpConfig& addresses) {
  if (tun_ && *tun_ == addresses) return;
  FZ_INFO(kLog, "Tunnel addresses {} and {}", addresses.v4.to_string(), addresses.v6.to_string());
  tun_ = addresses;
  events_.push_back(event::TunConfigChanged{addresses});
}

void GatewayState::update_relays(std::span<const p2p::RelayId> removed,
                                 const std::vector<portal::Relay>& relays, Instant now) {
  std::vector<p2p::RelayInfo> added;
  for (const auto& server : portal::merge_turn_relays(relays))
    added.push_back(to_relay_info(server));
  node_.update_relays(removed, added, now);
}

void GatewayState::authorize_flow(const portal::AuthorizeFlow& flow, Instant now) {
  const ClientId& cid = flow.client.id;
  ice::Credentials local{flow.gateway_ice_credentials.username,
                         flow.gateway_ice_credentials.password};
  ice::Credentials remote{flow.client_ice_credentials.username,
                          flow.client_ice_credentials.password};
  if (auto st = node_.upsert_connection(cid, flow.client.public_key, flow.client.preshared_key,
                                        std::move(local), std::move(remote), now);
      !st) {
    if (st.error().code() == Errc::not_found) {
      // §1.4 step 1: no reply; a fresh `init` brings relays.
      FZ_WARN(kLog, "Cannot authorize flow for client {}: no TURN servers; reconnecting to portal",
              cid.to_string());
      events_.push_back(event::NoTurnServers{});
    } else {
      FZ_WARN(kLog, "Cannot authorize flow for client {}: {}", cid.to_string(),
              st.error().to_string());
    }
    return;
  }
  if (auto st = allow_access_internal(cid, client_tun_of(flow.client.ipv4, flow.client.ipv6),
                                      flow.expires_at, flow.resource, std::nullopt, {});
      !st) {
    FZ_WARN(kLog, "Failed to allow access for client {}: {}", cid.to_string(),
            st.error().to_string());
  }
  events_.push_back(event::PortalMessage{portal::FlowAuthorized{flow.ref}});
}

Status GatewayState::allow_access_internal(const ClientId& client, const IpConfig& client_tun,
                                           std::optional<UnixTime> expires_at,
                                           const portal::ResourceDescription& resource,
                                           const std::optional<portal::ResolveRequest>& dns,
                                           std::span<const net::IpAddr> resolved) {
  if (!tun_) return Error(Errc::state, "TUN device not configured");
  ClientOnGateway& peer = peers_.get_or_insert(client, client_tun, *tun_);
  FZ_TRY_STATUS(peer.add_resource(to_gateway_resource(resource), expires_at));
  Status nat_status;
  if (dns)
    nat_status = peer.setup_nat(dns->name, portal::resource_id(resource), resolved, dns->proxy_ips);
  peers_.add_ip(client, client_tun.v4);
  peers_.add_ip(client, client_tun.v6);
  return nat_status;
}

void GatewayState::request_connection(const portal::RequestConnection& request, Instant now) {
  if (request.client.domain) {
    // §1.4: resolve first; a failed resolution gets no answer at all.
    const std::uint64_t token = next_legacy_token_++;
    legacy_requests_.emplace(token, LegacyRequest{request});
    ResolveDnsRequest resolve{request.client.domain->name, request.client.id,
                              portal::resource_id(request.resource),
                              request.client.domain->proxy_ips};
    events_.push_back(event::ResolveDns{std::move(resolve), token});
    return;
  }
  accept_legacy_connection(request, {}, now);
}

void GatewayState::accept_legacy_connection(const portal::RequestConnection& request,
                                            std::span<const net::IpAddr> resolved, Instant now) {
  const ClientId& cid = request.client.id;
  p2p::Offer offer;
  offer.session_key = request.client.peer.preshared_key;
  offer.credentials = ice::Credentials{request.client.ice_parameters.username,
                                       request.client.ice_parameters.password};
  auto answer = node_.accept_connection(cid, offer, request.client.peer.public_key, now);
  if (!answer) {
    if (answer.error().code() == Errc::not_found) events_.push_back(event::NoTurnServers{});
    FZ_WARN(kLog, "Cannot accept connection from client {}: {}", cid.to_string(),
            answer.error().to_string());
    return;
  }
  const IpConfig client_tun = client_tun_of(request.client.peer.ipv4, request.client.peer.ipv6);
  if (auto st = allow_access_internal(cid, client_tun, request.expires_at, request.resource,
                                      request.client.domain, resolved);
      !st) {
    FZ_WARN(kLog, "Failed to set up access for client {}: {}", cid.to_string(),
            st.error().to_string());
    if (request.client.domain) {
      // The reference's cleanup_connection: goodbye and no connection_ready.
      close_client(cid, now);
      return;
    }
  }
  events_.push_back(event::PortalMessage{portal::ConnectionReady{
      request.ref, portal::IceCredentials{answer->credentials.ufrag, answer->credentials.pwd}}});
}

void GatewayState::allow_access(const portal::AllowAccess& request, Instant now) {
  (void)now;
  if (request.payload) {
    const std::uint64_t token = next_legacy_token_++;
    legacy_requests_.emplace(token, LegacyRequest{request});
    ResolveDnsRequest resolve{request.payload->name, request.client_id,
                              portal::resource_id(request.resource), request.payload->proxy_ips};
    events_.push_back(event::ResolveDns{std::move(resolve), token});
    return;
  }
  if (auto st = allow_access_internal(request.client_id,
                                      client_tun_of(request.client_ipv4, request.client_ipv6),
                                      request.expires_at, request.resource, std::nullopt, {});
      !st) {
    FZ_WARN(kLog, "Failed to allow access for client {}: {}", request.client_id.to_string(),
            st.error().to_string());
  }
}

void GatewayState::remove_access(const ClientId& client, const ResourceId& resource, Instant now) {
  ClientOnGateway* peer = peers_.get(client);
  if (peer == nullptr) {
    FZ_DEBUG(kLog, "reject_access for unknown client {}", client.to_string());
    return;
  }
  if (!peer->remove_resource(resource)) {
    FZ_DEBUG(kLog, "reject_access for resource {} that client {} did not have",
             resource.to_string(), client.to_string());
  }
  if (peer->has_no_resources()) {
    FZ_INFO(kLog, "Access to last resource removed for client {}; closing connection",
            client.to_string());
    close_client(client, now);
  }
}

void GatewayState::update_resource(const portal::ResourceDescription& resource) {
  const ResourceDescription converted = to_gateway_resource(resource);
  peers_.for_each([&](ClientOnGateway& peer) { peer.update_resource(converted); });
}

void GatewayState::update_access_authorization_expiry(const ClientId& client,
                                                      const ResourceId& resource,
                                                      UnixTime expires_at) {
  ClientOnGateway* peer = peers_.get(client);
  if (peer == nullptr) {
    FZ_WARN(kLog, "Expiry update for unknown client {}", client.to_string());
    return;
  }
  if (!peer->update_resource_expiry(resource, expires_at))
    FZ_DEBUG(kLog, "Expiry update for unknown resource {} of client {}", resource.to_string(),
             client.to_string());
}

void GatewayState::retain_authorizations(const std::vector<portal::Authorization>& auths) {
  // Clients absent from the list keep everything (the reference's behaviour, §1.4).
  std::map<ClientId, std::set<ResourceId>> keep;
  for (const auto& a : auths)
    keep[a.client_id].insert(a.resource_id);
  for (const auto& [client, resources] : keep) {
    if (ClientOnGateway* peer = peers_.get(client)) peer->retain_authorizations(resources);
  }
  for (const auto& a : auths) {
    ClientOnGateway* peer = peers_.get(a.client_id);
    if (peer == nullptr) {
      FZ_DEBUG(kLog, "init lists unknown client {}", a.client_id.to_string());
      continue;
    }
    (void)peer->update_resource_expiry(a.resource_id, a.expires_at);
  }
}

void GatewayState::add_ice_candidates(const ClientId& client,
                                      const std::vector<std::string>& candidates, Instant now) {
  for (const auto& c : candidates)
    node_.add_remote_candidate(client, c, now);
}

void GatewayState::remove_ice_candidates(const ClientId& client,
                                         const std::vector<std::string>& candidates, Instant now) {
  for (const auto& c : candidates)
    node_.remove_remote_candidate(client, c, now);
}

// ---------------------------------------------------------------------------------------------
// Packets

void GatewayState::handle_network_input(const net::SocketAddr& local, const net::SocketAddr& from,
                                        PacketBuffer datagram, Instant now) {
  if (datagram.size() > kMaxDatagramSize) {
    ++stats_.dropped_oversized;
    return;
  }
  auto decapsulated = node_.decapsulate(local, from, datagram, now);
  if (!decapsulated) {
    ++stats_.dropped_errors;
    FZ_DEBUG(kLog, "Dropping datagram from {}: {}", from.to_string(),
             decapsulated.error().to_string());
    return;
  }
  if (decapsulated->kind == p2p::Decapsulated::Kind::consumed) return;
  const ClientId& cid = decapsulated->connection;

  auto parsed = net::IpPacket::parse(datagram.span());
  if (!parsed) {
    ++stats_.dropped_errors;
    FZ_DEBUG(kLog, "Client {} sent a malformed IP packet: {}", cid.to_string(),
             parsed.error().to_string());
    return;
  }
  net::IpPacket& packet = *parsed;
  ClientOnGateway* peer = peers_.get(cid);
  if (peer == nullptr) {
    ++stats_.dropped_no_peer;
    FZ_WARN(kLog, "No peer for connection {}", cid.to_string());
    return;
  }
  if (net::p2p_control::is_control_packet(packet)) {
    handle_control_packet(*peer, packet, now);
    return;
  }
  const OutboundVerdict verdict = peer->translate_outbound(packet, now, scratch_);
  switch (verdict.action) {
    case OutboundVerdict::Action::forward:
      datagram.truncate(packet.size());
      ++stats_.packets_to_tun;
      stats_.bytes_to_tun += datagram.size();
      tun_packets_.push_back(std::move(datagram));
      return;
    case OutboundVerdict::Action::reply:
      ++stats_.icmp_errors_sent;
      FZ_DEBUG(kLog, "Refusing packet from client {}: {}", cid.to_string(),
               to_string(verdict.reason));
      send_to_client(cid, Bytes(scratch_.data(), verdict.reply_len), now);
      return;
    case OutboundVerdict::Action::drop:
      if (is_error(verdict.reason)) {
        ++stats_.dropped_errors;
        FZ_WARN(kLog, "Dropping packet from client {}: {}", cid.to_string(),
                to_string(verdict.reason));
      } else {
        ++stats_.dropped_policy;
        FZ_DEBUG(kLog, "Dropping packet from client {}: {}", cid.to_string(),
                 to_string(verdict.reason));
      }
      return;
  }
}

void GatewayState::handle_control_packet(ClientOnGateway& peer, const net::IpPacketView& packet,
                                         Instant now) {
  namespace ctl = net::p2p_control;
  const auto message = ctl::decode(packet);
  if (!message) return;
  switch (message->event_type) {
    case ctl::event_type::assigned_ips: {
      auto assigned = ctl::parse_assigned_ips(message->body);
      if (!assigned) {
        FZ_DEBUG(kLog, "Client {} sent malformed AssignedIps: {}", peer.id().to_string(),
                 assigned.error().to_string());
        return;
      }
      auto outcome = peer.handle_assigned_ips(std::move(*assigned));
      if (auto* status = std::get_if<ctl::DomainStatus>(&outcome)) {
        send_domain_status(peer.id(), *status, now);
      } else {
        events_.push_back(event::ResolveDns{std::get<ResolveDnsRequest>(std::move(outcome)), 0});
      }
      return;
    }
    case ctl::event_type::goodbye:
      // The Node consumes goodbyes before they get here; handle one anyway.
      FZ_INFO(kLog, "Client {} said goodbye", peer.id().to_string());
      {
        const ClientId id = peer.id();
        peers_.remove(id);
        node_.remove_connection(id);
      }
      return;
    default:
      FZ_DEBUG(kLog, "Ignoring p2p control event {} from client {}", message->event_type,
               peer.id().to_string());
      return;
  }
}

void GatewayState::handle_tun_input(PacketBuffer packet, Instant now) {
  auto parsed = net::IpPacket::parse(packet.span());
  if (!parsed) {
    ++stats_.dropped_errors;
    FZ_DEBUG(kLog, "Malformed packet from the TUN device: {}", parsed.error().to_string());
    return;
  }
  net::IpPacket& ip = *parsed;
  ++stats_.packets_from_tun;
  stats_.bytes_from_tun += packet.size();
  const net::IpAddr dst = ip.dst();
  if (!is_tunnel_ip(dst)) {
    ++stats_.dropped_policy;
    return;
  }
  ClientOnGateway* peer = peers_.peer_by_ip(dst);
  if (peer == nullptr) {
    ++stats_.dropped_policy;
    FZ_DEBUG(kLog, "Unknown client for {}", dst.to_string());
    return;
  }
  const InboundVerdict verdict = peer->translate_inbound(ip, now, scratch_);
  switch (verdict.action) {
    case InboundVerdict::Action::forward:
      packet.truncate(ip.size());
      encapsulate_and_queue(peer->id(), std::move(packet), now);
      return;
    case InboundVerdict::Action::forward_translated:
      if (!packet.assign(Bytes(scratch_.data(), verdict.len), p2p::kHeadroom)) {
        ++stats_.dropped_errors;
        return;
      }
      encapsulate_and_queue(peer->id(), std::move(packet), now);
      return;
    case InboundVerdict::Action::drop:
      if (is_error(verdict.reason)) {
        ++stats_.dropped_errors;
        FZ_WARN(kLog, "Dropping packet to client {}: {}", peer->id().to_string(),
                to_string(verdict.reason));
      } else {
        ++stats_.dropped_policy;
        FZ_DEBUG(kLog, "Dropping packet to client {}: {}", peer->id().to_string(),
                 to_string(verdict.reason));
      }
      return;
  }
}

void GatewayState::encapsulate_and_queue(const ClientId& client, PacketBuffer packet, Instant now) {
  auto result = node_.encapsulate(client, packet, now);
  if (!result) {
    FZ_DEBUG(kLog, "Cannot send to client {}: {}", client.to_string(), result.error().to_string());
    return;
  }
  if (result->kind != p2p::Encapsulated::Kind::transmit) return;
  transmits_.push_back(p2p::Transmit{result->src, result->dst, std::move(packet)});
}

void GatewayState::send_to_client(const ClientId& client, Bytes ip_packet, Instant now) {
  encapsulate_and_queue(client, buffer_with(ip_packet), now);
}

void GatewayState::send_domain_status(const ClientId& client,
                                      const net::p2p_control::DomainStatus& status, Instant now) {
  std::array<std::uint8_t, net::p2p_control::kMaxPacketLen> packet{};
  auto len = net::p2p_control::encode_domain_status(packet, status);
  if (!len) {
    FZ_WARN(kLog, "Cannot encode DomainStatus for {}: {}", status.domain, len.error().to_string());
    return;
  }
  send_to_client(client, Bytes(packet.data(), *len), now);
}

void GatewayState::close_client(const ClientId& client, Instant now) {
  peers_.remove(client);
  node_.close_connection(client, now);
}

// ---------------------------------------------------------------------------------------------
// DNS resolution results

void GatewayState::handle_domain_resolved(const event::ResolveDns& request,
                                          const Result<std::vector<net::IpAddr>>& resolved,
                                          Instant now) {
  if (shutting_down_) return;
  if (request.legacy_token != 0) {
    auto it = legacy_requests_.find(request.legacy_token);
    if (it == legacy_requests_.end()) return;
    LegacyRequest legacy = std::move(it->second);
    legacy_requests_.erase(it);
    if (auto* rc = std::get_if<portal::RequestConnection>(&legacy.message)) {
      if (!resolved) {
        FZ_WARN(kLog, "Failed to resolve {} for client {}: {}", request.request.domain,
                rc->client.id.to_string(), resolved.error().to_string());
        return;  // no answer: the client times out (§1.4)
      }
      accept_legacy_connection(*rc, *resolved, now);
    } else {
      const auto& aa = std::get<portal::AllowAccess>(legacy.message);
      const std::vector<net::IpAddr> none;
      const std::span<const net::IpAddr> ips = resolved ? std::span(*resolved) : std::span(none);
      if (auto st =
              allow_access_internal(aa.client_id, client_tun_of(aa.client_ipv4, aa.client_ipv6),
                                    aa.expires_at, aa.resource, aa.payload, ips);
          !st) {
        FZ_WARN(kLog, "Failed to allow access for client {}: {}", aa.client_id.to_string(),
                st.error().to_string());
      }
    }
    return;
  }
  ClientOnGateway* peer = peers_.get(request.request.client);
  const net::p2p_control::DomainStatus status =
      peer == nullptr ? inactive_domain_status(request.request)
                      : peer->handle_domain_resolved(request.request, resolved);
  send_domain_status(request.request.client, status, now);
}

// ---------------------------------------------------------------------------------------------
// Time and shutdown

void GatewayState::handle_timeout(Instant now, UnixTime utc_now) {
  node_.handle_timeout(now);
  if (now < next_sweep_) return;
  next_sweep_ = now + kExpirySweepInterval;
  for (const ClientId& emptied : peers_.sweep(now, utc_now)) {
    FZ_INFO(kLog, "Client {} has no authorization left; closing connection", emptied.to_string());
    node_.close_connection(emptied, now);
  }
}

std::optional<Instant> GatewayState::poll_timeout() const {
  std::optional<Instant> earliest = node_.poll_timeout();
  // The sweep only matters while there are clients (it expires authorizations and NAT sessions);
  // the reference wakes up every second regardless.
  if (!peers_.empty() && (!earliest || next_sweep_ < *earliest)) earliest = next_sweep_;
  return earliest;
}

void GatewayState::shutdown(Instant now) {
  if (shutting_down_) return;
  shutting_down_ = true;
  flushed_ = false;
  FZ_INFO(kLog, "Shutting down: saying goodbye to {} connection(s)", node_.num_connections());
  peers_.clear();
  legacy_requests_.clear();
  node_.close_all(now);
}

// ---------------------------------------------------------------------------------------------
// Outputs

std::optional<p2p::Transmit> GatewayState::poll_transmit() {
  if (!transmits_.empty()) {
    p2p::Transmit t = std::move(transmits_.front());
    transmits_.pop_front();
    return t;
  }
  auto t = node_.poll_transmit();
  if (!t && shutting_down_) flushed_ = true;
  return t;
}

std::optional<PacketBuffer> GatewayState::poll_tun_packet() {
  if (tun_packets_.empty()) return std::nullopt;
  PacketBuffer p = std::move(tun_packets_.front());
  tun_packets_.pop_front();
  return p;
}

std::optional<Event> GatewayState::poll_event() {
  drain_node_events();
  if (events_.empty()) return std::nullopt;
  Event e = std::move(events_.front());
  events_.pop_front();
  return e;
}

void GatewayState::drain_node_events() {
  // Candidates are grouped per client per drain, added before removed (§12).
  std::map<ClientId, std::vector<std::string>> added;
  std::map<ClientId, std::vector<std::string>> removed;
  while (auto e = node_.poll_event()) {
    std::visit(
        [&](auto& ev) {
          using T = std::decay_t<decltype(ev)>;
          if constexpr (std::is_same_v<T, p2p::event::CandidateNew>) {
            added[ev.connection].push_back(std::move(ev.candidate));
          } else if constexpr (std::is_same_v<T, p2p::event::CandidateInvalidated>) {
            removed[ev.connection].push_back(std::move(ev.candidate));
          } else if constexpr (std::is_same_v<T, p2p::event::ConnectionEstablished>) {
            FZ_INFO(kLog, "Connection to client {} established", ev.connection.to_string());
          } else if constexpr (std::is_same_v<T, p2p::event::ConnectionFailed>) {
            // §1.5: the client's authorizations stay, so it can reconnect without a new flow.
            FZ_INFO(kLog, "Connection to client {} failed", ev.connection.to_string());
          } else if constexpr (std::is_same_v<T, p2p::event::ConnectionClosed>) {
            if (ev.reason == p2p::CloseReason::remote_goodbye) {
              FZ_INFO(kLog, "Client {} said goodbye", ev.connection.to_string());
              peers_.remove(ev.connection);
            } else {
              FZ_DEBUG(kLog, "Connection to client {} closed", ev.connection.to_string());
            }
          }
        },
        *e);
  }
  for (auto& [client, candidates] : added)
    events_.push_back(
        event::PortalMessage{portal::BroadcastIceCandidates{{client}, std::move(candidates)}});
  for (auto& [client, candidates] : removed)
    events_.push_back(event::PortalMessage{
        portal::BroadcastInvalidatedIceCandidates{{client}, std::move(candidates)}});
}

}  // namespace fz::gateway
