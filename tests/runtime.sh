#!/bin/sh
# The runtime (docs/runtime.md, and its error policy): options, arguments, exit
# statuses, uncaught errors with tracebacks, signals.
. tests/lib/tap.sh
NM=${NETMCU:-build/netmcu}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

out=$($NM -v); rc=$?
check "-v prints the version and exits 0" [ $rc -eq 0 -a -n "$(echo "$out" | grep '^netmcu [0-9]')" ]
out=$($NM -h); rc=$?
check "-h prints usage and exits 0" [ $rc -eq 0 -a -n "$(echo "$out" | grep '^usage:')" ]
$NM >/dev/null 2>"$tmp/err"; rc=$?
check "no script: usage on stderr, non-zero" [ $rc -ne 0 -a -s "$tmp/err" ]
$NM "$tmp/missing.lua" 2>"$tmp/err"; rc=$?
check "missing script: non-zero with a message" [ $rc -eq 1 ] && grep -q "missing.lua" "$tmp/err"
printf 'x = = 1\n' > "$tmp/syntax.lua"
$NM "$tmp/syntax.lua" 2>"$tmp/err"; rc=$?
check "syntax error: exit 1, message names the file" [ $rc -eq 1 ] && grep -q "^netmcu: .*syntax.lua:1:" "$tmp/err"
check "-e runs a chunk" [ "$($NM -e 'print(6*7)')" = 42 ]
check "- reads the script from stdin" [ "$(echo 'print(net.TCP + tmr.ALARM_AUTO)' | $NM -)" = 3 ]
printf 'print(select("#", ...), table.concat({...}, ","), arg[0], arg[1], arg[2])\n' > "$tmp/args.lua"
out=$($NM "$tmp/args.lua" a bb)
check "arguments in ... and arg[]" [ "$out" = "$(printf '2\ta,bb\t%s\ta\tbb' "$tmp/args.lua")" ]
printf 'print(X)\n' > "$tmp/x.lua"
check "-e runs before the script, in the same state" [ "$($NM -e 'X=5' "$tmp/x.lua")" = 5 ]
$NM -e 'os.exit(3)'; rc=$?
check "os.exit(3) exits 3" [ $rc -eq 3 ]

cat > "$tmp/oneshot.lua" <<'L'
local srv = net.createServer()
srv:listen(0, "127.0.0.1", function(c)
  c:on("receive", function(s, d) s:send(d, function() s:close(); srv:close() end) end)
end)
local c = net.createConnection()
c:on("receive", function(s, d) print("got " .. d) end)
c:on("connection", function(s) s:send("ping") end)
c:connect((srv:getaddr()))
L
out=$(timeout 10 $NM "$tmp/oneshot.lua"); rc=$?
check "exits 0 once nothing is active" [ $rc -eq 0 -a "$out" = "got ping" ]

cat > "$tmp/cberr.lua" <<'L'
local t = tmr.create()
local function inner() error("boom in callback") end
t:alarm(10, tmr.ALARM_SINGLE, function() inner() end)
local srv = net.createServer()
srv:listen(0, "127.0.0.1", function() end) -- would keep it running forever
L
timeout 10 $NM "$tmp/cberr.lua" 2>"$tmp/err"; rc=$?
check "error in a callback exits 1" [ $rc -eq 1 ]
check "message printed as netmcu: <message>" grep -q "^netmcu: .*cberr.lua:2: boom in callback" "$tmp/err"
check "with a traceback" grep -q "stack traceback:" "$tmp/err"
check "traceback names the function" grep -q "in .*inner" "$tmp/err"

cat > "$tmp/recverr.lua" <<'L'
local srv = net.createServer()
srv:listen(0, "127.0.0.1", function(c) c:on("receive", function() error({}) end) end)
local c = net.createConnection()
c:on("connection", function(s) s:send("x") end)
c:connect((srv:getaddr()))
L
timeout 10 $NM "$tmp/recverr.lua" 2>"$tmp/err"; rc=$?
check "non-string error in receive exits 1 and says what it was" [ $rc -eq 1 ] && grep -q "error object is a table value" "$tmp/err"

printf 'local function f() error("top-level") end\nf()\n' > "$tmp/toperr.lua"
timeout 10 $NM "$tmp/toperr.lua" 2>"$tmp/err"; rc=$?
check "error in the script exits 1 with a traceback" [ $rc -eq 1 ] && grep -q "^netmcu: .*top-level" "$tmp/err" && grep -q "stack traceback:" "$tmp/err"

cat > "$tmp/restart.lua" <<'L'
local path = ...
local f = io.open(path, "a"); f:write("run\n"); f:close()
local runs = 0
for _ in io.lines(path) do runs = runs + 1 end
-- a server and a timer from this life must not survive into the next one
local srv = net.createServer()
srv:listen(0, "127.0.0.1", function() end)
if runs < 3 then
  tmr.create():alarm(5, tmr.ALARM_SINGLE, function() node.restart() end)
else
  srv:close()
  print("runs " .. runs .. (LEAK == nil and " fresh" or " stale"))
  LEAK = true
end
LEAK = true
L
out=$(timeout 10 $NM "$tmp/restart.lua" "$tmp/runs.txt"); rc=$?
check "node.restart() re-runs the script in a fresh state" [ $rc -eq 0 -a "$out" = "runs 3 fresh" ]
out=$(timeout 10 $NM - "$tmp/stdin_runs.txt" < "$tmp/restart.lua" 2>&1 | head -5); rc=$?
check "node.restart() with the script from stdin" [ "$out" = "runs 3 fresh" ]

cat > "$tmp/serve.lua" <<'L'
local srv = net.createServer()
srv:listen(0, "127.0.0.1", function(c) c:on("receive", function(s, d) s:send(d) end) end)
local c = net.createConnection()
c:on("connection", function(s) s:send(("x"):rep(100000)) print("ready") end)
c:on("receive", function() end)
c:connect((srv:getaddr()))
L
for sig in TERM INT; do
  want=143; [ $sig = INT ] && want=130
  $NM "$tmp/serve.lua" >"$tmp/out" 2>"$tmp/err" &
  pid=$!
  if wait_for "$tmp/out" ready 10; then
    kill -$sig $pid
    if wait_exit $pid 3; then
      check "SIG$sig with open connections exits $want within 3 s" [ "$status" -eq $want ]
    else
      kill -9 $pid; nok "SIG$sig: still running after 3 s"
    fi
  else
    kill -9 $pid; nok "SIG$sig: server never became ready" "$(cat "$tmp/err")"
  fi
done
plan
