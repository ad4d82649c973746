#include "gateway/client.hpp"

#include <algorithm>
#include <cctype>

#include "base/log.hpp"
#include "gateway/domain_pattern.hpp"

namespace fz::gateway {

namespace {

constexpr std::string_view kLog = "gateway";

// The key under which a domain's resolved addresses are kept.
std::string normalize_domain(std::string_view domain) {
  if (!domain.empty() && domain.back() == '.') domain.remove_suffix(1);
  std::string out(domain);
  for (char& c : out)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::vector<net::IpAddr> sorted_unique(std::span<const net::IpAddr> ips) {
  std::vector<net::IpAddr> out(ips.begin(), ips.end());
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

// TCP, UDP and ICMP fragments cannot be checked against port filters or NATed; the reference's
// parser rejects them, so they never reach a resource or a client.
bool is_unverifiable_fragment(const net::IpPacketView& packet) {
  if (!packet.is_fragment()) return false;
  const std::uint8_t p = packet.protocol();
  return p == net::ip_proto::tcp || p == net::ip_proto::udp || p == net::ip_proto::icmp ||
         p == net::ip_proto::icmpv6;
}

// The client's L4 id of a packet as a NAT key half: TCP/UDP port or ICMP echo identifier.
std::optional<NatKey> nat_key(const net::IpPacketView& packet, bool source_id,
                              const net::IpAddr& ip) {
  switch (packet.transport()) {
    case net::Transport::tcp:
      return NatKey{NatProtocol::tcp, *(source_id ? packet.src_port() : packet.dst_port()), ip};
    case net::Transport::udp:
      return NatKey{NatProtocol::udp, *(source_id ? packet.src_port() : packet.dst_port()), ip};
    case net::Transport::icmpv4:
    case net::Transport::icmpv6:
      if (auto echo = packet.icmp_echo()) return NatKey{NatProtocol::icmp, echo->identifier, ip};
      break;
    case net::Transport::none:
      break;
  }
  return std::nullopt;
}

// The outside key named by the packet quoted in an ICMP error: its source id and destination.
std::optional<NatKey> quoted_outside_key(const net::QuotedPacket& quote) {
  if (quote.src_port) {
    const NatProtocol protocol =
        quote.protocol == net::ip_proto::tcp ? NatProtocol::tcp : NatProtocol::udp;
    return NatKey{protocol, *quote.src_port, quote.dst};
  }
  if (quote.echo) return NatKey{NatProtocol::icmp, quote.echo->identifier, quote.dst};
  return std::nullopt;
}

}  // namespace

std::string_view to_string(Reason reason) {
  switch (reason) {
    case Reason::none:
      return "none";
    case Reason::spoofed_source:
      return "source is not the client's tunnel IP";
    case Reason::filtered:
      return "not allowed by the resource filters";
    case Reason::no_translation:
      return "no translation for proxy IP";
    case Reason::family_mismatch:
      return "proxy IP and resolved IP differ in family";
    case Reason::not_nattable:
      return "packet to a proxy IP has no port or ICMP echo identifier";
    case Reason::nat_exhausted:
      return "Exhausted NAT";
    case Reason::fragment:
      return "fragmented TCP/UDP/ICMP packet";
    case Reason::no_buffer:
      return "ICMP error does not fit the buffer";
    case Reason::unsupported_icmp:
      return "unsupported ICMP type";
    case Reason::bad_icmp_error:
      return "ICMP error without a usable quoted packet";
    case Reason::expired_nat_session:
      return "ExpiredNatSession";
    case Reason::not_client_ip:
      return "destination is not the client's tunnel IP";
    case Reason::filtered_inbound:
      return "source not allowed by the resource filters";
  }
  return "unknown";
}

bool is_error(Reason reason) {
  switch (reason) {
    case Reason::not_nattable:
    case Reason::nat_exhausted:
    case Reason::fragment:
    case Reason::no_buffer:
    case Reason::unsupported_icmp:
    case Reason::bad_icmp_error:
    case Reason::not_client_ip:
      return true;
    default:
      return false;
  }
}

net::p2p_control::DomainStatus inactive_domain_status(const ResolveDnsRequest& request) {
  return {request.resource, request.domain, net::p2p_control::ResolutionStatus::inactive};
}

ClientOnGateway::ClientOnGateway(ClientId id, IpConfig client_tun, IpConfig gateway_tun)
    : id_(id), client_tun_(client_tun), gateway_tun_(gateway_tun) {}

// ---------------------------------------------------------------------------------------------
// Authorizations

Status ClientOnGateway::add_resource(const ResourceDescription& resource,
                                     std::optional<UnixTime> expires_at) {
  const ResourceId rid = resource_id(resource);
  auto existing = resources_.find(rid);
  if (existing != resources_.end()) {
    if (existing->second.kind.index() != resource.index()) {
      FZ_ERROR(kLog, "Resource {} of client {} cannot change type", rid.to_string(),
               id_.to_string());
      return Error(Errc::state, "Resources cannot change type");
    }
    // Re-authorizing keeps the expiry; only the filters change (§1.4).
    std::visit(
        [&](const auto& r) {
          if constexpr (!std::is_same_v<std::decay_t<decltype(r)>, InternetResource>) {
            existing->second.filters = r.filters;
          }
        },
        resource);
  } else {
    Authorized entry;
    entry.expires_at = expires_at;
    std::visit(
        [&](const auto& r) {
          using T = std::decay_t<decltype(r)>;
          if constexpr (std::is_same_v<T, CidrResource>) {
            entry.kind = CidrAccess{r.address};
            entry.filters = r.filters;
          } else if constexpr (std::is_same_v<T, DnsResource>) {
            entry.kind = DnsAccess{r.address, {}};
            entry.filters = r.filters;
          } else {
            entry.kind = InternetAccess{};
          }
        },
        resource);
    resources_.emplace(rid, std::move(entry));
  }
  FZ_INFO(kLog, "Allowing access to resource {} for client {}", rid.to_string(), id_.to_string());
  recalculate_filters();
  return {};
}

void ClientOnGateway::update_resource(const ResourceDescription& resource) {
  auto existing = resources_.find(resource_id(resource));
  if (existing == resources_.end()) return;
  if (existing->second.kind.index() != resource.index()) {
    FZ_ERROR(kLog, "Resource {} cannot change type", existing->first.to_string());
    return;
  }
  if (const auto* cidr = std::get_if<CidrResource>(&resource)) {
    existing->second.filters = cidr->filters;
  } else if (const auto* dns = std::get_if<DnsResource>(&resource)) {
    existing->second.filters = dns->filters;
  }
  recalculate_filters();
}

bool ClientOnGateway::remove_resource(const ResourceId& resource) {
  const bool removed = resources_.erase(resource) != 0;
  recalculate_filters();
  return removed;
}

bool ClientOnGateway::update_resource_expiry(const ResourceId& resource, UnixTime expires_at) {
  auto found = resources_.find(resource);
  if (found == resources_.end()) {
    FZ_DEBUG(kLog, "Expiry update for unknown resource {}", resource.to_string());
    return false;
  }
  found->second.expires_at = expires_at;
  return true;
}

void ClientOnGateway::retain_authorizations(const std::set<ResourceId>& keep) {
  std::erase_if(resources_, [&](const auto& entry) {
    if (keep.contains(entry.first)) return false;
    FZ_INFO(kLog, "Revoking authorization of client {} for resource {}", id_.to_string(),
            entry.first.to_string());
    return true;
  });
  recalculate_filters();
}

std::vector<ResourceId> ClientOnGateway::expire_resources(UnixTime now) {
  std::vector<ResourceId> expired;
  std::erase_if(resources_, [&](const auto& entry) {
    const auto& expires_at = entry.second.expires_at;
    if (!expires_at || *expires_at > now) return false;
    FZ_INFO(kLog, "Access of client {} to resource {} expired", id_.to_string(),
            entry.first.to_string());
    expired.push_back(entry.first);
    return true;
  });
  if (!expired.empty()) recalculate_filters();
  return expired;
}

std::optional<UnixTime> ClientOnGateway::next_resource_expiry() const {
  std::optional<UnixTime> earliest;
  for (const auto& [rid, r] : resources_) {
    if (r.expires_at && (!earliest || *r.expires_at < *earliest)) earliest = r.expires_at;
  }
  return earliest;
}

std::optional<UnixTime> ClientOnGateway::resource_expiry(const ResourceId& resource) const {
  auto found = resources_.find(resource);
  if (found == resources_.end()) return std::nullopt;
  return found->second.expires_at;
}

// ---------------------------------------------------------------------------------------------
// Filters (§2.2)

void ClientOnGateway::covered_networks(const Authorized& resource, std::vector<net::Cidr>& out) {
  std::visit(
      [&](const auto& kind) {
        using T = std::decay_t<decltype(kind)>;
        if constexpr (std::is_same_v<T, CidrAccess>) {
          out.push_back(kind.network);
        } else if constexpr (std::is_same_v<T, DnsAccess>) {
          for (const auto& [domain, ips] : kind.domains) {
            for (const auto& ip : ips)
              out.push_back(net::Cidr::host(ip));
          }
        } else {
          out.push_back(net::Cidr(net::IpAddr::unspecified(net::IpFamily::v4), 0));
          out.push_back(net::Cidr(net::IpAddr::unspecified(net::IpFamily::v6), 0));
        }
      },
      resource.kind);
}

void ClientOnGateway::recalculate_filters() {
  filters_.clear();

  // 1. Every CIDR network gets the union of the filters of every resource covering it, so a
  //    narrow resource inside a wider one also allows what the wider one allows.
  std::vector<net::Cidr> networks;
  std::vector<const Filters*> lists;
  for (const auto& [rid, resource] : resources_) {
    const auto* cidr = std::get_if<CidrAccess>(&resource.kind);
    if (cidr == nullptr) continue;
    lists.clear();
    for (const auto& [other_id, other] : resources_) {
      networks.clear();
      covered_networks(other, networks);
      const bool covers = std::any_of(networks.begin(), networks.end(), [&](const net::Cidr& n) {
        return n.contains(cidr->network);
      });
      if (covers) lists.push_back(&other.filters);
    }
    filters_.insert(cidr->network, FilterEngine::from_lists(lists));
  }

  // 2. DNS resources only open their proxy IPs, each with that resource's filters alone.
  //    Translations of a resource that is gone stay (and revive if it comes back).
  for (const auto& [proxy_ip, translation] : translations_) {
    auto resource = resources_.find(translation.resource);
    if (resource == resources_.end()) continue;
    if (!std::holds_alternative<DnsAccess>(resource->second.kind)) continue;
    filters_.insert(net::Cidr::host(proxy_ip), FilterEngine::from_list(resource->second.filters));
  }

  // 3.
  internet_resource_enabled_ = std::any_of(resources_.begin(), resources_.end(), [](const auto& r) {
    return std::holds_alternative<InternetAccess>(r.second.kind);
  });
}

bool ClientOnGateway::ensure_allowed_resource(const net::IpAddr& ip,
                                              const L4Protocol& protocol) const {
  // The Internet resource opens everything except the proxy IPs of DNS resources.
  if (internet_resource_enabled_ && !is_proxy_ip(ip)) return true;
  const FilterEngine* filter = filters_.longest_match(ip);
  return filter != nullptr && filter->permits(protocol);
}

// ---------------------------------------------------------------------------------------------
// DNS-resource NAT (§3.2)

Status ClientOnGateway::setup_nat(std::string_view domain, const ResourceId& resource,
                                  std::span<const net::IpAddr> resolved_ips,
                                  std::span<const net::IpAddr> proxy_ips) {
  auto found = resources_.find(resource);
  if (found == resources_.end()) return Error(Errc::not_found, "Unknown resource");
  auto* dns = std::get_if<DnsAccess>(&found->second.kind);
  if (dns == nullptr) return Error(Errc::state, "Cannot setup NAT for non-DNS resource");
  if (!is_subdomain(domain, dns->address)) {
    return Error(Errc::state, "Domain does not match the resource address");
  }

  const std::vector<net::IpAddr> resolved = sorted_unique(resolved_ips);
  std::vector<net::IpAddr> proxies = sorted_unique(proxy_ips);
  // Genuine clients only pick proxy IPs from the proxy ranges; anything else would get a filter
  // entry for an arbitrary address (the reference accepts it, we do not).
  std::erase_if(proxies, [&](const net::IpAddr& ip) {
    if (is_proxy_ip(ip)) return false;
    FZ_DEBUG(kLog, "Ignoring proxy IP {} outside the proxy ranges", ip.to_string());
    return true;
  });

  std::vector<net::IpAddr> v4;
  std::vector<net::IpAddr> v6;
  for (const auto& ip : resolved)
    (ip.is_v4() ? v4 : v6).push_back(ip);
  // A family the domain lacks maps onto the other one; packets then get ICMP unreachable.
  const std::vector<net::IpAddr>& v4_targets = v4.empty() ? v6 : v4;
  const std::vector<net::IpAddr>& v6_targets = v6.empty() ? v4 : v6;

  std::size_t v4_index = 0;
  std::size_t v6_index = 0;
  for (const auto& proxy : proxies) {
    const auto& targets = proxy.is_v4() ? v4_targets : v6_targets;
    const std::size_t index = proxy.is_v4() ? v4_index++ : v6_index++;
    if (targets.empty()) continue;
    const net::IpAddr& real = targets[index % targets.size()];
    if (nat_.has_session_for_inside_ip(proxy)) {
      FZ_DEBUG(kLog, "Keeping NAT for {} ({}): it has live sessions", proxy.to_string(),
               std::string(domain));
      continue;
    }
    FZ_DEBUG(kLog, "DNS resource NAT {} {} -> {}", std::string(domain), proxy.to_string(),
             real.to_string());
    translations_.insert_or_assign(proxy, Translation{resource, real});
  }

  dns->domains.insert_or_assign(normalize_domain(domain), resolved);
  recalculate_filters();
  return {};
}

std::optional<net::IpAddr> ClientOnGateway::translation_for(const net::IpAddr& proxy_ip) const {
  auto found = translations_.find(proxy_ip);
  if (found == translations_.end()) return std::nullopt;
  return found->second.resolved_ip;
}

// ---------------------------------------------------------------------------------------------
// Client → resource (§4.3, §4.4)

OutboundVerdict ClientOnGateway::reply_with(const net::IpPacket& packet, net::IcmpErrorKind kind,
                                            Reason reason, MutBytes reply) const {
  FZ_DEBUG(kLog, "Client {} packet to {}: {}", id_.to_string(), packet.dst().to_string(),
           to_string(reason));
  auto len = net::build_icmp_error(reply, packet, kind);
  if (!len) return {OutboundVerdict::Action::drop, Reason::no_buffer, 0};
  return {OutboundVerdict::Action::reply, reason, *len};
}

OutboundVerdict ClientOnGateway::translate_outbound(net::IpPacket& packet, Instant now,
                                                    MutBytes reply) {
  using Action = OutboundVerdict::Action;
  if (is_unverifiable_fragment(packet)) return {Action::drop, Reason::fragment, 0};

  const net::IpFamily family = packet.family();
  const net::IpAddr dst = packet.dst();

  // §4.3
  if (packet.src() != client_tun_.of_family(family)) {
    return reply_with(packet, net::IcmpErrorKind::prohibited, Reason::spoofed_source, reply);
  }
  // The gateway's own tunnel IP needs no filter (this is how the 53535 forwarder is reached).
  if (dst == gateway_tun_.of_family(family)) return {Action::forward, Reason::none, 0};
  if (!ensure_allowed_resource(dst, destination_protocol(packet))) {
    return reply_with(packet, net::IcmpErrorKind::prohibited, Reason::filtered, reply);
  }

  // §4.4: CIDR and Internet resources go out untouched.
  if (!is_proxy_ip(dst)) return {Action::forward, Reason::none, 0};

  auto translation = translations_.find(dst);
  if (translation == translations_.end()) {
    return reply_with(packet, net::IcmpErrorKind::unreachable, Reason::no_translation, reply);
  }
  const net::IpAddr real_ip = translation->second.resolved_ip;
  if (real_ip.family() != family) {
    return reply_with(packet, net::IcmpErrorKind::unreachable, Reason::family_mismatch, reply);
  }

  const auto inside = nat_key(packet, /*source_id=*/true, dst);
  if (!inside) return {Action::drop, Reason::not_nattable, 0};
  auto outside = nat_.translate_outgoing(*inside, real_ip, packet.is_tcp_rst(), now);
  if (!outside) return {Action::drop, Reason::nat_exhausted, 0};
  if (!packet.translate_destination(outside->ip, outside->id)) {
    return {Action::drop, Reason::not_nattable, 0};
  }
  return {Action::forward, Reason::none, 0};
}

// ---------------------------------------------------------------------------------------------
// Resource → client (§5.2)

InboundVerdict ClientOnGateway::translate_inbound(net::IpPacket& packet, Instant now,
                                                  MutBytes scratch) {
  using Action = InboundVerdict::Action;
  const net::IpFamily family = packet.family();

  // Whatever the gateway host itself sends (DNS answers from port 53535, ...) passes.
  if (packet.src() == gateway_tun_.of_family(family)) return {Action::forward, Reason::none, 0};
  if (is_unverifiable_fragment(packet)) return {Action::drop, Reason::fragment, 0};

  std::optional<NatKey> outside;
  switch (packet.transport()) {
    case net::Transport::tcp:
    case net::Transport::udp:
      outside = nat_key(packet, /*source_id=*/false, packet.src());
      break;
    case net::Transport::icmpv4:
    case net::Transport::icmpv6: {
      if (packet.icmp_echo()) {
        outside = nat_key(packet, /*source_id=*/false, packet.src());
        break;
      }
      if (!packet.is_icmp_error()) return {Action::drop, Reason::unsupported_icmp, 0};
      auto error = net::parse_icmp_error(packet);
      if (!error) return {Action::drop, Reason::bad_icmp_error, 0};
      const auto quoted = quoted_outside_key(error->original);
      if (!quoted) return {Action::drop, Reason::bad_icmp_error, 0};
      const NatTable::Incoming session = nat_.lookup(*quoted);
      if (session.lookup == NatTable::Lookup::expired) {
        return {Action::drop, Reason::expired_nat_session, 0};
      }
      if (session.lookup == NatTable::Lookup::mapped) {
        // §5.4: the error is about a packet we DNATed: hand the client the error it would have
        // got from the proxy IP. Its destination is the client's IP and ICMP errors always pass.
        const net::IpAddr& client_ip = client_tun_.of_family(session.inside.ip.family());
        auto len = net::build_translated_icmp_error(scratch, *error, session.inside.ip, client_ip,
                                                    session.inside.id);
        if (!len) return {Action::drop, Reason::bad_icmp_error, 0};
        return {Action::forward_translated, Reason::none, *len};
      }
      // An error about CIDR/Internet traffic: passed on as it is.
      return inbound_after_nat(packet, {Action::forward, Reason::none, 0});
    }
    case net::Transport::none:
      // Other IP protocols have no L4 id and so no NAT session; they pass on to the filters.
      // (The reference drops them here, so their replies never reach a client even where the
      // filters allowed the request; see docs/compatibility.md.)
      break;
  }

  if (outside) {
    const NatTable::Incoming session = nat_.translate_incoming(*outside, packet.is_tcp_rst(), now);
    if (session.lookup == NatTable::Lookup::expired) {
      return {Action::drop, Reason::expired_nat_session, 0};
    }
    if (session.lookup == NatTable::Lookup::mapped &&
        !packet.translate_source(session.inside.ip, session.inside.id)) {
      return {Action::drop, Reason::not_nattable, 0};
    }
  }
  return inbound_after_nat(packet, {Action::forward, Reason::none, 0});
}

InboundVerdict ClientOnGateway::inbound_after_nat(const net::IpPacketView& packet,
                                                  InboundVerdict verdict) const {
  using Action = InboundVerdict::Action;
  if (packet.dst() != client_tun_.of_family(packet.family())) {
    return {Action::drop, Reason::not_client_ip, 0};
  }
  if (packet.is_icmp_error()) return verdict;
  if (!ensure_allowed_resource(packet.src(), source_protocol(packet))) {
    FZ_DEBUG(kLog, "Inbound packet from {} to client {} not allowed, perhaps from an old session",
             packet.src().to_string(), id_.to_string());
    return {Action::drop, Reason::filtered_inbound, 0};
  }
  return verdict;
}

// ---------------------------------------------------------------------------------------------
// In-tunnel control (§6.3, §6.4)

AssignedIpsOutcome ClientOnGateway::handle_assigned_ips(net::p2p_control::AssignedIps event) const {
  if (!is_allowed(event.resource)) {
    FZ_WARN(kLog, "Client {} sent AssignedIps for resource {} that is not allowed", id_.to_string(),
            event.resource.to_string());
    return net::p2p_control::DomainStatus{event.resource, std::move(event.domain),
                                          net::p2p_control::ResolutionStatus::inactive};
  }
  return ResolveDnsRequest{std::move(event.domain), id_, event.resource,
                           std::move(event.proxy_ips)};
}

net::p2p_control::DomainStatus ClientOnGateway::handle_domain_resolved(
    const ResolveDnsRequest& request, const Result<std::vector<net::IpAddr>>& resolved) {
  using net::p2p_control::ResolutionStatus;
  net::p2p_control::DomainStatus status{request.resource, request.domain,
                                        ResolutionStatus::inactive};
  if (!resolved) {
    FZ_WARN(kLog, "Failed to resolve {} for client {}: {}", request.domain, id_.to_string(),
            resolved.error().to_string());
    return status;
  }
  if (auto setup = setup_nat(request.domain, request.resource, *resolved, request.proxy_ips);
      !setup) {
    FZ_WARN(kLog, "Failed to setup DNS resource NAT for {}: {}", request.domain,
            setup.error().to_string());
    return status;
  }
  status.status = ResolutionStatus::active;
  return status;
}

// ---------------------------------------------------------------------------------------------

void ClientOnGateway::handle_timeout(Instant now) {
  nat_.handle_timeout(now);
}

}  // namespace fz::gateway
