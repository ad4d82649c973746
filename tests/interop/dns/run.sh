#!/usr/bin/env bash
# DNS interop: our forwarder (port 53535) and resolver against dnsmasq.
#
# Two namespaces joined by a veth pair: "up" runs dnsmasq at 203.0.113.53 / 2001:db8:1::53; "gw"
# (203.0.113.1) runs our forwarders on a stand-in "tun" address 198.51.100.1 / 2001:db8:2::1, and
# dig. Names carry our PID; the trap kills what we started by PID and deletes the namespaces.
#
# Usage: run.sh <path to dns_interop_driver>. Exit 77 (skip) without root, dnsmasq or dig.
set -u

DRIVER=${1:?usage: run.sh DRIVER}
if [ "$(id -u)" != 0 ]; then echo "SKIP: needs root for network namespaces"; exit 77; fi
for tool in dnsmasq dig ip ss; do
  command -v "$tool" >/dev/null 2>&1 || { echo "SKIP: $tool not installed"; exit 77; }
done

ID=$$
GW=fzd$ID-gw; UP=fzd$ID-up
WORK=$(mktemp -d /tmp/fz-dns-interop.XXXXXX)
PIDS=()

cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null; done
  ip netns del $GW 2>/dev/null; ip netns del $UP 2>/dev/null
  if [ "${KEEP_LOGS:-}" = 1 ]; then echo "logs kept in $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM

FAILS=0
fail_now() { echo "FAIL: $*"; for f in "$WORK"/*.log; do echo "--- $f"; tail -n 40 "$f"; done; exit 1; }
check() {  # check DESCRIPTION EXPECTED ACTUAL
  if [ "$2" = "$3" ]; then
    echo "ok   $1"
  else
    echo "FAIL $1: expected [$2], got [$3]"
    FAILS=$((FAILS + 1))
  fi
}
check_grep() {  # check_grep DESCRIPTION PATTERN TEXT
  if grep -qE -- "$2" <<<"$3"; then
    echo "ok   $1"
  else
    echo "FAIL $1: no [$2] in:"; echo "$3" | sed 's/^/     /'
    FAILS=$((FAILS + 1))
  fi
}

# --- Topology -----------------------------------------------------------------------------------
ip netns add $GW || fail_now "cannot create namespaces"
ip netns add $UP
ip -n $GW link add eth0 type veth peer name eth0 netns $UP
for ns in $GW $UP; do ip -n $ns link set lo up; ip -n $ns link set eth0 up; done
ip -n $GW addr add 203.0.113.1/24 dev eth0
ip -n $GW addr add 2001:db8:1::1/64 dev eth0 nodad
ip -n $UP addr add 203.0.113.53/24 dev eth0
ip -n $UP addr add 2001:db8:1::53/64 dev eth0 nodad
# The "tun" addresses the forwarder listens on (no dummy module on every host, so on lo).
ip -n $GW addr add 198.51.100.1/32 dev lo
ip -n $GW addr add 2001:db8:2::1/128 dev lo nodad

# --- dnsmasq ------------------------------------------------------------------------------------
# A TXT record of six 250-byte strings: an answer of about 1.6 kB, over the 1200-byte UDP limit.
BIG=()
for c in a b c d e f; do BIG+=("$(printf "%0250d" 0 | tr 0 $c)"); done
BIG_RECORD=$(IFS=,; echo "big.app.test,${BIG[*]}")
ip netns exec $UP dnsmasq --keep-in-foreground --conf-file=/dev/null --no-resolv --no-hosts \
  --no-poll --bind-interfaces --listen-address=203.0.113.53 --listen-address=2001:db8:1::53 \
  --port=53 --user=root --pid-file="$WORK/dnsmasq.pid" --log-queries --log-facility=- \
  --local-ttl=30 --local=/app.test/ --edns-packet-max=4096 \
  --host-record=app.test,198.51.100.7,2001:db8:1::7 \
  --txt-record=_fz.app.test,"v=fz1 hello" "--txt-record=$BIG_RECORD" >"$WORK/dnsmasq.log" 2>&1 &
PIDS+=($!)

wait_port() {  # wait_port NS PROTO(u|t) PORT
  local i
  for i in $(seq 1 50); do
    ip netns exec "$1" ss -Hln$2 "sport = :$3" | grep -q . && return 0
    sleep 0.1
  done
  return 1
}
wait_port $UP u 53 || fail_now "dnsmasq did not start"

# --- forwarders ---------------------------------------------------------------------------------
# Count packets to dnsmasq with and without the Firezone fwmark (when iptables is there).
MARKS=0
if command -v iptables >/dev/null 2>&1 &&
   ip netns exec $GW iptables -A OUTPUT -d 203.0.113.53 -m mark --mark 0xfd002021 -j ACCEPT; then
  for proto in udp tcp; do
    ip netns exec $GW iptables -A OUTPUT -d 203.0.113.53 -p $proto --dport 53 -m mark --mark 0 -j ACCEPT
  done
  MARKS=1
fi
count() {  # count MARKMATCH: packets counted by the rule matching the mark
  ip netns exec $GW iptables -L OUTPUT -v -n -x | awk -v m="$1" '$0 ~ m { s += $1 } END { print s + 0 }'
}
start_forwarder() {  # start_forwarder NAME ARGS...
  local name=$1; shift
  ip netns exec $GW "$DRIVER" forward "$@" >"$WORK/$name.log" 2>&1 &
  PIDS+=($!)
}
start_forwarder fwd 198.51.100.1:53535 '[2001:db8:2::1]:53535' -- 203.0.113.53:53
start_forwarder refused 198.51.100.1:53536 -- 203.0.113.53:54
start_forwarder silent --attempt-ms 2000 --timeout-ms 1000 198.51.100.1:53537 -- 203.0.113.99:53
start_forwarder failover --attempt-ms 500 --timeout-ms 3000 198.51.100.1:53538 -- \
  203.0.113.99:53 203.0.113.53:53
for port in 53535 53536 53537 53538; do
  wait_port $GW u $port || fail_now "forwarder on $port did not start"
  wait_port $GW t $port || fail_now "forwarder on $port did not listen on TCP"
done

D() { ip netns exec $GW dig +time=4 +tries=1 "$@"; }
F=(@198.51.100.1 -p 53535)

# --- through the forwarder ----------------------------------------------------------------------
check "UDP A" "198.51.100.7" "$(D "${F[@]}" app.test A +short)"
check "UDP AAAA" "2001:db8:1::7" "$(D "${F[@]}" app.test AAAA +short)"
check "TCP A" "198.51.100.7" "$(D "${F[@]}" app.test A +tcp +short)"
check "TCP AAAA" "2001:db8:1::7" "$(D "${F[@]}" app.test AAAA +tcp +short)"
check "UDP TXT" '"v=fz1 hello"' "$(D "${F[@]}" _fz.app.test TXT +short)"
check "TCP TXT" '"v=fz1 hello"' "$(D "${F[@]}" _fz.app.test TXT +tcp +short)"
check "IPv6 listener, UDP" "198.51.100.7" "$(D @2001:db8:2::1 -p 53535 app.test A +short)"
check "IPv6 listener, TCP" "2001:db8:1::7" "$(D @2001:db8:2::1 -p 53535 app.test AAAA +tcp +short)"
check_grep "NXDOMAIN relayed" "status: NXDOMAIN" "$(D "${F[@]}" missing.app.test A)"

# Large answer: cut with TC over UDP (dnsmasq sends it whole for a 4096-byte EDNS buffer) ...
OUT=$(D "${F[@]}" big.app.test TXT +bufsize=4096 +ignore)
check_grep "big TXT over UDP has TC" "flags: qr aa tc rd ra;" "$OUT"
check_grep "big TXT over UDP has no records" "ANSWER: 0, AUTHORITY: 0, ADDITIONAL: 0" "$OUT"
check_grep "big TXT over UDP is header + question" "MSG SIZE +rcvd: 30$" "$OUT"
# ... and whole over TCP.
OUT=$(D "${F[@]}" big.app.test TXT +bufsize=4096 +tcp)
check_grep "big TXT over TCP is whole" "ANSWER: 1," "$OUT"
check_grep "big TXT over TCP has every string" "${BIG[5]}" "$OUT"
SIZE=$(sed -n 's/.*MSG SIZE  rcvd: \([0-9]*\).*/\1/p' <<<"$OUT")
if [ "${SIZE:-0}" -gt 1200 ]; then echo "ok   big TXT over TCP is $SIZE bytes"; else
  echo "FAIL big TXT over TCP is ${SIZE:-?} bytes"; FAILS=$((FAILS + 1)); fi
# dig itself falls back to TCP on TC and gets the whole record.
check "big TXT with dig's TCP fallback" "6" \
  "$(D "${F[@]}" big.app.test TXT +bufsize=4096 +short | grep -o '"[a-f]*"' | wc -l)"

# --- failures -----------------------------------------------------------------------------------
check_grep "refused upstream: SERVFAIL over UDP" "status: SERVFAIL" \
  "$(D @198.51.100.1 -p 53536 app.test A)"
check_grep "refused upstream: SERVFAIL over TCP" "status: SERVFAIL" \
  "$(D @198.51.100.1 -p 53536 app.test A +tcp)"
START=$(date +%s%N)
check_grep "silent upstream: SERVFAIL" "status: SERVFAIL" "$(D @198.51.100.1 -p 53537 app.test A)"
MS=$(( ($(date +%s%N) - START) / 1000000 ))
if [ $MS -ge 900 ] && [ $MS -lt 3000 ]; then echo "ok   silent upstream answered after $MS ms"; else
  echo "FAIL silent upstream answered after $MS ms (want ~1000)"; FAILS=$((FAILS + 1)); fi
check "failover to the second upstream" "198.51.100.7" \
  "$(D @198.51.100.1 -p 53538 app.test A +short)"
# The dead upstream is penalised now: the next query goes to the live one without waiting.
START=$(date +%s%N)
check "failover: then the live upstream first" "2001:db8:1::7" \
  "$(D @198.51.100.1 -p 53538 app.test AAAA +short)"
MS=$(( ($(date +%s%N) - START) / 1000000 ))
if [ $MS -lt 400 ]; then echo "ok   live upstream asked first ($MS ms)"; else
  echo "FAIL live upstream not asked first ($MS ms)"; FAILS=$((FAILS + 1)); fi

if [ $MARKS = 1 ]; then
  MARKED=$(count "mark match 0xfd002021"); UNMARKED=$(count "mark match 0x0")
  if [ "$MARKED" -gt 0 ] && [ "$UNMARKED" = 0 ]; then
    echo "ok   forwarder upstream packets carry fwmark 0xfd002021 ($MARKED marked)"
  else
    echo "FAIL forwarder upstream packets: $MARKED marked, $UNMARKED unmarked"; FAILS=$((FAILS + 1))
  fi
  BEFORE=$MARKED
fi

# --- resolver -----------------------------------------------------------------------------------
OUT=$(ip netns exec $GW "$DRIVER" resolve 203.0.113.53:53 app.test 2>>"$WORK/resolve.log")
check "resolver: A + AAAA" "$(printf '2001:db8:1::7\n198.51.100.7')" "$OUT"
OUT=$(ip netns exec $GW "$DRIVER" resolve '[2001:db8:1::53]:53' app.test 2>>"$WORK/resolve.log")
check "resolver over IPv6" "$(printf '2001:db8:1::7\n198.51.100.7')" "$OUT"
OUT=$(ip netns exec $GW "$DRIVER" resolve 203.0.113.53:53 missing.app.test 2>>"$WORK/resolve.log")
RC=$?
check "resolver: NXDOMAIN exit code" "2" "$RC"
check_grep "resolver: NXDOMAIN error" "^error: DNS name does not exist" "$OUT"
if [ $MARKS = 1 ]; then
  MARKED=$(count "mark match 0xfd002021"); UNMARKED=$(count "mark match 0x0")
  if [ "$MARKED" -gt "$BEFORE" ] && [ "$UNMARKED" = 0 ]; then
    echo "ok   resolver packets carry fwmark 0xfd002021 ($((MARKED - BEFORE)) marked)"
  else
    echo "FAIL resolver packets: $((MARKED - BEFORE)) marked, $UNMARKED unmarked"; FAILS=$((FAILS + 1))
  fi
fi

if [ $FAILS -ne 0 ]; then fail_now "$FAILS check(s) failed"; fi
echo "PASS"
