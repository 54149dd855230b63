#!/bin/sh
# bench/run.sh - netmcu against its peers, every server measured in the same
# run, interleaved (netmcu C luv node copas, netmcu C luv node copas, ...),
# on loopback only.  Prints the table and the ratios netmcu/peer, writes
# docs/PERFORMANCE.md and docs/performance.png.  Run by `make bench`.
#
# Environment (defaults):  NETMCU=build/netmcu  BENCH_ROUNDS=5
#   BENCH_SECONDS=3 (each wrk and UDP run)  BENCH_IDLE=10000 (connections)
#   BENCH_ECHO_MIB=256  BENCH_ECHO_PASSES=3 (echo passes per server and round)
#   BENCH_DOC=docs/PERFORMANCE.md  BENCH_OUT=build/bench
#   BENCH_PEERS="netmcu c luv node copas"  BENCH_WORKLOADS="ka cl echo idle udp"
set -u
cd "$(dirname "$0")/.." || exit 1
NETMCU=${NETMCU:-build/netmcu}
ROUNDS=${BENCH_ROUNDS:-5}
SECS=${BENCH_SECONDS:-3}
IDLE_N=${BENCH_IDLE:-10000}
ECHO_MIB=${BENCH_ECHO_MIB:-256}
ECHO_PASSES=${BENCH_ECHO_PASSES:-3}
ECHO_WINDOW_KIB=256
DOC=${BENCH_DOC:-docs/PERFORMANCE.md}
PNG=${DOC%/*}/performance.png
OUT=${BENCH_OUT:-build/bench}
PEERS=${BENCH_PEERS:-netmcu c luv node copas}
WORKLOADS=${BENCH_WORKLOADS:-ka cl echo idle udp}
SCPU=0 # the server's core
CCPU=1 # wrk's / the driver's core
PORT_HTTP=18080 PORT_ECHO=18081 PORT_UDP=18082
T0=$(date +%s)

die() { echo "bench: $*" >&2; exit 1; }
for t in cc pkg-config wrk node lua5.3 taskset gnuplot; do
  command -v $t >/dev/null 2>&1 || die "$t is missing (sh scripts/setup.sh bench)"
done
lua5.3 -e 'require "luv"' 2>/dev/null || die "lua-luv for Lua 5.3 is missing"
lua5.3 -e 'package.path = package.path .. ";/usr/share/lua/5.2/?.lua"; require "copas"' \
  2>/dev/null || die "lua-copas / lua-socket is missing"
[ -x "$NETMCU" ] || die "$NETMCU is not built (make)"

mkdir -p "$OUT" || exit 1
CFL="-std=c11 -O2 -Wall -Wextra -Werror $(pkg-config --cflags libuv)"
cc $CFL -o "$OUT/uv_server" bench/peers/uv_server.c $(pkg-config --libs libuv) &&
  cc $CFL -o "$OUT/driver" bench/peers/driver.c || die "cannot build the C peer/driver"
DRIVER=$OUT/driver

# 10 000 connections need 10 000 descriptors on each side.
ulimit -Hn 65536 2>/dev/null
ulimit -n "$(ulimit -Hn)" 2>/dev/null
[ "$(ulimit -n)" = unlimited ] || [ "$(ulimit -n)" -gt $((IDLE_N + 100)) ] ||
  die "need more than $IDLE_N file descriptors (ulimit -n is $(ulimit -n))"

RES=$OUT/results.txt
: >"$RES"

# ---- servers ----
srv_cmd() { # peer mode port
  case $1 in
    netmcu) echo "$NETMCU bench/netmcu/$2.lua $3 bench/peers/http_req.lua" ;;
    c) echo "$OUT/uv_server $2 $3" ;;
    luv) echo "lua5.3 bench/peers/luv_server.lua $2 $3 bench/peers/http_req.lua" ;;
    node) echo "node bench/peers/node_server.js $2 $3" ;;
    copas) echo "lua5.3 bench/peers/copas_server.lua $2 $3 bench/peers/http_req.lua" ;;
  esac
}
SPID=
start() { # peer mode port
  taskset -c $SCPU $(srv_cmd "$@") >"$OUT/$1-$2.log" 2>&1 &
  SPID=$!
  if [ "$2" = udp ]; then sleep 0.3; else $DRIVER wait "$3" 10 || return 1; fi
}
stop() {
  [ -n "$SPID" ] || return 0
  kill "$SPID" 2>/dev/null
  wait "$SPID" 2>/dev/null
  SPID=
}
trap 'stop; exit 130' INT TERM
# CPU time of every thread of PID so far, in ns (the scheduler's own
# account, not 10 ms ticks: an echo pass lasts about 0.1 s).
cpu_ns() { cat /proc/"$1"/task/*/schedstat | awk '{ t += $1 } END { printf "%.0f", t }'; }
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
put() { echo "$1 $2 $3" >>"$RES"; }

# wrk's "1.23ms" / "456.78us" / "1.02s" -> ms
to_ms() { awk -v v="$1" 'BEGIN { n = v + 0; if (v ~ /us$/) n /= 1000; else if (v ~ /[0-9]s$/) n *= 1000; print n }'; }

http_run() { # peer key extra-wrk-args...
  peer=$1 key=$2
  shift 2
  start "$peer" http $PORT_HTTP || { stop; return; }
  c0=$(cpu_ns "$SPID")
  taskset -c $CCPU wrk -t1 -c64 -d"${SECS}s" --latency "$@" "http://127.0.0.1:$PORT_HTTP/" \
    >"$OUT/wrk-$peer-$key.txt" 2>&1
  c1=$(cpu_ns "$SPID")
  stop
  w=$OUT/wrk-$peer-$key.txt
  reqs=$(awk '/requests in/ {print $1}' "$w")
  [ -n "$reqs" ] && [ "$reqs" -gt 0 ] || { echo "  $peer $key: wrk failed"; return; }
  rps=$(awk '/^Requests\/sec:/ {print $2}' "$w")
  p50=$(to_ms "$(awk '$1 == "50%" {print $2}' "$w")")
  p99=$(to_ms "$(awk '$1 == "99%" {print $2}' "$w")")
  cpu=$(awk -v t=$((c1 - c0)) -v n="$reqs" 'BEGIN { printf "%.3f", t / n / 1e3 }')
  errs=$(awk '/Socket errors|Non-2xx/' "$w" | tr -s ' ' | tr '\n' ' ')
  put "${key}_rps" "$peer" "$rps"
  put "${key}_p50" "$peer" "$p50"
  put "${key}_p99" "$peer" "$p99"
  put "${key}_cpu" "$peer" "$cpu"
  echo "  $peer $key: $rps req/s, p50 ${p50} ms, p99 ${p99} ms, ${cpu} us CPU/req ${errs}"
}

echo_run() { # peer
  start "$1" echo $PORT_ECHO || { stop; return; }
  c0=$(cpu_ns "$SPID")
  mbs=$(taskset -c $CCPU $DRIVER echo $PORT_ECHO "$ECHO_MIB" $ECHO_WINDOW_KIB 2>>"$OUT/$1-echo.log")
  c1=$(cpu_ns "$SPID")
  stop
  [ -n "$mbs" ] || { echo "  $1 echo: failed"; return; }
  cpu=$(awk -v t=$((c1 - c0)) -v m="$ECHO_MIB" 'BEGIN { printf "%.3f", t / 1e9 / m * 1024 }')
  put echo_mbs "$1" "$mbs"
  put echo_cpu "$1" "$cpu"
  echo "  $1 echo: $mbs MB/s, server ${cpu} CPU-s/GiB"
}

idle_run() { # peer
  start "$1" echo $PORT_ECHO || { stop; return; }
  sleep 0.3
  r0=$(rss_kb "$SPID")
  taskset -c $CCPU $DRIVER idle $PORT_ECHO "$IDLE_N" >"$OUT/idle.out" 2>"$OUT/$1-idle.log" &
  dpid=$!
  i=0
  while [ ! -s "$OUT/idle.out" ] && [ $i -lt 600 ] && kill -0 $dpid 2>/dev/null; do
    sleep 0.1
    i=$((i + 1))
  done
  sleep 1 # let the server settle (GC, lazy frees)
  r1=$(rss_kb "$SPID" 2>/dev/null)
  res=$(cat "$OUT/idle.out")
  kill $dpid 2>/dev/null
  wait $dpid 2>/dev/null
  stop
  case $res in
    ok*)
      b=$(awk -v a="$r0" -v b="$r1" -v n="$IDLE_N" 'BEGIN { printf "%.0f", (b - a) * 1024 / n }')
      put idle_b "$1" "$b"
      echo "  $1 idle: RSS $r0 -> $r1 kB, $b B/connection" ;;
    *)
      k=${res#fail }
      put idle_fail "$1" "${k:-0}"
      why="$(tail -n 1 "$OUT/$1-idle.log" 2>/dev/null) $(grep -m 1 "lua5.3:\|Error" "$OUT/$1-echo.log" 2>/dev/null)"
      echo "  $1 idle: failed at ${k:-?} connections (${why:-no output from the driver})" ;;
  esac
}

udp_run() { # peer
  start "$1" udp $PORT_UDP || { stop; return; }
  for size in 64 1400; do
    d=$(taskset -c $CCPU $DRIVER udp $PORT_UDP $size "$SECS")
    put "udp$size" "$1" "$d"
    printf '  %s udp %s B: %s datagrams/s\n' "$1" $size "$d"
  done
  stop
}

r=1
while [ $r -le "$ROUNDS" ]; do
  echo "== round $r of $ROUNDS"
  for w in $WORKLOADS; do
    case $w in
      ka) for p in $PEERS; do http_run "$p" ka; done ;;
      cl) for p in $PEERS; do http_run "$p" cl -H 'Connection: close'; done ;;
      echo) # several short passes, interleaved: a pass lasts about 0.1 s
        i=1
        while [ $i -le "$ECHO_PASSES" ]; do
          for p in $PEERS; do echo_run "$p"; done
          i=$((i + 1))
        done ;;
      idle) for p in $PEERS; do idle_run "$p"; done ;;
      udp) for p in $PEERS; do udp_run "$p"; done ;;
      *) die "unknown workload $w" ;;
    esac
  done
  r=$((r + 1))
done
ELAPSED=$(($(date +%s) - T0))

# ---- best of the rounds: lowest CPU, latency and memory; highest rates ----
BEST=$OUT/best.txt
awk '{ k = $1 " " $2; v = $3 + 0
       low = ($1 ~ /_(cpu|p50|p99)$/ || $1 == "idle_b")
       if (!(k in b) || (low && v < b[k]) || (!low && v > b[k])) b[k] = v }
     END { for (k in b) print k, b[k] }' "$RES" | sort >"$BEST"
# ---- and the median of the rounds, to show how much the machine's noise moves a ratio ----
MED=$OUT/median.txt
sort -k1,1 -k2,2 -k3,3g "$RES" | awk '{ k = $1 " " $2; v[k, ++n[k]] = $3 }
  END { for (k in n) { m = n[k]; print k, (m % 2 ? v[k, (m + 1) / 2] : (v[k, m / 2] + v[k, m / 2 + 1]) / 2) } }' |
  sort >"$MED"
get() { awk -v k="$1" -v p="$2" '$1 == k && $2 == p { print $3 }' "$BEST"; }
med_ratio() { # key peer -> netmcu/peer of the medians
  a=$(awk -v k="$1" '$1 == k && $2 == "netmcu" { print $3 }' "$MED")
  b=$(awk -v k="$1" -v p="$2" '$1 == k && $2 == p { print $3 }' "$MED")
  [ -n "$a" ] && [ -n "$b" ] && awk -v a="$a" -v b="$b" 'BEGIN { printf "%.2f", a / b }' || printf 'n/a'
}
fmt() { # value decimals
  [ -n "$1" ] && printf "%.${2}f" "$1" || printf 'n/a'
}
ratio() { # key peer -> netmcu/peer
  a=$(get "$1" netmcu) b=$(get "$1" "$2")
  [ -n "$a" ] && [ -n "$b" ] && awk -v a="$a" -v b="$b" 'BEGIN { printf "%.2f", a / b }' || printf 'n/a'
}
check() { # ratio op limit -> "0.83 (target <= 0.9: met)"
  [ "$1" = n/a ] && { printf 'n/a'; return; }
  ok=$(awk -v x="$1" -v op="$2" -v l="$3" 'BEGIN { print ((op == "<=" ? x <= l : x >= l) ? "met" : "MISSED") }')
  printf '%s (target %s %s: %s)' "$1" "$2" "$3" "$ok"
}
target() { # label key peer op limit -> a row of the targets table
  printf '| %s | %s | %s |\n' "$1" "$(check "$(ratio "$2" "$3")" "$4" "$5")" \
    "$(check "$(med_ratio "$2" "$3")" "$4" "$5")"
}

peer_name() {
  case $1 in
    netmcu) echo "netmcu (Lua 5.3)" ;; c) echo "raw C on libuv" ;; luv) echo "luv (Lua 5.3)" ;;
    node) echo "Node.js net" ;; copas) echo "copas (Lua 5.3)" ;;
  esac
}
idle_cell() {
  v=$(get idle_b "$1")
  if [ -n "$v" ]; then printf '%s' "$v"
  else f=$(awk -v p="$1" '$1 == "idle_fail" && $2 == p { print $3 }' "$RES" | sort -n | tail -n 1)
    printf 'n/a (fails at %s)' "${f:-?}"
  fi
}

TABLE=$OUT/table.md
{
  echo "| server | keep-alive req/s | p50 / p99 ms | CPU µs/req | req per CPU-s | close req/s | p50 / p99 ms | CPU µs/req | echo MB/s | echo CPU-s/GiB | idle B/conn | UDP 64 B dgram/s | UDP 1400 B dgram/s |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
  for p in $PEERS; do
    kc=$(get ka_cpu "$p")
    rpc=$([ -n "$kc" ] && awk -v c="$kc" 'BEGIN { printf "%.0f", 1e6 / c }' || echo n/a)
    printf '| %s | %s | %s / %s | %s | %s | %s | %s / %s | %s | %s | %s | %s | %s | %s |\n' \
      "$(peer_name "$p")" "$(fmt "$(get ka_rps "$p")" 0)" "$(fmt "$(get ka_p50 "$p")" 2)" \
      "$(fmt "$(get ka_p99 "$p")" 2)" "$(fmt "$kc" 2)" "$rpc" \
      "$(fmt "$(get cl_rps "$p")" 0)" "$(fmt "$(get cl_p50 "$p")" 2)" "$(fmt "$(get cl_p99 "$p")" 2)" \
      "$(fmt "$(get cl_cpu "$p")" 2)" "$(fmt "$(get echo_mbs "$p")" 0)" "$(fmt "$(get echo_cpu "$p")" 2)" \
      "$(idle_cell "$p")" "$(fmt "$(get udp64 "$p")" 0)" "$(fmt "$(get udp1400 "$p")" 0)"
  done
} >"$TABLE"

RATIOS=$OUT/ratios.md
{
  echo "| netmcu / peer | raw C | luv | Node.js | copas |"
  echo "|---|---:|---:|---:|---:|"
  for k in ka_cpu:"keep-alive CPU per request" cl_cpu:"close CPU per request" \
    ka_rps:"keep-alive req/s" cl_rps:"close req/s" echo_mbs:"echo MB/s" \
    echo_cpu:"echo CPU per GiB" idle_b:"idle bytes per connection" \
    udp64:"UDP 64 B datagrams/s" udp1400:"UDP 1400 B datagrams/s"; do
    printf '| %s | %s | %s | %s | %s |\n' "${k#*:}" "$(ratio "${k%%:*}" c)" \
      "$(ratio "${k%%:*}" luv)" "$(ratio "${k%%:*}" node)" "$(ratio "${k%%:*}" copas)"
  done
} >"$RATIOS"

TARGETS=$OUT/targets.md
{
  echo "| target | netmcu / peer, best of the samples | netmcu / peer, median of the samples |"
  echo "|---|---|---|"
  target "keep-alive server CPU per request vs luv" ka_cpu luv '<=' 0.9
  target "keep-alive server CPU per request vs Node.js" ka_cpu node '<=' 0.8
  target "keep-alive server CPU per request vs raw C" ka_cpu c '<=' 1.25
  target "idle memory per connection vs luv" idle_b luv '<=' 0.8
  target "echo throughput vs luv" echo_mbs luv '>=' 1.5
  target "echo throughput vs raw C" echo_mbs c '>=' 0.6
  target "UDP 64 B datagrams/s vs luv" udp64 luv '>=' 1.0
  target "UDP 1400 B datagrams/s vs luv" udp1400 luv '>=' 1.0
} >"$TARGETS"

echo
cat "$TABLE"
echo
cat "$RATIOS"
echo
cat "$TARGETS"

# ---- chart ----
DAT=$OUT/chart.dat
{
  echo "# server ka_rpcs cl_rps echo_mbs idle_b udp64 udp1400"
  for p in $PEERS; do
    kc=$(get ka_cpu "$p")
    rpc=$([ -n "$kc" ] && awk -v c="$kc" 'BEGIN { printf "%.0f", 1e3 / c }' || echo 0)
    v() { x=$(get "$1" "$p"); awk -v x="${x:-0}" -v d="$2" 'BEGIN { printf "%.1f", x / d }'; }
    echo "$p $rpc $(v cl_rps 1000) $(v echo_mbs 1) $(v idle_b 1) $(v udp64 1000) $(v udp1400 1000)"
  done
} >"$DAT"
gnuplot >"$OUT/gnuplot.log" 2>&1 <<EOF || echo "bench: gnuplot failed, see $OUT/gnuplot.log" >&2
set terminal pngcairo size 1500,850 font "sans,10"
set output "$PNG"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.8
set grid ytics
set key off
set yrange [0:*]
set xtics nomirror
set multiplot layout 2,3 title "netmcu and its peers, loopback, server pinned to one core (best of the samples of $ROUNDS rounds; $(date -u +%F))"
set title "HTTP keep-alive: thousand requests per server CPU-second (higher is better)"
plot "$DAT" using 2:xtic(1) lc rgb "#1f77b4"
set title "HTTP Connection: close: thousand req/s (higher is better)"
plot "$DAT" using 3:xtic(1) lc rgb "#2ca02c"
set title "TCP echo, one connection: MB/s (higher is better)"
plot "$DAT" using 4:xtic(1) lc rgb "#ff7f0e"
set title "$IDLE_N idle connections: RSS bytes per connection (lower is better; 0 = failed)"
set logscale y
set yrange [100:*]
plot "$DAT" using (\$5 > 0 ? \$5 : 1):xtic(1) lc rgb "#d62728"
unset logscale y
set yrange [0:*]
set title "UDP echo, 64-byte datagrams: thousand datagrams/s"
plot "$DAT" using 6:xtic(1) lc rgb "#9467bd"
set title "UDP echo, 1400-byte datagrams: thousand datagrams/s"
plot "$DAT" using 7:xtic(1) lc rgb "#8c564b"
unset multiplot
EOF

# ---- the document ----
ver() { "$@" 2>/dev/null | head -n 1; }
LUV_V=$(lua5.3 -e 'print(require "luv".version_string())' 2>/dev/null)
COPAS_V=$(lua5.3 -e 'package.path = package.path .. ";/usr/share/lua/5.2/?.lua"; print(require "copas"._VERSION, require "socket"._VERSION)' 2>/dev/null)
UV_V=$(pkg-config --modversion libuv)
CPU_M=$(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)
{
  cat <<EOF
# Performance

netmcu against four peers doing the same work, measured by \`make bench\`
(\`sh bench/run.sh\`) in one run on $(date -u '+%F %H:%M UTC'); the run took
${ELAPSED} s. Numbers are specific to this machine; the ratios between
servers measured in the same run are what carries over.

![netmcu and its peers](performance.png)

## Method

* **Servers** (the same behaviour everywhere; sources in \`bench/\`):
  * **netmcu** — NodeMCU scripts in \`bench/netmcu/\` (\`net.createServer\`,
    \`sock:on("receive", ...)\`, \`sock:send\`) run by \`$NETMCU\`
    (Lua 5.3 build).
  * **raw C** — \`bench/peers/uv_server.c\` directly on libuv (static
    responses, read buffers recycled through a free list), \`cc -O2\`.
  * **luv** — \`bench/peers/luv_server.lua\`, Lua 5.3 with luv.
  * **Node.js** — \`bench/peers/node_server.js\`, only \`net\` and \`dgram\`.
  * **copas** — \`bench/peers/copas_server.lua\`, Lua 5.3, LuaSocket and
    copas (one coroutine per connection; Debian packages copas for 5.1/5.2
    only, it is plain Lua and runs on 5.3).
  * The three Lua servers share the HTTP request handling itself
    (\`bench/peers/http_req.lua\`), so they run the same Lua code per request
    and differ only in the networking glue. The C and Node.js servers do the
    same steps natively: find "\\r\\n\\r\\n", check the request line, answer
    every complete request of a read (pipelining), keep the connection
    unless \`Connection: close\` (or HTTP/1.0 without keep-alive).
    Every TCP server turns Nagle off, as netmcu does.
* **Pinning.** The server runs on core $SCPU, the load generator on core $CCPU
  (\`taskset\`); the machine has $(nproc) cores ($CPU_M). Other processes may
  share the machine, so every workload runs every server $ROUNDS times,
  interleaved (netmcu, C, luv, Node.js, copas, then again; the echo
  $((ROUNDS * ECHO_PASSES)) times), and each figure is the **best of the
  samples** (lowest CPU, latency and memory, highest rates): interference
  only ever makes a sample worse. One lucky sample of a peer moves a best-of
  ratio as much as a real change, so the targets table also gives the ratio
  of the medians, and judges both.
* **HTTP** — \`wrk -t1 -c64 -d${SECS}s --latency\` on \`GET /\` ("hello\\n",
  Content-Length 6); once with keep-alive, once with
  \`-H 'Connection: close'\` (one connection per request, the server closes).
  CPU per request is the server's CPU time over the wrk run (the
  scheduler's count in nanoseconds, summed over its threads from
  \`/proc/PID/task/*/schedstat\`) divided by the requests wrk completed; on
  a 2-core machine this, not req/s (bounded by wrk's own core), is what
  separates servers.
* **TCP echo** — one connection, $ECHO_MIB MiB written in 256 KiB chunks by
  the C driver (\`bench/peers/driver.c\`, the same client for every server)
  with at most $ECHO_WINDOW_KIB KiB in flight, all of it read back; MB/s =
  10^6 bytes per second of wall time; also the server's CPU seconds per GiB.
  A pass lasts a tenth of a second, so each round runs $ECHO_PASSES passes
  per server, interleaved, each a sample. The driver discards the echo
  without copying it (\`recv(MSG_TRUNC)\`): with a plain \`read()\` its core
  spent as much per byte as the fastest servers and capped them all at the
  same rate.
* **Idle memory** — the C driver opens $IDLE_N connections to the echo server
  (at most 200 in progress), sends one byte on each and waits for its echo,
  so each connection is fully set up in the server; after 1 s the server's
  VmRSS (\`/proc/PID/status\`) minus its VmRSS before, divided by $IDLE_N.
  copas uses \`select()\`, which cannot watch descriptors past 1 024: it
  fails, reported as "n/a (fails at N)" with N the connections answered.
* **UDP echo** — the C driver keeps 32 datagrams in flight (refilling the
  window after 20 ms without an answer) and counts echoes for ${SECS} s; 64-
  and 1400-byte payloads.

## Versions

* Kernel $(uname -r), $(ver cc --version), libuv $UV_V
* netmcu $("$NETMCU" -v 2>&1 | head -n 1), $(ver lua5.3 -v)
* luv $LUV_V; $COPAS_V
* Node.js $(node --version); $(wrk -v 2>&1 | head -n 1 | cut -d' ' -f1-2)

## Results (best of the samples)

EOF
  cat "$TABLE"
  cat <<EOF

## netmcu / peer, from the same run

For CPU, latency and memory lower is better; for rates higher is better.

EOF
  cat "$RATIOS"
  cat <<EOF

## Targets

EOF
  cat "$TARGETS"
  cat <<EOF

## What made netmcu fast

See the "Performance" section of docs/INTERNALS.md for the design choices
(one shared read buffer, callbacks in the user value, no per-connection
timer) and the changes made from profiling.

Raw data of this run: \`$RES\` (every round), \`$OUT/wrk-*.txt\`.
EOF
} >"$DOC"
echo
echo "bench: wrote $DOC and $PNG in ${ELAPSED} s"
