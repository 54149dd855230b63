#!/bin/sh
# bench/callgrind.sh - instructions per keep-alive HTTP request of netmcu's
# benchmark server, under callgrind: immune to the machine's load, so two
# commits can be compared on a busy machine where `make bench`'s timings
# cannot.  Counters are zeroed after a warm-up, then wrk runs 4
# connections for SECONDS; prints the instructions per request.
#   sh bench/callgrind.sh [NETMCU [PORT [SECONDS]]]   (build/netmcu 18190 10)
# Needs valgrind, wrk and curl.
set -u
cd "$(dirname "$0")/.." || exit 1
NM=${1:-build/netmcu} PORT=${2:-18190} SECS=${3:-10}
for t in valgrind callgrind_control callgrind_annotate wrk curl; do
  command -v $t >/dev/null 2>&1 || { echo "callgrind.sh: $t is missing" >&2; exit 1; }
done
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
valgrind --tool=callgrind --callgrind-out-file="$out/cg.%p" "$NM" bench/netmcu/http.lua "$PORT" \
  bench/peers/http_req.lua >/dev/null 2>"$out/err" &
pid=$!
i=0
until curl -s -o /dev/null "http://127.0.0.1:$PORT/"; do
  i=$((i + 1))
  [ $i -gt 120 ] && { echo "callgrind.sh: the server did not answer" >&2; kill $pid; exit 1; }
  sleep 0.5
done
wrk -c4 -t1 -d3s "http://127.0.0.1:$PORT/" >/dev/null
callgrind_control -z $pid >/dev/null 2>&1
wrk -c4 -t1 -d"${SECS}s" "http://127.0.0.1:$PORT/" >"$out/wrk"
callgrind_control -d $pid >/dev/null 2>&1
kill -TERM $pid
wait $pid
req=$(awk '/requests in/ {print $1}' "$out/wrk")
dump=$(ls "$out"/cg.$pid.* | head -1)
ir=$(callgrind_annotate "$dump" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}')
echo "$req requests, $ir instructions: $((ir / req)) per request ($NM)"
