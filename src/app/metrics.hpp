// Prometheus metrics of the gateway, served by the health server at GET /metrics (text exposition
// format 0.0.4). Counters only ever grow for the life of the process; gauges are snapshots.
// Nothing here names a client, a resource or a secret: every series is process-wide, so the
// cardinality is fixed.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "gateway/state.hpp"
#include "io/tun_device.hpp"
#include "io/udp_socket.hpp"
#include "p2p/node.hpp"

namespace fz::app {

struct MetricsSnapshot {
  std::string version;           // this build
  std::string protocol_version;  // the connlib version announced to the portal
  bool ready = false;            // what /readyz says
  bool portal_joined = false;
  std::uint64_t portal_joins = 0;  // successful joins of the gateway channel
  std::size_t clients = 0;         // clients with at least one authorization
  p2p::ConnectionCounts connections;
  std::size_t relays = 0;
  gateway::GatewayStats gateway;
  std::optional<io::UdpStats> udp4;
  std::optional<io::UdpStats> udp6;
  io::TunStats tun;
  std::uint64_t resident_memory_bytes = 0;
  double start_time_seconds = 0;  // Unix time the process started
};

std::string render_metrics(const MetricsSnapshot& snapshot);

// The process's resident set size from /proc/self/statm; 0 if unreadable.
std::uint64_t resident_memory_bytes();

}  // namespace fz::app
