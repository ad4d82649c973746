#!/usr/bin/env bash
# The packaging (packaging/, docs/operations.md):
#   1. firezone-gateway-init in a fresh network namespace: applies every sysctl and rule, a second
#      run adds nothing, --check passes, --remove deletes exactly its rules, --check then fails.
#   2. `cmake --install` lays out the binary, the init script, the systemd unit (with the install
#      prefix's absolute paths), sysusers.d and tmpfiles.d; `systemd-analyze verify` accepts the
#      unit and `systemd-analyze security` rates its exposure at most 2.5.
#   3. cpack builds the Debian package with the same files under /usr, its maintainer scripts and
#      dependencies.
# Usage: packaging.sh BUILD_DIR
set -u
BUILD=${1:?usage: packaging.sh BUILD_DIR}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
INIT=$ROOT/packaging/firezone-gateway-init
if [ "$(id -u)" != 0 ]; then echo "SKIP: needs root"; exit 77; fi
for tool in ip iptables ip6tables sysctl cmake; do
  command -v "$tool" >/dev/null || { echo "SKIP: $tool not installed"; exit 77; }
done
NS=fzpkg$$
WORK=$(mktemp -d /tmp/fz-pkg.XXXXXX)
cleanup() {
  ip netns del "$NS" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT
fail() {
  echo "FAIL: $*"
  exit 1
}
in_ns() { ip netns exec "$NS" "$@"; }
# How many of the init script's rules are in the namespace.
count_rules() {
  local n=0 tool
  for tool in iptables ip6tables; do
    n=$((n + $(in_ns "$tool" -S FORWARD | grep -c -- '-j ACCEPT')))
    n=$((n + $(in_ns "$tool" -t nat -S POSTROUTING | grep -c -- '-j MASQUERADE')))
  done
  echo $n
}

# --- 1. the init script ---------------------------------------------------------------------------
ip netns add "$NS" || fail "cannot create a namespace"
in_ns "$INIT" --check >/dev/null && fail "--check passed on an unprepared host"
in_ns "$INIT" >"$WORK/first.log" || fail "the init script failed: $(cat "$WORK/first.log")"
[ "$(count_rules)" = 6 ] || fail "expected 6 rules after the first run, found $(count_rules)"
for knob in net.ipv4.ip_forward net.ipv4.conf.all.src_valid_mark net.ipv6.conf.all.forwarding \
  net.ipv6.conf.default.forwarding; do
  [ "$(in_ns sysctl -n "$knob")" = 1 ] || fail "$knob is not 1"
done
in_ns iptables -t nat -S POSTROUTING | grep -q -- '-s 100.64.0.0/11 ! -o tun-firezone -j MASQUERADE' ||
  fail "no IPv4 masquerade rule"
in_ns ip6tables -t nat -S POSTROUTING | grep -q -- '-s fd00:2021:1111::/107 ! -o tun-firezone -j MASQUERADE' ||
  fail "no IPv6 masquerade rule"
in_ns "$INIT" >"$WORK/second.log" || fail "the second run failed"
[ -s "$WORK/second.log" ] && fail "the second run changed something: $(cat "$WORK/second.log")"
[ "$(count_rules)" = 6 ] || fail "the second run duplicated rules ($(count_rules))"
in_ns "$INIT" --check >/dev/null || fail "--check failed on a prepared host"
echo "ok: init script applies 6 rules and 4 sysctls, is idempotent, --check passes"
in_ns "$INIT" --remove >/dev/null || fail "--remove failed"
[ "$(count_rules)" = 0 ] || fail "--remove left $(count_rules) rules"
in_ns "$INIT" --check >/dev/null && fail "--check passed after --remove"
FIREZONE_NO_IPV6=1 in_ns "$INIT" >/dev/null || fail "FIREZONE_NO_IPV6=1 run failed"
[ "$(in_ns ip6tables -S FORWARD | grep -c -- '-j ACCEPT')" = 0 ] || fail "FIREZONE_NO_IPV6 added IPv6 rules"
echo "ok: --remove deletes them, FIREZONE_NO_IPV6=1 leaves ip6tables alone"

# --- 2. the installed layout and the unit ---------------------------------------------------------
PREFIX=$WORK/root/usr
cmake --install "$BUILD" --prefix "$PREFIX" >"$WORK/install.log" 2>&1 ||
  fail "cmake --install failed: $(tail -5 "$WORK/install.log")"
for f in bin/firezone-gateway libexec/firezone-gateway-init lib/systemd/system/firezone-gateway.service \
  lib/sysusers.d/firezone-gateway.conf lib/tmpfiles.d/firezone-gateway.conf; do
  [ -e "$PREFIX/$f" ] || fail "$f is not installed"
done
UNIT=$PREFIX/lib/systemd/system/firezone-gateway.service
grep -qx "ExecStart=$PREFIX/bin/firezone-gateway" "$UNIT" || fail "ExecStart does not name the installed binary"
grep -qx "ExecStartPre=+$PREFIX/libexec/firezone-gateway-init" "$UNIT" || fail "ExecStartPre is wrong"
"$PREFIX/bin/firezone-gateway" --help >/dev/null || fail "the installed binary does not run"
if command -v systemd-analyze >/dev/null; then
  systemd-analyze verify --man=no "$UNIT" >"$WORK/verify.log" 2>&1 ||
    fail "systemd-analyze verify: $(cat "$WORK/verify.log")"
  exposure=$(systemd-analyze security --offline=true "$UNIT" 2>/dev/null |
    sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
  [ -n "$exposure" ] || fail "no exposure level from systemd-analyze security"
  awk -v e="$exposure" 'BEGIN { exit !(e <= 2.5) }' || fail "unit exposure $exposure > 2.5"
  echo "ok: installed layout; systemd-analyze verify passes, exposure $exposure"
else
  echo "ok: installed layout (systemd-analyze not installed: unit not verified)"
fi

# --- 3. the Debian package ------------------------------------------------------------------------
if command -v cpack >/dev/null && command -v dpkg-deb >/dev/null && [ -f "$BUILD/CPackConfig.cmake" ]; then
  cpack --config "$BUILD/CPackConfig.cmake" -G DEB -B "$WORK/deb" >"$WORK/cpack.log" 2>&1 ||
    fail "cpack failed: $(tail -5 "$WORK/cpack.log")"
  DEB=$(ls "$WORK"/deb/firezone-gateway_*.deb 2>/dev/null | head -1)
  [ -n "$DEB" ] || fail "no .deb produced"
  dpkg-deb -c "$DEB" | awk '{print $NF}' >"$WORK/deb.files"
  for f in ./usr/bin/firezone-gateway ./usr/libexec/firezone-gateway-init \
    ./usr/lib/systemd/system/firezone-gateway.service ./usr/lib/sysusers.d/firezone-gateway.conf \
    ./usr/lib/tmpfiles.d/firezone-gateway.conf; do
    grep -qx "$f" "$WORK/deb.files" || fail "$f is not in the package"
  done
  dpkg-deb -f "$DEB" Depends | grep -q 'iptables' || fail "the package does not depend on iptables"
  dpkg-deb -e "$DEB" "$WORK/control"
  for script in postinst prerm postrm; do
    [ -x "$WORK/control/$script" ] || fail "no executable $script"
  done
  mkdir "$WORK/x" && dpkg-deb -x "$DEB" "$WORK/x"
  grep -qx 'ExecStart=/usr/bin/firezone-gateway' "$WORK/x/usr/lib/systemd/system/firezone-gateway.service" ||
    fail "the packaged unit does not start /usr/bin/firezone-gateway"
  echo "ok: $(basename "$DEB"): files, maintainer scripts, Depends: $(dpkg-deb -f "$DEB" Depends | cut -c1-60)..."
else
  echo "ok: (cpack/dpkg-deb not available: package not built)"
fi
echo PASS
