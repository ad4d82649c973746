#!/usr/bin/env bash
# Runtime I/O interop: TunDevice/Netlink/UdpSocket in fresh network namespaces.
#
#   run.sh <path to runtime_tool> <tun-config|no-loop|pktinfo|gso-fallback>
#
# tun-config    after configure(): name, MTU 1280, txqueuelen 10000, /32 + /128 addresses, the two
#               tunnel routes in table 0x2021fd00, the inverted fwmark rule per family; a second
#               configure() with the same addresses emits no netlink change at all (ip monitor) and
#               leaves `ip` output identical; new addresses replace the old ones, rules stay single.
# no-loop       gateway namespace (198.51.100.1, 2001:db8:1::1) and peer (.2, ::2) on a veth; with
#               a default route in table 0x2021fd00, datagrams from the marked UdpSockets reach the
#               peer and never enter the TUN, while unmarked ones do enter it.
# pktinfo       the peer has two addresses per family; UdpSockets on 52625 echo each datagram from
#               the address it was received on.
# gso-fallback  a GSO message the kernel refuses (segments above the route MTU) is re-sent as
#               single datagrams (which then fail and are counted); the next batch uses GSO again.
#
# `ip` only inspects; all configuration is done by the code under test through libnl.
# Exit 77 (skip) without root or without `ip`.
set -u

TOOL=${1:?runtime_tool binary}
SCENARIO=${2:?scenario}

if [ "$EUID" != 0 ]; then echo "SKIP: needs root (network namespaces)"; exit 77; fi
command -v ip >/dev/null 2>&1 || { echo "SKIP: ip is not installed"; exit 77; }

ID=$$
NS=fzrt${ID}g
NS_PEER=fzrt${ID}p
VETH=fzrv${ID}g
VETH_PEER=fzrv${ID}p
DIR=$(mktemp -d /tmp/fzrt-interop.XXXXXX)
PIDS=()

cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null; done
  ip netns del "$NS" 2>/dev/null
  ip netns del "$NS_PEER" 2>/dev/null
  rm -rf "$DIR"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

fail() {
  echo "FAIL: $*"
  for f in "$DIR"/*.log; do [ -f "$f" ] && { echo "--- $f"; tail -40 "$f"; }; done
  exit 1
}

wait_for() {
  local deadline=$((SECONDS + $1)); shift
  until "$@"; do
    [ $SECONDS -ge $deadline ] && return 1
    sleep 0.05
  done
}

ip netns add "$NS" || fail "cannot create namespace"
ip -n "$NS" link set lo up

snapshot() {
  {
    ip -n "$NS" -d link show dev tun-firezone
    ip -n "$NS" addr show
    ip -n "$NS" route show table all
    ip -n "$NS" -6 route show table all
    ip -n "$NS" rule show
    ip -n "$NS" -6 rule show
  } > "$1"
}

expect_in() {  # expect_in <file> <fixed string>
  grep -qF -- "$2" "$1" || fail "'$2' missing from $1: $(cat "$1")"
}

setup_veth() {
  ip netns add "$NS_PEER" || fail "cannot create peer namespace"
  ip -n "$NS_PEER" link set lo up
  ip link add "$VETH" netns "$NS" type veth peer name "$VETH_PEER" netns "$NS_PEER" \
    || fail "cannot create veth"
  ip -n "$NS" addr add 198.51.100.1/24 dev "$VETH"
  ip -n "$NS" addr add 2001:db8:1::1/64 dev "$VETH" nodad
  ip -n "$NS_PEER" addr add 198.51.100.2/24 dev "$VETH_PEER"
  ip -n "$NS_PEER" addr add 2001:db8:1::2/64 dev "$VETH_PEER" nodad
  ip -n "$NS" link set "$VETH" up
  ip -n "$NS_PEER" link set "$VETH_PEER" up
}

case "$SCENARIO" in
tun-config)
  mkfifo "$DIR/in"
  ip netns exec "$NS" "$TOOL" tun-sequence 100.64.0.5 fd00:2021:1111::5 100.64.0.9 \
    fd00:2021:1111::9 < "$DIR/in" > "$DIR/tool.log" 2>&1 &
  PIDS+=($!)
  exec 3> "$DIR/in"
  wait_for 10 grep -q "configured 1" "$DIR/tool.log" || fail "first configure"
  sleep 0.3  # let the kernel finish link-up work (IPv6 link-local address)
  snapshot "$DIR/before"
  expect_in "$DIR/before" "tun-firezone: <POINTOPOINT,MULTICAST,NOARP,UP,LOWER_UP> mtu 1280"
  expect_in "$DIR/before" "qlen 10000"
  expect_in "$DIR/before" "inet 100.64.0.5/32 scope global tun-firezone"
  expect_in "$DIR/before" "inet6 fd00:2021:1111::5/128 scope global"
  expect_in "$DIR/before" "100.64.0.0/11 dev tun-firezone table 539098368 proto static"
  expect_in "$DIR/before" "fd00:2021:1111::/107 dev tun-firezone table 539098368 proto static"
  [ "$(grep -c "not from all fwmark 0xfd002021 lookup 539098368" "$DIR/before")" = 2 ] \
    || fail "expected one fwmark rule per family: $(cat "$DIR/before")"

  # Second configure with the same addresses: no netlink change at all.
  ip -n "$NS" monitor link address route rule > "$DIR/monitor.log" 2>&1 &
  MONITOR=$!
  PIDS+=($MONITOR)
  sleep 0.3
  echo next >&3
  wait_for 10 grep -q "configured 2" "$DIR/tool.log" || fail "second configure"
  sleep 0.3
  kill "$MONITOR"; wait "$MONITOR" 2>/dev/null
  [ -s "$DIR/monitor.log" ] && fail "re-applying the same config changed something: $(cat "$DIR/monitor.log")"
  snapshot "$DIR/after"
  diff "$DIR/before" "$DIR/after" > "$DIR/diff.log" || fail "state changed: $(cat "$DIR/diff.log")"

  # New addresses replace the old ones.
  echo next >&3
  wait_for 10 grep -q "configured 3" "$DIR/tool.log" || fail "third configure"
  snapshot "$DIR/new"
  expect_in "$DIR/new" "inet 100.64.0.9/32 scope global tun-firezone"
  expect_in "$DIR/new" "inet6 fd00:2021:1111::9/128 scope global"
  grep -qF "100.64.0.5" "$DIR/new" && fail "old IPv4 address still present"
  grep -qF "fd00:2021:1111::5" "$DIR/new" && fail "old IPv6 address still present"
  expect_in "$DIR/new" "100.64.0.0/11 dev tun-firezone table 539098368 proto static"
  [ "$(grep -c "not from all fwmark 0xfd002021 lookup 539098368" "$DIR/new")" = 2 ] \
    || fail "rules duplicated or lost: $(cat "$DIR/new")"
  echo done >&3
  exec 3>&-
  wait "${PIDS[0]}" || fail "tool exited with an error"
  echo "PASS: tun-config"
  ;;

no-loop)
  setup_veth
  ip netns exec "$NS_PEER" "$TOOL" recv 9999 8 > "$DIR/peer.log" 2>&1 &
  PIDS+=($!)
  wait_for 5 grep -q listening "$DIR/peer.log" || fail "peer did not start"
  ip netns exec "$NS" "$TOOL" loop-check 198.51.100.2 2001:db8:1::2 9999 > "$DIR/tool.log" 2>&1 \
    || fail "loop-check"
  wait_for 5 sh -c "[ \$(grep -c 'got marked' '$DIR/peer.log') = 2 ]" \
    || fail "peer did not get both marked datagrams"
  expect_in "$DIR/peer.log" "got marked from 198.51.100.1"
  expect_in "$DIR/peer.log" "got marked from 2001:db8:1::1"
  grep -q "unmarked" "$DIR/peer.log" && fail "unmarked traffic bypassed the TUN"
  expect_in "$DIR/tool.log" "marked packets on tun: 0"
  expect_in "$DIR/tool.log" "unmarked packets on tun: 1 1"
  echo "PASS: no-loop"
  ;;

pktinfo)
  setup_veth
  ip -n "$NS_PEER" addr add 198.51.100.3/24 dev "$VETH_PEER"
  ip -n "$NS_PEER" addr add 2001:db8:1::3/64 dev "$VETH_PEER" nodad
  ip netns exec "$NS_PEER" "$TOOL" echo 8 > "$DIR/peer.log" 2>&1 &
  PIDS+=($!)
  wait_for 5 grep -q "echo ports" "$DIR/peer.log" || fail "echo did not start"
  expect_in "$DIR/peer.log" "echo ports 52625 52625"
  ip netns exec "$NS" "$TOOL" probe 198.51.100.2:52625 198.51.100.3:52625 \
    '[2001:db8:1::2]:52625' '[2001:db8:1::3]:52625' > "$DIR/tool.log" 2>&1 || fail "probe"
  for a in 198.51.100.2:52625 198.51.100.3:52625 '[2001:db8:1::2]:52625' '[2001:db8:1::3]:52625'; do
    expect_in "$DIR/tool.log" "reply from $a"
    expect_in "$DIR/peer.log" "echo $a "
  done
  echo "PASS: pktinfo"
  ;;

gso-fallback)
  ip netns exec "$NS" "$TOOL" gso-fallback 192.0.2.7 > "$DIR/tool.log" 2>&1 || fail "gso-fallback"
  expect_in "$DIR/tool.log" "consumed 5 5 fallbacks 1 messages 1 datagrams 5 errors 5"
  expect_in "$DIR/tool.log" "packets on tun: 5"
  echo "PASS: gso-fallback"
  ;;

*)
  echo "unknown scenario $SCENARIO"; exit 2 ;;
esac
