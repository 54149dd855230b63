#!/bin/sh
# tests/apps_net.sh - networked NodeMCU programs (tests/apps/<name>/, each
# a flash directory with its init.lua), run unmodified against real
# servers on loopback: chronyd (tests/lib/chrony.sh), mosquitto
# (tests/lib/mosquitto.sh, plus a broker of our own that the test
# restarts), a Python HTTP server (tests/apps/http_api.py) and the
# WebSocket server of tests/websocket/server.pl.  Each program gets a copy
# of its directory with a config.json for this run; the assertions are on
# what the servers and clients see and on the files the program leaves on
# its flash.
cd "$(dirname "$0")/.." || exit 2
if [ -z "${APPS_NET_INNER:-}" ]; then
  APPS_NET_INNER=1 exec sh tests/lib/chrony.sh sh tests/lib/mosquitto.sh sh tests/apps_net.sh
fi
. tests/lib/tap.sh
NM=${NETMCU:-build/netmcu}
mosquitto=$(command -v mosquitto || echo /usr/sbin/mosquitto)
tmp=$(mktemp -d)
pids=""
cleanup() {
  for p in $pids; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# wait_count FILE PATTERN N SECONDS: until N lines of FILE match, bounded
wait_count() {
  i=0
  while [ $i -lt $(($4 * 20)) ]; do
    [ "$(grep -c "$2" "$1" 2>/dev/null)" -ge "$3" ] && return 0
    sleep 0.05; i=$((i + 1))
  done
  return 1
}
# stop PID: SIGTERM, then its exit status in $status (bounded)
stop() {
  kill -TERM "$1" 2>/dev/null
  wait_exit "$1" 10 || { kill -9 "$1" 2>/dev/null; status=999; }
  pids=$(echo "$pids" | sed "s/\b$1\b//")
}
# json FILE-OR-STRING EXPR: a perl expression over the decoded JSON in $j
json() {
  printf '%s' "$1" | perl -MJSON::PP -e 'local $/; my $j = decode_json(<STDIN>); my $r = eval $ARGV[0]; die $@ if $@; print defined $r ? $r : "undef"' "$2"
}
# run_app NAME DIR: starts the program of flash DIR; its pid in $app
run_app() {
  "$NM" --wifi lo --fs "$2" "$2/init.lua" >"$tmp/$1.out" 2>"$tmp/$1.err" </dev/null &
  app=$!
  pids="$pids $app"
}
show() { sed 's/^/# /' "$@"; }

# ---- our own broker (passwords from mosquitto.sh), to restart it ----
bport=$(perl -MIO::Socket::INET -e 'print IO::Socket::INET->new(Listen => 1, LocalAddr => "127.0.0.1:0")->sockport')
cat >"$tmp/broker.conf" <<CONF
user $(id -un)
persistence false
log_dest stderr
log_type all
listener $bport 127.0.0.1
allow_anonymous false
password_file $MQTT_DIR/passwd
CONF
start_broker() {
  : >"$tmp/broker.log"
  "$mosquitto" -c "$tmp/broker.conf" >"$tmp/broker.log" 2>&1 &
  bpid=$!
  pids="$pids $bpid"
  wait_for "$tmp/broker.log" running 10
}
sub() { # sub FILE TOPIC [PORT [ARGS]]: mosquitto_sub -v in the background; pid in $spid
  mosquitto_sub -h 127.0.0.1 -p "${3:-$bport}" ${4:-} -v -q 1 -t "$2" >"$1" 2>&1 &
  spid=$!
  pids="$pids $spid"
}

# ==== (a) an MQTT sensor node: wifi, sntp, mqtt with lwt, gpio, a file ====
if [ -n "${NETMCU_NTP_SKIP:-}" ]; then ntp="127.0.0.1:$MQTT_DEAD_PORT"; else ntp="127.0.0.1:$NETMCU_NTP_PORT"; fi
fs="$tmp/sensor"
cp -r tests/apps/mqtt_sensor "$fs"
cat >"$fs/config.json" <<JSON
{"wifi": {"ssid": "TestNet", "pwd": "testpass1"}, "ntp": "$ntp",
 "mqtt": {"host": "127.0.0.1", "port": $bport, "client_id": "node1",
          "user": "nm", "password": "secret", "topic": "test/node1",
          "keepalive": 10, "retry_ms": 200},
 "relay_pin": 4, "interval_ms": 300, "boot_delay_ms": 100}
JSON
echo 1 >"$fs/relay.state"
start_broker
check "our broker started" grep -q running "$tmp/broker.log"
sub "$tmp/sub1" 'test/node1/#' "" "-u nm -P secret"
run_app sensor "$fs"
sensor=$app
wait_for "$tmp/sub1" '^test/node1/data ' 15
check "sensor: online, with its last will, after wifi and sntp" grep -qx 'test/node1/status online' "$tmp/sub1"
check "sensor: the relay state saved on flash (ON) restored and published" grep -qx 'test/node1/relay ON' "$tmp/sub1"
data=$(sed -n 's/^test\/node1\/data //p' "$tmp/sub1" | head -1)
check "sensor: a JSON reading from the node" [ "$(json "$data" '$j->{id} . " " . $j->{seq} . " " . $j->{relay}')" = "node1 1 1" ]
if [ -n "${NETMCU_NTP_SKIP:-}" ]; then
  skip "sensor: the reading's timestamp from sntp" "$NETMCU_NTP_SKIP"
else
  now=$(date +%s)
  check "sensor: its timestamp set by sntp from chronyd, and epoch2cal's calendar of it" \
    [ "$(json "$data" "abs(\$j->{ts} - $now) < 60 && \$j->{time} eq do { my @t = gmtime(\$j->{ts}); sprintf('%04d-%02d-%02dT%02d:%02d:%02dZ', \$t[5]+1900, \$t[4]+1, @t[3,2,1,0]) } ? 1 : 0")" = 1 ]
fi
wait_count "$tmp/sub1" '^test/node1/data ' 3 10
check "sensor: readings keep coming on the timer" [ "$(grep -c '^test/node1/data ' "$tmp/sub1")" -ge 3 ]
mosquitto_pub -h 127.0.0.1 -p "$bport" -u nm -P secret -q 1 -t test/node1/cmd -m OFF
wait_for "$tmp/sub1" '^test/node1/relay OFF' 10
check "sensor: command OFF switched the relay and it says so" grep -qx 'test/node1/relay OFF' "$tmp/sub1"
check "... and saved the state on flash" [ "$(cat "$fs/relay.state")" = 0 ]

# The broker goes away and comes back on the same port.
stop "$bpid"
wait_for "$tmp/sensor.out" 'mqtt: offline' 10
check "sensor: saw the broker go (offline)" grep -q 'mqtt: offline' "$tmp/sensor.out"
stop "$spid"
start_broker
sub "$tmp/sub2" 'test/node1/#' "" "-u nm -P secret"
wait_for "$tmp/sub2" '^test/node1/status online' 15
check "sensor: reconnected to the restarted broker" grep -qx 'test/node1/status online' "$tmp/sub2"
wait_for "$tmp/sub2" '^test/node1/relay OFF' 10
mosquitto_pub -h 127.0.0.1 -p "$bport" -u nm -P secret -q 1 -t test/node1/cmd -m TOGGLE
wait_for "$tmp/sub2" '^test/node1/relay ON' 10
check "sensor: subscribed again: TOGGLE after the restart switched the relay on" grep -qx 'test/node1/relay ON' "$tmp/sub2"
check "... saved on flash" [ "$(cat "$fs/relay.state")" = 1 ]
stop "$sensor"
wait_for "$tmp/sub2" '^test/node1/status offline' 10
check "sensor: killed, its last will (offline) published by the broker" grep -qx 'test/node1/status offline' "$tmp/sub2"
check "sensor: stopped by SIGTERM" [ "$status" -eq 143 ]
[ -s "$tmp/sensor.err" ] && show "$tmp/sensor.err"

# ==== (e) the same node over TLS (mqtts), the CA from a file on flash ====
fs="$tmp/sensor_tls"
cp -r tests/apps/mqtt_sensor "$fs"
cp "$MQTT_CA" "$fs/ca.pem"
cat >"$fs/config.json" <<JSON
{"wifi": {"ssid": "TestNet", "pwd": "testpass1"}, "ntp": "$ntp",
 "mqtt": {"host": "127.0.0.1", "port": $MQTT_TLS_PORT, "tls": true, "ca_file": "ca.pem",
          "client_id": "node2", "topic": "test/node2", "keepalive": 10, "retry_ms": 200},
 "relay_pin": 2, "interval_ms": 300, "boot_delay_ms": 100}
JSON
sub "$tmp/sub3" 'test/node2/#' "$MQTT_PORT"
run_app sensor_tls "$fs"
sensor=$app
wait_for "$tmp/sub3" '^test/node2/data ' 15
check "mqtts: online and publishing through the TLS listener, the broker verified against ca.pem" \
  sh -c "grep -qx 'test/node2/status online' '$tmp/sub3' && grep -qx 'test/node2/relay OFF' '$tmp/sub3'"
mosquitto_pub -h 127.0.0.1 -p "$MQTT_PORT" -q 1 -t test/node2/cmd -m ON
wait_for "$tmp/sub3" '^test/node2/relay ON' 10
check "mqtts: a command through TLS switched the relay" [ "$(cat "$fs/relay.state" 2>/dev/null)" = 1 ]
stop "$sensor"
# A CA that did not sign the broker's certificate: refused, retried, logged.
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=other CA" \
  -keyout "$tmp/other.key" -out "$fs/ca.pem" >/dev/null 2>&1
run_app sensor_badca "$fs"
sensor=$app
wait_count "$tmp/sensor_badca.out" 'mqtt: connect failed' 2 15
check "mqtts: with the wrong CA the connection fails and the node keeps retrying" \
  [ "$(grep -c 'mqtt: connect failed' "$tmp/sensor_badca.out")" -ge 2 ]
stop "$sensor"
[ -s "$tmp/sensor_tls.err" ] && show "$tmp/sensor_tls.err"

# ==== (b) an HTTP JSON client: settings, update over the air, signed reports ====
if ! command -v python3 >/dev/null 2>&1; then
  skip "logger: the HTTP JSON client" "python3 not found (Debian package python3)"
else
fs="$tmp/logger"
mkdir "$tmp/api"
cp -r tests/apps/http_client "$fs"
python3 tests/apps/http_api.py "$tmp/api" "$tmp/api.log" >"$tmp/api.port" 2>"$tmp/api.err" &
api=$!
pids="$pids $api"
wait_for "$tmp/api.port" '^[0-9]' 10
cat >"$fs/settings.lua" <<LUA
SSID = "TestNet"
PASSWORD = "testpass1"
API = "http://127.0.0.1:$(head -1 "$tmp/api.port")"
DEVICE = "logger-7"
API_USER = "logger-7"
API_PASS = "pw-7"
SIGN_KEY = "k-7"
LUA
printf '{"interval": 100, "samples": 3, "reports": 2, "update": "fix-2.lua"}' >"$tmp/api/config.json"
cat >"$tmp/api/fix-2.lua" <<'LUA'
-- fix-2.lua: an update the API hands out; it records its version
file.putcontents("version.txt", "2")
print("fix 2 applied")
LUA
run_app logger "$fs"
logger=$app
if wait_exit "$logger" 20; then
  check "logger: ran its course and ended by itself (status 0)" [ "$status" -eq 0 ]
else
  nok "logger: still running after 20 s" "$(cat "$tmp/logger.out" "$tmp/logger.err")"
  stop "$logger"
fi
check "logger: node.compile'd its files at boot and ran app.lc" [ -f "$fs/app.lc" ]
check "logger: settings fetched with basic auth" grep -q '^config /config?device=logger-7$' "$tmp/api.log"
check "logger: the update downloaded, compiled to .lc, source removed, run" \
  sh -c "[ \"\$(cat '$fs/version.txt')\" = 2 ] && [ -f '$fs/fix-2.lc' ] && [ ! -e '$fs/fix-2.lua' ]"
check "logger: two reports whose HMAC-SHA256, SHA-1 and struct/base64 samples the server verified" \
  [ "$(grep -c '^report [12] ok logger-7 3 samples' "$tmp/api.log")" -eq 2 ]
check "logger: nothing refused" [ "$(grep -c -v '^report [12] ok\|^config \|^file ' "$tmp/api.log")" -eq 0 ]
check "logger: the last answer kept on flash" [ "$(json "$(cat "$fs/last_report.json")" '$j->{id}')" = 2 ]
# A wrong signing key: the server refuses, the program says so.
sed -i 's/^SIGN_KEY = .*/SIGN_KEY = "wrong"/' "$fs/settings.lua"
printf '{"interval": 100, "samples": 1, "reports": 1, "update": null}' >"$tmp/api/config.json"
run_app logger2 "$fs"
wait_for "$tmp/logger2.out" 'report refused' 20
check "logger: with a wrong key, HTTP 403 from the server reaches the program" grep -q '^report refused: 403' "$tmp/logger2.out"
stop "$app"
[ -s "$tmp/logger.err" ] && show "$tmp/logger.err"
[ -s "$tmp/api.err" ] && show "$tmp/api.err"
fi

# ==== (c) a web server: pages from flash and a JSON API, driven by curl ====
fs="$tmp/thermo"
cp -r tests/apps/web_thermostat "$fs"
cat >"$fs/config.lua" <<'LUA'
return {ssid = "TestNet", pwd = "testpass1", port = 0, heater_pin = 5, default_setpoint = 20}
LUA
head -c 20000 /dev/urandom | base64 >"$fs/history.txt"
run_app thermo "$fs"
thermo=$app
wait_for "$tmp/thermo.out" '^thermostat at ' 10
base=$(sed -n 's|^thermostat at \(http://127.0.0.1:[0-9]*\)/$|\1|p' "$tmp/thermo.out")
check "web: listening on the station's address" [ -n "$base" ]
curl -s --max-time 10 "$base/" >"$tmp/index.got"
check "web: GET / is index.html from flash" cmp -s "$tmp/index.got" "$fs/index.html"
ctype=$(curl -s --max-time 10 -o "$tmp/style.got" -w '%{content_type}' "$base/style.css")
check "web: style.css as text/css" sh -c "[ '$ctype' = text/css ] && cmp -s '$tmp/style.got' '$fs/style.css'"
curl -s --max-time 10 -o "$tmp/history.got" "$base/history.txt"
check "web: a 27 kB file in 512-byte sends arrives whole" cmp -s "$tmp/history.got" "$fs/history.txt"
st=$(curl -s --max-time 10 "$base/api/status")
check "web: GET /api/status: JSON with the default set point and the station's IP" \
  [ "$(json "$st" '$j->{setpoint} . " " . $j->{ip}')" = "20 127.0.0.1" ]
st=$(curl -s --max-time 10 -H 'Content-Type: application/json' -d '{"setpoint": 23.5}' "$base/api/setpoint")
check "web: POST /api/setpoint 23.5: accepted, heater on" [ "$(json "$st" '$j->{setpoint} . " " . ($j->{heater} ? "on" : "off")')" = "23.5 on" ]
check "web: ... and kept in settings.json on flash" [ "$(json "$(cat "$fs/settings.json")" '$j->{setpoint}')" = 23.5 ]
code=$(curl -s --max-time 10 -o "$tmp/bad.got" -w '%{http_code}' -d '{"setpoint": "hot"}' "$base/api/setpoint")
check "web: a bad set point: 400 with a JSON error" sh -c "[ $code = 400 ] && grep -q 'from 5 to 30' '$tmp/bad.got'"
# Headers and body in two writes: the program waits for Content-Length.
body='{"setpoint": 19}'
perl -MIO::Socket::INET -e '
  my ($port, $body) = @ARGV;
  my $s = IO::Socket::INET->new("127.0.0.1:$port") or die $!; $s->autoflush(1);
  print $s "POST /api/setpoint HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: " . length($body) . "\r\n\r\n";
  print $s $body; local $/; my $a = <$s>; $a =~ s/^.*?\r\n\r\n//s; print $a;' "${base##*:}" "$body" >"$tmp/split.got"
check "web: headers and body written separately: the body is awaited" [ "$(json "$(cat "$tmp/split.got")" '$j->{setpoint}')" = 19 ]
st=$(curl -s --max-time 10 "$base/set?sp=21")
check "web: the form-style GET /set?sp=21" [ "$(json "$st" '$j->{setpoint}')" = 21 ]
for p in nothing.html config.lua settings.json ../config.lua; do
  code=$(curl -s --max-time 10 --path-as-is -o /dev/null -w '%{http_code}' "$base/$p")
  check "web: /$p: 404" [ "$code" = 404 ]
done
stop "$thermo"
run_app thermo2 "$fs"
wait_for "$tmp/thermo2.out" '^thermostat at ' 10
base=$(sed -n 's|^thermostat at \(http://127.0.0.1:[0-9]*\)/$|\1|p' "$tmp/thermo2.out")
check "web: restarted, the set point (21) read back from flash" [ "$(json "$(curl -s --max-time 10 "$base/api/status")" '$j->{setpoint}')" = 21 ]
stop "$app"
[ -s "$tmp/thermo.err" ] && show "$tmp/thermo.err"

# ==== (d) a serial-to-WebSocket bridge against tests/websocket/server.pl ====
perl tests/websocket/server.pl >"$tmp/ws.port" 2>"$tmp/ws.log" &
wsd=$!
pids="$pids $wsd"
wait_for "$tmp/ws.port" '^[0-9]' 10
wsport=$(head -1 "$tmp/ws.port")
fs="$tmp/bridge"
cp -r tests/apps/ws_bridge "$fs"
printf '{"ssid": "TestNet", "pwd": "testpass1", "url": "ws://127.0.0.1:%s/echo", "retry_ms": 200, "heartbeat_ms": 300}' \
  "$wsport" >"$fs/config.json"
mkfifo "$tmp/serial"
"$NM" --wifi lo --fs "$fs" "$fs/init.lua" <"$tmp/serial" >"$tmp/bridge.out" 2>"$tmp/bridge.err" &
bridge=$!
pids="$pids $bridge"
exec 4>"$tmp/serial"
wait_for "$tmp/bridge.out" '^ws: connected' 10
check "ws: connected once the station was up" grep -q '^ws: connected' "$tmp/bridge.out"
printf 'typed on the serial line\r\n' >&4
wait_for "$tmp/bridge.out" '^typed on the serial line$' 10
check "ws: a serial line went to the server and its echo came back to the serial line" \
  grep -qx 'typed on the serial line' "$tmp/bridge.out"
wait_for "$fs/received.log" '"heartbeat"' 10
check "ws: the hello (chip id, station IP) and heartbeats, as JSON, logged on flash" \
  [ "$(json "$(grep '"hello"' "$fs/received.log" | head -1)" '$j->{ip} . " " . ($j->{chip} =~ /^\d+$/ ? "id" : "none")')" = "127.0.0.1 id" ]
exec 4>&-
stop "$bridge"
# A server that closes every connection at once: the bridge keeps coming back.
printf '{"ssid": "TestNet", "pwd": "testpass1", "url": "ws://127.0.0.1:%s/close", "retry_ms": 100, "heartbeat_ms": 300}' \
  "$wsport" >"$fs/config.json"
run_app bridge2 "$fs"
wait_count "$tmp/bridge2.out" '^ws: connected' 3 10
check "ws: closed by the server, reconnected (3 connections)" [ "$(grep -c '^ws: connected' "$tmp/bridge2.out")" -ge 3 ]
check "ws: the status of a close frame from the server, -6 as on the firmware" grep -q '^ws: closed, status -6$' "$tmp/bridge2.out"
stop "$app"
[ -s "$tmp/bridge.err" ] && show "$tmp/bridge.err"

# ==== (f) an old-school node: legacy forms, mqtt, a UDP discovery responder ====
fs="$tmp/classic"
cp -r tests/apps/classic_node "$fs"
uport=$(perl -MIO::Socket::INET -e 'print IO::Socket::INET->new(LocalAddr => "127.0.0.1:0", Proto => "udp")->sockport')
cat >"$fs/config.lua" <<LUA
SSID = "TestNet"
PASSWORD = "testpass1"
BROKER = "127.0.0.1"
BRPORT = $MQTT_PORT
BRUSER = ""
BRPWD = ""
CLIENTID = "ESP8266-" .. node.chipid()
REPORT_MS = 300
DISCOVERY_PORT = $uport
LUA
id="ESP8266-$("$NM" -e 'print(node.chipid())')"
sub "$tmp/sub4" "/$id/#" "$MQTT_PORT"
sub "$tmp/sub5" "/lwt" "$MQTT_PORT"
run_app classic "$fs"
classic=$app
wait_for "$tmp/sub4" "^/$id/status up" 15
check "classic: static timers, wifi.sta.config(ssid, pwd), then main.lua connected and subscribed" \
  grep -q "^/$id/status up [0-9]" "$tmp/sub4"
wait_for "$tmp/sub4" "^/$id/uptime [0-9]" 10
check "classic: a number published as the payload" grep -q "^/$id/uptime [0-9][0-9]*$" "$tmp/sub4"
mosquitto_pub -h 127.0.0.1 -p "$MQTT_PORT" -t "/$id/ping" -m "are you there"
mosquitto_pub -h 127.0.0.1 -p "$MQTT_PORT" -q 1 -t /all/report -m now
wait_for "$tmp/sub4" "^/$id/heap " 10
check "classic: both subscriptions of the table answered (ping -> pong, report -> heap)" \
  sh -c "grep -qx '/$id/pong are you there' '$tmp/sub4' && grep -q '^/$id/heap [0-9][0-9]*$' '$tmp/sub4'"
answer=$(perl -MIO::Socket::INET -e '
  my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$ARGV[0]", Proto => "udp") or die $!;
  $s->send("DISCOVER netmcu-test"); my $r = "";
  my $rin = ""; vec($rin, fileno($s), 1) = 1;
  select($rin, undef, undef, 5) and $s->recv($r, 512); print $r;' "$uport")
check "classic: the UDP responder answers DISCOVER" [ "$answer" = "$id 127.0.0.1 127.0.0.1" ]
check "classic: each legacy form warned about once, on standard error" \
  sh -c "[ \$(grep -c 'tmr.alarm(id, ...) is a legacy form' '$tmp/classic.err') -ge 1 ] && grep -q 'wifi.sta.config(ssid, pwd' '$tmp/classic.err'"
stop "$classic"
wait_for "$tmp/sub5" "^/lwt $id offline" 10
check "classic: killed, its last will published" grep -qx "/lwt $id offline" "$tmp/sub5"
"$NM" --strict --wifi lo --fs "$fs" "$fs/init.lua" >"$tmp/strict.out" 2>&1 </dev/null
check "classic: with --strict it stops where current firmware would (exit 1, the firmware's error)" \
  sh -c "[ $? -eq 1 ] && grep -q 'config table not found' '$tmp/strict.out'"

plan
