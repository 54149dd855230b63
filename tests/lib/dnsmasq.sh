#!/bin/sh
# tests/lib/dnsmasq.sh CMD [ARGS...] - runs CMD in a private DNS world on
# 127.0.0.1 and tears it down afterwards, whatever happens.  CMD sees:
#   NETMCU_DNS_PORT     a dnsmasq (Debian dnsmasq-base) answering
#                         known.test -> 198.18.0.7, loop.test -> 127.0.0.1,
#                         any other *.test -> NXDOMAIN; nothing is forwarded
#   NETMCU_SILENT_PORT  a UDP port that receives and never replies (perl,
#                         from Debian's essential perl-base)
#   NETMCU_DEAD_PORT    a UDP port nobody listens on (answers with ICMP)
#   NETMCU_RESOLV_CONF  a resolv.conf naming loopback servers only
#   NETMCU_TEST_DIR     a scratch directory
# Without dnsmasq or perl it prints a TAP skip plan and exits 0.
set -u
dnsmasq=${DNSMASQ:-/usr/sbin/dnsmasq}
if [ ! -x "$dnsmasq" ]; then
  echo "1..0 # SKIP $dnsmasq not found (Debian package dnsmasq-base)"
  exit 0
fi
if ! command -v perl >/dev/null 2>&1; then
  echo "1..0 # SKIP perl not found (Debian package perl-base)"
  exit 0
fi

dir=$(mktemp -d)
pids=""
cleanup() {
  for p in $pids; do kill "$p" 2>/dev/null; done
  for p in $pids; do wait "$p" 2>/dev/null; done
  rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM

# Waits (at most 10 s) until file contains pattern or process pid is gone.
wait_for() {
  i=0
  while [ $i -lt 200 ]; do
    grep -q "$2" "$1" 2>/dev/null && return 0
    kill -0 "$3" 2>/dev/null || return 1
    sleep 0.05
    i=$((i + 1))
  done
  return 1
}

# A UDP port on 127.0.0.1 that is free for UDP and TCP (dnsmasq binds both).
free_port() {
  perl -MIO::Socket::INET -e '
    for (1..50) {
      my $u = IO::Socket::INET->new(LocalAddr => "127.0.0.1", LocalPort => 0,
                                    Proto => "udp") or next;
      my $p = $u->sockport;
      my $t = IO::Socket::INET->new(LocalAddr => "127.0.0.1", LocalPort => $p,
                                    Proto => "tcp", Listen => 1) or next;
      print "$p\n"; exit 0;
    }
    exit 1;'
}

# The silent server: binds, prints its port, then swallows every datagram.
perl -MIO::Socket::INET -e '
  my $s = IO::Socket::INET->new(LocalAddr => "127.0.0.1", LocalPort => 0,
                                Proto => "udp") or die "silent server: $!\n";
  $| = 1; print $s->sockport, "\n";
  my $buf; 1 while defined $s->recv($buf, 65535);' >"$dir/silent" &
spid=$!
pids="$pids $spid"
wait_for "$dir/silent" '^[0-9]' "$spid" || { echo "Bail out! silent UDP server did not start"; exit 1; }
silent=$(head -n 1 "$dir/silent")

# dnsmasq on a free port; another process may take the port between the
# check and the bind, so a failed start is retried on another one.
port=""
for _ in 1 2 3 4 5; do
  p=$(free_port) || continue
  : >"$dir/dnsmasq.log"
  "$dnsmasq" --keep-in-foreground --conf-file=/dev/null --no-resolv --no-hosts \
    --listen-address=127.0.0.1 --bind-interfaces --port="$p" --user="$(id -un)" \
    --local=/test/ --address=/known.test/198.18.0.7 --address=/loop.test/127.0.0.1 \
    --pid-file="$dir/dnsmasq.pid" --log-facility="$dir/dnsmasq.log" 2>>"$dir/dnsmasq.err" &
  dpid=$!
  if wait_for "$dir/dnsmasq.log" 'started' "$dpid"; then
    pids="$pids $dpid"
    port=$p
    break
  fi
  kill "$dpid" 2>/dev/null
  wait "$dpid" 2>/dev/null
done
if [ -z "$port" ]; then
  echo "Bail out! dnsmasq did not start:"
  sed 's/^/# /' "$dir/dnsmasq.err" "$dir/dnsmasq.log"
  exit 1
fi

dead=$(free_port) || { echo "Bail out! no free port"; exit 1; }

# resolv.conf as the C library reads it; the IPv6 server must be skipped.
cat >"$dir/resolv.conf" <<EOF
# netmcu test resolv.conf
search example.invalid
options timeout:30 attempts:5
nameserver ::1
nameserver 127.0.0.2
  nameserver	127.0.0.3
nameserver 127.0.0.4
EOF

export NETMCU_DNS_PORT="$port" NETMCU_SILENT_PORT="$silent" NETMCU_DEAD_PORT="$dead"
export NETMCU_RESOLV_CONF="$dir/resolv.conf" NETMCU_TEST_DIR="$dir"
"$@"
