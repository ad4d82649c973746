#!/usr/bin/env bash
# End-to-end smoke test (issue 10): fz-dev-portal + coturn + firezone-gateway + fz-client in
# namespaces, one CIDR resource, a ping that succeeds through the tunnel; then SIGTERM of the
# gateway with the client connected: the client gets a goodbye and the gateway exits 0 in 1.5 s.
# Usage: smoke.sh GATEWAY_BIN PORTAL_BIN CLIENT_BIN
set -u
GATEWAY_BIN=${1:?usage: smoke.sh GATEWAY_BIN PORTAL_BIN CLIENT_BIN}
PORTAL_BIN=${2:?usage}
CLIENT_BIN=${3:?usage}
. "$(dirname "$0")/lib.sh"
e2e_skip_unless_ready curl ping
trap e2e_cleanup EXIT
trap 'exit 1' INT TERM

e2e_setup
e2e_start_relay
e2e_start_resources
e2e_start_portal
e2e_start_gateway
e2e_wait_for 20 e2e_gateway_ready || e2e_fail "gateway not ready"
e2e_start_client

# The first packets trigger create_flow; the connection comes up and the ping gets through.
e2e_wait_for 30 ip netns exec "$CLIENT" ping -c1 -W1 "$RES_IP" ||
  e2e_fail "no ping reply through the tunnel"
ip netns exec "$CLIENT" ping -c3 -i0.2 -W2 "$RES_IP" >"$E2E_WORK/ping.txt" 2>&1 ||
  e2e_fail "ping lost packets: $(cat "$E2E_WORK/ping.txt")"
echo "ok: $(grep -E 'packets transmitted' "$E2E_WORK/ping.txt")"
e2e_wait_for 5 grep -q '"event":"status".*"state":"connected"' "$E2E_WORK/client.log" ||
  e2e_fail "the client never reported a connected status line"
grep -q '"path":"direct"' "$E2E_WORK/client.log" || e2e_fail "expected a direct path"
echo "ok: client status line reports a direct connection"

# Graceful shutdown with a connected client (issue 9, test 4).
start=$(date +%s%N)
e2e_stop "$GATEWAY_PID"
rc=$?
elapsed_ms=$((($(date +%s%N) - start) / 1000000))
[ $rc = 0 ] || e2e_fail "gateway exit code $rc after SIGTERM"
[ $elapsed_ms -le 1500 ] || e2e_fail "gateway took $elapsed_ms ms to exit"
e2e_wait_for 2 grep -qi 'goodbye' "$E2E_WORK/client.log" ||
  e2e_fail "the client did not see a goodbye"
echo "ok: SIGTERM -> goodbye at the client, exit 0 in $elapsed_ms ms"

warnings=$(e2e_gateway_warnings)
[ -z "$warnings" ] || e2e_fail "unexpected gateway warnings: $warnings"
echo PASS
