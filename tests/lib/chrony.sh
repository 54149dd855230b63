#!/bin/sh
# tests/lib/chrony.sh CMD [ARGS...] - runs CMD beside a real NTP server on
# 127.0.0.1 and stops it afterwards, whatever happens.  CMD sees:
#   NETMCU_NTP_PORT   chronyd (Debian chrony) serving its own clock
#                     (`local stratum 8`) on 127.0.0.1 only; -x: it never
#                     sets the host clock; no command socket
#   NETMCU_NTP_SKIP   instead, why there is no server (CMD skips those tests)
#   NETMCU_TEST_DIR   a scratch directory
set -u
chronyd=${CHRONYD:-/usr/sbin/chronyd}
dir=$(mktemp -d)
cpid=""
cleanup() {
  [ -n "$cpid" ] && kill "$cpid" 2>/dev/null && wait "$cpid" 2>/dev/null
  rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM

free_port() {
  perl -MIO::Socket::INET -e '
    my $u = IO::Socket::INET->new(LocalAddr => "127.0.0.1", LocalPort => 0, Proto => "udp")
      or exit 1;
    print $u->sockport, "\n";'
}

# Waits (at most 10 s) until chronyd's UDP port is bound, or it died.
wait_bound() {
  i=0
  while [ $i -lt 200 ]; do
    perl -MIO::Socket::INET -e '
      IO::Socket::INET->new(LocalAddr => "127.0.0.1", LocalPort => $ARGV[0], Proto => "udp")
        and exit 1; exit 0;' "$1" && return 0
    kill -0 "$2" 2>/dev/null || return 1
    sleep 0.05
    i=$((i + 1))
  done
  return 1
}

port="" skip=""
if [ ! -x "$chronyd" ]; then
  skip="$chronyd not found (Debian package chrony)"
elif ! command -v perl >/dev/null 2>&1; then
  skip="perl not found (Debian package perl-base)"
else
  # Another process may take the port between the check and the bind:
  # a failed start is retried on another one.
  for _ in 1 2 3 4 5; do
    p=$(free_port) || continue
    cat >"$dir/chrony.conf" <<EOF
port $p
bindaddress 127.0.0.1
allow 127.0.0.1
local stratum 8
cmdport 0
bindcmdaddress /
pidfile $dir/chronyd.pid
driftfile $dir/chrony.drift
EOF
    # -d: foreground, -x: never touch the host clock, -U -u: run as we are.
    "$chronyd" -d -x -U -u "$(id -un)" -f "$dir/chrony.conf" >"$dir/chronyd.log" 2>&1 &
    pid=$!
    if wait_bound "$p" "$pid"; then
      cpid=$pid port=$p
      break
    fi
    kill "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
  done
  [ -z "$port" ] && skip="chronyd did not start: $(tail -n 3 "$dir/chronyd.log" | tr '\n' ' ')"
fi

if [ -n "$port" ]; then
  export NETMCU_NTP_PORT="$port"
else
  export NETMCU_NTP_SKIP="$skip"
fi
export NETMCU_TEST_DIR="$dir"
"$@"
