#!/usr/bin/env bash
# The firezone-gateway binary against the dev portal (issue 9, tests 5 and 6):
#   - a missing token: exit 1 with a clear message, and the token never appears anywhere;
#   - /healthz answers 200 from the start, /readyz 503 before the join and 200 after it (TUN
#     configured by `init`), 503 again while the portal is gone;
#   - SIGTERM: exit 0 within 1.5 s.
# Usage: gateway_lifecycle.sh GATEWAY_BIN PORTAL_BIN
set -u
GATEWAY_BIN=${1:?usage: gateway_lifecycle.sh GATEWAY_BIN PORTAL_BIN}
PORTAL_BIN=${2:?usage}
. "$(dirname "$0")/lib.sh"
e2e_skip_unless_ready curl
trap e2e_cleanup EXIT
trap 'exit 1' INT TERM

# 6. Missing token.
out=$(env -u FIREZONE_TOKEN "$GATEWAY_BIN" 2>&1)
rc=$?
[ $rc = 1 ] || e2e_fail "missing token: exit code $rc, expected 1"
echo "$out" | grep -q FIREZONE_TOKEN || e2e_fail "missing token: message does not name FIREZONE_TOKEN: $out"
out=$(FIREZONE_TOKEN=tok-SECRET-0123456789abcdef HEALTH_CHECK_ADDR=bogus "$GATEWAY_BIN" 2>&1)
[ $? = 1 ] || e2e_fail "bad HEALTH_CHECK_ADDR must exit 1"
echo "$out" | grep -q HEALTH_CHECK_ADDR || e2e_fail "bad address: message does not name it: $out"
echo "$out" | grep -q SECRET && e2e_fail "the token appears in the output: $out"
echo "ok: configuration errors"

e2e_setup
e2e_start_portal
e2e_start_gateway
e2e_wait_for 10 sh -c "ip netns exec $GW curl -sf http://127.0.0.1:8080/healthz" ||
  e2e_fail "/healthz never answered"
# Joined and configured once the dev portal has pushed init.
e2e_wait_for 15 e2e_gateway_ready || e2e_fail "/readyz never turned 200"
ip -n "$GW" addr show tun-firezone | grep -q 'inet 100\.' || e2e_fail "TUN has no tunnel address"
echo "ok: /healthz and /readyz after the join"
# Every socket the gateway opened carries the Firezone fwmark: the portal connection and the UDP
# sockets (the forwarder's listening sockets are the exception: answers must follow the tunnel).
ip netns exec "$GW" ss -tne state established dst "$PORTAL_IP" | grep -q 'fwmark:0xfd002021' ||
  e2e_fail "the portal connection is not marked: $(ip netns exec "$GW" ss -tne dst "$PORTAL_IP")"
[ "$(ip netns exec "$GW" ss -uane sport = :52625 | grep -c 'fwmark:0xfd002021')" -ge 2 ] ||
  e2e_fail "the UDP sockets are not marked: $(ip netns exec "$GW" ss -uane)"
echo "ok: portal and UDP sockets carry fwmark 0xfd002021"

# The portal goes away: not ready, but alive.
e2e_stop "$PORTAL_PID"
e2e_wait_for 10 sh -c "! ip netns exec $GW curl -sf http://127.0.0.1:8080/readyz" ||
  e2e_fail "/readyz stayed 200 without a portal"
code=$(ip netns exec "$GW" curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:8080/readyz)
[ "$code" = 503 ] || e2e_fail "/readyz without portal: $code"
ip netns exec "$GW" curl -sf http://127.0.0.1:8080/healthz >/dev/null || e2e_fail "/healthz failed"
e2e_start_portal
e2e_wait_for 30 e2e_gateway_ready || e2e_fail "/readyz did not recover after the portal came back"
echo "ok: readiness follows the portal"

start=$(date +%s%N)
e2e_stop "$GATEWAY_PID"
rc=$?
elapsed_ms=$((($(date +%s%N) - start) / 1000000))
[ $rc = 0 ] || e2e_fail "SIGTERM: exit code $rc"
[ $elapsed_ms -le 1500 ] || e2e_fail "SIGTERM: took $elapsed_ms ms"
grep -q "$GW_TOKEN" "$E2E_WORK"/*.log && e2e_fail "the gateway token appears in a log"
echo "ok: SIGTERM exit 0 in $elapsed_ms ms"
warnings=$(e2e_gateway_warnings 'connection to the portal lost' 'portal.*(closed|refused|reconnect)')
[ -z "$warnings" ] || e2e_fail "unexpected warnings: $warnings"
echo PASS
