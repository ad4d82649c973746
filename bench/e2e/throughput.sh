#!/usr/bin/env bash
# Throughput and latency of the data plane, side by side, on this machine (needs root):
#   (a) fz-client -> firezone-gateway -> resource, direct path
#   (b) the same, relayed through coturn (direct client<->gateway traffic dropped)
#   (c) two wireguard-go peers (Debian's, configured with `wg`) across the same veths: one in the
#       client's namespace, one in the gateway's, forwarding to the same resource host
# For each: iperf3 TCP single stream both directions, iperf3 UDP at a fixed offered load with its
# loss, the ping RTT added over the plain veths, and the connection setup time. Prints a table
# and the ratios to (c). A benchmark, not a test: it never fails on a figure.
#
# Usage: bench/e2e/throughput.sh [BUILD_DIR]   (default build/release; built if missing)
# Knobs: DURATION (s per iperf3 run, default 10), UDP_RATE (default 600M), WG_MTUS (default
#        "1280 1420": wireguard-go runs once per MTU; 1280 is Firezone's tunnel MTU and the
#        baseline of the ratios, 1420 wireguard-go's own default), KEEP_LOGS=1.
set -uo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
BUILD=${1:-build/release}
DURATION=${DURATION:-10}
UDP_RATE=${UDP_RATE:-600M}
WG_MTUS=${WG_MTUS:-1280 1420}
say() { printf '\n==> %s\n' "$*" >&2; }

if [ "$(id -u)" != 0 ]; then echo "needs root (network namespaces, TUN devices)"; exit 1; fi
for tool in iperf3 wireguard-go wg turnserver python3 ping; do
  command -v "$tool" >/dev/null || { echo "$tool is not installed (scripts/install-deps.sh)"; exit 1; }
done
if [ ! -x "$BUILD/src/app/firezone-gateway" ] || [ ! -x "$BUILD/tools/fz-client/fz-client" ]; then
  say "building $BUILD"
  export CCACHE_BASEDIR="$ROOT" CCACHE_NOHASHDIR=true
  cmake --preset release >/dev/null
  cmake --build --preset release --target firezone-gateway fz-dev-portal fz-client >&2
  BUILD=build/release
fi
GATEWAY_BIN=$ROOT/$BUILD/src/app/firezone-gateway
PORTAL_BIN=$ROOT/$BUILD/tools/dev-portal/fz-dev-portal
CLIENT_BIN=$ROOT/$BUILD/tools/fz-client/fz-client

. tests/e2e/lib.sh
trap e2e_cleanup EXIT
trap 'exit 1' INT TERM
RESULTS=$E2E_WORK/results.txt
: >"$RESULTS"

# --- measurements ---------------------------------------------------------------------------------
# iperf3 from the client namespace to the resource; prints Mbit/s at the receiver.
tcp_mbps() {
  local reverse=$1
  ip netns exec "$CLIENT" iperf3 -c "$RES_IP" -t "$DURATION" -O 1 $reverse -J >"$E2E_WORK/iperf.json" 2>&1
  python3 - "$E2E_WORK/iperf.json" <<'PY'
import json, sys
try:
    print("%.0f" % (json.load(open(sys.argv[1]))["end"]["sum_received"]["bits_per_second"] / 1e6))
except Exception:
    print("nan")
PY
}

# UDP at UDP_RATE with 1200-byte datagrams (fits every tunnel MTU here); prints "Mbit/s loss%".
udp_result() {
  ip netns exec "$CLIENT" iperf3 -c "$RES_IP" -u -b "$UDP_RATE" -l 1200 -t "$DURATION" -J \
    >"$E2E_WORK/iperf-udp.json" 2>&1
  python3 - "$E2E_WORK/iperf-udp.json" <<'PY'
import json, sys
try:
    s = json.load(open(sys.argv[1]))["end"]["sum"]
    print("%.0f %.2f" % (s["bits_per_second"] / 1e6 * (1 - s["lost_percent"] / 100), s["lost_percent"]))
except Exception:
    print("nan nan")
PY
}

# Average RTT in ms of 50 pings at 20 ms intervals.
avg_rtt() {
  ip netns exec "$1" ping -q -c 50 -i 0.02 -W 1 "$2" 2>/dev/null |
    sed -n 's|^rtt [^=]*= [0-9.]*/\([0-9.]*\)/.*|\1|p'
}

# The RTT of the same two hops without a tunnel: client -> gateway host plus gateway -> resource.
plain_rtt() {
  python3 -c "print('%.3f' % ($(avg_rtt "$CLIENT" "$GW_IP") + $(avg_rtt "$GW" "$RES_IP")))"
}

# Runs the four measurements for one configuration and appends a result line.
measure() {
  local name=$1 setup_ms=$2
  say "$name: TCP client->resource, ${DURATION} s"
  local up down udp rtt plain
  up=$(tcp_mbps "")
  say "$name: TCP resource->client, ${DURATION} s"
  down=$(tcp_mbps -R)
  say "$name: UDP at $UDP_RATE"
  udp=$(udp_result)
  say "$name: ping RTT"
  rtt=$(avg_rtt "$CLIENT" "$RES_IP")
  plain=$(plain_rtt)
  local added
  added=$(python3 -c "print('%.3f' % (${rtt:-nan} - ${plain:-nan}))")
  echo "$name $up $down $udp $added $setup_ms" >>"$RESULTS"
  echo "   TCP up $up Mbit/s, down $down Mbit/s; UDP ${udp% *} Mbit/s, loss ${udp#* } %; RTT added ${added} ms; setup ${setup_ms} ms" >&2
}

# Starts a fast ping at the resource; returns (prints) the ms from the gateway's receipt of
# authorize_flow ("Allowing access" in its log) to the first echo reply.
setup_time_ms() {
  ip netns exec "$CLIENT" ping -i 0.005 -c 2000 -W 1 -D "$RES_IP" >"$E2E_WORK/setup-ping.txt" 2>&1 &
  local pid=$!
  e2e_wait_for 20 grep -q 'bytes from' "$E2E_WORK/setup-ping.txt"
  kill "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  python3 - "$E2E_WORK/gateway.log" "$E2E_WORK/setup-ping.txt" <<'PY'
import datetime, re, sys
auth = None
for line in open(sys.argv[1]):
    if "Allowing access" in line:
        ts = line.split()[0].rstrip("Z")
        auth = datetime.datetime.fromisoformat(ts).replace(tzinfo=datetime.timezone.utc).timestamp()
        break
m = re.search(r"^\[([0-9.]+)\].*bytes from", open(sys.argv[2]).read(), re.M)
print("%.1f" % ((float(m.group(1)) - auth) * 1000) if auth and m else "nan")
PY
}

firezone_run() {
  local name=$1
  e2e_start_gateway
  e2e_wait_for 20 e2e_gateway_ready || e2e_fail "gateway not ready"
  e2e_start_client
  e2e_wait_for 10 grep -q '"event":"tun_configured"' "$E2E_WORK/client.log" ||
    e2e_fail "client did not configure its TUN"
  local setup
  setup=$(setup_time_ms)
  measure "$name" "$setup"
  e2e_stop "$CLIENT_PID"
  e2e_stop "$GATEWAY_PID"
  mv "$E2E_WORK/gateway.log" "$E2E_WORK/gateway-$name.log"
  mv "$E2E_WORK/client.log" "$E2E_WORK/client-$name.log"
}

# --- topology ------------------------------------------------------------------------------------
say "starting the topology (tests/e2e/lib.sh)"
e2e_setup
e2e_start_relay
e2e_start_resources
e2e_start_portal
e2e_client_resolver
GATEWAY_LOG=${GATEWAY_LOG:-info}
CLIENT_LOG=${CLIENT_LOG:-warn}

say "(a) Firezone, direct path"
firezone_run a-direct

say "(b) Firezone, relayed through coturn"
e2e_block_direct
firezone_run b-relayed
e2e_unblock_direct

say "(c) wireguard-go, same veths"
WGC=wgc$E2E_ID
WGG=wgg$E2E_ID
WGC=${WGC:0:15}
WGG=${WGG:0:15}
umask 077
wg genkey >"$E2E_WORK/c.key"
wg genkey >"$E2E_WORK/g.key"
wg pubkey <"$E2E_WORK/c.key" >"$E2E_WORK/c.pub"
wg pubkey <"$E2E_WORK/g.key" >"$E2E_WORK/g.pub"
e2e_spawn "$GW" wg-gateway wireguard-go -f "$WGG"
e2e_spawn "$CLIENT" wg-client wireguard-go -f "$WGC"
e2e_wait_for 10 test -S "/var/run/wireguard/$WGG.sock" -a -S "/var/run/wireguard/$WGC.sock" ||
  e2e_fail "wireguard-go did not start"
ip netns exec "$GW" wg set "$WGG" listen-port 51820 private-key "$E2E_WORK/g.key" \
  peer "$(cat "$E2E_WORK/c.pub")" allowed-ips 100.64.0.10/32
ip -n "$GW" addr add 100.64.0.1/32 dev "$WGG"
ip -n "$GW" link set "$WGG" up
ip -n "$GW" route add 100.64.0.10/32 dev "$WGG"
ip netns exec "$CLIENT" wg set "$WGC" listen-port 51820 private-key "$E2E_WORK/c.key" \
  peer "$(cat "$E2E_WORK/g.pub")" endpoint "$GW_IP:51820" allowed-ips "100.64.0.1/32,$RES_NET"
ip -n "$CLIENT" addr add 100.64.0.10/32 dev "$WGC"
ip -n "$CLIENT" link set "$WGC" up
ip -n "$CLIENT" route add "$RES_NET" dev "$WGC" src 100.64.0.10
t0=$(e2e_now_ms)
ip netns exec "$CLIENT" ping -i 0.005 -c 2000 -W 1 -D "$RES_IP" >"$E2E_WORK/setup-ping.txt" 2>&1 &
PING=$!
e2e_wait_for 20 grep -q 'bytes from' "$E2E_WORK/setup-ping.txt" || e2e_fail "wireguard-go tunnel down"
kill "$PING" 2>/dev/null
wait "$PING" 2>/dev/null
WG_SETUP=$(python3 - "$E2E_WORK/setup-ping.txt" "$t0" <<'PY'
import re, sys
m = re.search(r"^\[([0-9.]+)\].*bytes from", open(sys.argv[1]).read(), re.M)
print("%.1f" % (float(m.group(1)) * 1000 - int(sys.argv[2])) if m else "nan")
PY
)
for mtu in $WG_MTUS; do
  ip -n "$GW" link set "$WGG" mtu "$mtu"
  ip -n "$CLIENT" link set "$WGC" mtu "$mtu"
  measure "c-wg-go-mtu$mtu" "$WG_SETUP"
done
rm -f "/var/run/wireguard/$WGG.sock" "/var/run/wireguard/$WGC.sock"

# --- report --------------------------------------------------------------------------------------
echo
echo "machine: $(nproc) cores, $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1), kernel $(uname -r)"
echo "binaries: $BUILD; iperf3 ${DURATION} s per run; UDP offered load $UDP_RATE; wireguard-go MTUs $WG_MTUS"
python3 - "$RESULTS" <<'PY'
import sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
names = ["TCP up Mbit/s", "TCP down Mbit/s", "UDP Mbit/s", "UDP loss %", "RTT added ms", "setup ms"]
base = next((r for r in rows if r[0].startswith("c-")), None)
print("%-16s" % "" + "".join("%17s" % n for n in names))
for r in rows:
    print("%-16s" % r[0] + "".join("%17s" % v for v in r[1:]))
if base:
    print("ratios to %s:" % base[0])
    for r in rows:
        if r[0] == base[0]:
            continue
        def ratio(i):
            try:
                return "%.2fx" % (float(r[i]) / float(base[i]))
            except (ValueError, ZeroDivisionError):
                return "-"
        print("%-16s" % r[0] + "".join("%17s" % ratio(i) for i in (1, 2, 3)))
PY
