#!/usr/bin/env bash
# End-to-end scenarios (issue 11), one per ctest test:
#   direct     CIDR resource over a direct path: ping v4 and v6, HTTP GET, 10 MB download (SHA-256)
#   direct-routed  the same with the client's router routing instead of NATing (host candidates)
#   relayed    the same with direct client<->gateway traffic dropped: the path goes through coturn
#   dns        DNS resource: curl by name through proxy IPs; an unresolvable name is Inactive; two
#              names on one real IP get distinct proxy IPs
#   filters    a TCP port outside the filters gets ICMP prohibited at once; resource_updated opens it
#   revocation reject_access of the last resource: goodbye, the client drops the connection within
#              1 s; the next packet re-authorizes through the portal
#   expiry     a policy that expires: traffic stops within 1 s of the expiry, with a goodbye
#   restart    SIGTERM the gateway during a ping and start it again: the client reconnects at once
#   restart-relayed  the same on a relayed path
#   portal-down  the portal is gone for 60 s: the data plane keeps working; when it comes back the
#              gateway rejoins and applies the new init without disturbing the live flow
#   relay-churn  on a relayed path, relays_presence removes the relay in use (and coturn stops) and
#              offers a second one: traffic resumes through the second relay
#   unprivileged  the gateway as the systemd unit runs it: an unprivileged user with only
#              CAP_NET_ADMIN (ambient) and no_new_privs; traffic flows, SIGTERM says goodbye
#   load       40 s of iperf3 at full speed both ways: the gateway stays joined (its heartbeat
#              reaches the portal), /readyz answers promptly throughout (firezone#10167)
#   loss       20 % packet loss (netem) on the client's link: a 10 MB download still matches
# Every scenario fails if the gateway logs an unexpected line at WARN or above.
# Usage: scenarios.sh SCENARIO GATEWAY_BIN PORTAL_BIN CLIENT_BIN
set -u
SCENARIO=${1:?usage: scenarios.sh SCENARIO GATEWAY_BIN PORTAL_BIN CLIENT_BIN}
[ "$SCENARIO" = relay-churn ] && E2E_RELAY2=1
[ "$SCENARIO" = direct-routed ] && E2E_CLIENT_NAT=0
case "$SCENARIO" in direct | direct-routed) GATEWAY_LOG=${GATEWAY_LOG:-debug} ;; esac
GATEWAY_BIN=${2:?usage}
PORTAL_BIN=${3:?usage}
CLIENT_BIN=${4:?usage}
[ "$SCENARIO" = expiry ] && E2E_POLICY_EXPIRES_IN=${E2E_POLICY_EXPIRES_IN:-12}
. "$(dirname "$0")/lib.sh"
e2e_skip_unless_ready curl ping dnsmasq dig sha256sum
trap e2e_cleanup EXIT
trap 'exit 1' INT TERM

EXPECTED_WARNINGS=()

start_all() {
  e2e_setup
  [ "${BLOCK_DIRECT:-0}" = 1 ] && e2e_block_direct
  e2e_start_relay
  [ "${E2E_RELAY2:-0}" = 1 ] && e2e_start_relay 2
  e2e_start_resources
  e2e_start_portal
  [ -n "${BEFORE_GATEWAY:-}" ] && $BEFORE_GATEWAY
  e2e_start_gateway
  e2e_wait_for 20 e2e_gateway_ready || e2e_fail "gateway not ready"
  e2e_client_resolver
  e2e_start_client
  e2e_wait_for 10 grep -q '"event":"tun_configured"' "$E2E_WORK/client.log" ||
    e2e_fail "client did not configure its TUN"
}

cping() { ip netns exec "$CLIENT" ping "$@"; }
ccurl() { ip netns exec "$CLIENT" curl "$@"; }
goodbyes() { grep -c '"reason":"goodbye"' "$E2E_WORK/client.log"; }

finish() {
  local warnings
  warnings=$(e2e_gateway_warnings "${EXPECTED_WARNINGS[@]}")
  [ -z "$warnings" ] || e2e_fail "unexpected gateway warnings: $warnings"
  echo PASS
}

download_matches() {
  ccurl -sf --max-time 60 -o "$E2E_WORK/big.down" "http://$RES_IP/big.bin" ||
    e2e_fail "download failed"
  [ "$(sha256sum <"$E2E_WORK/big.down")" = "$(sha256sum <"$E2E_WORK/www/big.bin")" ] ||
    e2e_fail "download does not match"
}

# The longest gap, in ms, between two echo replies in a `ping -D` log.
longest_gap() {
  python3 - "$1" <<'PY'
import re, sys
times = [float(m.group(1)) for m in re.finditer(r'^\[([0-9.]+)\].*bytes from', open(sys.argv[1]).read(), re.M)]
print(int(max(b - a for a, b in zip(times, times[1:])) * 1000) if len(times) > 1 else 99999)
PY
}

case "$SCENARIO" in
direct | direct-routed | relayed)
  [ "$SCENARIO" = relayed ] && BLOCK_DIRECT=1
  start_all
  e2e_wait_for 30 cping -c1 -W1 "$RES_IP" || e2e_fail "no IPv4 ping reply"
  cping -c3 -i0.2 -W2 "$RES_IP" >/dev/null || e2e_fail "IPv4 pings lost"
  e2e_wait_for 15 cping -6 -c1 -W1 "$RES_IP6" || e2e_fail "no IPv6 ping reply"
  [ "$(ccurl -sf --max-time 10 "http://$RES_IP/")" = "hello from the resource" ] ||
    e2e_fail "HTTP GET failed"
  [ "$(ccurl -sf --max-time 10 "http://[$RES_IP6]/")" = "hello from the resource" ] ||
    e2e_fail "HTTP GET over IPv6 failed"
  download_matches
  want=direct
  [ "$SCENARIO" = relayed ] && want=relayed
  # Through the NAT the gateway reaches the client at its router's address (a server-reflexive
  # or peer-reflexive candidate); without NAT at the client's own (host) address.
  if [ "$SCENARIO" = direct ]; then
    e2e_wait_for 5 grep -Eq "sends direct from .* to ($ROUTER_IP|\\[$ROUTER_IP6\\]):" \
      "$E2E_WORK/gateway.log" || e2e_fail "the gateway did not reach the client through its NAT"
  elif [ "$SCENARIO" = direct-routed ]; then
    e2e_wait_for 5 grep -Eq "sends direct from .* to ($CLIENT_IP|\\[$CLIENT_IP6\\]):" \
      "$E2E_WORK/gateway.log" || e2e_fail "the gateway did not use the client's host address"
  fi
  e2e_wait_for 5 grep -q "\"state\":\"connected\",\"path\":\"$want\"" "$E2E_WORK/client.log" ||
    e2e_fail "the client's status never showed a $want path"
  if [ "$SCENARIO" = relayed ]; then
    grep -q '"path":"direct"' "$E2E_WORK/client.log" && e2e_fail "a direct path was used"
  fi
  echo "ok: ping v4/v6, HTTP v4/v6, 10 MB SHA-256 match, path $want"
  # The gateway's metrics tell the same story.
  metrics=$(ip netns exec "$GW" curl -sf http://127.0.0.1:8080/metrics) || e2e_fail "no /metrics"
  metric() { printf '%s\n' "$metrics" | awk -v k="$1" '$1 == k {print $2}'; }
  [ "$(metric 'firezone_gateway_connections{state="connected"}')" = 1 ] ||
    e2e_fail "metrics: not one connected connection"
  [ "$(metric 'firezone_gateway_clients')" = 1 ] || e2e_fail "metrics: not one client"
  [ "$(metric 'firezone_gateway_portal_joined')" = 1 ] || e2e_fail "metrics: portal not joined"
  down=$(metric 'firezone_gateway_bytes_total{direction="to_clients"}')
  [ "${down:-0}" -gt 10000000 ] || e2e_fail "metrics: only ${down:-0} bytes to clients after 10 MB"
  if [ "$want" = relayed ]; then
    [ "$(metric 'firezone_gateway_connection_paths{path="direct"}')" = 0 ] ||
      e2e_fail "metrics: a direct path on a relayed connection"
  else
    [ "$(metric 'firezone_gateway_connection_paths{path="direct"}')" = 1 ] ||
      e2e_fail "metrics: no direct path"
  fi
  echo "ok: /metrics: 1 client, 1 connected connection, $down bytes to clients"
  ;;
dns)
  start_all
  e2e_wait_for 30 cping -c1 -W1 "$RES_IP" || e2e_fail "tunnel not up"
  web=$(ip netns exec "$CLIENT" dig +short +time=2 @100.100.111.1 web.res.test A | head -1)
  alias=$(ip netns exec "$CLIENT" dig +short +time=2 @100.100.111.1 alias.res.test A | head -1)
  case "$web" in 100.96.*) ;; *) e2e_fail "web.res.test did not get a proxy IP: '$web'" ;; esac
  case "$alias" in 100.96.*) ;; *) e2e_fail "alias.res.test did not get a proxy IP: '$alias'" ;; esac
  [ "$web" != "$alias" ] || e2e_fail "two names share proxy IP $web"
  [ "$(ccurl -sf --max-time 15 http://web.res.test/)" = "hello from the resource" ] ||
    e2e_fail "curl http://web.res.test/ failed"
  [ "$(ccurl -sf --max-time 15 http://alias.res.test/)" = "hello from the resource" ] ||
    e2e_fail "curl http://alias.res.test/ failed"
  echo "ok: web.res.test -> $web, alias.res.test -> $alias, both reach the server"
  ip netns exec "$CLIENT" dig +short +time=2 @100.100.111.1 nope.res.test A >/dev/null
  ccurl -s --max-time 5 -o /dev/null http://nope.res.test/
  e2e_wait_for 10 grep -qi '"event":"domain_status".*nope.res.test.*inactive' \
    "$E2E_WORK/client.log" || e2e_fail "no Inactive DOMAIN_STATUS for an unresolvable name"
  echo "ok: nope.res.test is Inactive"
  EXPECTED_WARNINGS+=('nope\.res\.test')
  ;;
filters)
  start_all
  e2e_wait_for 30 cping -c1 -W1 "$RES_IP" || e2e_fail "tunnel not up"
  t0=$(e2e_now_ms)
  ccurl -s --max-time 5 -o /dev/null "http://$RES_IP:8080/"
  rc=$?
  elapsed=$(($(e2e_now_ms) - t0))
  [ $rc = 7 ] || e2e_fail "port 8080 outside the filters: curl exit $rc, expected 7 (refused)"
  [ $elapsed -lt 2000 ] || e2e_fail "the refusal took $elapsed ms (no ICMP prohibited?)"
  echo "ok: TCP 8080 refused in $elapsed ms"
  e2e_control POST /resource_updated "{\"resource_id\":\"$CIDR_RESOURCE\",\"filters\":[{\"protocol\":\"icmp\"},{\"protocol\":\"tcp\",\"ports\":[\"80\",\"8080\"]}]}" >/dev/null ||
    e2e_fail "resource_updated failed"
  e2e_wait_for 10 ccurl -sf --max-time 2 -o /dev/null "http://$RES_IP:8080/" ||
    e2e_fail "port 8080 still closed after resource_updated"
  ccurl -sf --max-time 5 -o /dev/null "http://$RES_IP/" || e2e_fail "port 80 broke"
  echo "ok: resource_updated opened 8080 live"
  ;;
revocation)
  start_all
  e2e_wait_for 30 cping -c1 -W1 "$RES_IP" || e2e_fail "tunnel not up"
  # Only the IPv4 CIDR resource is in use: revoking it removes the client's last authorization.
  before=$(goodbyes)
  t0=$(e2e_now_ms)
  e2e_control POST /reject_access "{\"client_id\":\"$CLIENT_ID\",\"resource_id\":\"$CIDR_RESOURCE\"}" \
    >/dev/null || e2e_fail "reject_access failed"
  e2e_wait_for 2 sh -c "[ \$(grep -c '\"reason\":\"goodbye\"' $E2E_WORK/client.log) -gt $before ]" ||
    e2e_fail "no goodbye at the client"
  elapsed=$(($(e2e_now_ms) - t0))
  [ $elapsed -le 1000 ] || e2e_fail "goodbye took $elapsed ms"
  echo "ok: goodbye at the client $elapsed ms after reject_access"
  e2e_wait_for 20 cping -c1 -W1 "$RES_IP" || e2e_fail "the next packet did not re-authorize"
  echo "ok: re-authorized on the next packet"
  ;;
expiry)
  start_all
  e2e_wait_for 30 cping -c1 -W1 "$RES_IP" || e2e_fail "tunnel not up"
  ip netns exec "$CLIENT" ping -i 0.1 -W1 -D "$RES_IP" >"$E2E_WORK/ping.txt" 2>&1 &
  PING_PID=$!
  E2E_PIDS+=("$PING_PID")
  before=$(goodbyes)
  e2e_wait_for 20 sh -c "[ \$(grep -c '\"reason\":\"goodbye\"' $E2E_WORK/client.log) -gt $before ]" ||
    e2e_fail "no goodbye after the policy expired"
  kill "$PING_PID"
  # The portal authorized the flow with the policy's expiry: the last reply is at most ~1 s
  # after it, and the goodbye follows within the same sweep.
  expires_at=$(python3 - "$E2E_WORK/portal.log" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    try:
        entry = json.loads(line)
    except ValueError:
        continue
    frame = entry.get("frame") or {}
    if entry.get("dir") == "out" and frame.get("event") == "authorize_flow":
        expiry = frame["payload"].get("expires_at")
        if expiry:
            print(expiry)
            break
PY
)
  last=$(grep -o '^\[[0-9.]*\].*bytes from' "$E2E_WORK/ping.txt" | tail -1 | tr -d '[' | cut -d] -f1)
  [ -n "$expires_at" ] && [ -n "$last" ] || e2e_fail "cannot read expiry ($expires_at) or ping log"
  late=$(python3 -c "print(int(($last - $expires_at) * 1000))")
  [ "$late" -le 1100 ] || e2e_fail "traffic flowed $late ms past the expiry"
  echo "ok: last reply $late ms after the expiry, then a goodbye"
  ;;
portal-down)
  start_all
  e2e_wait_for 30 cping -c1 -W1 "$RES_IP" || e2e_fail "tunnel not up"
  ip netns exec "$CLIENT" ping -i 0.2 -W1 -D "$RES_IP" >"$E2E_WORK/ping.txt" 2>&1 &
  PING_PID=$!
  E2E_PIDS+=("$PING_PID")
  e2e_stop "$PORTAL_PID"
  mv "$E2E_WORK/portal.log" "$E2E_WORK/portal-1.log"
  sleep "${PORTAL_DOWN_SECONDS:-60}"
  code=$(ip netns exec "$GW" curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:8080/readyz)
  [ "$code" = 503 ] || e2e_fail "/readyz is $code while the portal is down"
  e2e_start_portal
  e2e_wait_for 60 e2e_gateway_ready || e2e_fail "the gateway did not rejoin"
  sleep 2
  kill "$PING_PID"
  grep -c 'Connected to the portal' "$E2E_WORK/gateway.log" | grep -q '^2$' ||
    e2e_fail "expected exactly one rejoin"
  gap=$(longest_gap "$E2E_WORK/ping.txt")
  [ "$gap" -le 1000 ] || e2e_fail "the data plane stalled for $gap ms"
  grep -q '"reason":"goodbye"' "$E2E_WORK/client.log" && e2e_fail "the connection was closed"
  echo "ok: portal down ${PORTAL_DOWN_SECONDS:-60} s, longest gap between replies $gap ms, rejoined"
  EXPECTED_WARNINGS+=('connection to the portal lost' 'portal')
  ;;
relay-churn)
  BLOCK_DIRECT=1
  # Only the first relay is online when the gateway and the client join.
  hide_relay2() {
    e2e_control POST /relays_presence "{\"disconnected_ids\":[\"$RELAY2_ID\"],\"connected_ids\":[]}" \
      >/dev/null || e2e_fail "relays_presence failed"
  }
  BEFORE_GATEWAY=hide_relay2
  start_all
  e2e_wait_for 30 cping -c1 -W1 "$RES_IP" || e2e_fail "tunnel not up"
  e2e_wait_for 5 grep -q '"path":"relayed"' "$E2E_WORK/client.log" || e2e_fail "not relayed"
  grep -q "$RELAY2_IP" "$E2E_WORK/gateway.log" && e2e_fail "the gateway used the hidden relay"
  ip netns exec "$CLIENT" ping -i 0.1 -W1 -D "$RES_IP" >"$E2E_WORK/ping.txt" 2>&1 &
  PING_PID=$!
  E2E_PIDS+=("$PING_PID")
  sleep 1
  # The relay in use goes away: the portal says so and offers the second one, and coturn stops.
  e2e_control POST /relays_presence "{\"disconnected_ids\":[\"$RELAY_ID\"],\"connected_ids\":[\"$RELAY2_ID\"]}" \
    >/dev/null || e2e_fail "relays_presence failed"
  e2e_stop "$RELAY_PID"
  t0=$(e2e_now_ms)
  # Direct traffic is dropped and the first relay is gone: replies can only come through relay 2.
  first_reply_after() {
    python3 - "$E2E_WORK/ping.txt" "$t0" <<'PY'
import re, sys
t0 = int(sys.argv[2]) / 1000
after = [float(m.group(1)) for m in re.finditer(r'^\[([0-9.]+)\].*bytes from', open(sys.argv[1]).read(), re.M) if float(m.group(1)) > t0 + 0.3]
print(int((after[0] - t0) * 1000) if after else -1)
sys.exit(0 if after else 1)
PY
  }
  e2e_wait_for 20 first_reply_after
  resumed=$(first_reply_after)
  sleep 2
  kill "$PING_PID"
  [ "$resumed" -ge 0 ] || e2e_fail "no reply after the relay was removed"
  cping -c3 -i0.2 -W2 "$RES_IP" >/dev/null || e2e_fail "pings lost on the second relay"
  download_matches
  gap=$(longest_gap "$E2E_WORK/ping.txt")
  grep -q "$RELAY2_IP" "$E2E_WORK/gateway.log" || e2e_fail "the gateway never used the second relay"
  echo "ok: replies again $resumed ms after relay 1 stopped; longest gap between replies $gap ms"
  ;;
unprivileged)
  # udev gives /dev/net/tun mode 0666 on a normal host; this machine has 0600. A 0666 node is
  # bound over it inside the gateway's own mount namespace only (ip netns exec makes one), so
  # the host's device is untouched.
  mknod -m 0666 "$E2E_WORK/tun" c 10 200 || e2e_fail "mknod"
  cat >"$E2E_WORK/unprivileged.sh" <<SH
#!/bin/sh
mount --bind "$E2E_WORK/tun" /dev/net/tun || exit 1
exec setpriv --reuid=65534 --regid=65534 --clear-groups --no-new-privs \\
  --inh-caps=-all,+net_admin --ambient-caps=+net_admin --bounding-set=-all,+net_admin "\$@"
SH
  chmod +x "$E2E_WORK/unprivileged.sh"
  GATEWAY_WRAPPER="$E2E_WORK/unprivileged.sh"
  start_all
  e2e_wait_for 30 cping -c1 -W1 "$RES_IP" || e2e_fail "tunnel not up"
  [ "$(ccurl -sf --max-time 10 "http://$RES_IP/")" = "hello from the resource" ] ||
    e2e_fail "HTTP GET failed"
  uid=$(awk '/^Uid:/ {print $3}' "/proc/$GATEWAY_PID/status")
  caps=$(awk '/^CapEff:/ {print $2}' "/proc/$GATEWAY_PID/status")
  [ "$uid" = 65534 ] || e2e_fail "the gateway runs as uid $uid"
  [ "$caps" = 0000000000001000 ] || e2e_fail "the gateway's effective capabilities are $caps"
  echo "ok: uid $uid, CapEff $caps (CAP_NET_ADMIN only): ping and HTTP through the tunnel"
  before=$(goodbyes)
  e2e_stop "$GATEWAY_PID" || e2e_fail "gateway did not exit 0 on SIGTERM"
  e2e_wait_for 2 sh -c "[ \$(grep -c '\"reason\":\"goodbye\"' $E2E_WORK/client.log) -gt $before ]" ||
    e2e_fail "no goodbye at the client"
  echo "ok: SIGTERM -> goodbye at the client"
  ;;
load)
  start_all
  e2e_wait_for 30 cping -c1 -W1 "$RES_IP" || e2e_fail "tunnel not up"
  t0=$(e2e_now_ms)
  ip netns exec "$CLIENT" iperf3 -c "$RES_IP" -t "${LOAD_SECONDS:-40}" --bidir -J \
    >"$E2E_WORK/iperf-load.json" 2>&1 &
  IPERF_CLIENT=$!
  E2E_PIDS+=("$IPERF_CLIENT")
  sleep 1
  worst=0
  for _ in $(seq $((${LOAD_SECONDS:-40} - 5))); do
    out=$(ip netns exec "$GW" curl -s -o /dev/null -m 5 -w '%{http_code} %{time_total}' \
      http://127.0.0.1:8080/readyz)
    [ "${out% *}" = 200 ] || e2e_fail "/readyz answered '$out' under load"
    ms=$(python3 -c "print(int(${out#* } * 1000))")
    [ "$ms" -gt "$worst" ] && worst=$ms
    sleep 1
  done
  wait "$IPERF_CLIENT" || e2e_fail "iperf3 failed: $(tail -5 "$E2E_WORK/iperf-load.json")"
  rates=$(python3 - "$E2E_WORK/iperf-load.json" <<'PY'
import json, sys
end = json.load(open(sys.argv[1]))["end"]
print("%.0f up, %.0f down" % (end["sum_sent"]["bits_per_second"] / 1e6,
                              end["sum_received_bidir_reverse"]["bits_per_second"] / 1e6))
PY
)
  # The gateway's heartbeat went out during the load (every 30 s without other frames), and it
  # never lost the portal.
  beats=$(python3 - "$E2E_WORK/portal.log" "$t0" <<'PY'
import json, sys
n = 0
for line in open(sys.argv[1]):
    try:
        e = json.loads(line)
    except ValueError:
        continue
    if e.get("dir") == "in" and e.get("event") == "heartbeat" and e.get("peer") == "gateway":
        n += 1
print(n)
PY
)
  [ "$beats" -ge 1 ] || e2e_fail "no heartbeat from the gateway reached the portal"
  grep -q 'connection to the portal lost' "$E2E_WORK/gateway.log" && e2e_fail "portal lost under load"
  [ "$worst" -lt 1000 ] || e2e_fail "/readyz took $worst ms under load"
  echo "ok: ${LOAD_SECONDS:-40} s at $rates Mbit/s: joined throughout, $beats heartbeat(s), slowest /readyz $worst ms"
  ;;
loss)
  start_all
  e2e_wait_for 30 cping -c1 -W1 "$RES_IP" || e2e_fail "tunnel not up"
  # 20 % of the datagrams on the client's link are lost each way (netem when the kernel has it,
  # else iptables' statistic match).
  if ! ip netns exec "$CLIENT" tc qdisc add dev eth0 root netem loss 20% 2>/dev/null; then
    for chain in INPUT OUTPUT; do
      ip netns exec "$CLIENT" iptables -A $chain -i eth0 -p udp -m statistic --mode random \
        --probability 0.2 -j DROP 2>/dev/null ||
        ip netns exec "$CLIENT" iptables -A $chain -o eth0 -p udp -m statistic --mode random \
          --probability 0.2 -j DROP || { echo "SKIP: no way to drop packets"; exit 77; }
    done
  fi
  download_matches
  echo "ok: 10 MB SHA-256 match with 20 % loss"
  ;;
restart | restart-relayed)
  [ "$SCENARIO" = restart-relayed ] && BLOCK_DIRECT=1
  start_all
  e2e_wait_for 30 cping -c1 -W1 "$RES_IP" || e2e_fail "tunnel not up"
  ip netns exec "$CLIENT" ping -i 0.1 -W1 -D "$RES_IP" >"$E2E_WORK/ping.txt" 2>&1 &
  PING_PID=$!
  E2E_PIDS+=("$PING_PID")
  sleep 1
  e2e_stop "$GATEWAY_PID" || e2e_fail "gateway did not exit 0 on SIGTERM"
  mv "$E2E_WORK/gateway.log" "$E2E_WORK/gateway-1.log"
  t0=$(e2e_now_ms)
  e2e_start_gateway
  e2e_wait_for 20 e2e_gateway_ready || e2e_fail "restarted gateway not ready"
  ready_ms=$(($(e2e_now_ms) - t0))
  sleep 4
  kill "$PING_PID"
  grep -q '"reason":"goodbye"' "$E2E_WORK/client.log" || e2e_fail "the client saw no goodbye"
  gap=$(longest_gap "$E2E_WORK/ping.txt")
  echo "ok: longest gap between replies $gap ms (gateway ready again after $ready_ms ms)"
  [ "$gap" -le $((3000 + ready_ms)) ] || e2e_fail "interruption $gap ms"
  ;;
*)
  echo "unknown scenario $SCENARIO"
  exit 2
  ;;
esac
finish
