#!/usr/bin/env bash
# WireGuard interop: our engine (wg_interop_harness) against wireguard-go, in two network
# namespaces joined by a veth pair.
#
#   run.sh <path to wg_interop_harness> <ping|respond|flood|psk|restart>
#
# Outer network 203.0.113.0/24 (us .1, wireguard-go .2); inside the tunnel 198.51.100.0/24 and
# 2001:db8:ff::/64 (us ::1/.1, wireguard-go ::2/.2). Every name carries this script's PID, because
# wireguard-go's UAPI socket (/var/run/wireguard/<if>.sock) is shared by all namespaces. Only the
# namespaces created here are touched; everything is torn down by the EXIT trap.
# Exit 77 (skip) without root or without wireguard-go/wg.
set -u

HARNESS=${1:?harness binary}
SCENARIO=${2:?scenario}

if [ "$EUID" != 0 ]; then echo "SKIP: needs root (network namespaces)"; exit 77; fi
for tool in wireguard-go wg ip ping; do
  command -v "$tool" >/dev/null 2>&1 || { echo "SKIP: $tool is not installed"; exit 77; }
done

ID=$$
NS_US=fzwg${ID}u
NS_PEER=fzwg${ID}p
VETH_US=fzv${ID}u
VETH_PEER=fzv${ID}p
WG_IF=fzwg${ID}
UAPI=/var/run/wireguard/${WG_IF}.sock
DIR=$(mktemp -d /tmp/fzwg-interop.XXXXXX)
PIDS=()
WG_PID=

cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null; done
  ip netns del "$NS_US" 2>/dev/null
  ip netns del "$NS_PEER" 2>/dev/null
  rm -rf "$DIR"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

fail() {
  echo "FAIL: $*"
  echo "--- harness log"; cat "$DIR"/harness.log 2>/dev/null | tail -40
  echo "--- wireguard-go log"; grep -hv '[│┌└]' "$DIR"/wg*.log 2>/dev/null | tail -40
  exit 1
}

# wait_for <seconds> <command...>: polls every 50 ms.
wait_for() {
  local deadline=$((SECONDS + $1)); shift
  until "$@"; do
    [ $SECONDS -ge $deadline ] && return 1
    sleep 0.05
  done
}

log_has() { grep -q "$1" "$DIR/harness.log" 2>/dev/null; }

umask 077
wg genkey >"$DIR/us.key"; wg pubkey <"$DIR/us.key" >"$DIR/us.pub"
wg genkey >"$DIR/peer.key"; wg pubkey <"$DIR/peer.key" >"$DIR/peer.pub"
wg genpsk >"$DIR/psk"
if [ "$SCENARIO" = psk ]; then wg genpsk >"$DIR/psk_peer"; else cp "$DIR/psk" "$DIR/psk_peer"; fi

ip netns add "$NS_US" || fail "ip netns add"
ip netns add "$NS_PEER" || fail "ip netns add"
ip -n "$NS_US" link set lo up
ip -n "$NS_PEER" link set lo up
ip -n "$NS_US" link add "$VETH_US" type veth peer name "$VETH_PEER" netns "$NS_PEER" || fail "veth"
ip -n "$NS_US" addr add 203.0.113.1/24 dev "$VETH_US"
ip -n "$NS_PEER" addr add 203.0.113.2/24 dev "$VETH_PEER"
ip -n "$NS_US" link set "$VETH_US" up
ip -n "$NS_PEER" link set "$VETH_PEER" up

# wireguard-go is configured completely before our side sends anything (the responder first).
start_wireguard_go() {
  local n=$1
  LOG_LEVEL=verbose ip netns exec "$NS_PEER" wireguard-go -f "$WG_IF" >"$DIR/wg$n.log" 2>&1 &
  WG_PID=$!
  PIDS+=("$WG_PID")
  wait_for 5 test -S "$UAPI" || fail "wireguard-go did not create $UAPI"
  ip netns exec "$NS_PEER" wg set "$WG_IF" listen-port 51821 private-key "$DIR/peer.key" \
    peer "$(cat "$DIR/us.pub")" preshared-key "$DIR/psk_peer" endpoint 203.0.113.1:51820 \
    allowed-ips 198.51.100.1/32,2001:db8:ff::1/128 || fail "wg set"
  ip -n "$NS_PEER" addr add 198.51.100.2/24 dev "$WG_IF"
  ip -n "$NS_PEER" addr add 2001:db8:ff::2/64 dev "$WG_IF" nodad
  ip -n "$NS_PEER" link set "$WG_IF" up || fail "wireguard-go interface"
}

# start_harness <scenario> [options...]: our engine in the other namespace, in the background.
start_harness() {
  local scenario=$1; shift
  ip netns exec "$NS_US" "$HARNESS" "$scenario" \
    --listen 203.0.113.1:51820 --peer 203.0.113.2:51821 \
    --key "$DIR/us.key" --peer-pub "$DIR/peer.pub" --psk "$DIR/psk" \
    --local-ip 198.51.100.1 --peer-ip 198.51.100.2 \
    --local-ip6 2001:db8:ff::1 --peer-ip6 2001:db8:ff::2 "$@" >"$DIR/harness.log" 2>&1 &
  HARNESS_PID=$!
  PIDS+=("$HARNESS_PID")
  wait_for 5 log_has LISTENING || fail "harness did not start"
}

finish_harness() {
  wait "$HARNESS_PID"; local rc=$?
  grep -E '^(RESULT|EVENT)' "$DIR/harness.log"
  [ $rc = 0 ] || fail "harness exited with $rc"
}

latest_handshake() {
  ip netns exec "$NS_PEER" wg show "$WG_IF" latest-handshakes | awk '{print $2}'
}

START=$SECONDS
start_wireguard_go 1

case "$SCENARIO" in
  ping)
    # We initiate; the kernel behind wireguard-go's TUN answers our echo requests.
    start_harness ping --count 5 --timeout 10
    finish_harness
    [ "$(latest_handshake)" != 0 ] || fail "wireguard-go saw no handshake"
    ;;
  respond)
    # wireguard-go initiates (ping from its namespace); we answer its echo requests.
    start_harness respond --count 6 --timeout 15
    ip netns exec "$NS_PEER" ping -c 3 -i 0.2 -w 10 198.51.100.1 || fail "IPv4 ping from wireguard-go"
    ip netns exec "$NS_PEER" ping -6 -c 3 -i 0.2 -w 10 2001:db8:ff::1 || fail "IPv6 ping from wireguard-go"
    finish_harness
    ;;
  flood)
    # 10 000 echo requests from us and their 10 000 replies; 10 000 UDP datagrams from
    # wireguard-go's side to us and our 10 000 echoes. Both directions are windowed (32 in
    # flight), so no queue overflows and every packet is counted.
    start_harness flood --count 10000 --timeout 30
    wait_for 10 log_has ESTABLISHED || fail "no session for the flood"
    ip netns exec "$NS_PEER" "$HARNESS" udp-echo-client --to 198.51.100.1:9999 --count 10000 \
      >"$DIR/udp.log" 2>&1 &
    CLIENT=$!
    PIDS+=("$CLIENT")
    wait "$CLIENT" || fail "udp echo client: $(cat "$DIR/udp.log")"
    cat "$DIR/udp.log"
    finish_harness
    ;;
  psk)
    # Different PSKs: our initiation's response does not decrypt, wireguard-go's initiations get
    # responses it cannot decrypt; nobody gets a session and we report the expiry.
    start_harness psk-mismatch --rekey-attempt 4 --timeout 10
    if ip netns exec "$NS_PEER" ping -c 2 -i 0.5 -w 2 198.51.100.1; then
      fail "ping went through despite the PSK mismatch"
    fi
    finish_harness
    [ "$(latest_handshake)" = 0 ] || fail "wireguard-go completed a handshake"
    kill -0 "$WG_PID" || fail "wireguard-go died"
    ;;
  restart)
    # A session, then wireguard-go restarts (same keys) and initiates anew: our same Tunnel takes
    # the new session and traffic flows again.
    start_harness restart --timeout 25
    wait_for 10 log_has PHASE1 || fail "no first session"
    kill "$WG_PID"; wait "$WG_PID" 2>/dev/null
    wait_for 5 test ! -e "$UAPI" || fail "wireguard-go did not exit"
    start_wireguard_go 2
    ip netns exec "$NS_PEER" ping -c 3 -i 0.3 -w 10 198.51.100.1 || fail "ping after the restart"
    finish_harness
    ;;
  *)
    fail "unknown scenario $SCENARIO"
    ;;
esac

echo "PASS: $SCENARIO in $((SECONDS - START)) s"
exit 0
