#!/bin/sh
# scripts/setup.sh [build|test|all] - makes sure the Debian packages netmcu
# needs are installed.  As root it installs the missing ones with apt-get;
# otherwise it prints the exact list and fails.
#   build: compiler, pkg-config, libuv, c-ares, OpenSSL libcrypto, Lua 5.3 headers
#   test:  build + what the suite drives (stock lua5.3, dnsmasq, ip, curl,
#          mosquitto and its clients, openssl and perl for the mqtt and
#          websocket tests' brokers, CA and servers)
#   all:   test + the other Lua versions (LUA=5.1|5.4|luajit)
#   bench: build + the peers and tools of bench/ (wrk, luv, copas, gnuplot,
#          Node.js and npm, mosquitto and its clients)
set -u
what=${1:-build}
build="gcc make pkg-config libc6-dev libuv1-dev libc-ares-dev libssl-dev liblua5.3-dev"
test="$build lua5.3 dnsmasq-base iproute2 curl procps luarocks mosquitto mosquitto-clients openssl perl"
all="$test liblua5.1-0-dev lua5.1 liblua5.4-dev lua5.4 libluajit-5.1-dev luajit"
case $what in
  build) want=$build ;;
  test) want=$test ;;
  all) want=$all ;;
  bench) want="$build lua5.3 wrk lua-luv lua-copas lua-socket gnuplot-nox nodejs valgrind mosquitto mosquitto-clients"
    # npm comes with NodeSource's nodejs; Debian's nodejs needs its package
    command -v npm >/dev/null 2>&1 || want="$want npm" ;;
  *) echo "usage: $0 [build|test|all|bench]" >&2; exit 2 ;;
esac
missing=""
for p in $want; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
    missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" -eq 0 ]; then
  echo "installing:$missing"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq --no-install-recommends $missing >/dev/null ||
    { echo "apt-get failed for:$missing" >&2; exit 1; }
else
  echo "netmcu needs these Debian packages; install them as root with:" >&2
  echo "  apt-get install$missing" >&2
  exit 1
fi
