#!/bin/sh
# The runtime under hostile conditions (issue 18): closed standard
# descriptors (item 2), signals and the watchdog against busy code (item 6,
# SIGHUP), a closed standard output (item 7), scripts from standard input
# (item 10), node.restart() then an error (item 11).
. tests/lib/tap.sh
NM=${NETMCU:-build/netmcu}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# ---- item 2: closed standard descriptors ----
printf '%s\n' 'print("out") io.stderr:write("err", "\n")' > "$tmp/hello.lua"
for d in '>&-' '2>&-' '<&-' '<&- >&- 2>&-'; do
  (eval "\$NM \"\$tmp/hello.lua\" $d") >/dev/null 2>&1; rc=$?
  check "runs with $d (exit 0, no abort)" [ $rc -eq 0 ]
done
cat > "$tmp/restart_once.lua" <<'L'
local f = io.open(arg[1], "a"); f:write("x"); f:close()
if #io.open(arg[1]):read("*a") == 1 then node.restart() end
L
$NM "$tmp/restart_once.lua" "$tmp/lives" >&- 2>&-; rc=$?
check "node.restart() with standard output and error closed: exit 0, two lives" \
  [ $rc -eq 0 -a "$(cat "$tmp/lives")" = xx ]
# The same from a stock interpreter: net.so makes the loop, whose epoll
# descriptor took the closed fd 1 (libuv asserted at exit: 134).
if [ "${NETMCU_SANITIZED:-}" = 1 ]; then
  skip "stock interpreter with standard output closed" "sanitized build cannot be loaded by a stock interpreter"
else
  LUA_CPATH="${NETMCU_CPATH:-build/?.so}" "${NETMCU_LUA:-lua5.3}" -e '
    local net, tmr = require "net", require "tmr"
    tmr.create():alarm(1, tmr.ALARM_SINGLE, function() io.stderr:write("ran\n") end)
    net.run()' >&- 2>"$tmp/err"; rc=$?
  check "stock interpreter with net.so, standard output closed: exit 0, the loop ran" \
    [ $rc -eq 0 ] && grep -q '^ran$' "$tmp/err"
fi
$NM - <&- 2>"$tmp/err"; rc=$?
check "a script from a closed standard input: exit 1, cannot read the script from stdin" \
  [ $rc -eq 1 ] && grep -q "cannot read the script from stdin" "$tmp/err"

# ---- item 6: signals stop busy Lua code; the watchdog catches it ----
# LuaJIT runs no hook inside a compiled loop (luajit's own Ctrl-C cannot
# stop `while true do end` either): the cases of a busy pure-Lua loop are
# skipped there.
JIT=$($NM -e 'io.write(jit and "yes" or "no")')
# sig_case NAME SIG WANT SCRIPT: start SCRIPT (it prints "ready" when it
# is busy), send SIG, expect exit WANT within 3 s and nothing on stderr.
sig_case() {
  name=$1 sig=$2 want=$3
  case "$JIT $4" in
    yes*"while true do"*) skip "$name: SIG$sig" "LuaJIT runs no hook in a compiled loop"; return ;;
  esac
  printf '%s\n' "$4" > "$tmp/busy.lua"
  $NM "$tmp/busy.lua" >"$tmp/out" 2>"$tmp/err" &
  pid=$!
  if ! wait_for "$tmp/out" ready 10; then
    kill -9 $pid; nok "$name: never became busy" "$(cat "$tmp/err")"
    return
  fi
  sleep 0.2 # now inside the busy code
  kill -$sig $pid
  if wait_exit $pid 3; then
    check "$name: SIG$sig exits $want within 3 s, quietly" [ "$status" -eq $want -a ! -s "$tmp/err" ]
  else
    kill -9 $pid; nok "$name: SIG$sig: still running after 3 s"
  fi
}
sig_case "a busy main chunk" INT 130 'print("ready") while true do end'
sig_case "a busy callback" TERM 143 \
  'tmr.create():alarm(1, tmr.ALARM_SINGLE, function() print("ready") while true do end end)'
sig_case "a busy callback that pcalls its way on" TERM 143 \
  'tmr.create():alarm(1, tmr.ALARM_SINGLE, function() print("ready") while true do pcall(function() while true do end end) end end)'
sig_case "tmr.delay(20 s) in the main chunk" INT 130 'print("ready") tmr.delay(20e6)'
sig_case "tmr.delay(20 s) in a callback" TERM 143 \
  'tmr.create():alarm(1, tmr.ALARM_SINGLE, function() print("ready") tmr.delay(20e6) end)'
# SIGHUP is handled as SIGTERM: everything is closed and the Lua state
# too (its finalizers run), then exit 129 -- not a kill by the signal.
sig_case "SIGHUP, as SIGTERM: a server with a connection" HUP 129 "
local flag = '$tmp/closed'
local function gc() io.open(flag, 'w'):close() end
if newproxy then KEEP = newproxy(true) getmetatable(KEEP).__gc = gc
else KEEP = setmetatable({}, {__gc = gc}) end
local srv = net.createServer()
srv:listen(0, '127.0.0.1', function(c) c:on('receive', function() end) end)
local c = net.createConnection()
c:on('connection', function() print('ready') end)
c:connect((srv:getaddr()), '127.0.0.1')"
check "SIGHUP: an orderly close (the Lua state was closed)" [ -f "$tmp/closed" ]

# A second signal exits at once, even where the first cannot interrupt
# (C code blocked in a read: the hook fires only when Lua code runs).
mkfifo "$tmp/fifo"
$NM -e 'print("ready") io.read()' <"$tmp/fifo" >"$tmp/out" 2>"$tmp/err" &
pid=$!
exec 7>"$tmp/fifo" # keep the writer open: the read blocks
if wait_for "$tmp/out" ready 10; then
  kill -INT $pid
  sleep 0.3
  alive=0; kill -0 $pid 2>/dev/null && alive=1
  kill -INT $pid
  if wait_exit $pid 1; then
    check "a second SIGINT exits at once (130) while a read blocks" [ $alive -eq 1 -a "$status" -eq 130 ]
  else
    kill -9 $pid; nok "a second SIGINT: still running after 1 s"
  fi
else
  kill -9 $pid; nok "blocked read: never became ready"
fi
exec 7>&-

# From a stock interpreter: lua's own SIGINT handler (a hook, as netmcu's)
# ends tmr.delay() too.  (perl resets SIGINT, which a background job of a
# non-interactive shell inherits ignored.)
if [ "${NETMCU_SANITIZED:-}" = 1 ]; then
  skip "stock interpreter: SIGINT ends tmr.delay()" "sanitized build cannot be loaded by a stock interpreter"
else
  LUA_CPATH="${NETMCU_CPATH:-build/?.so}" perl -e '$SIG{INT} = "DEFAULT"; exec @ARGV' \
    "${NETMCU_LUA:-lua5.3}" -e 'local tmr = require "tmr" print("ready") io.stdout:flush() tmr.delay(20e6)' \
    >"$tmp/out" 2>"$tmp/err" &
  pid=$!
  if wait_for "$tmp/out" ready 10; then
    sleep 0.2
    kill -INT $pid
    if wait_exit $pid 3; then
      check "stock interpreter: SIGINT ends tmr.delay(20 s) at once ('interrupted!')" \
        [ "$status" -ne 0 ] && grep -q "interrupted" "$tmp/err"
    else
      kill -9 $pid; nok "stock interpreter: SIGINT: tmr.delay still running after 3 s"
    fi
  else
    kill -9 $pid; nok "stock interpreter: never became ready" "$(cat "$tmp/err")"
  fi
fi

# The software watchdog stops a hung callback and a long tmr.delay.
wd_case() {
  name=$1
  case "$JIT $2" in
    yes*"while true do"*) skip "$name" "LuaJIT runs no hook in a compiled loop"; return ;;
  esac
  printf '%s\n' "$2" > "$tmp/wd.lua"
  start=$(date +%s)
  timeout -k 2 20 $NM "$tmp/wd.lua" >"$tmp/out" 2>"$tmp/err"; rc=$?
  took=$(( $(date +%s) - start ))
  check "$name: exit 1 within 5 s with the watchdog's message and where it hung" \
    [ $rc -eq 1 -a $took -le 5 ] && grep -q "^netmcu: .*software watchdog expired (tmr.softwd)" "$tmp/err" &&
    grep -q "$3" "$tmp/err"
}
wd_case "tmr.softwd(1), a callback that spins" \
  'tmr.softwd(1)
local function spin() while true do end end
tmr.create():alarm(1, tmr.ALARM_SINGLE, function() spin() end)' "in .*spin"
wd_case "tmr.softwd(1), tmr.delay(20 s)" 'tmr.softwd(1) tmr.delay(20e6)' "tmr.delay"
wd_case "tmr.softwd(1), a busy main chunk" 'tmr.softwd(1) while true do end' "main chunk"
cat > "$tmp/wd_onerror.lua" <<'L'
node.setonerror(function(e) print("handled: " .. e:match("[^\n]*")) tmr.softwd(0) end)
tmr.softwd(1)
tmr.create():alarm(1, tmr.ALARM_SINGLE, function() while true do end end)
L
if [ "$JIT" = yes ]; then
  skip "the watchdog's error goes to node.setonerror" "LuaJIT runs no hook in a compiled loop"
else
  out=$(timeout -k 2 20 $NM "$tmp/wd_onerror.lua" 2>"$tmp/err"); rc=$?
  check "the watchdog's error goes to node.setonerror; the loop goes on to the end (exit 0)" \
    [ $rc -eq 0 -a "$out" = "handled: software watchdog expired (tmr.softwd)" ]
fi
out=$(timeout -k 2 20 $NM -e 'tmr.softwd(1) local t = tmr.create() local n = 0
t:alarm(300, tmr.ALARM_AUTO, function() tmr.wdclr() n = n + 1 if n == 8 then t:unregister() tmr.softwd(0) print("fed") end end)' 2>&1); rc=$?
check "a fed watchdog does not fire" [ $rc -eq 0 -a "$out" = fed ]

# ---- item 7: standard output closed by its reader ----
( $NM -e 'tmr.create():alarm(1, tmr.ALARM_AUTO, function() print("y") end)' 2>"$tmp/err" &
  echo $! > "$tmp/pid"
  wait $!
  echo $? > "$tmp/status" ) | head -1 > /dev/null &
if wait_for "$tmp/status" . 5; then
  check "netmcu x.lua | head -1 ends as lua does: SIGPIPE (141)" [ "$(cat "$tmp/status")" -eq 141 ]
else
  kill -9 "$(cat "$tmp/pid")" 2>/dev/null; nok "netmcu x.lua | head -1: still running after 5 s"
fi
cat > "$tmp/reset.lua" <<'L'
-- sockets keep their EPIPE: a peer that resets while we send
local srv = net.createServer()
srv:listen(0, "127.0.0.1", function(c)
  local big = ("z"):rep(1048576)
  local function more(s) s:send(big) end
  c:on("connection", more)
  c:on("sent", more)
  c:on("disconnection", function(_, code) srv:close() print("code " .. code) end)
end)
local cl = net.createConnection()
cl:on("receive", function(s) s:close() end) -- closes with unread data: an RST
cl:connect((srv:getaddr()), "127.0.0.1")
L
out=$(timeout -k 2 20 $NM "$tmp/reset.lua" 2>&1); rc=$?
check "a socket whose peer resets still reports it (exit 0, disconnection with an error code)" \
  [ $rc -eq 0 ] && echo "$out" | grep -q '^code -'

# ---- item 10: scripts from standard input as from files ----
printf '#!/usr/bin/env netmcu\nprint("shebang")\nerror("line 3")\n' > "$tmp/shebang.lua"
printf '\357\273\277print("bom")\n' > "$tmp/bom.lua"
printf '\357\273\277#!/usr/bin/env netmcu\nprint("both")\n' > "$tmp/both.lua"
for s in shebang bom both; do
  # (LuaJIT's tracebacks end with an address that differs per run)
  f_out=$($NM "$tmp/$s.lua" 2>&1 | sed "s|$tmp/$s.lua|SCRIPT|; s|at 0x.*|at ADDR|")
  s_out=$($NM - < "$tmp/$s.lua" 2>&1 | sed "s|stdin|SCRIPT|; s|at 0x.*|at ADDR|")
  check "$s.lua: from standard input as from the file" [ "$f_out" = "$s_out" ]
done
check "the #! line counts: the error is on line 3" sh -c "$NM - < '$tmp/shebang.lua' 2>&1 | grep -q '^netmcu: stdin:3: line 3'"
$NM - < "$tmp" 2>"$tmp/err"; rc=$?
check "a directory as standard input: exit 1, cannot read the script from stdin" \
  [ $rc -eq 1 ] && grep -q "cannot read the script from stdin" "$tmp/err"

# ---- item 11: node.restart() then an error in the main chunk ----
cat > "$tmp/restart_err.lua" <<'L'
local f = io.open(arg[1], "a"); f:write("x"); f:close()
node.restart()
error("after restart")
L
timeout -k 2 10 $NM "$tmp/restart_err.lua" "$tmp/lives2" 2>"$tmp/err"; rc=$?
check "node.restart() then an error in the main chunk: reported, exit 1, no second life" \
  [ $rc -eq 1 -a "$(cat "$tmp/lives2")" = x ] && grep -q "^netmcu: .*after restart" "$tmp/err"
plan
