#!/usr/bin/env bash
# ICE interop: our agent (ice_interop_peer) against libnice (ice_interop_nice_peer).
#
# Two namespaces joined by a veth pair: libnice in A (198.51.100.10, 2001:db8:2::a), ours in B
# (198.51.100.20, 2001:db8:2::b). Candidates and credentials go through two FIFOs as text lines
# (stdout of one peer is stdin of the other). Cases:
#   1. libnice controlling (aggressive nomination) <-> ours controlled
#   2. libnice controlling (regular nomination)    <-> ours controlled
#   3. ours controlling                            <-> libnice controlled
# Each passes when both sides have a nominated/selected pair and a datagram went each way.
# Nothing but this script runs in the root namespace; peers are started as simple background
# commands, their PIDs recorded, and the trap kills them by PID, waits, and deletes the namespaces.
#
# Usage: run.sh <ice_interop_peer> <ice_interop_nice_peer>. Exit 77 (skip) without root or libnice.
set -u

OURS=${1:?usage: run.sh OURS NICE}
NICE=${2:?usage: run.sh OURS NICE}
if [ "$(id -u)" != 0 ]; then echo "SKIP: needs root for network namespaces"; exit 77; fi
if [ ! -x "$NICE" ]; then echo "SKIP: libnice (libnice-dev) not available"; exit 77; fi
command -v ip >/dev/null 2>&1 || { echo "SKIP: iproute2 not installed"; exit 77; }

ID=$$
NS_A=fzi$ID-nice
NS_B=fzi$ID-ours
WORK=$(mktemp -d /tmp/fz-ice-interop.XXXXXX)
PIDS=()

cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null; done
  ip netns del "$NS_A" 2>/dev/null
  ip netns del "$NS_B" 2>/dev/null
  if [ "${KEEP_LOGS:-}" = 1 ]; then echo "logs kept in $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM

fail() {
  echo "FAIL: $*"
  for f in "$WORK"/*.log; do [ -f "$f" ] && { echo "--- $f"; tail -n 40 "$f"; }; done
  exit 1
}

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

# --- Topology -----------------------------------------------------------------------------------
ip netns add "$NS_A" || fail "cannot create namespaces"
ip netns add "$NS_B" || fail "cannot create namespaces"
ip -n "$NS_A" link add eth0 type veth peer name eth0 netns "$NS_B" || fail "cannot create veth"
for ns in "$NS_A" "$NS_B"; do
  ip -n "$ns" link set lo up
  ip -n "$ns" link set eth0 up
done
ip -n "$NS_A" addr add 198.51.100.10/24 dev eth0
ip -n "$NS_A" addr add 2001:db8:2::a/64 dev eth0 nodad
ip -n "$NS_B" addr add 198.51.100.20/24 dev eth0
ip -n "$NS_B" addr add 2001:db8:2::b/64 dev eth0 nodad

# --- Cases --------------------------------------------------------------------------------------
# run_case NAME OUR_ROLE NICE_ROLE NICE_FLAGS
run_case() {
  local name=$1 our_role=$2 nice_role=$3 flags=$4
  local a2b="$WORK/$name.a2b" b2a="$WORK/$name.b2a"
  local nice_log="$WORK/$name.nice.log" ours_log="$WORK/$name.ours.log"
  mkfifo "$a2b" "$b2a"
  local start end nice_pid ours_pid rc_nice rc_ours i
  start=$(now_ms)
  # The FIFOs are opened in opposite orders by the two peers, so neither open blocks for good.
  NICE_FLAGS=$flags ip netns exec "$NS_A" "$NICE" "$nice_role" 198.51.100.10 2001:db8:2::a \
    < "$b2a" > "$a2b" 2> "$nice_log" &
  nice_pid=$!
  PIDS+=("$nice_pid")
  ip netns exec "$NS_B" "$OURS" "$our_role" 198.51.100.20 2001:db8:2::b \
    > "$b2a" < "$a2b" 2> "$ours_log" &
  ours_pid=$!
  PIDS+=("$ours_pid")

  for i in $(seq 1 250); do
    if ! kill -0 "$nice_pid" 2>/dev/null && ! kill -0 "$ours_pid" 2>/dev/null; then break; fi
    sleep 0.1
  done
  kill "$nice_pid" "$ours_pid" 2>/dev/null
  wait "$nice_pid"; rc_nice=$?
  wait "$ours_pid"; rc_ours=$?
  end=$(now_ms)

  echo "== $name: ours $our_role, libnice $nice_role${flags:+ ($flags)}: $((end - start)) ms" \
       "(exit: ours $rc_ours, libnice $rc_nice)"
  grep -h "nominated send\|first datagram\|datagrams both ways" "$ours_log" | sed 's/^/   ours: /'
  grep -h "state ready\|selected pair\|first datagram" "$nice_log" | sed 's/^/   libnice: /'
  [ "$rc_ours" = 0 ] || fail "$name: our peer exited with $rc_ours"
  [ "$rc_nice" = 0 ] || fail "$name: libnice peer exited with $rc_nice"
  grep -q "nominated send" "$ours_log" || fail "$name: our agent never nominated"
}

run_case nice-controlling-aggressive controlled controlling ""
run_case nice-controlling-regular controlled controlling regular
run_case ours-controlling controlling controlled ""
echo "PASS"
