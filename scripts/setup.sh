#!/bin/sh
# scripts/setup.sh [build|test|all|bench|ci] [LUA] - makes sure the Debian
# packages netmcu needs are installed.  As root it installs the missing
# ones with apt-get; otherwise it prints the exact apt-get line and fails.
#   build: compiler, pkg-config, libuv, c-ares, OpenSSL libcrypto, libcurl, the headers of LUA
#   test:  build + what the suite drives (stock lua5.3, dnsmasq, ip, curl, chrony,
#          openssl and python3 for the http tests' CA and servers,
#          mosquitto and its clients and perl for the mqtt and websocket tests)
#   all:   test + the other Lua versions (LUA=5.1|5.4|luajit)
#   bench: build + the peers and tools of bench/ (wrk, luv, copas, gnuplot, lua-cjson,
#          Node.js and npm, mosquitto and its clients)
#   ci:    the tools .ci/run itself uses (curl)
# LUA is the Makefile's: 5.3 (default), 5.1, 5.4 or luajit.
# scripts/setup.sh --dev-packages prints every -dev package this script can
# install, for every LUA (what .ci/run purges to start from nothing);
# --packages prints every package it can install.
# NETMCU_EXTRA_PACKAGES adds packages to every list (tests/setup.sh names
# one that does not exist, to see the "missing" path without removing any).
set -u
build="gcc make pkg-config libc6-dev libuv1-dev libc-ares-dev libssl-dev libcurl4-openssl-dev liblua5.3-dev"
test="$build lua5.3 dnsmasq-base iproute2 curl procps luarocks chrony openssl python3 mosquitto mosquitto-clients perl"
all="$test liblua5.1-0-dev lua5.1 liblua5.4-dev lua5.4 libluajit-5.1-dev luajit"
bench="$build lua5.3 wrk lua-luv lua-copas lua-socket gnuplot-nox nodejs valgrind lua-cjson mosquitto mosquitto-clients"
ci="curl"

usage() {
  echo "usage: $0 [build|test|all|bench|ci] [5.1|5.3|5.4|luajit] | --dev-packages | --packages" >&2
  exit 2
}

if [ "${1:-}" = --dev-packages ]; then
  # libc6-dev is the C compiler's own (purging it takes gcc's C++ and every
  # other -dev package with it): it stays with the toolchain.
  for p in $all; do
    case $p in libc6-dev) ;; *-dev) echo "$p" ;; esac
  done
  exit 0
fi
if [ "${1:-}" = --packages ]; then
  for p in $all $bench $ci; do echo "$p"; done | awk '!seen[$0]++'
  exit 0
fi

what=${1:-build}
case ${2:-5.3} in
  5.1) lua_dev=liblua5.1-0-dev lua_bin=lua5.1 ;;
  5.3) lua_dev=liblua5.3-dev lua_bin=lua5.3 ;;
  5.4) lua_dev=liblua5.4-dev lua_bin=lua5.4 ;;
  luajit) lua_dev=libluajit-5.1-dev lua_bin=luajit ;;
  *) echo "$0: LUA=$2 is not one of 5.1, 5.3, 5.4, luajit" >&2; usage ;;
esac
# A build for another LUA needs that Lua's headers instead of 5.3's; the
# suite needs its interpreter too (and lua5.3 for what it always drives).
for_lua() {
  for p in $1; do
    case $p in liblua5.3-dev) echo "$lua_dev" ;; *) echo "$p" ;; esac
  done
}
case $what in
  build) want=$(for_lua "$build") ;;
  test) want="$test $lua_dev $lua_bin" ;;
  all) want=$all ;;
  bench) want=$bench
    # npm comes with NodeSource's nodejs; Debian's nodejs needs its package
    command -v npm >/dev/null 2>&1 || want="$want npm" ;;
  ci) want=$ci ;;
  *) usage ;;
esac
want="$want ${NETMCU_EXTRA_PACKAGES:-}"
missing=""
for p in $want; do
  case " $missing " in *" $p "*) continue ;; esac
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
    missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" -eq 0 ]; then
  echo "installing:$missing"
  export DEBIAN_FRONTEND=noninteractive
  # Waits for another apt (a parallel build) instead of failing at once.
  apt="apt-get -q -o DPkg::Lock::Timeout=600"
  $apt update -qq >/dev/null || echo "apt-get update failed; installing from what apt knows" >&2
  $apt install -y -qq --no-install-recommends $missing >/dev/null ||
    { echo "apt-get install failed for:$missing" >&2; exit 1; }
else
  echo "netmcu needs these Debian packages, which are not installed." >&2
  echo "Install them as root with:" >&2
  echo "  apt-get install$missing" >&2
  echo "then run the same make command again." >&2
  exit 1
fi
