#!/bin/sh
# tests/lib/mosquitto.sh CMD [ARGS...] - runs CMD beside a private Debian
# mosquitto on 127.0.0.1 and stops it (by pid) afterwards, whatever
# happens.  CMD sees:
#   MQTT_PORT       a listener for anonymous clients
#   MQTT_AUTH_PORT  a listener that takes only user "nm" with password "secret"
#                   (a password file made by mosquitto_passwd)
#   MQTT_TLS_PORT   a TLS listener, its certificate (CN localhost, IP
#                   127.0.0.1) signed by a test CA made here with openssl
#   MQTT_CA         that CA's certificate (PEM)
#   MQTT_DEAD_PORT  a port nobody listens on
#   MQTT_DIR        a scratch directory
#   NETMCU_RESOLV_CONF  DNS to 127.0.0.1 only, where nothing answers
# Without mosquitto, mosquitto_passwd or openssl it prints a TAP skip plan.
set -u
for t in mosquitto mosquitto_passwd mosquitto_pub mosquitto_sub openssl perl; do
  if ! command -v "$t" >/dev/null 2>&1 && [ ! -x "/usr/sbin/$t" ]; then
    echo "1..0 # SKIP $t not found (Debian packages mosquitto, mosquitto-clients, openssl, perl)"
    exit 0
  fi
done
mosquitto=$(command -v mosquitto || echo /usr/sbin/mosquitto)
dir=$(mktemp -d)
chmod 755 "$dir"
mpid=""
cleanup() {
  [ -n "$mpid" ] && kill "$mpid" 2>/dev/null && wait "$mpid" 2>/dev/null
  rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM

free_port() {
  perl -MIO::Socket::INET -e 'print IO::Socket::INET->new(Listen => 1, LocalAddr => "127.0.0.1:0")->sockport'
}

# The test CA and the broker's certificate.
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=netmcu test CA" \
  -keyout "$dir/ca.key" -out "$dir/ca.pem" >/dev/null 2>&1 &&
openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" \
  -keyout "$dir/server.key" -out "$dir/server.csr" >/dev/null 2>&1 &&
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >"$dir/san.ext" &&
openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" \
  -CAcreateserial -days 2 -extfile "$dir/san.ext" -out "$dir/server.pem" >/dev/null 2>&1 ||
  { echo "Bail out! openssl could not make the test CA"; exit 1; }
mosquitto_passwd -b -c "$dir/passwd" nm secret >/dev/null 2>&1 ||
  { echo "Bail out! mosquitto_passwd failed"; exit 1; }
chmod 644 "$dir"/*

# Ports are picked, then bound by mosquitto: another process may take one
# in between, so a failed start is retried with new ones.
for _ in 1 2 3 4 5; do
  p1=$(free_port) p2=$(free_port) p3=$(free_port)
  cat >"$dir/mosquitto.conf" <<CONF
per_listener_settings true
user $(id -un)
persistence false
log_dest stderr
log_type error
log_type warning
log_type notice
log_type information
listener $p1 127.0.0.1
allow_anonymous true
listener $p2 127.0.0.1
allow_anonymous false
password_file $dir/passwd
listener $p3 127.0.0.1
allow_anonymous true
cafile $dir/ca.pem
certfile $dir/server.pem
keyfile $dir/server.key
CONF
  : >"$dir/mosquitto.log"
  "$mosquitto" -c "$dir/mosquitto.conf" >"$dir/mosquitto.log" 2>&1 &
  mpid=$!
  i=0
  while [ $i -lt 200 ] && kill -0 "$mpid" 2>/dev/null && ! grep -q "running" "$dir/mosquitto.log"; do
    sleep 0.05; i=$((i + 1))
  done
  grep -q "running" "$dir/mosquitto.log" && break
  kill "$mpid" 2>/dev/null; wait "$mpid" 2>/dev/null; mpid=""
done
if [ -z "$mpid" ]; then
  echo "Bail out! mosquitto did not start:"
  sed 's/^/# /' "$dir/mosquitto.log"
  exit 1
fi
printf 'nameserver 127.0.0.1\n' >"$dir/resolv.conf"
export MQTT_PORT="$p1" MQTT_AUTH_PORT="$p2" MQTT_TLS_PORT="$p3" MQTT_CA="$dir/ca.pem"
export MQTT_DEAD_PORT="$(free_port)" MQTT_DIR="$dir" NETMCU_RESOLV_CONF="$dir/resolv.conf"
"$@"
