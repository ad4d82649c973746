#!/usr/bin/env bash
# Installs everything the build and the tests need, from Debian's packages only.
# Idempotent: packages already present are skipped, and apt-get runs only when something is missing.
set -euo pipefail

packages=(
  # toolchain
  build-essential cmake ninja-build ccache pkg-config clang clang-format libclang-rt-14-dev
  # libraries
  libssl-dev libsodium-dev libboost1.81-dev nlohmann-json3-dev libspdlog-dev libfmt-dev libcli11-dev
  libc-ares-dev libnl-3-dev libnl-route-3-dev
  # test and benchmark frameworks
  libgtest-dev libgmock-dev googletest libbenchmark-dev librapidcheck-dev
  # real peers and network tools used by the interop and e2e tests
  wireguard-go wireguard-tools coturn libnice-dev dnsmasq-base bind9-dnsutils iperf3
  iproute2 iptables iputils-ping tcpdump procps openssl
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
# coturn's package starts a system-wide turnserver on some setups; tests start their own instances.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet coturn 2>/dev/null; then
  $SUDO systemctl stop coturn || true
fi
echo "install-deps: done"
