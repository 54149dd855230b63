#!/bin/sh
# Legacy forms: the static timer API and positional
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
# contains NAME FILE TEXT: a line of FILE contains TEXT
contains() { if grep -qF -- "$3" "$2"; then ok "$1"; else nok "$1" "no [$3] in:
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
  local ok, err = pcall(function() tmr.alarm(a[1], a[2], a[3], print) end)
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
count "ids 7, -1 and 1.5 are out of range" 3 "$tmp/out" "^error	.*: bad argument #1 to 'alarm' (invalid timer index)"
contains "a string id: the firmware's message" "$tmp/out" ": bad argument #1 to 'alarm' (timer object or numerical ID expected)"
contains "interval 0: the object's check, named after the call" "$tmp/out" ": bad argument #2 to 'alarm' (out of range [1-6870947])"
contains "mode 3: Invalid mode" "$tmp/out" ": bad argument #3 to 'alarm' (Invalid mode)"
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

# ---- positional wifi.sta.config and the status monitor of firmware 1.5 ----
cat >"$tmp/wifi.lua" <<'L'
local step = 0
local steps
wifi.eventmon.register(wifi.eventmon.STA_DISCONNECTED, function(t) print("disconnected", t.SSID, t.reason) end)
wifi.sta.eventMonReg(wifi.STA_GOTIP, function(prev) print("monitor gotip from", prev); steps() end)
wifi.sta.eventMonReg(wifi.STA_IDLE, function(prev) print("monitor idle from", prev) end)
wifi.sta.eventMonStart(100)
local function try(...)
  local ok, err = pcall(function(...) wifi.sta.config(...) end, ...)
  print("error", err)
end
local function errors()
  try("", "secretpw")
  try("Home", "short")
  try("Home", "secretpw", 2)
  try("Home", "secretpw", nil)
  try("Home", "secretpw", 1, "x")
  try("Home")
  local ok, err = pcall(wifi.sta.eventMonReg, 6, print); print("error", err)
  print("config", wifi.sta.getconfig())
end
steps = function()
  step = step + 1
  if step == 1 then      -- the boot connection
    print("config", wifi.sta.config("Home", "wrongpass1"), wifi.sta.status())
  elseif step == 2 then
    print("status", wifi.sta.status(), wifi.sta.getip())
    wifi.sta.config("Home", "secretpw", 1, "02:00:00:00:00:01")
    print("bssid", wifi.sta.status(), select(3, wifi.sta.getconfig()))
    wifi.sta.config("Home", "secretpw", "02:00:00:00:00:02") -- a string third argument is the bssid
    print("bssid as third", wifi.sta.status(), select(4, wifi.sta.getconfig()))
    wifi.sta.config("Home", "secretpw", 0)
    print("auto 0", wifi.sta.status())
    errors()
  end
end
L
# The wrong password does not reach STA_GOTIP; the right one (next config,
# from the disconnected callback) does.
cat >>"$tmp/wifi.lua" <<'L'
wifi.eventmon.register(wifi.eventmon.STA_DISCONNECTED, function(t)
  print("disconnected", t.SSID, t.reason)
  if t.reason == 202 then wifi.sta.config("Home", "secretpw") end
end)
L
timeout 10 $NM --wifi lo --wifi-ap Home:secretpw "$tmp/wifi.lua" >"$tmp/out" 2>"$tmp/err"; rc=$?
check "positional config and the status monitor run (exit 0)" [ $rc -eq 0 ]
has "boot: the monitor reports STA_GOTIP with the previous status" "$tmp/out" "monitor gotip from	1"
has "config(ssid, pwd) returns true; a wrong password: STA_WRONGPWD" "$tmp/out" "config	true	2"
has "the firmware's AUTH_FAIL for it" "$tmp/out" "disconnected	Home	202"
has "config(ssid, pwd) with the right password connects" "$tmp/out" "status	5	127.0.0.1	255.0.0.0	0.0.0.0"
has "config(ssid, pwd, 1, bssid): another AP's BSSID is not found" "$tmp/out" "bssid	3	1	02:00:00:00:00:01"
has "config(ssid, pwd, bssid): the third argument as the BSSID" "$tmp/out" "bssid as third	3	02:00:00:00:00:02"
has "config(ssid, pwd, 0): saved, not connected" "$tmp/out" "auto 0	0"
contains "ssid of 0 bytes: the old message" "$tmp/out" ": bad argument #1 to 'config' (length:1-32)"
contains "pwd of 5 bytes: the old message" "$tmp/out" ": bad argument #2 to 'config' (length:0 or 8-64)"
count "auto 2 or an explicit nil: wrong arg type" 2 "$tmp/out" "^error	.*: wrong arg type$"
contains "a bad bssid" "$tmp/out" ": bad argument #1 to 'config' (MAC:FF:FF:FF:FF:FF:FF)"
contains "no pwd" "$tmp/out" ": bad argument #2 to 'config' (string expected, got no value)"
has "eventMonReg(6): valid wifi status:0-5" "$tmp/out" "error	valid wifi status:0-5"
has "errors left the config as it was" "$tmp/out" "config	Home	secretpw	0	ff:ff:ff:ff:ff:ff"
has "the monitor's idle callback, with the previous status" "$tmp/out" "monitor idle from	3"
count "one warning for each positional config call site" 5 "$tmp/err" "wifi.sta.config(ssid, pwd, ...) is a legacy form .*use wifi.sta.config{ssid=..., pwd=...}"
grep -q "wifi.sta.eventMonReg(...) is a legacy form .*use wifi.eventmon.register(...)" "$tmp/err"
check "eventMonReg warns, naming wifi.eventmon.register" [ $? -eq 0 ]
$NM --wifi lo -e 'print(pcall(wifi.sta.eventMonStart))' >"$tmp/out" 2>&1
has "eventMonStart with no callback: No callbacks defined" "$tmp/out" "false	No callbacks defined"
$NM --wifi lo -e '
wifi.sta.eventMonReg(wifi.STA_IDLE, function(prev) print("idle from", prev) end)
wifi.sta.eventMonReg(wifi.STA_GOTIP, function(prev)
  print("gotip from", prev)
  wifi.sta.eventMonStop(1)                        -- stop, and unregister all
  wifi.sta.disconnect()                           -- STA_IDLE: no monitor now
  wifi.sta.getap(function() print("after") end)
end)
wifi.sta.eventMonStart()' >"$tmp/out" 2>&1
check "eventMonStop(1): no status callback afterwards" [ "$(cat "$tmp/out" | grep -v legacy)" = "gotip from	1
after" ]
$NM --wifi lo -e '
wifi.setmode(wifi.SOFTAP, false)
wifi.sta.eventMonReg(wifi.STA_IDLE, print)
print(pcall(wifi.sta.eventMonStart))' >"$tmp/out" 2>&1
has "eventMonStart in SOFTAP mode: the firmware's error" "$tmp/out" "false	Can't monitor in SOFTAP mode"

# ---- --strict: the errors of current firmware ----
printf 'print(tmr.alarm, tmr.register, tmr.start, tmr.stop, tmr.unregister, tmr.interval, tmr.state)\nprint(tmr.create():alarm(5, tmr.ALARM_SINGLE, function() print("object timer fired") end))\n' >"$tmp/strict_ok.lua"
$NM --strict "$tmp/strict_ok.lua" >"$tmp/out" 2>"$tmp/err"; rc=$?
has "--strict: the static functions are absent, as on current firmware" "$tmp/out" "nil	nil	nil	nil	nil	nil	nil"
has "--strict: timer objects work" "$tmp/out" "object timer fired"
check "--strict: no warnings, exit 0" [ $rc -eq 0 -a ! -s "$tmp/err" ]
$NM --strict --wifi lo -e '
print(pcall(function() wifi.sta.config("Home", "secretpw") end))
print(wifi.sta.eventMonReg, wifi.sta.eventMonStart, wifi.sta.eventMonStop)
print(wifi.sta.config{ssid = "Home", pwd = "secretpw"})' >"$tmp/out" 2>"$tmp/err"
grep -q "^false	.*: bad argument #1 to 'config' (config table not found!)" "$tmp/out"
check "--strict: positional config raises the current firmware's error" [ $? -eq 0 ]
has "--strict: no eventMon* functions" "$tmp/out" "nil	nil	nil"
has "--strict: the table form works" "$tmp/out" "true"
check "--strict: no warnings for wifi" [ ! -s "$tmp/err" ]
printf 'tmr.alarm(0, 1000, 1, function() end)\n' >"$tmp/strict.lua"
$NM --strict "$tmp/strict.lua" >"$tmp/out" 2>"$tmp/err"; rc=$?
check "--strict: tmr.alarm(0, ...) is an uncaught error (exit 1)" [ $rc -eq 1 ]
grep -qE "^netmcu: .*strict.lua:1: attempt to call (a nil value \(field 'alarm'\)|field 'alarm' \(a nil value\))" "$tmp/err"
check "--strict: the message is Lua's 'attempt to call' a nil field 'alarm'" [ $? -eq 0 ]
out=$($NM -e 'print(net.createServer(net.UDP))' 2>"$tmp/err")
check "net.createServer(net.UDP) alone: a TCP server (2 s timeout), as current firmware reads it" [ "${out#net.tcpserver}" != "$out" ]
grep -q "net.createServer(2) is a TCP server with a 2 s timeout.*use net.createUDPSocket()" "$tmp/err"
check "... with a note on what old firmware did" [ $? -eq 0 ]
out=$($NM --strict -e 'print(net.createServer(net.UDP))' 2>"$tmp/err")
check "--strict: the same server, no note" [ "${out#net.tcpserver}" != "$out" -a ! -s "$tmp/err" ]

# Old firmware's UDP "connection": createConnection(net.UDP), connect(port,
# ip), send(data); and a reply with send(data) to the last sender.
cat > "$tmp/udp.lua" <<'L'
local u, r = net.createConnection(net.UDP), net.createUDPSocket()
r:listen(0, "127.0.0.1")
r:on("receive", function(s, d) print("got " .. d); s:send("pong") end)
u:on("receive", function(s, d) print("reply " .. d); s:close(); r:close() end)
u:connect((r:getaddr()), "127.0.0.1")
u:send("ping")
L
out=$(timeout 10 $NM "$tmp/udp.lua" 2>"$tmp/err" | tr '\n' ' ')
check "udp:connect(port, ip) then udp:send(data) reaches the peer; its udp:send(data) answers the sender" [ "$out" = "got ping reply pong " ]
check "... each form with its legacy warning" [ "$(grep -c 'udp:connect(port, ip) is a legacy form\|udp:send(data) is a legacy form' "$tmp/err")" -eq 3 ]
out=$($NM -e 'print(pcall(function() net.createUDPSocket():send("x") end))' 2>/dev/null)
check "udp:send(data) before any remote: an error naming the current form" [ "${out#false*no remote yet: udp:send(port, ip, data)}" = "" ]
out=$($NM --strict -e 'print(net.createUDPSocket().connect, (pcall(function() net.createUDPSocket():send("x") end)))' 2>"$tmp/err")
check "--strict: no udp:connect, and udp:send(data) raises as on current firmware" [ "$out" = "nil	false" -a ! -s "$tmp/err" ]
plan
