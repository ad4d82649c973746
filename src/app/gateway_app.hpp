// The gateway process: one Boost.Asio event loop that owns the GatewayState (sans-IO core), the
// portal connection, the TUN device, the UDP sockets, the DNS resolver and forwarder, the health
// endpoint and the signal handling (DESIGN.md §3, gateway-dataplane §9 and §11).
//
// Every input (a UDP batch, a TUN batch, a portal message, a DNS answer, the timer) is fed to the
// core with the current time; afterwards the loop drains the core's outputs (datagrams, TUN
// packets, events) and re-arms its single timer at the core's poll_timeout(). No other thread
// touches the core.
#pragma once

#include "app/config.hpp"

namespace fz::app {

// True if the process runs as root or has CAP_NET_ADMIN in its effective set.
bool has_net_admin();

// The message the reference prints when the check fails.
inline constexpr const char* kNeedsNetAdmin =
    "firezone-gateway needs to be executed as `root` or with the `CAP_NET_ADMIN` capability.\n"
    "See https://www.firezone.dev/kb/deploy/gateways#permissions for details.";

// Runs the gateway until it is told to stop; returns the process exit code: 0 after a graceful
// shutdown (or a second signal), 1 on a fatal error or a shutdown that could not flush in 1 s.
int run_gateway(const Config& config);

}  // namespace fz::app
