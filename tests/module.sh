#!/bin/sh
# The Lua C modules from a stock interpreter (docs/runtime.md): require "net"
# and "tmr", net.run() serves the loop, errors surface from net.run(); the
# other modules share that loop or load alone; net.so exports only openers.
. tests/lib/tap.sh
LUA=${NETMCU_LUA:-lua5.3}
CPATH=${NETMCU_CPATH:-build/?.so}
if [ -n "${NETMCU_SANITIZED:-}" ]; then
  echo "1..0 # SKIP a sanitized module cannot load into a stock interpreter"
  exit 0
fi
if ! command -v "$LUA" >/dev/null; then
  echo "1..0 # SKIP no $LUA interpreter"
  exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cat > "$tmp/echo.lua" <<'L'
local net = require "net"
local tmr = require "tmr"
assert(package.loaded.net == net and package.loaded.tmr == tmr)
local srv = net.createServer()
srv:listen(0, "127.0.0.1", function(c) c:on("receive", function(s, d) s:send(d:upper()) end) end)
local c = net.createConnection()
local fired = false
tmr.create():alarm(10, tmr.ALARM_SINGLE, function() fired = true end)
c:on("connection", function(s) s:send("hello") end)
c:on("receive", function(s, d) print(d); s:close(); srv:close() end)
c:connect((srv:getaddr()))
net.run()
print("loop ended", fired)
L
out=$(LUA_CPATH="$CPATH" timeout 10 "$LUA" "$tmp/echo.lua" 2>&1); rc=$?
check "require net, echo through net.run() from stock $LUA" [ $rc -eq 0 -a "$out" = "$(printf 'HELLO\nloop ended\ttrue')" ] ||
  echo "$out" | sed 's/^/#   /'

cat > "$tmp/err.lua" <<'L'
local net, tmr = require "net", require "tmr"
tmr.create():alarm(5, tmr.ALARM_SINGLE, function() error("cb failed") end)
local ok, err = pcall(net.run)
print(ok, (err:match("cb failed")), err:find("stack traceback", 1, true) ~= nil)
tmr.create():alarm(5, tmr.ALARM_SINGLE, function() print("runs again") end)
net.run()
L
out=$(LUA_CPATH="$CPATH" timeout 10 "$LUA" "$tmp/err.lua" 2>&1); rc=$?
check "a callback error is raised by net.run() with its traceback; run() works again" \
  [ $rc -eq 0 -a "$out" = "$(printf 'false\tcb failed\ttrue\nruns again')" ] || echo "$out" | sed 's/^/#   /'

out=$(LUA_CPATH="$CPATH" timeout 10 "$LUA" -e 'local net = require "net"
local srv = net.createServer(); srv:listen(0, "127.0.0.1", function() end)
print("exiting with a listening server")' 2>&1); rc=$?
check "lua_close with an open server exits cleanly" [ $rc -eq 0 -a "$out" = "exiting with a listening server" ] ||
  echo "$out" | sed 's/^/#   /'
out=$(LUA_CPATH="$CPATH" timeout 10 "$LUA" -e 'local node = require "node"
node.task.post(function(p) print("task", p) end)
print(pcall(node.restart))
require("net").run()' 2>&1); rc=$?
check "require node: task.post runs in net.run(); restart needs the runtime" \
  [ $rc -eq 0 -a "$out" = "$(printf 'false\tnode.restart needs the netmcu runtime\ntask\t1')" ] || echo "$out" | sed 's/^/#   /'

# crypto, rtctime, cron and sntp through their shims: an NTP answer from a
# UDP socket of the script sets rtctime, and a cron entry fires on it.
out=$(LUA_CPATH="$CPATH" timeout 10 "$LUA" -e '
local crypto, rtctime, sntp, cron = require "crypto", require "rtctime", require "sntp", require "cron"
local net = require "net"
print(#crypto.hash("sha256", "x"), select(2, pcall(rtctime.dsleep, 1)))
local u = net.createUDPSocket()
u:on("receive", function(s, req, port, ip)
  local t = string.char(0xe1, 0xb6, 0x5f, 0x80, 0, 0, 0, 0) -- 2020-01-01 00:00:00 in NTP
  s:send(port, ip, string.char(0x24, 2, 6, 236) .. ("\0"):rep(8) .. "GPS\0" .. t .. req:sub(41, 48) .. t .. t)
end)
u:listen(0, "127.0.0.1")
cron.schedule("0 0 1 1 *", function(e) print("cron", (rtctime.get())) e:unschedule() end)
sntp.sync("127.0.0.1:" .. u:getaddr(), function(sec, usec, server) print("sntp", sec) u:close() end)
net.run()' 2>&1); rc=$?
check "require crypto, rtctime, sntp, cron: one loop; sntp sets rtctime, cron follows" \
  [ $rc -eq 0 -a "$out" = "$(printf '32\trtctime.dsleep needs the netmcu runtime\nsntp\t1577836800\ncron\t1577836800')" ] ||
  echo "$out" | sed 's/^/#   /'
out=$(LUA_CPATH="$CPATH" timeout 10 "$LUA" -e 'local sjson, enc, bit, struct = require "sjson", require "encoder", require "bit", require "struct"
print(sjson.encode(sjson.decode("[1,{\"a\":true}]")), enc.toBase64("hi"), bit.bnot(0), struct.size("<i"))' 2>&1); rc=$?
check "require sjson, encoder, bit, struct from stock $LUA (no loop needed)" \
  [ $rc -eq 0 -a "$out" = "$(printf '[1,{"a":true}]\taGk=\t-1\t4')" ] || echo "$out" | sed 's/^/#   /'

# Only the modules' openers are exported (docs/INTERNALS.md): hidden
out=$(LUA_CPATH="$CPATH" timeout 10 "$LUA" -e 'local tls = require "tls"
local net = require "net"
local s = tls.createConnection()
print(getmetatable(s) == getmetatable(net.createConnection()), net.cert == tls.cert)
local srv = net.createServer(); srv:listen(0, "127.0.0.1", function() end)
local port = srv:getaddr(); srv:close()
s:on("reconnection", function(_, code) print("refused", code) end)
s:connect(port, "127.0.0.1")
net.run()' 2>&1); rc=$?
check "require tls first: its sockets are net sockets; a refused TLS connect gives -9" \
  [ $rc -eq 0 -a "$out" = "$(printf 'true\ttrue\nrefused\t-9')" ] || echo "$out" | sed 's/^/#   /'

# internals cannot clash with the host program's or another module's.
so=$(printf '%s' "$CPATH" | sed 's/?/net/')
if command -v nm >/dev/null && [ -f "$so" ]; then
  want=$(sed -n 's/^ *X(\([a-z0-9_]*\)).*/luaopen_\1/p' src/core/modules.h | sort)
  got=$(nm -D --defined-only "$so" | awk '{print $3}' | sort)
  check "net.so exports exactly the luaopen_* of core/modules.h" [ "$got" = "$want" ] ||
    printf 'exported:\n%s\nwanted:\n%s\n' "$got" "$want" | sed 's/^/#   /'
else
  skip "net.so exports exactly the luaopen_* of core/modules.h" "no nm (binutils) or no $so"
fi
plan
