#!/bin/sh
# Legacy forms (SPEC 12): the static timer API and positional
# wifi.sta.config run, each with one warning per call site on stderr that
# names the form and its replacement; --strict turns them into the errors
# current firmware raises.
. tests/lib/tap.sh
NM=${NETMCU:-build/netmcu}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# has NAME FILE LINE: FILE contains exactly LINE
has() { if grep -qxF "$3" "$2"; then ok "$1"; else nok "$1" "no line [$3] in:
$(cat "$2")"; fi; }
# count NAME N FILE PATTERN: N lines of FILE match PATTERN
count() { c=$(grep -c "$4" "$3"); if [ "$c" -eq "$2" ]; then ok "$1"; else nok "$1" "$c lines match [$4], want $2:
$(cat "$3")"; fi; }

# ---- the static timer API ----
cat >"$tmp/tmr.lua" <<'L'
local n, single = 0, nil
tmr.alarm(0, 10, 0, function() print("replaced function fired") end)
print("alarm", tmr.alarm(0, 10, 1, function(id)      -- 1: repeat, as on the device; replaces
  n = n + 1
  if n == 1 then print("arg", id, tmr.state(0)) end
  if n == 3 then
    print("stop", tmr.stop(0), tmr.stop(0))
    print("state stopped", tmr.state(0))
    tmr.unregister(0)
    print("state unregistered", tmr.state(0), tmr.start(0), tmr.stop(0))
    print("single fired", single)
  end
end))
tmr.register(1, 10, tmr.ALARM_SEMI, function() end)
print("start", tmr.start(1), tmr.start(1)); tmr.unregister(1)
tmr.register(6, 5, tmr.ALARM_SINGLE, function(id) single = id .. " " .. tostring(tmr.state(6)) end)
print("state registered", tmr.state(6))
print("start 6", tmr.start(6))
local auto = 0
tmr.alarm(5, 5, tmr.ALARM_AUTO, function(id)        -- netmcu's constant: repeats too
  auto = auto + 1
  if auto == 2 then tmr.unregister(id); print("auto repeated", id) end
end)
tmr.interval(4, 100)                                 -- unregistered: harmless
print("interval unregistered", tmr.state(4))
local t = tmr.create()                               -- the 1.5 form with an object
tmr.register(t, 5, tmr.ALARM_SEMI, function(tt) print("object", tt == t, tt:state()) end) -- @object
print("object start", tmr.start(t))
for i = 1, 50 do tmr.state(3) end                    -- @site1: one call site, many calls
tmr.state(3); tmr.state(3)                           -- @site2
for _, a in ipairs({{7, 10, 0}, {-1, 10, 0}, {1.5, 10, 0}, {"x", 10, 0}, {2, 0, 0}, {2, 10, 3}}) do
  local ok, err = pcall(tmr.alarm, a[1], a[2], a[3], print)
  print("error", err)
end
print("after errors", tmr.state(2))
local ok, err = pcall(function() tmr.alarm(2, 10, 0, "notafunction") end) -- @mustbe
print("error", err)
L
line() { grep -n "$1" "$tmp/tmr.lua" | cut -d: -f1; }
$NM "$tmp/tmr.lua" >"$tmp/out" 2>"$tmp/err"; rc=$?
check "static timers run (exit 0)" [ $rc -eq 0 ]
has "tmr.alarm(id, ...) returns true" "$tmp/out" "alarm	true"
has "mode 1 repeats; the function gets the timer id; state: running, ALARM_AUTO" "$tmp/out" "arg	0	true	2"
check "tmr.alarm(id, ...) on an armed timer replaces its function" [ -z "$(grep replaced "$tmp/out")" ]
has "tmr.stop(id): true when running, false when stopped" "$tmp/out" "stop	true	false"
has "after tmr.unregister(id): state nil, start and stop false" "$tmp/out" "state unregistered	nil	false	false"
has "tmr.start(id): true, then false while running" "$tmp/out" "start	true	false"
has "register does not start; state gives false and the mode" "$tmp/out" "state registered	false	0"
has "a SINGLE static timer fires once with its id and is unregistered" "$tmp/out" "single fired	6 nil"
has "tmr.ALARM_AUTO with a static id repeats" "$tmp/out" "auto repeated	5"
has "tmr.interval(id) on an unregistered timer is harmless" "$tmp/out" "interval unregistered	nil"
has "tmr.register(t, ...) with an object: its mode kept (SEMI), gets the object" "$tmp/out" "object	true	false	1"
has "tmr.start(t) on an object" "$tmp/out" "object start	true"
has "id 7 is out of range" "$tmp/out" "error	bad argument #1 to 'tmr.alarm' (invalid timer index)"
count "ids -1 and 1.5 are too" 3 "$tmp/out" "^error	bad argument #1 to 'tmr.alarm' (invalid timer index)"
has "a string id: the firmware's message" "$tmp/out" "error	bad argument #1 to 'tmr.alarm' (timer object or numerical ID expected)"
has "interval 0: the object's check, named after the call" "$tmp/out" "error	bad argument #2 to 'tmr.alarm' (out of range [1-6870947])"
has "mode 3: Invalid mode" "$tmp/out" "error	bad argument #3 to 'tmr.alarm' (Invalid mode)"
grep -q "^error	.*:$(line @mustbe): bad argument #4 to 'alarm' (Must be function)" "$tmp/out"
check "a missing function: Must be function, at the caller's line" [ $? -eq 0 ]
has "a call that raised registered nothing" "$tmp/out" "after errors	nil"
count "one warning per call site: 50 calls of tmr.state(3) on one line warn once" 1 "$tmp/err" "tmr.lua:$(line @site1): tmr.state(id, ...)"
count "two calls on another line: one warning for that line" 1 "$tmp/err" "tmr.lua:$(line @site2): tmr.state(id, ...)"
grep -q "^netmcu: .*tmr.lua:2: tmr.alarm(id, ...) is a legacy form that current firmware removed; use tmr.create():alarm(...)" "$tmp/err"
check "the warning names the file and line, the form and its replacement" [ $? -eq 0 ]
grep -q "tmr.lua:$(line @object): tmr.register(t, ...) .*; use t:register(...)" "$tmp/err"
check "the object form names t:register(...)" [ $? -eq 0 ]
check "nothing but warnings on stderr" [ -z "$(grep -v 'is a legacy form' "$tmp/err")" ]

# ---- --strict: the errors of current firmware ----
printf 'print(tmr.alarm, tmr.register, tmr.start, tmr.stop, tmr.unregister, tmr.interval, tmr.state)\nprint(tmr.create():alarm(5, tmr.ALARM_SINGLE, function() print("object timer fired") end))\n' >"$tmp/strict_ok.lua"
$NM --strict "$tmp/strict_ok.lua" >"$tmp/out" 2>"$tmp/err"; rc=$?
has "--strict: the static functions are absent, as on current firmware" "$tmp/out" "nil	nil	nil	nil	nil	nil	nil"
has "--strict: timer objects work" "$tmp/out" "object timer fired"
check "--strict: no warnings, exit 0" [ $rc -eq 0 -a ! -s "$tmp/err" ]
printf 'tmr.alarm(0, 1000, 1, function() end)\n' >"$tmp/strict.lua"
$NM --strict "$tmp/strict.lua" >"$tmp/out" 2>"$tmp/err"; rc=$?
check "--strict: tmr.alarm(0, ...) is an uncaught error (exit 1)" [ $rc -eq 1 ]
grep -qE "^netmcu: .*strict.lua:1: attempt to call (a nil value \(field 'alarm'\)|field 'alarm' \(a nil value\))" "$tmp/err"
check "--strict: the message is Lua's 'attempt to call' a nil field 'alarm'" [ $? -eq 0 ]
plan
