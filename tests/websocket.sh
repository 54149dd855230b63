#!/bin/sh
# tests/websocket.sh - the websocket module (tests/websocket/client.lua)
# against a real WebSocket server on loopback (tests/websocket/server.pl,
# perl from Debian), started here on a port the kernel picks and stopped
# by pid.  DNS goes to 127.0.0.1 only, where nothing answers.
cd "$(dirname "$0")/.." || exit 2
. tests/lib/tap.sh
NETMCU=${NETMCU:-build/netmcu}
if ! command -v perl >/dev/null 2>&1; then
  echo "1..0 # SKIP perl not found (Debian package perl)"
  exit 0
fi
tmp=$(mktemp -d)
spid=""
cleanup() {
  [ -n "$spid" ] && kill "$spid" 2>/dev/null && wait "$spid" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
perl tests/websocket/server.pl >"$tmp/port" 2>"$tmp/log" &
spid=$!
if ! wait_for "$tmp/port" '^[0-9]' 10; then
  echo "Bail out! the WebSocket server did not start: $(cat "$tmp/log")"
  exit 1
fi
# A port nobody listens on (bound, then released).
dead=$(perl -MIO::Socket::INET -e 'print IO::Socket::INET->new(Listen => 1, LocalAddr => "127.0.0.1:0")->sockport')
printf 'nameserver 127.0.0.1\n' >"$tmp/resolv.conf"
WS_PORT=$(head -n 1 "$tmp/port") WS_DEAD_PORT=$dead WS_LOG="$tmp/log" \
  NETMCU_RESOLV_CONF="$tmp/resolv.conf" "$NETMCU" tests/websocket/client.lua
