// The `nameserver` lines of resolv.conf(5), which the forwarder and the resolver use as
// upstreams when no override is configured.
#pragma once

#include <string_view>
#include <vector>

#include "net/ip_addr.hpp"

namespace fz::dns {

// Every `nameserver <ip>` line in order, each with port 53. Comments (`#`, `;`), other keywords
// and unparseable addresses are skipped; an IPv6 address with a zone (`fe80::1%eth0`) is skipped
// because the upstream sockets are not bound to an interface.
std::vector<net::SocketAddr> parse_resolv_conf(std::string_view text);

}  // namespace fz::dns
