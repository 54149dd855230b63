#!/bin/sh
# bench/http_client.sh - the http module's client side, measured: netmcu's
# http.get (libcurl driven by the loop) against a minimal HTTP/1.1 client
# written in Lua on netmcu's own net sockets (the other way to build the
# module), and against Node.js's http.get, all against the raw C/libuv
# "hello" server of bench/peers/uv_server.c on loopback.  Every request has
# its own connection (Connection: close, as the ESP8266 module sends).
# Rounds are interleaved; the medians are printed as a Markdown table.
#
# Environment (defaults): NETMCU=build/netmcu BENCH_ROUNDS=5 BENCH_OUT=build/bench
#   BENCH_SEQ=1000 (sequential requests)  BENCH_N=5000 (requests of the parallel runs)
# Needs cc, libuv, taskset, node (sh scripts/setup.sh bench).
set -u
cd "$(dirname "$0")/.." || exit 1
NETMCU=${NETMCU:-build/netmcu}
ROUNDS=${BENCH_ROUNDS:-5}
OUT=${BENCH_OUT:-build/bench}
SEQ=${BENCH_SEQ:-1000}
N=${BENCH_N:-5000}
PORT=18084
die() { echo "bench: $*" >&2; exit 1; }
for t in cc pkg-config taskset node; do
  command -v $t >/dev/null 2>&1 || die "$t is missing (sh scripts/setup.sh bench)"
done
[ -x "$NETMCU" ] || die "$NETMCU is not built (make)"
mkdir -p "$OUT" || exit 1
CFL="-std=c11 -O2 -Wall -Wextra -Werror $(pkg-config --cflags libuv)"
cc $CFL -o "$OUT/uv_server" bench/peers/uv_server.c $(pkg-config --libs libuv) &&
  cc $CFL -o "$OUT/driver" bench/peers/driver.c || die "cannot build the C server/driver"

taskset -c 0 "$OUT/uv_server" http $PORT >"$OUT/http_client-server.log" 2>&1 &
SPID=$!
trap 'kill $SPID 2>/dev/null; exit 130' INT TERM
"$OUT/driver" wait $PORT 10 || { kill $SPID; die "the server did not start"; }

RES=$OUT/http_client.txt
: >"$RES"
run() { # impl total inflight
  case $1 in
    node) line=$(taskset -c 1 node bench/peers/node_http_get.js $PORT "$2" "$3") ;;
    *) line=$(taskset -c 1 "$NETMCU" bench/netmcu/http_client.lua "$1" $PORT "$2" "$3") ;;
  esac
  [ -n "$line" ] || line="$1 $2 $3 0 0 0 $2"
  echo "  $line"
  echo "$line" >>"$RES"
}
r=1
while [ "$r" -le "$ROUNDS" ]; do
  echo "== round $r of $ROUNDS"
  for impl in curl lua; do run $impl "$SEQ" 1; done
  for impl in curl lua; do run $impl "$N" 100; done
  for impl in curl lua node; do run $impl "$N" 32; done
  r=$((r + 1))
done
kill $SPID 2>/dev/null
wait $SPID 2>/dev/null

# medians of req/s ($5) and CPU us/request ($6) per (impl, in flight)
med() { # impl inflight field
  awk -v i="$1" -v f="$2" '$1 == i && $3 == f { print $'"$3"' }' "$RES" | sort -g |
    awk '{ v[NR] = $1 } END { if (NR == 0) print "-"; else print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'
}
fails=$(awk '{ f += $7 } END { print f + 0 }' "$RES")
echo
echo "Medians of $ROUNDS interleaved rounds ($(nproc) cores; server on core 0, client on core 1); failed requests: $fails"
echo
echo "| client | in flight | requests | req/s | CPU µs/request |"
echo "| :----- | --------: | -------: | ----: | -------------: |"
for spec in "curl 1 $SEQ" "lua 1 $SEQ" "curl 100 $N" "lua 100 $N" "curl 32 $N" "lua 32 $N" "node 32 $N"; do
  set -- $spec
  case $1 in
    curl) name="netmcu http.get (libcurl)" ;;
    lua) name="Lua client on net sockets" ;;
    node) name="Node.js http.get" ;;
  esac
  echo "| $name | $2 | $3 | $(med "$1" "$2" 5) | $(med "$1" "$2" 6) |"
done
c32=$(med curl 32 5) n32=$(med node 32 5)
echo
awk -v a="$c32" -v b="$n32" 'BEGIN { if (b > 0) printf "http.get / Node http.get, 32 in flight: %.2fx\n", a / b }'
