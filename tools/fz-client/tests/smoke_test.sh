#!/bin/bash
# fz-client smoke test in a private network namespace (loopback only): a fake portal
# (fake_portal.py) pushes `init`; we check the login request, the TUN device's addresses and
# routes, the stub resolver's answer through the tunnel, and the create_flow a ping triggers.
# Usage: smoke_test.sh <fz-client binary> <fake_portal.py>. Exit 77 = skipped.
set -u
BIN=$1
PORTAL=$2
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root"; exit 77; }
command -v python3 >/dev/null || { echo "SKIP: needs python3"; exit 77; }
command -v dig >/dev/null || { echo "SKIP: needs dig"; exit 77; }
[ -e /dev/net/tun ] || { echo "SKIP: no /dev/net/tun"; exit 77; }

NS=fzc-smoke-$$
WORK=$(mktemp -d)
PORTAL_PID=""
CLIENT_PID=""
cleanup() {
  [ -n "$CLIENT_PID" ] && kill "$CLIENT_PID" 2>/dev/null && wait "$CLIENT_PID" 2>/dev/null
  [ -n "$PORTAL_PID" ] && kill "$PORTAL_PID" 2>/dev/null && wait "$PORTAL_PID" 2>/dev/null
  ip netns del "$NS" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; echo "--- portal log"; cat "$WORK/portal.log"; echo "--- client stdout"; cat "$WORK/client.out"; echo "--- client stderr"; tail -30 "$WORK/client.err"; exit 1; }

ip netns add "$NS" || { echo "SKIP: cannot create a namespace"; exit 77; }
ip -n "$NS" link set lo up
PORT=18443
ip netns exec "$NS" python3 "$PORTAL" $PORT "$WORK/portal.log" &
PORTAL_PID=$!
sleep 0.5
ip netns exec "$NS" env FIREZONE_TOKEN=secret-token "$BIN" --api-url ws://127.0.0.1:$PORT \
  --id smoke-device --name smoke --status-interval 1 --log debug >"$WORK/client.out" 2>"$WORK/client.err" &
CLIENT_PID=$!

for _ in $(seq 50); do grep -q tun_configured "$WORK/client.out" 2>/dev/null && break; sleep 0.1; done
grep -q '"event":"tun_configured","ipv4":"100.64.0.2","ipv6":"fd00:2021:1111::2"' "$WORK/client.out" || fail "no tun_configured line"
head -1 "$WORK/portal.log" | grep -q '"request": "GET /client/websocket?token=secret-token&external_id=smoke-device&name=smoke&public_key=' || fail "login request"
head -1 "$WORK/portal.log" | grep -q 'connlib/1.5.3' || fail "user agent"
grep -q '"topic": "client", "event": "phx_join", "payload": null' "$WORK/portal.log" || fail "join"
grep -q secret-token "$WORK/client.err" && fail "the token appears in the log"

ip -n "$NS" addr show dev tun-fzclient | grep -q "inet 100.64.0.2/32" || fail "IPv4 address"
ROUTES=$(ip -n "$NS" route show table all dev tun-fzclient)
for r in 10.0.0.0/24 100.64.0.0/11 100.96.0.0/11 100.100.111.0/24; do
  echo "$ROUTES" | grep -q "^$r " || fail "route $r missing: $ROUTES"
done

ANSWER=$(ip netns exec "$NS" dig +short +time=2 +tries=1 @100.100.111.1 app.internal A)
[ "$ANSWER" = "$(printf '100.96.0.1\n100.96.0.2\n100.96.0.3\n100.96.0.4')" ] || fail "DNS answer: $ANSWER"
ip netns exec "$NS" dig +time=2 +tries=1 @100.100.111.1 other.example A | grep -q "status: REFUSED" || fail "REFUSED"

ip netns exec "$NS" ping -c 1 -W 1 10.0.0.5 >/dev/null 2>&1
for _ in $(seq 20); do grep -q create_flow "$WORK/portal.log" && break; sleep 0.1; done
grep -q '"event": "create_flow", "payload": {"resource_id": "73037362-715d-4a83-a749-f18eadd970e6", "connected_gateway_ids": \[\]}' "$WORK/portal.log" || fail "create_flow"
[ "${FZC_SMOKE_SHOW:-0}" = 1 ] && { cat "$WORK/client.out"; cat "$WORK/portal.log"; grep -v DEBUG "$WORK/client.err"; }
echo "PASS"
