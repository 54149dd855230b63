#!/bin/sh
# bench/soak.sh - soak test of the demo HTTP server (examples/http_server.lua)
# on loopback, with bench/soak_client.c as the client.  Not part of the suite.
#   sh bench/soak.sh                 200 000 connections, 1 000 000 requests,
#                                    then the valgrind run
#   env: NETMCU (default build/netmcu), SOAK_CONNECTIONS (200000),
#        SOAK_REQUESTS (1000000; a multiple of SOAK_CONNECTIONS),
#        SOAK_THREADS (client threads, 4), SOAK_VALGRIND_CONNECTIONS (2000;
#        0 skips the valgrind run)
# Passes when, after a warm-up of a tenth of the connections, the server's
# resident memory stays within 5 % of its warm-up value until the end, its
# open descriptors (/proc/PID/fd) return to the count before the first
# connection, no request fails, and valgrind --leak-check=full reports no
# error and no definitely/indirectly/possibly lost block.  Prints the figures.
cd "$(dirname "$0")/.." || exit 2
NETMCU=${NETMCU:-build/netmcu}
CONNS=${SOAK_CONNECTIONS:-200000}
REQS=${SOAK_REQUESTS:-1000000}
THREADS=${SOAK_THREADS:-4}
VG_CONNS=${SOAK_VALGRIND_CONNECTIONS:-2000}
PER=$((REQS / CONNS))
[ "$PER" -ge 1 ] && [ $((PER * CONNS)) -eq "$REQS" ] || { echo "SOAK_REQUESTS must be a multiple of SOAK_CONNECTIONS"; exit 2; }
[ -x "$NETMCU" ] || { echo "no runtime at $NETMCU: run make first"; exit 2; }

tmp=$(mktemp -d)
pid=""
cleanup() {
  [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
status=0

cc -O2 -Wall -Wextra -pthread -o "$tmp/client" bench/soak_client.c || exit 2

rss() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
fds() { ls "/proc/$1/fd" | wc -l; }
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# wait_line FILE PATTERN SECONDS
wait_line() {
  i=0
  while [ $i -lt $(($3 * 10)) ]; do
    grep -q "$2" "$1" 2>/dev/null && return 0
    sleep 0.1; i=$((i + 1))
  done
  return 1
}
# settle_fds PID WANT: descriptors back to WANT (closes still in flight), 10 s at most
settle_fds() {
  i=0
  while [ "$(fds "$1")" -ne "$2" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
  fds "$1"
}
start_server() { # start_server [wrapper...]
  "$@" "$NETMCU" examples/http_server.lua 0 >"$tmp/srv.out" 2>"$tmp/srv.err" &
  pid=$!
  wait_line "$tmp/srv.out" '^netmcu demo: http://127.0.0.1:[0-9]*/' 60 ||
    { echo "server did not start:"; cat "$tmp/srv.err"; exit 1; }
  port=$(sed -n 's|^netmcu demo: http://127.0.0.1:\([0-9]*\)/.*|\1|p' "$tmp/srv.out")
}
# drive CONNECTIONS: runs the client, adds to the totals
total_c=0 total_r=0 total_e=0
drive() {
  out=$("$tmp/client" "$port" "$1" "$PER" "$THREADS" 2>"$tmp/client.err")
  set -- $out
  total_c=$((total_c + $2)) total_r=$((total_r + $4)) total_e=$((total_e + $6))
  [ "$6" -eq 0 ] || { status=1; sed 's/^/  client: /' "$tmp/client.err"; }
}

echo "== soak: $CONNS connections, $REQS requests ($PER per connection), $THREADS client threads"
echo "   server: $NETMCU examples/http_server.lua ($("$NETMCU" -v))"
start_server
fd0=$(fds "$pid") rss0=$(rss "$pid")
echo "   before the first connection: RSS ${rss0} KiB, ${fd0} descriptors"
t0=$(date +%s)
warm=$((CONNS / 10))
drive "$warm"
fdw=$(settle_fds "$pid" "$fd0") rssw=$(rss "$pid")
echo "   after warm-up ($total_c connections, $total_r requests): RSS ${rssw} KiB, ${fdw} descriptors"
chunk=$(((CONNS - warm) / 9))
max=$rssw min=$rssw
printf '   RSS (KiB) after each further %d connections:' "$chunk"
for _ in 1 2 3 4 5 6 7 8 9; do
  drive "$chunk"
  r=$(rss "$pid")
  printf ' %s' "$r"
  [ "$r" -gt "$max" ] && max=$r
  [ "$r" -lt "$min" ] && min=$r
done
echo
rest=$((CONNS - total_c))
[ "$rest" -gt 0 ] && drive "$rest"
t1=$(date +%s)
rss_end=$(rss "$pid")
fd_end=$(settle_fds "$pid" "$fd0")
ticks=$(cpu "$pid")
hz=$(getconf CLK_TCK)
echo "   done in $((t1 - t0)) s: $total_c connections, $total_r requests, $total_e errors;" \
  "server CPU $((ticks / hz)) s"
echo "   RSS: ${rss_end} KiB at the end, ${rssw} KiB after warm-up, range ${min}-${max} KiB"
echo "   descriptors: ${fd_end} at the end, ${fd0} before the first connection"
dev=$(awk -v a="$rssw" -v b="$max" -v c="$min" 'BEGIN { d = (b - a) / a; e = (a - c) / a; if (e > d) d = e; printf "%.1f", d * 100 }')
if awk -v d="$dev" 'BEGIN { exit !(d <= 5) }'; then
  echo "PASS memory: largest deviation from the warm-up RSS ${dev} % (<= 5 %)"
else
  echo "FAIL memory: largest deviation from the warm-up RSS ${dev} % (> 5 %)"; status=1
fi
if [ "$fd_end" -eq "$fd0" ]; then echo "PASS descriptors back to the baseline ($fd0)"
else echo "FAIL descriptors: $fd_end at the end, $fd0 before"; status=1; fi
if [ "$total_c" -eq "$CONNS" ] && [ "$total_r" -eq "$REQS" ] && [ "$total_e" -eq 0 ]; then
  echo "PASS every request served ($total_r)"
else
  echo "FAIL requests: $total_r of $REQS, $total_e errors"; status=1
fi
kill -TERM "$pid"; wait "$pid"; rc=$?; pid=""
[ "$rc" -eq 143 ] && echo "PASS SIGTERM: exit 143" || { echo "FAIL SIGTERM: exit $rc"; status=1; }

if [ "$VG_CONNS" -gt 0 ]; then
  if ! command -v valgrind >/dev/null 2>&1; then
    echo "SKIP valgrind: not installed (Debian package valgrind)"
  else
    echo "== valgrind --leak-check=full: $VG_CONNS connections, $((VG_CONNS * PER)) requests"
    total_c=0 total_r=0 total_e=0
    start_server valgrind --leak-check=full --show-leak-kinds=all --track-fds=no \
      --errors-for-leak-kinds=definite,indirect,possible --error-exitcode=99 \
      --log-file="$tmp/vg.log"
    drive "$VG_CONNS"
    kill -TERM "$pid"; wait "$pid"; rc=$?; pid=""
    echo "   $total_c connections, $total_r requests, $total_e errors; exit status $rc"
    sed -n 's/^==[0-9]*== *//p' "$tmp/vg.log" |
      grep -E '^(definitely|indirectly|possibly) lost|^still reachable|^ERROR SUMMARY|^in use at exit|^total heap usage|All heap blocks were freed' |
      sed 's/^/   /'
    if [ "$rc" -eq 143 ] && grep -q 'ERROR SUMMARY: 0 errors' "$tmp/vg.log" && [ "$total_e" -eq 0 ]; then
      echo "PASS valgrind: no errors, no leaks"
    else
      echo "FAIL valgrind (exit $rc):"; sed 's/^/   /' "$tmp/vg.log" | head -80; status=1
    fi
  fi
fi
exit $status
