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

# ---- file server: PUT a body that spans many receives, GET it back ----
mkdir -p "$tmp/files"
head -c 300000 /dev/urandom > "$tmp/big.bin"
$NM examples/file_server.lua "$tmp/files" 0 >"$tmp/out" 2>"$tmp/err" &
pid=$!
if wait_for "$tmp/out" 'on http://127.0.0.1:[0-9]*/$' 10; then
  url=$(sed -n 's/.* on //p' "$tmp/out")
  out=$(curl -sS --max-time 10 -T "$tmp/big.bin" "${url}big.bin")
  check "PUT of 300 kB stored whole" [ "$out" = "stored 300000 bytes" ]
  check "stored file is byte-identical" cmp -s "$tmp/big.bin" "$tmp/files/big.bin"
  curl -sS --max-time 10 -o "$tmp/got.bin" "${url}big.bin"
  check "GET streams it back identical (sent-callback chaining)" cmp -s "$tmp/big.bin" "$tmp/got.bin"
  out=$(curl -sS --max-time 10 --data-binary 'a=1&b=2' "${url}form.txt")
  check "POST body stored" [ "$out" = "stored 7 bytes" -a "$(cat "$tmp/files/form.txt")" = 'a=1&b=2' ]
  code=$(curl -s --max-time 5 -o /dev/null -w '%{http_code}' "${url}missing")
  check "missing file gives 404" [ "$code" = 404 ]
  code=$(curl -s --max-time 5 -o /dev/null -w '%{http_code}' -X DELETE "${url}big.bin")
  check "other methods give 405" [ "$code" = 405 ]
else
  nok "file server starts" "$(cat "$tmp/err")"
fi
kill -TERM $pid; wait_exit $pid 3; pid=

# ---- line server: commands in pieces, two clients, say, quit ----
$NM examples/line_server.lua 0 >"$tmp/out" 2>"$tmp/err" &
pid=$!
if wait_for "$tmp/out" 'line server on 127.0.0.1:[0-9]*$' 10; then
  port=$(sed -n 's/.*127.0.0.1://p' "$tmp/out")
  cat > "$tmp/client.lua" <<'L'
local port = tonumber(...)
local a, b = net.createConnection(), net.createConnection()
local got = {a = "", b = ""}
local function on(name, sock)
  sock:on("receive", function(_, d) got[name] = got[name] .. d end)
end
on("a", a); on("b", b)
local steps = {
  function() a:send("ec"); a:send("ho hel"); a:send("lo\r\nwho\n") end,
  function() b:send("say hi all\n") end,
  function() a:send("quit\n") end,
}
local i = 0
local t = tmr.create()
t:alarm(100, tmr.ALARM_AUTO, function()
  i = i + 1
  if steps[i] then steps[i]() return end
  t:unregister()
  print(("A[%s]"):format(got.a:gsub("\n", "|")))
  print(("B[%s]"):format(got.b:gsub("\n", "|")))
  b:close()
end)
a:connect(port); b:connect(port)
L
  out=$(timeout 10 $NM "$tmp/client.lua" "$port")
  a=$(echo "$out" | sed -n 's/^A\[\(.*\)\]$/\1/p')
  b=$(echo "$out" | sed -n 's/^B\[\(.*\)\]$/\1/p')
  check "greeting and prompt" [ -n "$(echo "$a" | grep '^welcome, 127.0.0.1:[0-9]*|> ')" ]
  check "a command sent in three pieces is one line" [ -n "$(echo "$a" | grep '> hello|> 2 connected|')" ]
  check "say reaches the other client" [ -n "$(echo "$a" | grep '127.0.0.1:[0-9]*: hi all|')" ]
  check "sender is told how many heard it" [ -n "$(echo "$b" | grep 'said to 1|')" ]
  check "quit says bye and closes" [ -n "$(echo "$a" | grep 'bye|$')" ]
else
  nok "line server starts" "$(cat "$tmp/err")"
fi
kill -TERM $pid; wait_exit $pid 3; pid=
plan
