#!/bin/sh
# tests/gpio.sh - the gpio channel (--gpio PATH, docs/modules/gpio.md): a
# client drives input pins and sees output pins; trig callbacks fire from
# the loop, edge and level, with the count of interrupts they stand for.
cd "$(dirname "$0")/.." || exit 2
. tests/lib/tap.sh
NM=${NETMCU:-build/netmcu}
tmp=$(mktemp -d)
pid=""
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
chat() { perl tests/lib/chat.pl "unix:$tmp/gpio.sock" 10; }
start() { # start SCRIPT: runs it with the channel, waits for its "ready"
  $NM --gpio "$tmp/gpio.sock" "$tmp/$1" >"$tmp/out" 2>"$tmp/err" &
  pid=$!
  wait_for "$tmp/out" '^ready' 10
}
finish() { # finish NAME: the script must end by itself, status 0
  if wait_exit "$pid" 10; then check "$1" [ "$status" -eq 0 ]; else nok "$1 (still running)"; kill "$pid"; fi
  pid=""
}

cat >"$tmp/echo.lua" <<'L'
-- a button on pin 2 lights the LED on pin 4; three edges, then done
gpio.mode(4, gpio.OUTPUT)
gpio.write(4, gpio.HIGH)
gpio.mode(2, gpio.INT, gpio.PULLUP)
local n = 0
gpio.trig(2, "both", function(level, when, count)
  n = n + 1
  print("trig", level, count, type(when), gpio.read(2))
  gpio.write(4, level)
  if n == 3 then gpio.trig(2, "none") end
end)
print("ready")
L
start echo.lua
chat <<'C' >"$tmp/chat.out" 2>&1
expect ^mode 2 int\nmode 4 output\npin 4 1\n
send get 2
expect ^level 2 1\n
send set 2 0
expect ^ok\npin 4 0\n
send set 2 1
expect ^ok\npin 4 1\n
send set 2 1
expect ^ok\n
send release 2
expect ^ok\n
send get 4
expect ^level 4 1\n
send set 2 0
expect ^ok\npin 4 0\n
eof
C
check "a client sees the modes and levels, drives a pin, sees the output follow" [ $? -eq 0 ]
[ -s "$tmp/chat.out" ] && sed 's/^/# /' "$tmp/chat.out"
finish "the script ends when nothing can call it back any more"
check "trig callbacks: level, time, count; read sees the driven level" \
  [ "$(tr '\t' ' ' <"$tmp/out")" = "$(printf 'ready\ntrig 0 1 number 0\ntrig 1 1 number 1\ntrig 0 1 number 0')" ]
check "the socket is removed at exit" [ ! -e "$tmp/gpio.sock" ]

cat >"$tmp/level.lua" <<'L'
-- a level trigger fires again while the level holds; interrupts that come
-- before the callback runs are counted, not lost
gpio.mode(3, gpio.INT)
gpio.mode(5, gpio.INT)
gpio.mode(6, gpio.OUTPUT) -- tells the client when the low level was seen
local lows = 0
gpio.trig(3, "low", function(level, when, count)
  lows = lows + 1
  if lows == 3 then
    print("low x3", level)
    gpio.trig(3, "high") -- keeps the callback
    gpio.write(6, 1)
  elseif level == 1 then
    print("high", count)
    gpio.trig(3, "none")
  end
end)
gpio.trig(5, "up", function(level, when, count)
  print("up", level, count)
  gpio.trig(5, "none")
end)
print("ready")
L
start level.lua
chat <<'C' >"$tmp/chat.out" 2>&1
expect ^mode 3 int\nmode 5 int\nmode 6 output\npin 6 0\n
send set 5 1\nset 5 0\nset 5 1\nset 5 0\nset 5 1
expect ^(ok\n){5}
send set 3 0
expect ^ok\npin 6 1\n
send set 3 1
expect ^ok\n
eof
C
check "level triggers and coalesced edges" [ $? -eq 0 ]
finish "... and the script ends"
check "a low level fired three times; high once; 3 rising edges in one callback" \
  [ "$(sort "$tmp/out" | tr '\t' ' ' | tr '\n' '|')" = "high 1|low x3 0|ready|up 1 3|" ]

cat >"$tmp/two.lua" <<'L'
gpio.mode(6, gpio.OUTPUT)
gpio.mode(1, gpio.INT)
gpio.trig(1, "up", function()
  gpio.serout(6, gpio.HIGH, {1000, 1000, 1000}, 1, function()
    print("serout done")
    gpio.trig(1, "none")
  end)
end)
print("ready")
L
start two.lua
perl tests/lib/chat.pl "unix:$tmp/gpio.sock" 10 >"$tmp/watch.out" 2>&1 <<'C' &
expect ^mode 1 int\nmode 6 output\npin 6 0\n
say watching
expect pin 6 1\npin 6 0\npin 6 1\n
eof
C
watcher=$!
wait_for "$tmp/watch.out" watching 10
chat <<'C' >"$tmp/chat.out" 2>&1
expect ^mode 1 int\nmode 6 output\npin 6 0\n
send set 13 1
expect ^error no pin 13\n
send set 1 5
expect ^error level must be 0 or 1\n
send frob 1
expect ^error unknown command\n
send xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx
expect ^error line too long\n
send set 1 1
expect ^ok\npin 6 1\npin 6 0\npin 6 1\n
C
check "bad commands get errors; serout's levels reach the client" [ $? -eq 0 ]
wait "$watcher"
check "a second client saw the same events, and the end" [ $? -eq 0 ]
finish "the script ended after serout's callback"

printf 'not a socket' >"$tmp/file"
$NM --gpio "$tmp/file" -e 'print(1)' >/dev/null 2>"$tmp/err"
check "--gpio on a file that is not a socket: exit 1 with a message" [ $? -eq 1 ] && grep -q "not a socket" "$tmp/err"
printf 'gpio.mode(4, gpio.OUTPUT) print("ready") tmr.create():alarm(60000, tmr.ALARM_SINGLE, print)' >"$tmp/stale.lua"
start stale.lua
kill -9 "$pid"; wait "$pid" 2>/dev/null; pid=""
check "a killed runtime leaves its socket" [ -S "$tmp/gpio.sock" ]
printf 'gpio.write(4, 1) print("ready")' >"$tmp/again.lua"
start again.lua
finish "the next run replaces a stale socket"
plan
