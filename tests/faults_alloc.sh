#!/bin/sh
# Allocation failures (issue 18, item 8; docs/RELIABILITY.md):
# tests/faults/failmalloc.c, preloaded, fails chosen malloc/calloc/realloc
# calls of the runtime.  Out of memory must end as exit 1 with the message
# (or be absorbed), never a Lua panic or a crash.
#   NETMCU_FAULT_STEP=n  try every n-th allocation point (default: about
#                        40 points per scenario; 1 = all of them)
. tests/lib/tap.sh
NM=${NETMCU:-build/netmcu}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

. tests/lib/failmalloc.sh
failmalloc_setup "allocation failures"
PRELOAD="$tmp/failmalloc.so"

# ---- scenarios: a bit of everything, ending by itself; an uncaught error
# with everything open (the shutdown path) ----
# The scenarios arm the allocator as their main chunk starts (failmalloc's
# NETMCU_FAIL_ARM): their points are the script's, the loop's and the
# shutdown's; the start of the runtime (opening every module) is swept
# on its own with an empty script.
: > "$tmp/empty.lua"
cat > "$tmp/work.lua" <<'L'
os.getenv("NETMCU_FAIL_ARM")
local srv = net.createServer()
srv:listen(0, "127.0.0.1", function(c)
  c:on("receive", function(s, d) s:send(d, function() s:close() end) end)
end)
local cl = net.createConnection()
cl:on("connection", function(s) s:send(("x"):rep(1000)) end)
cl:on("receive", function() end)
-- A failed allocation in the server's accept leaves the client waiting
-- (issue 18 item 1, a fix of the TCP server's): the guard ends it.
local guard = tmr.create()
guard:alarm(3000, tmr.ALARM_SINGLE, function()
  io.stderr:write("guard: the connection never completed\n")
  cl:close()
  srv:close()
end)
cl:on("disconnection", function() srv:close() guard:unregister() end)
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
os.getenv("NETMCU_FAIL_ARM")
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

# sweep SCRIPT WANT COUNT [POINTS]: fails the allocations from the n-th on
# (COUNT=0, persistent) or only the n-th (COUNT=1), for n over POINTS
# (default 40) evenly spread points of the run's allocations.
# A run must exit 0, or 1 with WANT or the out-of-memory message on stderr;
# it may abort only inside libuv, which aborts when it cannot grow its own
# tables (the allocator's log names the library whose allocation failed).
sweep() {
  script=$1 want=$2 count=$3 points=${4:-40}
  arm=$(grep -q NETMCU_FAIL_ARM "$tmp/$script" && echo 1)
  export NETMCU_FAIL_ARM=$arm
  rm -f "$tmp/log"
  LD_PRELOAD="$PRELOAD" NETMCU_FAIL_LOG="$tmp/log" timeout 20 $NM "$tmp/$script" >/dev/null 2>"$tmp/err"
  total=$(sed -n 's/^counted \([0-9]*\).*/\1/p' "$tmp/log")
  if [ -z "$total" ]; then
    nok "$script: calibration run" "$(cat "$tmp/err")"
    return
  fi
  # (half as many points under ASan, where a run costs about 5 times more)
  [ "${NETMCU_SANITIZED:-}" = 1 ] && points=$((points / 2))
  step=${NETMCU_FAULT_STEP:-$((total / points + 1))}
  runs=0 exit0=0 exit1=0 uvabort=0 guarded=0 bad=""
  at=1
  while [ $at -le "$total" ]; do
    rm -f "$tmp/log"
    LD_PRELOAD="$PRELOAD" NETMCU_FAIL_AT=$at NETMCU_FAIL_COUNT=$count NETMCU_FAIL_LOG="$tmp/log" \
      timeout 20 $NM "$tmp/$script" >/dev/null 2>"$tmp/err"
    rc=$?
    runs=$((runs + 1))
    if grep -q 'PANIC\|unprotected' "$tmp/err"; then
      bad="$bad at=$at: $(head -c 200 "$tmp/err")"
    elif [ $rc -eq 0 ] && grep -q '^guard:' "$tmp/err"; then
      guarded=$((guarded + 1))
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
    ok "$script, $what, for $runs of its $total allocations: exit 0 ($exit0) or 1 with the message ($exit1), never a panic (libuv's own aborts: $uvabort; a lost accept ended by the guard: $guarded)"
  else
    nok "$script, $what: no panic, no crash, no hang" "$bad"
  fi
}

sweep empty.lua "not enough memory" 0
sweep work.lua "not enough memory" 0 80
sweep work.lua "not enough memory" 1 80
sweep error.lua "boom" 0 80

plan
