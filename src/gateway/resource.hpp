// What the portal authorizes a client to reach, as the gateway's data plane sees it
// (gateway-dataplane §1.2, §2.1), and the fixed address ranges of a Firezone network (§0).
//
// These are the gateway's own small value types, not the portal's message structs, so that the
// data plane does not depend on the JSON layer; GatewayState converts one into the other field by
// field (the shapes are identical).
#pragma once

#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include "base/uuid.hpp"
#include "net/ip_addr.hpp"

namespace fz::gateway {

using ClientId = Uuid;
using ResourceId = Uuid;

// Client and gateway tunnel addresses.
inline constexpr net::Cidr kIpv4Tunnel{net::IpAddr::v4(100, 64, 0, 0), 11};
inline constexpr net::Cidr kIpv6Tunnel{net::IpAddr::v6(0xfd00, 0x2021, 0x1111, 0, 0, 0, 0, 0), 107};
// Proxy IPs that clients invent for DNS resources.
inline constexpr net::Cidr kIpv4Resources{net::IpAddr::v4(100, 96, 0, 0), 11};
inline constexpr net::Cidr kIpv6Resources{
    net::IpAddr::v6(0xfd00, 0x2021, 0x1111, 0x8000, 0, 0, 0, 0), 107};

// In 100.64.0.0/11 or fd00:2021:1111::/107: a client's (or the gateway's) tunnel address.
constexpr bool is_tunnel_ip(const net::IpAddr& ip) {
  return kIpv4Tunnel.contains(ip) || kIpv6Tunnel.contains(ip);
}
// In 100.96.0.0/11 or fd00:2021:1111:8000::/107: a DNS-resource proxy IP.
constexpr bool is_proxy_ip(const net::IpAddr& ip) {
  return kIpv4Resources.contains(ip) || kIpv6Resources.contains(ip);
}

// A pair of tunnel addresses, one per family (a client's or the gateway's).
struct IpConfig {
  net::IpAddr v4;
  net::IpAddr v6;

  bool contains(const net::IpAddr& ip) const { return ip == v4 || ip == v6; }
  const net::IpAddr& of_family(net::IpFamily family) const {
    return family == net::IpFamily::v4 ? v4 : v6;
  }
  friend bool operator==(const IpConfig&, const IpConfig&) = default;
};

// ---------------------------------------------------------------------------------------------
// Filters (§2.1)

enum class FilterProtocol : std::uint8_t { tcp, udp, icmp };

// One element of a resource's filter list. Ports are inclusive; ICMP ignores them. A range whose
// start lies after its end matches nothing.
struct Filter {
  FilterProtocol protocol = FilterProtocol::icmp;
  std::uint16_t port_range_start = 0;
  std::uint16_t port_range_end = 65535;
  friend bool operator==(const Filter&, const Filter&) = default;
};

// An empty list permits everything.
using Filters = std::vector<Filter>;

// ---------------------------------------------------------------------------------------------
// Resources (§1.2)

struct CidrResource {
  ResourceId id;
  net::Cidr address;
  Filters filters;
  friend bool operator==(const CidrResource&, const CidrResource&) = default;
};

struct DnsResource {
  ResourceId id;
  std::string address;  // a domain pattern (§3.6): `app.example.com`, `*.example.com`, ...
  Filters filters;
  friend bool operator==(const DnsResource&, const DnsResource&) = default;
};

// 0.0.0.0/0 and ::/0 without filters.
struct InternetResource {
  ResourceId id;
  friend bool operator==(const InternetResource&, const InternetResource&) = default;
};

using ResourceDescription = std::variant<CidrResource, DnsResource, InternetResource>;

inline ResourceId resource_id(const ResourceDescription& resource) {
  return std::visit([](const auto& r) { return r.id; }, resource);
}

}  // namespace fz::gateway
