#!/bin/sh
# Allocation failures (issue 18, items 1 and 8; docs/RELIABILITY.md):
# tests/faults/failmalloc.c, preloaded, fails chosen malloc/calloc/realloc
# calls of the runtime.  Out of memory must end as exit 1 with the message
# (or be absorbed), never a Lua panic or a crash, and a server whose
# accept could not allocate must keep serving.
#   NETMCU_FAULT_STEP=n  try every n-th allocation point (default: about
#                        40 points per scenario; 1 = all of them)
. tests/lib/tap.sh
NM=${NETMCU:-build/netmcu}
tmp=$(mktemp -d)
pids=""
trap 'for p in $pids; do kill $p 2>/dev/null; done; rm -rf "$tmp"' EXIT

if ! ${CC:-cc} -shared -fPIC -O2 -o "$tmp/failmalloc.so" tests/faults/failmalloc.c -ldl 2>"$tmp/cc.err"; then
  skip "allocation failures" "no C compiler to build tests/faults/failmalloc.c"
  plan
  exit 0
fi
# Under ASan the preloaded allocator sits in front of ASan's.
if [ "${NETMCU_SANITIZED:-}" = 1 ]; then
  export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0"
fi
# No DNS server but loopback, in case a lookup leaks out.
printf 'nameserver 127.0.0.1\n' > "$tmp/resolv.conf"
export NETMCU_RESOLV_CONF="$tmp/resolv.conf"

# The allocator acts in netmcu only (not in timeout or env).
export NETMCU_FAIL_PROG="$(basename "$NM")"
PRELOAD="$tmp/failmalloc.so"

# ---- scenarios: a bit of everything, ending by itself; an uncaught error
# with everything open (the shutdown path) ----
cat > "$tmp/work.lua" <<'L'
local srv = net.createServer()
srv:listen(0, "127.0.0.1", function(c)
  c:on("receive", function(s, d) s:send(d, function() s:close() end) end)
end)
local cl = net.createConnection()
cl:on("connection", function(s) s:send(("x"):rep(1000)) end)
cl:on("receive", function() end)
cl:on("disconnection", function() srv:close() end)
cl:connect((srv:getaddr()), "127.0.0.1")
local u = net.createUDPSocket()
u:listen(0, "127.0.0.1")
u:on("receive", function(s) s:close() end)
u:send((u:getaddr()), "127.0.0.1", "datagram")
node.task.post(function() end)
tmr.create():alarm(20, tmr.ALARM_SINGLE, function() end)
net.dns.resolve("127.0.0.1", function() end)
L
cat > "$tmp/error.lua" <<'L'
local srv = net.createServer()
srv:listen(0, "127.0.0.1", function(c) c:on("receive", function() end) end)
local cl = net.createConnection()
cl:on("connection", function(s)
  s:send("hello")
  tmr.create():alarm(10, tmr.ALARM_SINGLE, function() error("boom") end)
end)
cl:connect((srv:getaddr()), "127.0.0.1")
local u = net.createUDPSocket()
u:listen(0, "127.0.0.1")
tmr.create():alarm(1000, tmr.ALARM_AUTO, function() end)
node.task.post(function() end)
L

# sweep SCRIPT WANT COUNT: fails the allocations from the n-th on (COUNT=0,
# persistent) or only the n-th (COUNT=1), for n over the run's allocations.
# A run must exit 0, or 1 with WANT or the out-of-memory message on stderr;
# it may abort only inside libuv, which aborts when it cannot grow its own
# tables (the allocator's log names the library whose allocation failed).
sweep() {
  script=$1 want=$2 count=$3
  rm -f "$tmp/log"
  LD_PRELOAD="$PRELOAD" NETMCU_FAIL_LOG="$tmp/log" timeout 20 $NM "$tmp/$script" >/dev/null 2>"$tmp/err"
  total=$(sed -n 's/^counted \([0-9]*\).*/\1/p' "$tmp/log")
  if [ -z "$total" ]; then
    nok "$script: calibration run" "$(cat "$tmp/err")"
    return
  fi
  step=${NETMCU_FAULT_STEP:-$((total / 40 + 1))}
  runs=0 exit0=0 exit1=0 uvabort=0 bad=""
  at=1
  while [ $at -le "$total" ]; do
    rm -f "$tmp/log"
    LD_PRELOAD="$PRELOAD" NETMCU_FAIL_AT=$at NETMCU_FAIL_COUNT=$count NETMCU_FAIL_LOG="$tmp/log" \
      timeout 20 $NM "$tmp/$script" >/dev/null 2>"$tmp/err"
    rc=$?
    runs=$((runs + 1))
    if grep -q 'PANIC\|unprotected' "$tmp/err"; then
      bad="$bad at=$at: $(head -c 200 "$tmp/err")"
    elif [ $rc -eq 0 ]; then
      exit0=$((exit0 + 1))
    elif [ $rc -eq 1 ] && grep -q "$want\|not enough memory\|out of memory\|Cannot allocate memory" "$tmp/err"; then
      exit1=$((exit1 + 1))
    elif [ $rc -eq 134 ] && grep -q 'failed-in libuv' "$tmp/log" && [ -z "$(grep -v Aborted "$tmp/err")" ]; then
      uvabort=$((uvabort + 1))
    else
      bad="$bad at=$at: exit $rc $(head -c 200 "$tmp/err")"
    fi
    at=$((at + step))
  done
  what="failing allocation $([ "$count" = 0 ] && echo "n and every later one" || echo "n only")"
  if [ -z "$bad" ]; then
    ok "$script, $what, for $runs of its $total allocations: exit 0 ($exit0) or 1 with the message ($exit1), never a panic (libuv's own aborts: $uvabort)"
  else
    nok "$script, $what: no panic, no crash, no hang" "$bad"
  fi
}

sweep work.lua "not enough memory" 0
sweep work.lua "not enough memory" 1
sweep error.lua "boom" 0

# ---- item 1: an accept that cannot allocate; the server keeps serving ----
cat > "$tmp/server.lua" <<'L'
local srv, guard = net.createServer(), tmr.create()
local done = false
local function stop()
  if not done then done = true; srv:close(); guard:unregister() end
end
srv:listen(0, "127.0.0.1", function(c)
  c:on("receive", function(s, d)
    s:send("pong " .. d, function()
      s:close()
      if d == "last" then stop() end
    end)
  end)
end)
guard:alarm(8000, tmr.ALARM_SINGLE, stop)
node.setonerror(function(e) io.stderr:write("onerror: ", e, "\n") end)
-- Armed from a callback, so that what the runtime allocates after the main
-- chunk (5.1: a closure for net.run) is not counted: the next allocations
-- are the accept's.  The client starts once the port file exists.
local tmpname, name = arg[1] .. ".tmp", arg[1]
tmr.create():alarm(1, tmr.ALARM_SINGLE, function()
  local f = io.open(tmpname, "w")
  f:write(srv:getaddr(), "\n")
  f:close()
  os.rename(tmpname, name) -- the client connects once this loop turn is over
  os.getenv("NETMCU_FAIL_ARM") -- from here on, the n-th allocation fails
end)
L
cat > "$tmp/client.lua" <<'L'
-- sixteen connections, one after the other: one of them may be dropped (one
-- allocation fails), the last must be served
local port = tonumber(arg[1])
local function try(msg, nextf)
  local c, t, got = net.createConnection(), tmr.create(), "nothing"
  t:alarm(3000, tmr.ALARM_SINGLE, function() c:close(); nextf("timeout") end)
  c:on("receive", function(_, d) got = d end)
  c:on("disconnection", function(_, code) t:unregister(); nextf(got .. "/" .. code) end)
  c:on("reconnection", function(_, code) t:unregister(); nextf("reset/" .. code) end)
  c:on("connection", function(s) s:send(msg) end)
  c:connect(port, "127.0.0.1")
end
local results, n = {}, 0
local function nextone(r)
  if r then results[#results + 1] = r end
  n = n + 1
  if n > 16 then return print(table.concat(results, " ")) end
  try(n == 16 and "last" or "c" .. n, nextone)
end
nextone()
L
bad="" served=0
for k in 1 2 3 4 5 6 7 8 9 10 11 12; do
  rm -f "$tmp/port"
  LD_PRELOAD="$PRELOAD" NETMCU_FAIL_ARM=1 NETMCU_FAIL_AT=$k $NM "$tmp/server.lua" "$tmp/port" >/dev/null 2>"$tmp/serr" &
  spid=$!
  pids="$pids $spid"
  if ! wait_for "$tmp/port" . 10; then
    bad="$bad k=$k: server did not start ($(head -c 200 "$tmp/serr"))"
    kill $spid 2>/dev/null
    continue
  fi
  out=$(timeout 15 $NM "$tmp/client.lua" "$(cat "$tmp/port")")
  dropped=$(echo "$out" | tr ' ' '\n' | grep -c 'reset\|nothing\|timeout')
  case $out in
    *"pong last/0") [ "$dropped" -le 1 ] && served=$((served + 1)) || bad="$bad k=$k: '$out'" ;;
    *) bad="$bad k=$k: '$out'" ;;
  esac
  if wait_exit $spid 10; then
    [ "$status" -eq 0 ] || bad="$bad k=$k: server exit $status ($(head -c 200 "$tmp/serr"))"
  else
    kill -9 $spid 2>/dev/null
    bad="$bad k=$k: server still running"
  fi
done
if [ -z "$bad" ]; then
  ok "allocation 1..12 after listening fails once: at most one client is dropped, the next are served ($served of 12)"
else
  nok "a failed allocation in accept does not stop the server (issue 18 item 1)" "$bad"
fi
plan
