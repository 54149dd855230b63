#!/bin/sh
# tests/http.sh - the http module against a real HTTP/HTTPS
# server on loopback: makes a test CA and certificates (tests/http/certs.sh),
# starts tests/http/server.py on free 127.0.0.1 ports, runs the TAP tests of
# tests/http/client.lua in the runtime, and stops the server by its pid.
# Names resolve through a resolver on 127.0.0.1 only (nothing leaves the
# host).
cd "$(dirname "$0")/.." || exit 2
. tests/lib/tap.sh
NETMCU=${NETMCU:-build/netmcu}
for t in python3 openssl; do
  command -v $t >/dev/null 2>&1 || { echo "1..0 # SKIP $t is not installed (sh scripts/setup.sh test)"; exit 0; }
done
tmp=$(mktemp -d)
spid=""
cleanup() {
  exec 3>&- 2>/dev/null
  if [ -n "$spid" ]; then
    kill "$spid" 2>/dev/null
    wait_exit "$spid" 10 || kill -9 "$spid" 2>/dev/null
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

if ! sh tests/http/certs.sh "$tmp/certs"; then
  nok "test certificates made with openssl"
  plan
  exit 1
fi
# The server's stdin is a pipe this script holds: it ends with us.
mkfifo "$tmp/in"
python3 tests/http/server.py "$tmp/certs" <"$tmp/in" >"$tmp/ports" 2>"$tmp/server.err" &
spid=$!
exec 3>"$tmp/in"
if ! wait_for "$tmp/ports" '^READY' 30; then
  nok "the test server started" "$(cat "$tmp/server.err")"
  plan
  exit 1
fi
printf 'nameserver 127.0.0.1\n' >"$tmp/resolv.conf"
NETMCU_RESOLV_CONF="$tmp/resolv.conf" NM_HTTP_PORTS="$(cat "$tmp/ports")" NM_HTTP_CA="$tmp/certs/ca.pem" \
  "$NETMCU" tests/http/client.lua
