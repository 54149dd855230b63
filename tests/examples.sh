#!/bin/sh
# The demo HTTP server of the README, driven by a real client (curl).
. tests/lib/tap.sh
NM=${NETMCU:-build/netmcu}
command -v curl >/dev/null || { echo "1..0 # SKIP curl not installed"; exit 0; }
tmp=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill -9 $pid 2>/dev/null; rm -rf "$tmp"' EXIT

$NM examples/http_server.lua 0 >"$tmp/out" 2>"$tmp/err" &
pid=$!
if ! wait_for "$tmp/out" '^netmcu demo: http://127.0.0.1:[0-9]*/$' 10; then
  nok "demo prints its URL" "$(cat "$tmp/err")"; plan; exit 0
fi
ok "demo prints its URL"
url=$(sed -n 's/^netmcu demo: //p' "$tmp/out")
body=$(curl -sS --max-time 5 "$url")
check "GET / serves the page" [ -n "$(echo "$body" | grep 'Hello from netmcu')" ]
out=$(curl -sS --max-time 5 -w '%{num_connects}\n' "${url}hello" "${url}hello")
check "two requests over one keep-alive connection" [ "$out" = "$(printf 'hello\n1\nhello\n0')" ]
code=$(curl -s --max-time 5 -o /dev/null -w '%{http_code}' "${url}nothing")
check "unknown path gives 404" [ "$code" = 404 ]
body=$(curl -sS --max-time 5 "$url")
check "hit counter counts every request" [ -n "$(echo "$body" | grep 'Requests served: 5')" ]
kill -TERM $pid
if wait_exit $pid 3; then
  check "SIGTERM stops the demo with 143" [ "$status" -eq 143 ]
else
  nok "SIGTERM stops the demo within 3 s"
fi
pid=
plan
