#!/bin/sh
# wifi outside a network namespace: the API with the station
# mirroring loopback (tests/wifi/api.lua), the --wifi-ap failure paths
# (tests/wifi/range.lua), the default interface, the "flash" across
# node.restart(), the options' checks, and require from a stock Lua.
# Interface changes are tested in tests/netns_wifi.sh.
. tests/lib/tap.sh
NM=${NETMCU:-build/netmcu}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# run_tap NAME CMD...: a script on the TAP harness; its results become
# ours, renumbered, plus one for running to its end.  Its stderr is passed
# on (tests/run.sh looks for sanitizer reports there).
run_tap() {
  name=$1; shift
  "$@" >"$tmp/sub.out" 2>"$tmp/sub.err"; rc=$?
  awk -v base=$n '/^(not )?ok [0-9]+/ { c++; sub(/ok [0-9]+/, "ok " base + c); print; next }
    /^1\.\.[0-9]+/ { next } { print }' "$tmp/sub.out"
  n=$((n + $(grep -cE '^(not )?ok [0-9]+' "$tmp/sub.out")))
  cat "$tmp/sub.err" >&2
  if [ $rc -eq 0 ] && grep -q '^1\.\.[0-9]' "$tmp/sub.out"; then ok "$name: ran to its end"
  else nok "$name: exit status $rc" "$(tail -20 "$tmp/sub.err")"; fi
}

run_tap "api (station on lo)" "$NM" --wifi lo tests/wifi/api.lua
run_tap "--wifi-ap failure paths" "$NM" --wifi lo --wifi-ap Home:secretpw tests/wifi/range.lua

# An open network (--wifi-ap SSID alone): any password joins it.
out=$("$NM" --wifi lo --wifi-ap Cafe -e '
wifi.eventmon.register(wifi.eventmon.STA_GOT_IP, function(t) print("got ip", t.IP, wifi.sta.status()) end)
wifi.sta.config{ssid = "Cafe", pwd = "anything1"}' 2>&1 | tail -1)
check "--wifi-ap SSID without a password: an open network, any password joins" [ "$out" = "got ip	127.0.0.1	5" ]

# A callback that ends a connection the script has not heard of yet, while
# the queue is being delivered: the queued events of that connection go,
# nothing else (this once looped over a corrupt queue).
cat >"$tmp/purge.lua" <<'L'
local E = wifi.eventmon
for _, n in ipairs{"STA_CONNECTED", "STA_DISCONNECTED", "STA_GOT_IP"} do
  E.register(E[n], function(t) print(n, t.reason) end)
end
E.register(E.WIFI_MODE_CHANGED, function(t)
  print("mode", t.old_mode, t.new_mode)
  if t.new_mode == wifi.STATION then wifi.sta.disconnect() end
end)
wifi.sta.getap(function()
  print("connected")
  wifi.setmode(wifi.SOFTAP); wifi.setmode(wifi.STATION)
  wifi.sta.getap(function()
    wifi.sta.config{ssid = "x"}; wifi.sta.disconnect()
    wifi.sta.getap(function() print("end") end)
  end)
end)
L
out=$(timeout -k 1 10 "$NM" --wifi lo "$tmp/purge.lua" 2>&1 | tr '\n' ' ')
check "disconnect() in a callback drops the queued connection the script never saw" \
  [ "$out" = "STA_CONNECTED	nil STA_GOT_IP	nil connected STA_DISCONNECTED	8 mode	1	2 mode	2	1 end " ]

# More events than the queue holds (a script that never yields): the state
# stays right even where events had to be dropped.
out=$(timeout -k 1 10 "$NM" --wifi lo -e '
local n = 0
wifi.eventmon.register(wifi.eventmon.WIFI_MODE_CHANGED, function() n = n + 1 end)
for i = 1, 100 do wifi.setmode(wifi.SOFTAP); wifi.setmode(wifi.STATION) end
tmr.create():alarm(100, tmr.ALARM_SINGLE, function() print(n < 200, n > 0, wifi.sta.status(), (wifi.sta.getip())) end)' 2>&1)
check "a flood of events: some dropped (bounded queue), status and getip still right" [ "$out" = "true	true	5	127.0.0.1" ]

# Without --wifi: the interface of net.ifinfo(0).
out=$("$NM" -e '
local i = net.ifinfo(0)
print((wifi.sta.getconfig()) == (i and i.name or ""), wifi.sta.getmac() ==
  (i and i.hwaddr:gsub(".", function(c) return ("%02x:"):format(c:byte()) end):sub(1, -2) or "00:00:00:00:00:00"))' 2>&1)
check "without --wifi the station is net.ifinfo(0)'s interface (name as SSID, its MAC)" [ "$out" = "true	true" ]

# The saved configuration outlives node.restart(), as the flash does.
cat >"$tmp/flash.lua" <<'L'
if wifi.sta.getconfig() ~= "saved" then
  wifi.sta.config{ssid = "saved", pwd = "password9", auto = false}
  wifi.sta.config{ssid = "current", save = false}
  wifi.setmode(wifi.STATIONAP)
  wifi.setmode(wifi.SOFTAP, false)
  wifi.ap.config{ssid = "apsaved", pwd = "password8"}
  node.restart()
else
  print("after restart", (wifi.sta.getconfig()), wifi.getmode(), wifi.sta.status(), (wifi.ap.getconfig()))
end
L
out=$(timeout 10 "$NM" --wifi lo "$tmp/flash.lua" 2>&1)
check "node.restart(): the saved config, mode (not save=false's) and AP come back; it connects" \
  [ "$out" = "after restart	saved	3	1	apsaved" ]

# The options.
"$NM" --wifi nosuch0 -e 'print(1)' >"$tmp/out" 2>&1; rc=$?
check "--wifi with an unknown interface: exit 1 and a message" [ $rc -eq 1 ] && grep -q "no such interface" "$tmp/out"
"$NM" --wifi-ap "$(printf '%040d' 0)" -e 'print(1)' >"$tmp/out" 2>&1; rc=$?
check "--wifi-ap with a 40-byte SSID: exit 1" [ $rc -eq 1 ] && grep -q "SSID must have 1-32 bytes" "$tmp/out"
"$NM" --wifi >"$tmp/out" 2>&1; rc=$?
check "--wifi without its argument: exit 1" [ $rc -eq 1 ] && grep -q "needs an argument" "$tmp/out"

# From a stock interpreter: require "wifi" shares net's loop.
if [ -z "${NETMCU_SANITIZED:-}" ] && command -v "${NETMCU_LUA:-lua5.3}" >/dev/null 2>&1; then
  out=$(LUA_CPATH="${NETMCU_CPATH:-build/?.so}" "${NETMCU_LUA:-lua5.3}" -e '
local net, wifi = require "net", require "wifi"
wifi.eventmon.register(wifi.eventmon.STA_GOT_IP, function(t) print("got ip", wifi.sta.status()) end)
print(wifi.STATION, wifi.sta.status())
net.run()' 2>&1)
  check "require 'wifi' from a stock Lua: events from net.run()" [ "$out" = "1	1
got ip	5" ]
else
  skip "require 'wifi' from a stock Lua" "sanitized build or no interpreter"
fi
plan
