#!/usr/bin/env bash
# A guided demonstration of the gateway, end to end, on this machine (needs root and Debian 12):
# installs the dependencies, builds the release binaries, then in network namespaces starts
# coturn, the development portal, the gateway, a resource host and the test client, and shows
#   1. the flow being authorized and the connection established (direct), with ping and curl;
#   2. a 5 s iperf3 figure through the tunnel;
#   3. the same connection relayed through coturn when the direct path is blocked;
#   4. a revocation: the gateway says goodbye and the client drops the connection at once.
# Everything is torn down at the end (or on Ctrl-C). KEEP_LOGS=1 keeps the logs.
set -euo pipefail
cd "$(dirname "$0")/.."
say() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

if [ "$(id -u)" != 0 ]; then echo "the demo needs root (network namespaces, TUN devices)"; exit 1; fi
say "Installing dependencies and building (release)"
scripts/install-deps.sh >/dev/null
export CCACHE_BASEDIR="$PWD" CCACHE_NOHASHDIR=true
cmake --preset release >/dev/null
cmake --build --preset release --target firezone-gateway fz-dev-portal fz-client

GATEWAY_BIN=$PWD/build/release/src/app/firezone-gateway
PORTAL_BIN=$PWD/build/release/tools/dev-portal/fz-dev-portal
CLIENT_BIN=$PWD/build/release/tools/fz-client/fz-client
set +e
. tests/e2e/lib.sh
trap e2e_cleanup EXIT
trap 'exit 1' INT TERM
T0=$(date +%s)

status_line() { grep '"event":"status"' "$E2E_WORK/client.log" | tail -1; }
cping() { ip netns exec "$CLIENT" ping "$@"; }

say "Starting the topology in namespaces: portal, coturn, gateway, resources, and the client behind a NAT router"
e2e_setup
e2e_start_relay
e2e_start_resources
e2e_start_portal
e2e_start_gateway
e2e_wait_for 20 e2e_gateway_ready || e2e_fail "the gateway did not become ready"
echo "gateway ready: $(ip netns exec "$GW" curl -s -w ' (%{http_code})' http://127.0.0.1:8080/readyz)"
e2e_client_resolver
e2e_start_client

say "1. The first packet to $RES_IP makes the client ask the portal for a flow"
e2e_wait_for 30 cping -c1 -W1 "$RES_IP" || e2e_fail "no reply through the tunnel"
grep -E 'Allowing access|established' "$E2E_WORK/gateway.log" | sed 's/^/   gateway: /'
echo "   client:  $(status_line)"
cping -c3 -i0.3 "$RES_IP" | sed 's/^/   /'
echo "   curl http://$RES_IP/ -> $(ip netns exec "$CLIENT" curl -s --max-time 5 "http://$RES_IP/")"
echo "   curl http://web.res.test/ (a DNS resource, through a proxy IP) -> $(ip netns exec "$CLIENT" curl -s --max-time 10 http://web.res.test/)"

say "2. iperf3 through the tunnel for 5 s"
ip netns exec "$CLIENT" iperf3 -c "$RES_IP" -t 5 -f m 2>&1 | grep -E 'sender|receiver' | sed 's/^/   /'
echo "   the gateway's own view (GET /metrics on its health address):"
ip netns exec "$GW" curl -s http://127.0.0.1:8080/metrics |
  grep -E '^firezone_gateway_(clients|connections\{state="connected"\}|connection_paths\{path="direct"\}|bytes_total)' |
  sed 's/^/     /'

say "3. Blocking the direct path: ICE moves the same connection to coturn (the session stays)"
e2e_block_direct
e2e_wait_for 30 grep -q '"path":"relayed"' "$E2E_WORK/client.log" || e2e_fail "no relayed path"
echo "   client:  $(grep '"path":"relayed"' "$E2E_WORK/client.log" | tail -1)"
cping -c3 -i0.3 "$RES_IP" | sed 's/^/   /'

say "4. Revoking access: the gateway says goodbye, the client drops the connection at once"
before=$(grep -c '"reason":"goodbye"' "$E2E_WORK/client.log")
t0=$(e2e_now_ms)
# The client holds two resources (the CIDR and the DNS one); removing the last one ends the
# connection.
e2e_control POST /reject_access "{\"client_id\":\"$CLIENT_ID\",\"resource_id\":\"$DNS_RESOURCE\"}" >/dev/null
e2e_control POST /reject_access "{\"client_id\":\"$CLIENT_ID\",\"resource_id\":\"$CIDR_RESOURCE\"}" >/dev/null
e2e_wait_for 5 sh -c "[ \$(grep -c '\"reason\":\"goodbye\"' $E2E_WORK/client.log) -gt $before ]" ||
  e2e_fail "no goodbye"
echo "   goodbye seen by the client $(($(e2e_now_ms) - t0)) ms after reject_access (without it: a 15 s ICE timeout)"
echo "   client:  $(grep '"reason":"goodbye"' "$E2E_WORK/client.log" | tail -1)"

say "Done in $(($(date +%s) - T0)) s after the build; tearing everything down"
