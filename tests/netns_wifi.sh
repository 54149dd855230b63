#!/bin/sh
# tests/netns_wifi.sh - wifi's station mirrors a real interface:
# netmcu runs in a network namespace with --wifi w0, one end of a veth
# pair whose other end is in a second namespace; the test takes w0 down
# and up, removes and adds its address, takes its carrier away, deletes
# and recreates it, floods the kernel's messages past netmcu's socket
# buffer, sends it forged messages, and checks the events, their order
# and that each came within a second.  Then a NodeMCU-style program
# reconnects its TCP client when wifi drops and comes back.
# Needs root and `ip netns`; otherwise the file is skipped.
#
#   A: w0 198.18.0.1/24 (02:00:00:00:aa:01) ---- B: p0 198.18.0.2/24
#
# Only addresses of 198.18.0.0/15 inside these namespaces are used.
cd "$(dirname "$0")/.." || exit 2
NETMCU=${NETMCU:-build/netmcu}
case $NETMCU in /*) ;; *) NETMCU=$PWD/$NETMCU ;; esac

A=nmwA$$ B=nmwB$$
skip() { echo "1..0 # SKIP $1"; exit 0; }
[ "$(id -u)" -eq 0 ] || skip "needs root for network namespaces"
command -v ip >/dev/null 2>&1 || skip "no ip command (iproute2)"
ip netns add "$A" 2>/dev/null || skip "cannot create network namespaces"

tmp=$(mktemp -d)
pids=""
cleanup() {
  for p in $pids; do kill "$p" 2>/dev/null; done
  ip netns del "$A" 2>/dev/null; ip netns del "$B" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

n=0 failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
nok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $1"; [ -n "${2:-}" ] && echo "$2" | sed 's/^/#   /'; }
check() { if [ "$2" = "$3" ]; then ok "$1"; else nok "$1" "got:  [$2]
want: [$3]"; fi; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }
# wait_lines FILE PATTERN COUNT: until FILE has COUNT lines matching, 5 s at most
wait_lines() {
  i=0
  while [ "$(grep -c "$2" "$1" 2>/dev/null)" -lt "$3" ]; do
    [ $i -ge 500 ] && return 1
    sleep 0.01; i=$((i + 1))
  done
}
wait_line() { wait_lines "$1" "$2" 1; }
# wait_pid PID SECONDS: its exit status, or 124 if it had to be killed
wait_pid() {
  i=0
  while kill -0 "$1" 2>/dev/null && [ $i -lt $(($2 * 100)) ]; do sleep 0.01; i=$((i + 1)); done
  kill -0 "$1" 2>/dev/null && { kill "$1"; wait "$1"; return 124; }
  wait "$1"
}

set -e
ip netns add "$B"
ip -n "$A" link set lo up
ip -n "$A" link add w0 address 02:00:00:00:aa:01 type veth peer name p0 netns "$B"
ip -n "$A" addr add 198.18.0.1/24 dev w0
ip -n "$B" addr add 198.18.0.2/24 dev p0
ip -n "$A" link set w0 up
ip -n "$B" link set p0 up
ip -n "$A" route add default via 198.18.0.2
set +e

# ---- the event trace ----
cat >"$tmp/trace.lua" <<'EOF'
local E = wifi.eventmon
local fmt = {
  STA_CONNECTED = function(t) return ("SSID=%s channel=%d"):format(t.SSID, t.channel), t.BSSID end,
  STA_DISCONNECTED = function(t) return ("reason=%d"):format(t.reason), t.BSSID end,
  STA_GOT_IP = function(t) return ("IP=%s netmask=%s gateway=%s"):format(t.IP, t.netmask, t.gateway) end,
}
for name, f in pairs(fmt) do
  E.register(E[name], function(t)
    local s, bssid = f(t)
    print(("EV %s %s status=%d"):format(name, s, wifi.sta.status()))
    if bssid then print("BSSID " .. bssid) end
  end)
end
local u = net.createUDPSocket()
u:on("receive", function(s, d)
  if d == "getip" then
    print("GETIP " .. table.concat({tostring(wifi.sta.getip()), select(2, wifi.sta.getip())}, " "))
  elseif d == "block" then
    print("BLOCKING")
    tmr.delay(3000000) -- the loop reads nothing meanwhile
    print("UNBLOCKED")
  elseif d == "quit" then
    s:close()
  end
end)
u:listen(0, "127.0.0.1")
print("MAC " .. wifi.sta.getmac())
print("CTL " .. u:getaddr())
EOF
ev=$tmp/ev
ip netns exec "$A" "$NETMCU" --wifi w0 "$tmp/trace.lua" >"$ev" 2>"$tmp/trace.err" &
tpid=$!; pids="$pids $tpid"
wait_line "$ev" '^CTL ' || { echo "Bail out! the trace script did not start: $(cat "$tmp/trace.err")"; exit 1; }
ctl_port=$(sed -n 's/^CTL //p' "$ev")
ctl() { ip netns exec "$A" "$NETMCU" -e "net.createUDPSocket():send($ctl_port, '127.0.0.1', '$1', function(u) u:close() end)"; }
evs() { grep '^EV ' "$ev" | tail -n +$(($1 + 1)) | sed 's/^EV //' | tr '\n' ';'; }
count() { grep -c '^EV ' "$ev"; }

wait_lines "$ev" '^EV ' 2
check "at start: connected (SSID: the interface's name), then got the interface's IP" "$(evs 0)" \
  "STA_CONNECTED SSID=w0 channel=$(grep -m1 -o 'channel=[0-9]*' "$ev" | cut -d= -f2) status=1;STA_GOT_IP IP=198.18.0.1 netmask=255.255.255.0 gateway=198.18.0.2 status=5;"
check "getmac() is w0's MAC" "$(sed -n 's/^MAC //p' "$ev")" "02:00:00:00:aa:01"
bssid=$(sed -n '1,/^BSSID/s/^BSSID //p' "$ev")

# The kernel's own announcements, timestamped: a link change may reach
# user space up to a second after the command (linkwatch batches carrier
# changes), so "within a second" is counted from the kernel's message.
ip netns exec "$A" ip -4 -ts monitor link address >"$tmp/mon" 2>&1 &
pids="$pids $!"
day_ms() { date +%H:%M:%S.%N | awk -F: '{ printf "%d\n", $1 * 3600000 + $2 * 60000 + $3 * 1000 }'; }
# kernel_ms T: the time of the kernel's latest message at or before T (ms
# since midnight, as day_ms gives)
kernel_ms() {
  sed -n 's/^\[[0-9-]*T\([0-9:.]*\)\].*/\1/p' "$tmp/mon" |
    awk -F: -v t="$1" '{ v = $1 * 3600000 + $2 * 60000 + $3 * 1000; if (v <= t) m = v } END { printf "%d\n", m }'
}

# act NAME EXPECTED COMMAND...: the command's events, exactly, each within
# a second of the kernel's message
act() {
  name=$1 want=$2; shift 2
  before=$(count)
  nwant=$(printf '%s' "$want" | tr -cd ';' | wc -c)
  t0=$(day_ms)
  "$@"
  if wait_lines "$ev" '^EV ' $((before + nwant)); then
    t2=$(day_ms)
    t1=$(kernel_ms "$t2")
    fence
    check "$name: events" "$(evs "$before")" "$want"
    if [ -z "$want" ]; then :
    elif [ $((t2 - t1)) -lt 1000 ]; then
      ok "$name: within a second of the kernel's message ($((t2 - t1)) ms; $((t2 - t0)) ms from the command)"
    else nok "$name: within a second of the kernel's message" "took $((t2 - t1)) ms"; fi
  else
    nok "$name: events" "after 5 s: [$(evs "$before")], want [$want]"
  fi
}
getips=0
# fence: two getip round trips; an event of what happened before the first
# would be printed before the second's answer
fence() {
  for _ in 1 2; do ctl getip; wait_lines "$ev" '^GETIP ' $((getips + 1)); getips=$((getips + 1)); done
}

act "w0 down" "STA_DISCONNECTED reason=200 status=1;" ip -n "$A" link set w0 down
check "getip() while down: nil" "$(grep '^GETIP ' "$ev" | tail -1)" "GETIP nil"
act "w0 up" "STA_CONNECTED SSID=w0 channel=$(grep -m1 -o 'channel=[0-9]*' "$ev" | cut -d= -f2) status=1;STA_GOT_IP IP=198.18.0.1 netmask=255.255.255.0 gateway=0.0.0.0 status=5;" \
  ip -n "$A" link set w0 up
# The kernel removed the default route with the link; adding it back is no
# reconnection: getip() shows it, no event fires.
ip -n "$A" route add default via 198.18.0.2
fence
check "a default route added while connected: getip() has the gateway" "$(grep '^GETIP ' "$ev" | tail -1)" \
  "GETIP 198.18.0.1 255.255.255.0 198.18.0.2"
act "address removed" "STA_DISCONNECTED reason=1 status=1;" ip -n "$A" addr del 198.18.0.1/24 dev w0
act "address added" "STA_CONNECTED SSID=w0 channel=$(grep -m1 -o 'channel=[0-9]*' "$ev" | cut -d= -f2) status=1;STA_GOT_IP IP=198.18.0.1 netmask=255.255.255.0 gateway=0.0.0.0 status=5;" \
  ip -n "$A" addr add 198.18.0.1/24 dev w0
act "carrier lost (the peer end down)" "STA_DISCONNECTED reason=200 status=1;" ip -n "$B" link set p0 down
act "carrier back" "STA_CONNECTED SSID=w0 channel=$(grep -m1 -o 'channel=[0-9]*' "$ev" | cut -d= -f2) status=1;STA_GOT_IP IP=198.18.0.1 netmask=255.255.255.0 gateway=0.0.0.0 status=5;" \
  ip -n "$B" link set p0 up
act "another address on w0: no event" "" ip -n "$A" addr add 198.18.0.77/24 dev w0
act "w0 deleted" "STA_DISCONNECTED reason=200 status=1;" ip -n "$A" link del w0
recreate() {
  ip -n "$A" link add w0 address 02:00:00:00:aa:01 type veth peer name p0 netns "$B" &&
    ip -n "$A" addr add 198.18.0.1/24 dev w0 && ip -n "$B" addr add 198.18.0.2/24 dev p0 &&
    ip -n "$B" link set p0 up && ip -n "$A" link set w0 up
}
act "w0 created again (a new interface index, the same name)" "STA_CONNECTED SSID=w0 channel=$(grep -m1 -o 'channel=[0-9]*' "$ev" | cut -d= -f2) status=1;STA_GOT_IP IP=198.18.0.1 netmask=255.255.255.0 gateway=0.0.0.0 status=5;" recreate
check "the BSSID is the same in every STA_CONNECTED and STA_DISCONNECTED" "$(sed -n 's/^BSSID //p' "$ev" | sort -u)" "$bssid"

# Forged messages from user space (root may send to netmcu's netlink
# port): garbage, a truncated header, a header longer than the datagram, a
# well-formed RTM_DELADDR for w0.  They are not the kernel's: ignored.
port=$(ip netns exec "$A" awk '$2 == 0 && $4 == "00000051" { print $3 }' /proc/net/netlink | head -1)
if [ -n "$port" ] && ip netns exec "$A" perl -e '
  my $port = shift;
  socket(my $s, 16, 3, 0) or die "socket: $!";            # AF_NETLINK, SOCK_RAW, NETLINK_ROUTE
  my $to = pack("S S L L", 16, 0, $port, 0);
  my $idx = do { open(my $f, "<", "/sys/class/net/w0/ifindex") or die; <$f> + 0 };
  send($s, "\x01\x02\x03", 0, $to) or die "send: $!";
  send($s, pack("L S S L L", 200, 21, 0, 1, 0), 0, $to);   # claims 200 bytes, has 16
  send($s, pack("L S S L L", 17, 16, 0, 1, 0) . "\x00", 0, $to); # RTM_NEWLINK, body cut
  send($s, pack("L S S L L C C C C L", 24, 21, 0, 1, 0, 2, 24, 0, 0, $idx), 0, $to); # RTM_DELADDR w0
  ' "$port"; then
  act "forged messages from user space: no event" "" true
  kill -0 "$tpid" 2>/dev/null && ok "netmcu is still running after the forged messages" ||
    nok "netmcu is still running after the forged messages"
else
  nok "forged messages could be sent" "port [$port]"
fi

# More changes than netmcu's socket buffer holds while its loop is blocked:
# the kernel drops messages (ENOBUFS); netmcu reads the interface again and
# ends in the right state.  The flood adds and removes other addresses and
# finally removes w0's own.
drops() { ip netns exec "$A" awk '$2 == 0 && $4 == "00000051" { print $9 }' /proc/net/netlink | head -1; }
drops0=$(drops)
i=0
while [ $i -lt 2500 ]; do
  echo "addr add 198.18.1.$((i % 250 + 1))/32 dev w0"
  echo "addr del 198.18.1.$((i % 250 + 1))/32 dev w0"
  i=$((i + 1))
done >"$tmp/flood"
echo "addr del 198.18.0.1/24 dev w0" >>"$tmp/flood"
before=$(count)
ctl block
wait_line "$ev" '^BLOCKING'
ip -n "$A" -batch "$tmp/flood" 2>/dev/null
flooded=$(grep -c '^UNBLOCKED' "$ev")
wait_line "$ev" '^UNBLOCKED'
wait_lines "$ev" '^EV ' $((before + 1))
fence
check "the flood ran while netmcu's loop was blocked" "$flooded" 0
drops1=$(drops)
if [ "${drops1:-0}" -gt "${drops0:-0}" ]; then ok "the kernel dropped messages for netmcu (ENOBUFS): $((drops1 - drops0))"
else nok "the kernel dropped messages for netmcu (ENOBUFS)" "drops $drops0 -> $drops1"; fi
check "after the overflow: exactly one STA_DISCONNECTED (address gone), getip() nil" \
  "$(evs "$before")$(grep '^GETIP ' "$ev" | tail -1)" "STA_DISCONNECTED reason=1 status=1;GETIP nil"
act "and the address back" "STA_CONNECTED SSID=w0 channel=$(grep -m1 -o 'channel=[0-9]*' "$ev" | cut -d= -f2) status=1;STA_GOT_IP IP=198.18.0.1 netmask=255.255.255.0 gateway=0.0.0.0 status=5;" \
  ip -n "$A" addr add 198.18.0.1/24 dev w0
ctl quit
wait_pid "$tpid" 5; rc=$?
check "the trace script ends when its socket is closed (wifi alone keeps nothing running)" "$rc" 0

echo "# the event trace:"
sed 's/^/#   /' "$ev"

# ---- keeping the runtime alive while waiting for wifi ----
ip -n "$A" link set w0 down
ip netns exec "$A" "$NETMCU" --wifi w0 -e '
wifi.eventmon.register(wifi.eventmon.STA_GOT_IP, function(t)
  print("got ip " .. t.IP)
  wifi.eventmon.unregister(wifi.eventmon.STA_GOT_IP)
end)
print("waiting", wifi.sta.status())' >"$tmp/wait" 2>&1 &
wpid=$!; pids="$pids $wpid"
wait_line "$tmp/wait" '^waiting'
sleep 0.3 # (a process that ended early would be gone by now)
kill -0 "$wpid" 2>/dev/null && ok "a script waiting for STA_GOT_IP while w0 is down keeps running" ||
  nok "a script waiting for STA_GOT_IP while w0 is down keeps running" "$(cat "$tmp/wait")"
ip -n "$A" link set w0 up
wait_pid "$wpid" 5; rc=$?
check "when w0 comes up it gets STA_GOT_IP and ends" "$rc $(tail -1 "$tmp/wait")" "0 got ip 198.18.0.1"

# ---- a program that reconnects its TCP client when wifi drops ----
cat >"$tmp/server.lua" <<'EOF'
local srv = net.createServer(net.TCP, 10)
local hellos = 0
srv:listen(0, "198.18.0.2", function(c)
  c:on("receive", function(s, d)
    print("server got " .. d:gsub("\n", ""))
    hellos = hellos + 1
    s:send(d)
    if hellos == 2 then srv:close() end
  end)
end)
print("port " .. srv:getaddr())
EOF
cat >"$tmp/client.lua" <<'EOF'
-- NodeMCU style: connect when wifi has an IP, drop the connection when
-- wifi drops, connect again when it is back.
local PORT = tonumber(arg[1])
local n, conn = 0, nil
local function start()
  n = n + 1
  local c = net.createConnection(net.TCP)
  conn = c
  c:on("connection", function(s) s:send("hello " .. n .. "\n") end)
  c:on("receive", function(s, d)
    print("echo " .. d:gsub("\n", ""))
    if n == 2 then
      s:close(); conn = nil
      wifi.eventmon.unregister(wifi.eventmon.STA_GOT_IP)
      wifi.eventmon.unregister(wifi.eventmon.STA_DISCONNECTED)
      print("done")
    end
  end)
  c:on("disconnection", function(s, code) print("tcp disconnected " .. code) end)
  c:connect(PORT, "198.18.0.2")
end
wifi.setmode(wifi.STATION)
wifi.sta.config{ssid = "HomeNet", pwd = "password1"}
wifi.eventmon.register(wifi.eventmon.STA_GOT_IP, function(t)
  print("wifi up " .. t.IP)
  start()
end)
wifi.eventmon.register(wifi.eventmon.STA_DISCONNECTED, function(t)
  print("wifi down " .. t.reason)
  if conn then conn:close(); conn = nil end
end)
EOF
ip netns exec "$B" "$NETMCU" "$tmp/server.lua" >"$tmp/srv" 2>&1 &
spid=$!; pids="$pids $spid"
wait_line "$tmp/srv" '^port ' || { nok "the server started" "$(cat "$tmp/srv")"; }
sport=$(sed -n 's/^port //p' "$tmp/srv")
ip netns exec "$A" "$NETMCU" --wifi w0 --wifi-ap HomeNet:password1 "$tmp/client.lua" "$sport" >"$tmp/cli" 2>&1 &
cpid=$!; pids="$pids $cpid"
wait_line "$tmp/srv" 'server got hello 1' && wait_line "$tmp/cli" 'echo hello 1'
check "the client connected once wifi had an IP" "$? $(grep -c '^wifi ' "$tmp/cli")" "0 1"
t1=$(now_ms)
ip -n "$A" link set w0 down
wait_line "$tmp/cli" '^wifi down'
check "wifi drops: STA_DISCONNECTED(200), the client closes its connection" "$(grep '^wifi down' "$tmp/cli")" "wifi down 200"
ip -n "$A" link set w0 up
wait_line "$tmp/cli" '^done'
t2=$(now_ms)
wait_pid "$cpid" 10; crc=$?
wait_pid "$spid" 10; src=$?
check "wifi back: the client reconnected and its second hello was echoed" \
  "$(grep -c 'server got hello 2' "$tmp/srv") $(grep -c '^wifi up' "$tmp/cli") $(grep -c 'echo hello 2' "$tmp/cli")" "1 2 1"
check "client and server exit 0" "$crc $src" "0 0"
echo "# client ($((t2 - t1)) ms from the drop to the second echo):"
sed 's/^/#   /' "$tmp/cli"

# The netmcu processes wrote their stderr to files here: pass sanitizer
# reports on to run.sh (which scans this script's stderr) and fail.
if grep -lE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$tmp"/* >"$tmp/san" 2>/dev/null; then
  nok "no sanitizer report from any netmcu process" "$(cat "$tmp/san")"
  while read -r f; do cat "$f" >&2; done <"$tmp/san"
else
  ok "no sanitizer report from any netmcu process"
fi
echo "1..$n"
[ "$failed" -eq 0 ]
