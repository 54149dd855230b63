#!/bin/sh
# tests/faults_errors.sh - an error raised in every kind of callback (docs/runtime.md):
# connection, reconnection, disconnection, receive, sent, dns (socket and
# net.dns.resolve), the listen function, UDP receive and sent, timer, task.
# Without a handler: exit 1, "netmcu: <message>" and a traceback on stderr,
# within a bounded time.  With node.setonerror: the handler gets the message
# and traceback, and the loop goes on (the script then finishes normally).
cd "$(dirname "$0")/.." || exit 2
. tests/lib/tap.sh
NM=${NETMCU:-build/netmcu}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

cat >"$tmp/cb.lua" <<'L'
-- arg[1]: the callback kind that raises; arg[2] == "handler": setonerror
local kind, handler = arg[1], arg[2] == "handler"
local caught = 0
if handler then
  node.setonerror(function(msg)
    caught = caught + 1
    io.stdout:write("caught: ", (msg:gsub("\n", "|")), "\n")
  end)
end
-- keeps the loop alive, so a missing exit would show as a timeout
local keep = net.createServer()
keep:listen(0, "127.0.0.1", function() end)
local objs = {keep}
local function finish()
  for _, o in ipairs(objs) do pcall(o.close, o) end
  print("finished, caught " .. caught)
end
-- every kind ends by calling finish() on a later turn (once)
local armed = false
local function later()
  if armed then return end
  armed = true
  tmr.create():alarm(50, tmr.ALARM_SINGLE, finish)
end
local function boom() later(); error("boom in " .. kind) end
local function raise_if(k) if k == kind then boom() end end

if kind == "timer" then
  tmr.create():alarm(5, tmr.ALARM_SINGLE, function() later(); raise_if("timer") end)
elseif kind == "task" then
  node.task.post(function() later(); raise_if("task") end)
elseif kind == "resolve" then
  net.dns.resolve("127.0.0.1", function() later(); raise_if("resolve") end)
elseif kind == "udp_receive" or kind == "udp_sent" then
  local u = net.createUDPSocket()
  u:listen(0, "127.0.0.1")
  u:on("receive", function(s) s:close(); later(); raise_if("udp_receive") end)
  u:on("sent", function() raise_if("udp_sent") end)
  u:send((u:getaddr()), "127.0.0.1", "x")
elseif kind == "reconnection" or kind == "refused" then
  local probe = net.createServer()
  probe:listen(0, "127.0.0.1", function() end)
  local port = probe:getaddr()
  probe:close()
  local c = net.createConnection()
  if kind == "reconnection" then
    c:on("reconnection", function() later(); raise_if("reconnection") end)
  else
    c:on("disconnection", function() later(); boom() end)
  end
  c:connect(port, "127.0.0.1")
else
  local srv = net.createServer()
  srv:listen(0, "127.0.0.1", function(c)
    objs[#objs + 1] = c
    raise_if("listen")
    c:on("receive", function(s, d)
      raise_if("receive")
      s:send(d)
    end)
  end)
  local c = net.createConnection()
  objs[#objs + 1] = c
  objs[#objs + 1] = srv
  c:on("connection", function(s)
    raise_if("connection")
    s:send("ping")
  end)
  c:on("sent", function() raise_if("sent") end)
  c:on("dns", function() raise_if("dns") end)
  c:on("receive", function(s)
    srv:close()
    s:close() -- local close: no disconnection for this side
    later()
  end)
  if kind == "disconnection" then
    -- the server side ends the connection: the client sees disconnection(0)
    srv:close()
    srv = net.createServer()
    srv:listen(0, "127.0.0.1", function(sc) sc:close() end)
    objs[#objs + 1] = srv
    c:on("disconnection", function() srv:close(); later(); raise_if("disconnection") end)
  end
  c:connect((srv:getaddr()), kind == "dns" and "localhost" or "127.0.0.1")
end
L

for kind in connection reconnection refused disconnection receive sent dns resolve listen \
  udp_receive udp_sent timer task; do
  timeout 10 "$NM" "$tmp/cb.lua" "$kind" >"$tmp/out" 2>"$tmp/err"
  rc=$?
  what=$kind
  [ "$kind" = refused ] && what=disconnection
  if [ $rc -eq 1 ] && grep -q "^netmcu: .*boom in $kind" "$tmp/err" &&
    grep -q "stack traceback:" "$tmp/err" && ! grep -q finished "$tmp/out"; then
    ok "error in $kind callback: exit 1 with message and traceback"
  else
    nok "error in $kind callback: exit 1 with message and traceback" \
      "status $rc; stdout: $(cat "$tmp/out"); stderr: $(head -c 600 "$tmp/err")"
  fi
  timeout 10 "$NM" "$tmp/cb.lua" "$kind" handler >"$tmp/out" 2>"$tmp/err"
  rc=$?
  if [ $rc -eq 0 ] && grep -q "^caught: .*boom in $kind.*stack traceback:" "$tmp/out" &&
    grep -q "^finished, caught 1$" "$tmp/out" && [ ! -s "$tmp/err" ]; then
    ok "error in $kind callback with node.setonerror: handled, the loop went on"
  else
    nok "error in $kind callback with node.setonerror: handled, the loop went on" \
      "status $rc; stdout: $(cat "$tmp/out"); stderr: $(head -c 600 "$tmp/err")"
  fi
done
plan
