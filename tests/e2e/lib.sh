#!/usr/bin/env bash
# Shared topology for the end-to-end tests, the demo and the throughput benchmark.
#
# Namespaces (names carry a per-run id, so runs never collide):
#   $SW   a bridge (br0) joining the "internet" side: 203.0.113.0/25 and 2001:db8:e2e::/64
#   $PORTAL   fz-dev-portal           203.0.113.2   2001:db8:e2e::2
#   $RELAY    coturn on 3478          203.0.113.3   2001:db8:e2e::3
#   $RELAY2   a second coturn (only with E2E_RELAY2=1)  203.0.113.6   2001:db8:e2e::6
#   $GW       firezone-gateway        203.0.113.4   2001:db8:e2e::4   + 198.51.100.1 / 2001:db8:5::1
#   $ROUTER   the client's router     203.0.113.7   2001:db8:e2e::7   + 203.0.113.129 / 2001:db8:c1::1
#   $CLIENT   fz-client               203.0.113.130 2001:db8:c1::130  (a LAN behind the router)
#   $RES      resources (HTTP, iperf3, dnsmasq) 198.51.100.10 / 2001:db8:5::10, behind the gateway
# The router masquerades the client's LAN (IPv4 and IPv6), as a home or office router does, so
# the client reaches the gateway through NAT and ICE has to punch through it; E2E_CLIENT_NAT=0
# routes the LAN without NAT instead. The router can also drop direct client<->gateway traffic
# (e2e_block_direct), so the path must go through the relay.
# The gateway forwards and masquerades towards the resources the way the reference's install
# script sets a host up.
#
# Every daemon is started as a simple background command; its PID goes into PIDS and the EXIT trap
# kills them, waits for them and deletes the namespaces. Source this file, then call e2e_setup.
set -u

E2E_ID=${E2E_ID:-$$}
SW=fze$E2E_ID-sw
PORTAL=fze$E2E_ID-portal
RELAY=fze$E2E_ID-relay
RELAY2=fze$E2E_ID-relay2
GW=fze$E2E_ID-gw
CLIENT=fze$E2E_ID-client
ROUTER=fze$E2E_ID-router
RES=fze$E2E_ID-res
ALL_NS="$CLIENT $ROUTER $GW $RES $RELAY $RELAY2 $PORTAL $SW"

PORTAL_IP=203.0.113.2
RELAY_IP=203.0.113.3
RELAY_IP6=2001:db8:e2e::3
RELAY2_IP=203.0.113.6
RELAY2_IP6=2001:db8:e2e::6
GW_IP=203.0.113.4
GW_IP6=2001:db8:e2e::4
ROUTER_IP=203.0.113.7
ROUTER_IP6=2001:db8:e2e::7
CLIENT_IP=203.0.113.130
CLIENT_IP6=2001:db8:c1::130
RES_IP=198.51.100.10
RES_IP6=2001:db8:5::10
RES_NET=198.51.100.0/24
RES_NET6=2001:db8:5::/64

E2E_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
E2E_PIDS=()
E2E_CLEAN_DIRS=()
E2E_WORK=${E2E_WORK:-$(mktemp -d /tmp/fz-e2e.XXXXXX)}

e2e_skip_unless_ready() {
  if [ "$(id -u)" != 0 ]; then echo "SKIP: needs root for network namespaces"; exit 77; fi
  local tool
  for tool in ip turnserver iptables python3 "$@"; do
    command -v "$tool" >/dev/null 2>&1 || { echo "SKIP: $tool not installed"; exit 77; }
  done
}

e2e_cleanup() {
  local pid ns
  for pid in "${E2E_PIDS[@]}"; do kill "$pid" 2>/dev/null; done
  for pid in "${E2E_PIDS[@]}"; do wait "$pid" 2>/dev/null; done
  for ns in $ALL_NS; do ip netns del "$ns" 2>/dev/null; done
  for d in "${E2E_CLEAN_DIRS[@]}"; do rm -rf "$d"; done
  if [ "${KEEP_LOGS:-}" = 1 ]; then echo "logs kept in $E2E_WORK"; else rm -rf "$E2E_WORK"; fi
}

e2e_fail() {
  echo "FAIL: $*"
  local f
  for f in "$E2E_WORK"/*.log; do [ -f "$f" ] && { echo "--- $f"; tail -n 80 "$f"; }; done
  exit 1
}

# Runs "$@" in the background inside namespace $1, logging to $E2E_WORK/<name>.log; sets LAST_PID.
e2e_spawn() {
  local ns=$1 name=$2
  shift 2
  ip netns exec "$ns" "$@" >"$E2E_WORK/$name.log" 2>&1 &
  LAST_PID=$!
  E2E_PIDS+=("$LAST_PID")
}

# Stops one daemon started with e2e_spawn (SIGTERM, then waits); returns its exit code.
e2e_stop() {
  local pid=$1 rc
  kill -TERM "$pid" 2>/dev/null
  wait "$pid"
  rc=$?
  local kept=()
  for p in "${E2E_PIDS[@]}"; do [ "$p" != "$pid" ] && kept+=("$p"); done
  E2E_PIDS=("${kept[@]}")
  return $rc
}

# Polls "$@" every 0.1 s until it succeeds or $1 seconds pass.
e2e_wait_for() {
  local timeout=$1
  shift
  local deadline=$((SECONDS + timeout))
  while ! "$@" >/dev/null 2>&1; do
    [ $SECONDS -ge $deadline ] && return 1
    sleep 0.1
  done
}

e2e_setup() {
  ip netns add "$SW" || e2e_fail "cannot create namespaces"
  ip -n "$SW" link add br0 type bridge
  ip -n "$SW" link set br0 up
  local ns n pairs=("$PORTAL:2" "$RELAY:3" "$GW:4" "$ROUTER:7")
  [ "${E2E_RELAY2:-0}" = 1 ] && pairs+=("$RELAY2:6")
  for pair in "${pairs[@]}"; do
    ns=${pair%%:*}
    n=${pair##*:}
    ip netns add "$ns"
    ip -n "$SW" link add "v$n" type veth peer name eth0 netns "$ns"
    ip -n "$SW" link set "v$n" master br0 up
    ip -n "$ns" link set lo up
    ip -n "$ns" link set eth0 up
    ip -n "$ns" addr add "203.0.113.$n/25" dev eth0
    ip -n "$ns" addr add "2001:db8:e2e::$n/64" dev eth0 nodad
  done
  # The client sits on a LAN behind its router.
  ip netns add "$CLIENT"
  ip -n "$ROUTER" link add lan0 type veth peer name eth0 netns "$CLIENT"
  ip -n "$ROUTER" link set lan0 up
  ip -n "$ROUTER" addr add 203.0.113.129/25 dev lan0
  ip -n "$ROUTER" addr add 2001:db8:c1::1/64 dev lan0 nodad
  ip -n "$CLIENT" link set lo up
  ip -n "$CLIENT" link set eth0 up
  ip -n "$CLIENT" addr add "$CLIENT_IP/25" dev eth0
  ip -n "$CLIENT" addr add "$CLIENT_IP6/64" dev eth0 nodad
  ip -n "$CLIENT" route add default via 203.0.113.129
  ip -n "$CLIENT" -6 route add default via 2001:db8:c1::1
  ip netns exec "$ROUTER" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
  if [ "${E2E_CLIENT_NAT:-1}" = 1 ]; then
    ip netns exec "$ROUTER" iptables -t nat -A POSTROUTING -o eth0 -j MASQUERADE
    ip netns exec "$ROUTER" ip6tables -t nat -A POSTROUTING -o eth0 -j MASQUERADE
    # A stateful firewall, as on any NAT router: nothing unsolicited reaches the LAN.
    ip netns exec "$ROUTER" iptables -A FORWARD -i eth0 -o lan0 -m conntrack \
      ! --ctstate ESTABLISHED,RELATED -j DROP
    ip netns exec "$ROUTER" ip6tables -A FORWARD -i eth0 -o lan0 -m conntrack \
      ! --ctstate ESTABLISHED,RELATED -j DROP
  fi
  # The hosts on the bridge route everything else towards the router, so a datagram to the
  # client's private address is dropped there instead of failing with "network unreachable" at
  # the sender (coturn tears an allocation's relay socket down on such an error, which would not
  # happen on the Internet).
  local routed=("$PORTAL" "$RELAY" "$GW")
  [ "${E2E_RELAY2:-0}" = 1 ] && routed+=("$RELAY2")
  for ns in "${routed[@]}"; do
    ip -n "$ns" route add default via "$ROUTER_IP"
    ip -n "$ns" -6 route add default via "$ROUTER_IP6"
  done
  # Resources sit behind the gateway.
  ip netns add "$RES"
  ip -n "$GW" link add res0 type veth peer name eth0 netns "$RES"
  ip -n "$GW" link set res0 up
  ip -n "$GW" addr add 198.51.100.1/24 dev res0
  ip -n "$GW" addr add 2001:db8:5::1/64 dev res0 nodad
  ip -n "$RES" link set lo up
  ip -n "$RES" link set eth0 up
  ip -n "$RES" addr add "$RES_IP/24" dev eth0
  ip -n "$RES" addr add "$RES_IP6/64" dev eth0 nodad
  ip -n "$RES" route add default via 198.51.100.1
  ip -n "$RES" -6 route add default via 2001:db8:5::1
  # The gateway host prepared by our packaging's init script (what the systemd unit runs before
  # every start): forwarding, src_valid_mark, FORWARD accept and masquerading of the tunnel ranges.
  ip netns exec "$GW" "$E2E_ROOT/packaging/firezone-gateway-init" >"$E2E_WORK/gateway-init.log" 2>&1 ||
    e2e_fail "firezone-gateway-init failed"
  ip netns exec "$CLIENT" sysctl -qw net.ipv4.conf.all.src_valid_mark=1
}

# The client's router drops every datagram between the client and the gateway, so only the relay
# connects them; e2e_unblock_direct lifts that again.
e2e_block_direct() {
  ip netns exec "$ROUTER" iptables -I FORWARD -d "$GW_IP" -j DROP
  ip netns exec "$ROUTER" iptables -I FORWARD -s "$GW_IP" -j DROP
  ip netns exec "$ROUTER" ip6tables -I FORWARD -d "$GW_IP6" -j DROP
  ip netns exec "$ROUTER" ip6tables -I FORWARD -s "$GW_IP6" -j DROP
}

e2e_unblock_direct() {
  ip netns exec "$ROUTER" iptables -D FORWARD -d "$GW_IP" -j DROP
  ip netns exec "$ROUTER" iptables -D FORWARD -s "$GW_IP" -j DROP
  ip netns exec "$ROUTER" ip6tables -D FORWARD -d "$GW_IP6" -j DROP
  ip netns exec "$ROUTER" ip6tables -D FORWARD -s "$GW_IP6" -j DROP
}

# coturn as the relay: static long-term user fz:secret, realm firezone. `e2e_start_relay 2` starts
# the second one (E2E_RELAY2=1) in $RELAY2.
e2e_start_relay() {
  local which=${1:-1} ns=$RELAY ip=$RELAY_IP ip6=$RELAY_IP6
  if [ "$which" = 2 ]; then ns=$RELAY2 ip=$RELAY2_IP ip6=$RELAY2_IP6; fi
  e2e_spawn "$ns" "relay$which" turnserver -n --no-cli --log-file=stdout --simple-log \
    -L "$ip" -L "$ip6" -E "$ip" -E "$ip6" -p 3478 \
    --no-tls --no-dtls -a -u fz:secret -r firezone -f -m 1 \
    --db "$E2E_WORK/turndb$which" --pidfile "$E2E_WORK/turnserver$which.pid" \
    --no-rfc5780 --no-stun-backward-compatibility --min-port=49152 --max-port=49300
  if [ "$which" = 2 ]; then RELAY2_PID=$LAST_PID; else RELAY_PID=$LAST_PID; fi
  e2e_wait_for 10 sh -c "ip netns exec $ns ss -uln | grep -q ':3478 '" ||
    e2e_fail "coturn $which did not start"
}

# A small HTTP server with a 10 MB file (and a second one on 8080), an iperf3 server, and dnsmasq
# answering the DNS-resource names (web.res.test and alias.res.test share one address).
e2e_start_resources() {
  mkdir -p "$E2E_WORK/www"
  echo "hello from the resource" >"$E2E_WORK/www/index.html"
  head -c 10000000 /dev/urandom >"$E2E_WORK/www/big.bin"
  e2e_spawn "$RES" http python3 -m http.server --bind :: --directory "$E2E_WORK/www" 80
  HTTP_PID=$LAST_PID
  if command -v iperf3 >/dev/null 2>&1; then
    e2e_spawn "$RES" iperf3 iperf3 -s
    IPERF_PID=$LAST_PID
  fi
  e2e_spawn "$RES" http8080 python3 -m http.server --bind :: --directory "$E2E_WORK/www" 8080
  if command -v dnsmasq >/dev/null 2>&1; then
    e2e_spawn "$RES" dnsmasq dnsmasq --no-daemon --no-resolv --no-hosts --bind-interfaces \
      --listen-address="$RES_IP" --port 53 --local-ttl=30 \
      --address=/web.res.test/"$RES_IP" --address=/web.res.test/"$RES_IP6" \
      --address=/alias.res.test/"$RES_IP" --log-queries
  fi
  e2e_wait_for 10 sh -c "ip netns exec $RES ss -tln | grep -q ':80 '" ||
    e2e_fail "HTTP server did not start"
}

# The client resolves names through fz-client's stub resolver.
e2e_client_resolver() {
  mkdir -p "/etc/netns/$CLIENT"
  echo "nameserver 100.100.111.1" >"/etc/netns/$CLIENT/resolv.conf"
  E2E_CLEAN_DIRS+=("/etc/netns/$CLIENT")
}

# Milliseconds since the epoch.
e2e_now_ms() { echo $(($(date +%s%N) / 1000000)); }

# --- Firezone parts -----------------------------------------------------------------------------
# Paths of the binaries under test; set by the caller (ctest passes them as arguments).
GATEWAY_BIN=${GATEWAY_BIN:-}
PORTAL_BIN=${PORTAL_BIN:-}
CLIENT_BIN=${CLIENT_BIN:-}

GW_TOKEN=gateway-token-e2e
CLIENT_TOKEN=client-token-e2e
CLIENT_ID=3abd725a-733b-4801-ac16-72f26cd98a24
CLIENT_TUN4=100.64.0.10
SITE_ID=bf56f32d-7b2c-4f5d-a784-788977d014a4
CIDR_RESOURCE=73037362-715d-4a83-a749-f18eadd970e6
DNS_RESOURCE=03000143-e25e-45c7-aafb-144990e57dcd
CIDR6_RESOURCE=5a0d0f4e-3c1b-4f7a-9e2d-6b8c1a2f3e4d
RELAY_ID=0a133356-7a9e-4b9a-b413-0d95a5720fd8
RELAY2_ID=6f1d2c3b-4a59-4e68-8b7a-9c0d1e2f3a4b
PORTAL_WS=$PORTAL_IP:8081
CONTROL=127.0.0.1:9000

# Writes the dev portal's configuration: one site with our gateway, one client, a CIDR resource
# (ICMP, TCP 80 and 5201 for iperf3, UDP 5201) and a DNS resource, both allowed, and coturn.
e2e_write_portal_config() {
  local expiry="" relay2=""
  [ "${E2E_RELAY2:-0}" = 1 ] && relay2=",
             {\"id\": \"$RELAY2_ID\", \"addresses\": [\"$RELAY2_IP:3478\", \"[$RELAY2_IP6]:3478\"],
              \"username\": \"fz\", \"password\": \"secret\"}"
  [ -n "${E2E_POLICY_EXPIRES_IN:-}" ] && expiry=", \"expires_in\": $E2E_POLICY_EXPIRES_IN"
  cat >"$E2E_WORK/portal.json" <<JSON
{
  "account": {"id": "24eb631e-c529-4182-a746-d99ee66f7426", "slug": "e2e"},
  "sites": [{"id": "$SITE_ID", "name": "lab", "tokens": ["$GW_TOKEN"]}],
  "clients": [{"id": "$CLIENT_ID", "name": "e2e-client", "token": "$CLIENT_TOKEN",
               "ipv4": "$CLIENT_TUN4", "ipv6": "fd00:2021:1111::a"}],
  "resources": [
    {"id": "$CIDR_RESOURCE", "type": "cidr", "address": "$RES_NET", "name": "lab network",
     "site_ids": ["$SITE_ID"],
     "filters": [{"protocol": "icmp"}, {"protocol": "tcp", "ports": ["80", "5201"]},
                 {"protocol": "udp", "ports": ["5201"]}]},
    {"id": "$CIDR6_RESOURCE", "type": "cidr", "address": "$RES_NET6", "name": "lab network v6",
     "site_ids": ["$SITE_ID"],
     "filters": [{"protocol": "icmp"}, {"protocol": "tcp", "ports": ["80"]}]},
    {"id": "$DNS_RESOURCE", "type": "dns", "address": "*.res.test", "name": "lab names",
     "site_ids": ["$SITE_ID"]}
  ],
  "policies": [
    {"id": "11111111-1111-4111-8111-111111111111", "client_id": "$CLIENT_ID",
     "resource_id": "$CIDR_RESOURCE"$expiry},
    {"id": "33333333-3333-4333-8333-333333333333", "client_id": "$CLIENT_ID",
     "resource_id": "$CIDR6_RESOURCE"},
    {"id": "22222222-2222-4222-8222-222222222222", "client_id": "$CLIENT_ID",
     "resource_id": "$DNS_RESOURCE"}
  ],
  "relays": [{"id": "$RELAY_ID", "addresses": ["$RELAY_IP:3478", "[$RELAY_IP6]:3478"],
              "username": "fz", "password": "secret"}$relay2]
}
JSON
}

e2e_start_portal() {
  e2e_write_portal_config
  e2e_spawn "$PORTAL" portal "$PORTAL_BIN" -c "$E2E_WORK/portal.json" -l "$PORTAL_WS" \
    --control "$CONTROL"
  PORTAL_PID=$LAST_PID
  e2e_wait_for 10 sh -c "ip netns exec $PORTAL ss -tln | grep -q ':8081 '" ||
    e2e_fail "dev portal did not start"
}

# GET/POST on the dev portal's control API.
e2e_control() {
  local method=$1 path=$2 body=${3:-}
  if [ -n "$body" ]; then
    ip netns exec "$PORTAL" curl -sf -X "$method" -H 'content-type: application/json' \
      --data "$body" "http://$CONTROL$path"
  else
    ip netns exec "$PORTAL" curl -sf -X "$method" "http://$CONTROL$path"
  fi
}

e2e_start_gateway() {
  # The gateway resolves DNS resources with its host's resolv.conf: dnsmasq on the resource host.
  mkdir -p "/etc/netns/$GW"
  echo "nameserver $RES_IP" >"/etc/netns/$GW/resolv.conf"
  E2E_CLEAN_DIRS+=("/etc/netns/$GW")
  # GATEWAY_WRAPPER runs the binary under another privilege set (e.g. setpriv).
  e2e_spawn "$GW" gateway ${GATEWAY_WRAPPER:-} env FIREZONE_TOKEN="$GW_TOKEN" FIREZONE_ID=e2e-gateway \
    FIREZONE_NAME=e2e-gw FIREZONE_API_URL="ws://$PORTAL_WS" HEALTH_CHECK_ADDR=127.0.0.1:8080 \
    RUST_LOG="${GATEWAY_LOG:-info}" "$GATEWAY_BIN"
  GATEWAY_PID=$LAST_PID
}

e2e_gateway_ready() {
  [ "$(ip netns exec "$GW" curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:8080/readyz)" = 200 ]
}

e2e_start_client() {
  e2e_spawn "$CLIENT" client "$CLIENT_BIN" --api-url "ws://$PORTAL_WS" --token "$CLIENT_TOKEN" \
    --status-interval 1 --log "${CLIENT_LOG:-info}"
  CLIENT_PID=$LAST_PID
}

# Lines at WARN or above in the gateway's log, minus the patterns given (one regex each).
e2e_gateway_warnings() {
  local out
  out=$(grep -E '^[^ ]+ +(warning|error|critical) ' "$E2E_WORK/gateway.log" || true)
  local pattern
  for pattern in "$@"; do out=$(printf '%s\n' "$out" | grep -Ev "$pattern" || true); done
  printf '%s' "$out" | sed '/^$/d'
}
