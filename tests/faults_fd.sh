#!/bin/sh
# tests/faults_fd.sh - file-descriptor exhaustion (docs/RELIABILITY.md): a
# server run under `ulimit -n 64` is flooded with connections it cannot all
# keep.  It must refuse the extra ones gracefully (libuv accepts and closes
# them: the client sees EOF, no error reaches Lua), stay alive, not spin
# (CPU time from /proc/PID/stat while exhausted), and serve again once
# descriptors are free.
cd "$(dirname "$0")/.." || exit 2
. tests/lib/tap.sh
NM=${NETMCU:-build/netmcu}
command -v perl >/dev/null 2>&1 || { echo "1..0 # SKIP perl not found (perl-base)"; exit 0; }
[ -r /proc/self/stat ] || { echo "1..0 # SKIP no /proc"; exit 0; }
tmp=$(mktemp -d)
pid="" hold1=""
cleanup() {
  exec 3>&- 4>&- 2>/dev/null
  for p in $pid $hold1; do kill -9 "$p" 2>/dev/null; done
  rm -rf "$tmp"
}
trap cleanup EXIT

cat >"$tmp/srv.lua" <<'L'
-- keeps every connection until the peer closes it; answers ping with pong
local srv = net.createServer(net.TCP, 600)
local open, errors = 0, 0
srv:listen(0, "127.0.0.1", function(c)
  open = open + 1
  c:on("receive", function(s, d) if d:find("ping", 1, true) then s:send("pong") end end)
  c:on("disconnection", function() open = open - 1 end)
  c:on("reconnection", function() open = open - 1; errors = errors + 1 end)
end)
print("port " .. srv:getaddr())
local t = tmr.create()
t:alarm(200, tmr.ALARM_AUTO, function()
  local f = io.open(arg[1], "w")
  if f then f:write(open, " ", errors, "\n"); f:close() end
end)
L

# ticks of user+system CPU time of a process
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

(ulimit -n 64 && exec "$NM" "$tmp/srv.lua" "$tmp/open") >"$tmp/out" 2>"$tmp/err" &
pid=$!
if ! wait_for "$tmp/out" '^port [0-9]' 10; then
  nok "server starts under ulimit -n 64" "$(cat "$tmp/err")"; plan; exit 0
fi
ok "server starts under ulimit -n 64"
port=$(sed -n 's/^port //p' "$tmp/out")
fds0=$(ls "/proc/$pid/fd" | wc -l)
lim=$(awk '/^Max open files/ {print $4}' "/proc/$pid/limits")
check "its descriptor limit is 64 (got $lim)" [ "$lim" = 64 ]

# 100 connections, held open until fd 3 closes
mkfifo "$tmp/go1"
perl tests/faults/peer.pl hold "$port" 100 "$tmp/hold1" <"$tmp/go1" 2>"$tmp/hold1.err" &
hold1=$!
exec 3>"$tmp/go1"
if wait_for "$tmp/hold1" '^[0-9]' 20; then
  set -- $(cat "$tmp/hold1")
  check "100 client connections made ($1); the ones over the limit were closed by the server ($2)" \
    [ "$1" -eq 100 -a "$2" -gt 0 ]
else
  nok "the holding client reports" "$(cat "$tmp/hold1.err")"
fi
fds=$(ls "/proc/$pid/fd" | wc -l)
check "the server is alive with its descriptors in use ($fds entries in /proc/PID/fd)" kill -0 "$pid"

# exhausted: new connection attempts keep coming; the loop must not spin
c0=$(cpu_ticks "$pid")
perl -MIO::Socket::INET -e '
  my $end = time + 2; my $n = 0;
  while (time < $end) {
    my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1", PeerPort => $ARGV[0]) or next;
    $n++; my $r = sysread($s, my $b, 1); close $s;
    select(undef, undef, undef, 0.01);
  }
  print "$n\n";' "$port" >"$tmp/flood" 2>&1
c1=$(cpu_ticks "$pid")
hz=$(getconf CLK_TCK)
used=$((c1 - c0))
check "while exhausted ($(cat "$tmp/flood") refused attempts in 2 s) the server used ${used} ticks of CPU (< 25% of ${hz}/s)" \
  [ "$used" -lt $((hz * 2 / 4)) ]
check "still alive" kill -0 "$pid"

# descriptors come back: the held connections close, the server serves again
exec 3>&-
wait "$hold1" 2>/dev/null
hold1=""
served=no
i=0
while [ $i -lt 50 ]; do
  r=$(perl -MIO::Socket::INET -e '
    my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1", PeerPort => $ARGV[0], Timeout => 2) or exit 1;
    syswrite($s, "ping");
    my $rin = ""; vec($rin, fileno($s), 1) = 1;
    select(my $rout = $rin, undef, undef, 2) > 0 or exit 1;
    sysread($s, my $b, 4); print $b;' "$port" 2>/dev/null)
  [ "$r" = pong ] && { served=yes; break; }
  sleep 0.1; i=$((i + 1))
done
check "once descriptors are free it serves again (ping -> pong)" [ "$served" = yes ]
# the status file could not be written while exhausted; it can now
rm -f "$tmp/open"
wait_for "$tmp/open" '^[0-9]' 5
errs=$(awk '{print $2}' "$tmp/open")
check "no error reached the script's callbacks (reconnection count $errs)" [ "$errs" = 0 ]
i=0
while fds2=$(ls "/proc/$pid/fd" | wc -l); [ "$fds2" -ne "$fds0" ] && [ $i -lt 100 ]; do
  sleep 0.05; i=$((i + 1)) # bounded: the peers' closes are being read
done
check "descriptors back to the baseline ($fds2 open; $fds0 at start, $fds while exhausted)" [ "$fds2" -eq "$fds0" ]

kill -TERM "$pid"
if wait_exit "$pid" 5; then
  check "SIGTERM ends it with 143" [ "$status" -eq 143 ]
else
  nok "SIGTERM ends it within 5 s"
fi
pid=""
check "nothing on stderr" [ ! -s "$tmp/err" ]
[ -s "$tmp/err" ] && sed 's/^/# stderr: /' "$tmp/err" | head -20
plan
