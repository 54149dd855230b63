#!/bin/sh
# bench/mqtt.sh - the mqtt module against MQTT.js (npm `mqtt` on Node.js)
# and libmosquitto's mosquitto_pub / mosquitto_sub, through one Debian
# mosquitto on loopback, in interleaved rounds (make bench-mqtt).
#   QoS 0 publish: PUB_N messages of 100 bytes, until the last one was
#     handed to the kernel (netmcu: its `puback`; Node: its publish callback;
#     mosquitto_pub -l: until it exits, having written them and DISCONNECT);
#     PUB_N is large (50 MiB of messages) so that the kernel's socket
#     buffers hold a small part and the rate is the broker's intake
#   QoS 0 receive: a persistent session's backlog of N messages (queued by
#     the broker while the client was away), from connect to the N-th
#   QoS 0 receive, client alone: the same N messages from a stand-in broker
#     (bench/peers/mqtt_blast.pl) that writes them as fast as they are read
#     (mosquitto writes one packet per system call, and a client that reads
#     faster than that waits, and wakes, for each few: see PERFORMANCE-mqtt.md)
#   QoS 1 round trips: publish, wait for the PUBACK, publish the next
# Cores: with 2 cores or more the broker (and the stand-in broker) runs on
# one core and every client, publisher and subscriber on another, the same
# for every peer (PIN=0: unpinned).  Unpinned, the scheduler wakes a client
# on the broker's core, and a client that sleeps and wakes often (netmcu,
# mosquitto_sub) preempts the broker at every wake-up: in one measured
# 100 000-message receive the broker was switched out involuntarily 28 000
# times with netmcu as the client, 123 times with MQTT.js.  Pinned, each
# side has its own core, as a broker and its clients have on a network.
# Environment: PUB_N (default 500000), N (100000), RTT_N (20000), ROUNDS (7),
# WORKLOADS ("pub recv direct rtt"), PIN (1), BROKER_CPU (0), CLIENT_CPU (1),
# OUT (docs/PERFORMANCE-mqtt.md).  Writes the table there and prints it.
set -u
cd "$(dirname "$0")/.." || exit 2
NETMCU=${NETMCU:-build/netmcu}
PUB_N=${PUB_N:-500000} N=${N:-100000} RTT_N=${RTT_N:-20000} ROUNDS=${ROUNDS:-7}
OUT=${OUT:-docs/PERFORMANCE-mqtt.md}
WORKLOADS=${WORKLOADS:-pub recv direct rtt} PIN=${PIN:-1}
BROKER_CPU=${BROKER_CPU:-0} CLIENT_CPU=${CLIENT_CPU:-1}
if [ "$PIN" = 1 ] && [ "$(nproc)" -ge 2 ] && command -v taskset >/dev/null 2>&1; then
  on_broker="taskset -c $BROKER_CPU" on_client="taskset -c $CLIENT_CPU"
  pinning="broker on core $BROKER_CPU, every client on core $CLIENT_CPU (taskset)"
else
  on_broker="" on_client="" pinning="unpinned"
fi
for t in mosquitto mosquitto_pub mosquitto_sub node npm perl; do
  command -v "$t" >/dev/null 2>&1 || [ -x "/usr/sbin/$t" ] ||
    { echo "bench/mqtt.sh: $t not found (scripts/setup.sh bench)"; exit 1; }
done
mosquitto=$(command -v mosquitto || echo /usr/sbin/mosquitto)
[ -x "$NETMCU" ] || { echo "bench/mqtt.sh: no $NETMCU (make)"; exit 1; }

# MQTT.js, installed by npm into a directory of the build at bench time.
js=build/bench-node
if [ ! -f "$js/node_modules/mqtt/package.json" ]; then
  mkdir -p "$js"
  (cd "$js" && npm install --no-audit --no-fund --silent mqtt@5) ||
    { echo "bench/mqtt.sh: npm install mqtt failed"; exit 1; }
fi
export MQTT_JS="$PWD/$js/node_modules/mqtt"
jsver=$(node -e 'console.log(require(process.env.MQTT_JS + "/package.json").version)')

dir=$(mktemp -d)
mpid="" bpid=""
cleanup() {
  [ -n "$mpid" ] && kill "$mpid" 2>/dev/null && wait "$mpid" 2>/dev/null
  [ -n "$bpid" ] && kill "$bpid" 2>/dev/null && wait "$bpid" 2>/dev/null
  rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
port=$(perl -MIO::Socket::INET -e 'print IO::Socket::INET->new(Listen => 1, LocalAddr => "127.0.0.1:0")->sockport')
cat >"$dir/mosquitto.conf" <<CONF
user $(id -un)
persistence false
log_dest stderr
log_type error
log_type information
listener $port 127.0.0.1
allow_anonymous true
max_queued_messages 0
max_queued_bytes 0
queue_qos0_messages true
CONF
$on_broker "$mosquitto" -c "$dir/mosquitto.conf" >"$dir/mosquitto.log" 2>&1 &
mpid=$!
i=0
while [ $i -lt 200 ] && ! grep -q running "$dir/mosquitto.log"; do sleep 0.05; i=$((i + 1)); done
grep -q running "$dir/mosquitto.log" || { echo "mosquitto did not start"; cat "$dir/mosquitto.log"; exit 1; }
export MQTT_PORT=$port
$on_broker perl bench/peers/mqtt_blast.pl "$dir/bport" "$N" &
bpid=$!
i=0
while [ $i -lt 200 ] && [ ! -s "$dir/bport" ]; do sleep 0.05; i=$((i + 1)); done
bport=$(cat "$dir/bport")
perl -e "for (1..$PUB_N) { print 'p' x 100, \"\\n\" }" >"$dir/lines"

# Runs a command on the clients' core, prints its wall time in seconds.
wall() { $on_client perl -MTime::HiRes=time -e '$t = time; system(@ARGV) == 0 or exit 1; printf "%.6f\n", time - $t' "$@"; }
# Every client, publisher and subscriber runs on the clients' core.
NETMCU="$on_client $NETMCU" NODE="$on_client node"
# "count seconds" -> messages per second
rate() { awk '{ if ($2 > 0) printf "%.0f\n", $1 / $2; else print 0 }'; }

run_pub() { # impl round
  t=bench/pub/$1/$2
  case $1 in
    netmcu) TOPIC=$t N=$PUB_N $NETMCU bench/netmcu/mqtt.lua pub | rate ;;
    node) TOPIC=$t N=$PUB_N $NODE bench/peers/mqtt_node.js pub | rate ;;
    mosquitto) s=$(wall sh -c "mosquitto_pub -h 127.0.0.1 -p $port -t $t -l < $dir/lines") &&
      echo "$PUB_N $s" | rate ;;
  esac
}

run_recv() { # impl round
  t=bench/recv/$1/$2 id=bench-recv-$1-$2
  case $1 in
    netmcu) TOPIC=$t CLIENT_ID=$id $NETMCU bench/netmcu/mqtt.lua prep ;;
    node) TOPIC=$t CLIENT_ID=$id N=0 $NODE bench/peers/mqtt_node.js prep ;;
    mosquitto) $on_client mosquitto_sub -h 127.0.0.1 -p "$port" -i "$id" -c -q 0 -t "$t" -E ;;
  esac
  # the backlog, from a publisher whose speed is not measured here
  TOPIC=$t N=$N $NETMCU bench/netmcu/mqtt.lua pub >/dev/null
  case $1 in
    netmcu) TOPIC=$t CLIENT_ID=$id N=$N $NETMCU bench/netmcu/mqtt.lua recv | rate ;;
    node) TOPIC=$t CLIENT_ID=$id N=$N $NODE bench/peers/mqtt_node.js recv | rate ;;
    mosquitto) s=$(wall sh -c "mosquitto_sub -h 127.0.0.1 -p $port -i $id -c -q 0 -t $t -C $N >/dev/null") &&
      echo "$N $s" | rate ;;
  esac
}

run_direct() { # impl: receive from the stand-in broker
  case $1 in
    netmcu) MQTT_PORT=$bport TOPIC=x CLIENT_ID=direct N=$N $NETMCU bench/netmcu/mqtt.lua recv | rate ;;
    node) MQTT_PORT=$bport TOPIC=x CLIENT_ID=direct N=$N $NODE bench/peers/mqtt_node.js recv | rate ;;
    mosquitto) s=$(wall sh -c "mosquitto_sub -h 127.0.0.1 -p $bport -t x -C $N >/dev/null") &&
      echo "$N $s" | rate ;;
  esac
}

run_rtt() { # impl round
  t=bench/rtt/$1/$2
  case $1 in
    netmcu) TOPIC=$t N=$RTT_N $NETMCU bench/netmcu/mqtt.lua rtt | rate ;;
    node) TOPIC=$t N=$RTT_N $NODE bench/peers/mqtt_node.js rtt | rate ;;
  esac
}

res=$dir/results
: >"$res"
r=1
while [ $r -le "$ROUNDS" ]; do
  for impl in netmcu node mosquitto; do
    for w in $WORKLOADS; do
      case $w in
        pub) v=$(run_pub $impl $r) ;;
        recv) v=$(run_recv $impl $r) ;;
        direct) v=$(run_direct $impl) ;;
        rtt) [ $impl = mosquitto ] && continue; v=$(run_rtt $impl $r) ;;
      esac
      echo "$w $impl $v" >>"$res"
      echo "round $r: $w $impl $v" >&2
    done
  done
  echo "round $r of $ROUNDS done" >&2
  r=$((r + 1))
done

# best and median per workload and implementation
stat() { # workload impl best|median
  grep "^$1 $2 " "$res" | awk '{print $3}' | sort -n |
    awk -v w="$3" '{ v[NR] = $1 } END { if (NR == 0) { print 0; exit }
      if (w == "best") print v[NR]; else print v[int((NR + 1) / 2)] }'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }

{
  echo "# mqtt performance"
  echo
  echo "\`make bench-mqtt\` (bench/mqtt.sh): netmcu's mqtt module against MQTT.js $jsver"
  echo "(npm \`mqtt\` on Node.js $(node --version)) and libmosquitto's command line clients"
  echo "($(mosquitto_pub --help 2>/dev/null | grep -m1 version | sed "s/ running on /, /; s/\.$//")), all through one Debian"
  echo "$("$mosquitto" -h 2>/dev/null | head -1 | sed 's/ is an MQTT.*//') on loopback; $ROUNDS interleaved rounds, messages per second,"
  echo "best and median of the rounds.  Payloads of 100 bytes; $PUB_N messages published,"
  echo "$N received, $RTT_N QoS 1 round trips per run."
  echo "Machine: $(nproc) cores, $(uname -sr); $pinning."
  echo
  echo "| workload | netmcu best | netmcu median | Node best | Node median | mosquitto_* best | mosquitto_* median | netmcu/Node (best, median) | netmcu/mosquitto_* (best, median) |"
  echo "|---|---|---|---|---|---|---|---|---|"
  for w in $WORKLOADS; do
    case $w in
      pub) name="QoS 0 publish" ;; recv) name="QoS 0 receive" ;;
      direct) name="QoS 0 receive, client alone" ;; rtt) name="QoS 1 round trips" ;;
    esac
    nb=$(stat $w netmcu best) nm=$(stat $w netmcu median)
    jb=$(stat $w node best) jm=$(stat $w node median)
    mb=$(stat $w mosquitto best) mm=$(stat $w mosquitto median)
    if [ $w = rtt ]; then mcol="- | -"; mr="-"; else mcol="$mb | $mm"; mr="$(ratio "$nb" "$mb"), $(ratio "$nm" "$mm")"; fi
    echo "| $name | $nb | $nm | $jb | $jm | $mcol | $(ratio "$nb" "$jb"), $(ratio "$nm" "$jm") | $mr |"
  done
  echo
  echo "Targets: QoS 0 publish and receive >= 1.0x Node and >= 0.7x mosquitto_*;"
  echo "QoS 1 round trips >= 1.0x Node."
  cat bench/mqtt_notes.md
} >"$OUT"
cat "$OUT"
