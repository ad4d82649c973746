#!/usr/bin/env bash
# TURN interop: our allocation (turn_interop_client) against Debian's coturn.
#
# Namespaces (names carry our PID): a bridge, coturn at 203.0.113.10 / 2001:db8:1::10, our client
# at .20 / ::20, a UDP echo peer (turnutils_peer) at .30 / ::30. Nothing but this script runs in
# the root namespace. Daemons are started as simple background commands, their PIDs recorded,
# and the trap kills them by PID, waits for them and deletes the namespaces.
#
# Usage: turn_interop.sh <path to turn_interop_client>. Exit 77 (skip) without root or coturn.
set -u

CLIENT=${1:?usage: turn_interop.sh CLIENT}
if [ "$(id -u)" != 0 ]; then echo "SKIP: needs root for network namespaces"; exit 77; fi
for tool in turnserver turnutils_peer ip; do
  command -v "$tool" >/dev/null 2>&1 || { echo "SKIP: $tool not installed"; exit 77; }
done

ID=$$
SW=fzt$ID-sw; TURN=fzt$ID-turn; CLI=fzt$ID-cli; PEER=fzt$ID-peer
WORK=$(mktemp -d /tmp/fz-turn-interop.XXXXXX)
PIDS=()
TURN_PID=

cleanup() {
  local pid
  for pid in "${PIDS[@]}" $TURN_PID; do
    kill "$pid" 2>/dev/null
  done
  for pid in "${PIDS[@]}" $TURN_PID; do
    wait "$pid" 2>/dev/null
  done
  for ns in $CLI $PEER $TURN $SW; do ip netns del "$ns" 2>/dev/null; done
  if [ "${KEEP_LOGS:-}" = 1 ]; then echo "logs kept in $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM

fail() { echo "FAIL: $*"; for f in "$WORK"/*.log; do echo "--- $f"; tail -n 60 "$f"; done; exit 1; }

# --- Topology -----------------------------------------------------------------------------------
ip netns add $SW || fail "cannot create namespaces"
ip -n $SW link add br0 type bridge
ip -n $SW link set br0 up
attach() {  # attach NS HOSTNUM
  local ns=$1 n=$2
  ip netns add "$ns"
  ip -n $SW link add "v$n" type veth peer name eth0 netns "$ns"
  ip -n $SW link set "v$n" master br0 up
  ip -n "$ns" link set lo up
  ip -n "$ns" link set eth0 up
  ip -n "$ns" addr add 203.0.113.$n/24 dev eth0
  ip -n "$ns" addr add 2001:db8:1::$n/64 dev eth0 nodad
}
attach $TURN 10
attach $CLI 20
attach $PEER 30

# --- Daemons ------------------------------------------------------------------------------------
start_turn() {
  # -n: do not read /etc/turnserver.conf (Debian's sends all logging to syslog). A 6 s lifetime
  # cap makes a REFRESH due every 3 s.
  ip netns exec $TURN turnserver -n --no-cli --log-file=stdout --simple-log \
    -L 203.0.113.10 -L 2001:db8:1::10 -E 203.0.113.10 -E 2001:db8:1::10 -p 3478 \
    --no-tls --no-dtls -a -u fz:secret -r firezone -f -m 1 \
    --db "$WORK/turndb" --pidfile "$WORK/turnserver.pid" \
    --no-rfc5780 --no-stun-backward-compatibility \
    --max-allocate-lifetime=6 --min-port=49152 --max-port=49200 -v >> "$WORK/turn.log" 2>&1 &
  TURN_PID=$!
}
wait_udp() {  # wait_udp NS PORT
  local i
  for i in $(seq 1 50); do
    ip netns exec "$1" ss -Hlun "sport = :$2" | grep -q . && return 0
    sleep 0.1
  done
  return 1
}
stop_turn() {
  kill "$TURN_PID" 2>/dev/null
  wait "$TURN_PID" 2>/dev/null
  TURN_PID=
}

start_turn
ip netns exec $PEER turnutils_peer -L 203.0.113.30 -L 2001:db8:1::30 -p 3480 > "$WORK/peer.log" 2>&1 &
PIDS+=($!)
wait_udp $TURN 3478 || fail "coturn did not start"
wait_udp $PEER 3480 || fail "turnutils_peer did not start"

# --- Runs ---------------------------------------------------------------------------------------
# run NAME ARGS...: runs the client; restarts coturn when the client asks for it.
run() {
  local name=$1; shift
  local log="$WORK/client-$name.log" resume="$WORK/resume-$name" start=$SECONDS
  ip netns exec $CLI "$CLIENT" --resume-file "$resume" "$@" > "$log" 2>&1 &
  local client=$!
  PIDS+=($client)
  local i restarted=0
  for i in $(seq 1 600); do
    kill -0 $client 2>/dev/null || break
    if [ $restarted = 0 ] && grep -q '^RESTART' "$log"; then
      stop_turn
      start_turn
      wait_udp $TURN 3478 || fail "coturn did not come back"
      touch "$resume"
      restarted=1
    fi
    sleep 0.1
  done
  wait $client
  local rc=$?
  grep -E '^\[.*(OK|relay failed)|^relayed|^PASS|^FAIL' "$log" | sed "s/^/  [$name] /"
  [ $rc = 0 ] || fail "$name (exit $rc)"
  echo "ok $name ($((SECONDS - start)) s)"
}

PEERS=(--peer 203.0.113.30:3480 --peer "[2001:db8:1::30]:3480")

# Over IPv4 with the draft ADDITIONAL-ADDRESS-FAMILY code point coturn 4.6.1 knows: dual allocation.
run v4-dual-draft --local 203.0.113.20:52625 --relay 203.0.113.10:3478 --dual-stack draft \
  --expect-v6-relay "${PEERS[@]}"
# Over IPv6 with the Firezone form (0x8000): coturn 4.6.1 ignores it, we fall back to IPv4 only.
run v6-firezone-form --local "[2001:db8:1::20]:52625" --relay "[2001:db8:1::10]:3478" \
  --dual-stack rfc8656 --expect-no-v6-relay "${PEERS[@]}"
echo PASS
