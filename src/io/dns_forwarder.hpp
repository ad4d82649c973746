// The gateway's DNS forwarder on `<tun ip>:53535` (spec gateway-dataplane §7).
//
// Clients send the queries that must be resolved at the site (SRV/TXT of DNS resources, upstream
// resolvers inside CIDR resources) to the gateway's tunnel address. Every valid query is relayed
// unchanged over the transport it came in on to an upstream nameserver; the answer comes back
// byte for byte, except that UDP answers over 1200 bytes are cut after the question with TC set,
// so the client retries over TCP, where answers return whole.
//
// Upstream choice: the upstream with the lowest smoothed RTT (dns::UpstreamSelector) is asked
// first; if it does not answer within `attempt_timeout` (or fails), the next one is asked, until
// `query_timeout` is used up; then the client gets SERVFAIL. A malformed query is dropped with a
// debug line. Upstream sockets carry the Firezone fwmark; the listening sockets do not, so
// replies follow the Firezone routing table back into the tunnel.
//
//   io::DnsForwarder forwarder(io, {{tun_v4, 53535}, {tun_v6, 53535}}, {}, {});
//   if (auto s = forwarder.start(); !s) fail(s.error());
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "base/result.hpp"
#include "base/time.hpp"
#include "net/ip_addr.hpp"

namespace boost::asio {
class io_context;
}

namespace fz::io {

constexpr std::uint16_t kTunDnsPort = 53535;

struct ForwarderOptions {
  Duration query_timeout = std::chrono::seconds(5);    // the whole exchange, all attempts
  Duration attempt_timeout = std::chrono::seconds(2);  // one upstream
  std::size_t max_in_flight = 1000;                    // more: the query is dropped
  Duration tcp_idle_timeout = std::chrono::seconds(30);
  std::size_t max_tcp_connections = 1000;  // more: new connections are closed at once
  std::size_t udp_answer_limit = 1200;
  std::uint32_t fwmark = 0xfd002021;             // on upstream sockets; 0: none
  std::string resolv_conf = "/etc/resolv.conf";  // read when no upstreams are given
};

struct ForwarderStats {
  std::uint64_t udp_queries = 0;
  std::uint64_t tcp_queries = 0;
  std::uint64_t malformed = 0;  // dropped queries
  std::uint64_t dropped_full = 0;
  std::uint64_t answered = 0;  // relayed upstream answers
  std::uint64_t truncated = 0;
  std::uint64_t servfail = 0;
  std::uint64_t attempt_failures = 0;  // timeouts and errors of single upstream attempts
};

class DnsForwarder {
 public:
  // Empty `upstreams`: the nameservers of options.resolv_conf (port 53), read by start().
  DnsForwarder(boost::asio::io_context& io, std::vector<net::SocketAddr> listen,
               std::vector<net::SocketAddr> upstreams, ForwarderOptions options = {});
  ~DnsForwarder();
  DnsForwarder(const DnsForwarder&) = delete;
  DnsForwarder& operator=(const DnsForwarder&) = delete;

  // Binds UDP and TCP on every listen address. Succeeds if at least one address could be bound
  // (the reference fails only when both families fail); failures are logged. Errors when nothing
  // could be bound or resolv.conf cannot be read.
  Status start();
  // Closes the listeners and every connection; queries in flight are abandoned.
  void stop();

  // The bound addresses (with the real port when 0 was asked for).
  std::vector<net::SocketAddr> udp_addresses() const;
  std::vector<net::SocketAddr> tcp_addresses() const;
  const std::vector<net::SocketAddr>& upstreams() const;
  // Current smoothed RTT estimate per upstream, in the order of upstreams().
  std::vector<Duration> upstream_estimates() const;
  const ForwarderStats& stats() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace fz::io
