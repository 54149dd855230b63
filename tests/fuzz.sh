#!/bin/sh
# tests/fuzz.sh - the API fuzzer (tests/fuzz/fuzz.lua) as a suite file.
#   NETMCU_FUZZ_SECONDS  budget (default 20; the ASan CI job uses ~120;
#                        tests/run.sh kills a file after 300 s)
#   NETMCU_FUZZ_SEED     seed (default: time-based, printed in the output)
#   NETMCU_FUZZ_NETNS=0  do not use a private network namespace
# As root, with `ip netns`, the fuzzer runs in a fresh network namespace
# that only has loopback; otherwise on the host, where it still only ever
# sends to 127.0.0.0/8 (see fuzz.lua).  DNS goes to 127.0.0.1 only.
cd "$(dirname "$0")/.." || exit 2
NETMCU=${NETMCU:-build/netmcu}
case $NETMCU in /*) ;; *) NETMCU=$PWD/$NETMCU ;; esac
secs=${NETMCU_FUZZ_SECONDS:-20}
tmp=$(mktemp -d)
ns=""
cleanup() {
  [ -n "$ns" ] && ip netns del "$ns" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

printf 'nameserver 127.0.0.1\n' >"$tmp/resolv.conf"
# file calls only inside a root of their own; a canary outside it, named
# every way the sandbox must refuse, must come through unchanged
mkdir -p "$tmp/root" "$tmp/outside"
printf 'canary' >"$tmp/outside/canary.txt"
ln -s "$tmp/outside/canary.txt" "$tmp/root/link_out"
export NETMCU_FUZZ_FSROOT="$tmp/root" NETMCU_FUZZ_CANARY="$tmp/outside/canary.txt" NETMCU_FUZZ_REPO="$PWD"
export NETMCU_RESOLV_CONF="$tmp/resolv.conf"
wrap=""
if [ "${NETMCU_FUZZ_NETNS:-1}" != 0 ] && [ "$(id -u)" -eq 0 ] && command -v ip >/dev/null 2>&1 &&
  ip netns add "nmfuzz$$" 2>/dev/null; then
  ns=nmfuzz$$
  ip -n "$ns" link set lo up
  wrap="ip netns exec $ns"
  export NETMCU_FUZZ_NETNS=1
else
  export NETMCU_FUZZ_NETNS=0
fi

# A budget that must end: the run, the final close (linger is 10 s), slack.
limit=$((${secs%.*} + 90))
start=$(date +%s)
# the gpio pins are driven from outside, at random, while it runs
perl -MIO::Socket::UNIX -e '
  my ($path, $seed) = @ARGV; srand($seed); my $s;
  for (1 .. 200) { last if $s = IO::Socket::UNIX->new(Peer => $path); select(undef, undef, undef, 0.05) }
  exit 0 unless $s;
  $SIG{PIPE} = "IGNORE"; $s->blocking(0);
  while (1) {
    my $out = join "", map { "set " . int(rand(13)) . " " . int(rand(2)) . "\n" } 1 .. 20;
    last unless defined syswrite($s, $out) || $!{EAGAIN};
    my $n = sysread($s, my $junk, 65536);
    last if defined $n && $n == 0;
    select(undef, undef, undef, 0.01);
  }' "$tmp/gpio.sock" "${NETMCU_FUZZ_SEED:-1}" &
driver=$!
timeout -k 5 "$limit" $wrap "$NETMCU" --fs "$tmp/root" --gpio "$tmp/gpio.sock" tests/fuzz/fuzz.lua >"$tmp/out" </dev/null
rc=$?
end=$(date +%s)
kill "$driver" 2>/dev/null
wait "$driver" 2>/dev/null
grep -v '^1\.\.[0-9]' "$tmp/out"
n=$(grep -cE '^(not )?ok ' "$tmp/out")
planned=$(grep -c '^1\.\.[0-9]' "$tmp/out")
n=$((n + 1))
if [ "$rc" -eq 0 ] && [ "$planned" -eq 1 ]; then
  echo "ok $n - the fuzzer ran to its end and the loop ended by itself ($((end - start)) s)"
else
  echo "not ok $n - the fuzzer exited with status $rc (plan printed: $planned); reproduce with the seed above"
fi
echo "1..$n"
