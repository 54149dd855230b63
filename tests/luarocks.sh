#!/bin/sh
# `luarocks make` builds the modules from this tree against the system's
# libuv and c-ares, and a stock interpreter can require what it installed.
. tests/lib/tap.sh
LUA=${NETMCU_LUA:-lua5.3}
if [ -n "${NETMCU_SANITIZED:-}" ]; then
  echo "1..0 # SKIP checked in the normal run"; exit 0
fi
command -v luarocks >/dev/null || { echo "1..0 # SKIP luarocks not installed"; exit 0; }
case $LUA in
  lua5.*) ver=${LUA#lua} ;;
  *) echo "1..0 # SKIP luarocks test runs with a PUC Lua interpreter"; exit 0 ;;
esac
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
luarocks --lua-version="$ver" --tree="$tmp/tree" make netmcu-*.rockspec >"$tmp/log" 2>&1
check "luarocks make succeeds for Lua $ver" [ $? -eq 0 ] || sed 's/^/#   /' "$tmp/log" | tail -20
dir="$tmp/tree/lib/lua/$ver"
check "net, tmr and node installed" [ -f "$dir/net.so" -a -f "$dir/tmr.so" -a -f "$dir/node.so" ]
out=$(cd "$tmp" && LUA_CPATH="$dir/?.so" timeout 10 $LUA -e '
local tmr = require "tmr"   -- first, through its shim
local net, node = require "net", require "node"
local srv = net.createServer()
srv:listen(0, "127.0.0.1", function(c) c:on("receive", function(s, d) s:send(d .. "!") end) end)
local c = net.createConnection()
c:on("connection", function(s) s:send("hi") end)
c:on("receive", function(s, d) print(d); s:close(); srv:close() end)
tmr.create():alarm(5, tmr.ALARM_SINGLE, function() node.task.post(function() print("task") end) end)
c:connect((srv:getaddr()))
net.run()' 2>&1)
check "the installed modules share one loop in stock $LUA" [ "$(echo "$out" | sort | tr '\n' ' ')" = "hi! task " ] ||
  echo "$out" | sed 's/^/#   /'
plan
