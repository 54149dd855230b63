#!/bin/sh
# tests/netns_udp.sh - UDP between hosts (docs/UDP.md): net.ifinfo, multicast,
# broadcast and TTL, with netmcu processes in network namespaces joined by
# veth pairs.  Needs root and `ip netns`; otherwise the file is skipped.
#
#   B (198.18.1.2) --- A (198.18.1.1 | 198.18.2.1) --- R (router) --- C (198.18.3.1)
#
# A's default route goes to B; A reaches C through R (ip_forward=1).
# Only addresses of 198.18.0.0/15 inside these namespaces are used.
cd "$(dirname "$0")/.." || exit 2
NETMCU=${NETMCU:-build/netmcu}
case $NETMCU in /*) ;; *) NETMCU=$PWD/$NETMCU ;; esac

A=nmA$$ B=nmB$$ R=nmR$$ C=nmC$$
skip() { echo "1..0 # SKIP $1"; exit 0; }
[ "$(id -u)" -eq 0 ] || skip "needs root for network namespaces"
command -v ip >/dev/null 2>&1 || skip "no ip command (iproute2)"
ip netns add "$A" 2>/dev/null || skip "cannot create network namespaces"

tmp=$(mktemp -d)
cleanup() {
  for ns in "$A" "$B" "$R" "$C"; do ip netns del "$ns" 2>/dev/null; done
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

n=0 failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
nok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $1"; [ -n "${2:-}" ] && echo "$2" | sed 's/^/#   /'; }
# check NAME GOT WANT
check() { if [ "$2" = "$3" ]; then ok "$1"; else nok "$1" "got:  [$2]
want: [$3]"; fi; }
# has NAME FILE LINE: FILE contains exactly LINE
has() { if grep -qxF "$3" "$2"; then ok "$1"; else nok "$1" "no line [$3] in: $(cat "$2")"; fi; }
hasnt() { if grep -qxF "$3" "$2"; then nok "$1" "unexpected line [$3]"; else ok "$1"; fi; }
die() { echo "Bail out! $1"; exit 1; }

# run NS SECONDS ARGS...: netmcu in NS, bounded in time
run() { ns=$1 t=$2; shift 2; timeout -k 2 "$t" ip netns exec "$ns" "$NETMCU" "$@"; }
# wait_line FILE PATTERN: the first line matching PATTERN, within 10 s
wait_line() {
  i=0
  while [ $i -lt 100 ]; do
    l=$(grep -m1 "$2" "$1" 2>/dev/null) && { echo "$l"; return 0; }
    sleep 0.1; i=$((i + 1))
  done
  return 1
}

# ---- topology ----
set -e
for ns in "$B" "$R" "$C"; do ip netns add "$ns"; done
ip -n "$A" link set lo up
ip -n "$B" link set lo up
ip -n "$C" link set lo up
# a2 is created before a1, so a1 (the default route's) has the higher index.
ip -n "$A" link add a2 address 02:00:00:00:02:01 type veth peer name r2 netns "$R"
ip -n "$A" link add a1 address 02:00:00:00:01:01 type veth peer name b1 netns "$B"
ip -n "$R" link add r3 type veth peer name c3 netns "$C"
ip -n "$B" link set b1 address 02:00:00:00:01:02
ip -n "$A" addr add 198.18.1.1/24 brd + dev a1
ip -n "$A" addr add 198.18.2.1/24 brd + dev a2
ip -n "$B" addr add 198.18.1.2/24 brd + dev b1
ip -n "$R" addr add 198.18.2.2/24 dev r2
ip -n "$R" addr add 198.18.3.2/24 dev r3
ip -n "$C" addr add 198.18.3.1/24 dev c3
for l in "$A a1" "$A a2" "$B b1" "$R r2" "$R r3" "$C c3"; do
  set -- $l; ip -n "$1" link set "$2" up
done
ip -n "$A" route add default via 198.18.1.2
ip -n "$A" route add 198.18.3.0/24 via 198.18.2.2
ip -n "$B" route add default via 198.18.1.1
ip -n "$C" route add default via 198.18.3.2
ip netns exec "$R" sysctl -qw net.ipv4.ip_forward=1
set +e

# ---- net.ifinfo ----
cat >"$tmp/ifinfo.lua" <<'EOF'
local function hex(s) return s and (s:gsub(".", function(c) return ("%02x"):format(c:byte()) end)) end
local function show(key, t)
  if not t then print(key .. " nil") return end
  print(("%s %s %s %s %s %s %s"):format(key, t.name, tostring(t.ip), tostring(t.netmask),
    tostring(t.gateway), hex(t.hwaddr), t.dhcp and "dhcp" or "-"))
  if t.dhcp then
    print(("%s dhcp %s %s %s"):format(key, tostring(t.dhcp.server_ip),
      tostring(t.dhcp.client_ip), tostring(t.dhcp.ntp_server)))
  end
end
for i = 0, 3 do show(tostring(i), net.ifinfo(i)) end
for _, name in ipairs(arg) do show(name, net.ifinfo(name)) end
EOF
run "$A" 10 "$tmp/ifinfo.lua" a2 nosuch >"$tmp/ifA" 2>&1
has "ifinfo(0) is the default route's interface, exactly as configured" "$tmp/ifA" \
  "0 a1 198.18.1.1 255.255.255.0 198.18.1.2 020000000101 -"
has "ifinfo(1) is the other interface with IPv4 (lower kernel index than a1)" "$tmp/ifA" \
  "1 a2 198.18.2.1 255.255.255.0 nil 020000000201 -"
has "ifinfo(2) is loopback, last" "$tmp/ifA" "2 lo 127.0.0.1 255.0.0.0 nil 000000000000 -"
has "ifinfo(3) is nil" "$tmp/ifA" "3 nil"
has "ifinfo('a2') by name" "$tmp/ifA" "a2 a2 198.18.2.1 255.255.255.0 nil 020000000201 -"
has "ifinfo of an unknown name is nil" "$tmp/ifA" "nosuch nil"
run "$B" 10 "$tmp/ifinfo.lua" >"$tmp/ifB" 2>&1
has "ifinfo(0) in B: its MAC set with ip link, gateway of its default route" "$tmp/ifB" \
  "0 b1 198.18.1.2 255.255.255.0 198.18.1.1 020000000102 -"
# R: no default route, loopback down (no IPv4 address).
run "$R" 10 "$tmp/ifinfo.lua" lo >"$tmp/ifR" 2>&1
idx2=$(ip netns exec "$R" cat /sys/class/net/r2/ifindex)
idx3=$(ip netns exec "$R" cat /sys/class/net/r3/ifindex)
first=r2 second=r3
[ "$idx2" -lt "$idx3" ] || { first=r3 second=r2; }
check "no default route: interfaces in kernel index order, no loopback without IPv4" \
  "$(cut -d' ' -f1,2 "$tmp/ifR" | head -4 | tr '\n' ' ')" "0 $first 1 $second 2 nil 3 nil "
has "a named interface without IPv4 gives name, hwaddr and no ip" "$tmp/ifR" \
  "lo lo nil nil nil 000000000000 -"

# DHCP leases, in a private mount namespace (ip netns exec makes one) so the
# host's /run and /var/lib stay untouched.
idx1=$(ip netns exec "$A" cat /sys/class/net/a1/ifindex)
idxb=$(ip netns exec "$B" cat /sys/class/net/b1/ifindex)
cat >"$tmp/leases.sh" <<EOF
mount -t tmpfs nmtest /run && mount -t tmpfs nmtest /var/lib || exit 3
mkdir -p /run/systemd/netif/leases /var/lib/dhcp
printf 'ADDRESS=198.18.1.1\nNETMASK=255.255.255.0\nSERVER_ADDRESS=198.18.1.2\nNTP=198.18.1.9 198.18.1.10\n' \
  >/run/systemd/netif/leases/$idx1
# a stale lease for another address must be ignored
printf 'ADDRESS=198.18.9.9\nSERVER_ADDRESS=198.18.9.1\n' >/run/systemd/netif/leases/$idxb
cat >/var/lib/dhcp/dhclient.a2.leases <<'L'
lease {
  interface "a2";
  fixed-address 198.18.2.77;
  option dhcp-server-identifier 198.18.2.254;
}
lease {
  interface "a2";
  fixed-address 198.18.2.1;
  option subnet-mask 255.255.255.0;
  option ntp-servers 198.18.2.7,198.18.2.8;
  option dhcp-server-identifier 198.18.2.2;
}
L
exec "\$@"
EOF
timeout -k 2 10 ip netns exec "$A" sh "$tmp/leases.sh" "$NETMCU" "$tmp/ifinfo.lua" >"$tmp/dhA" 2>&1
has "systemd-networkd lease gives dhcp server, client and first NTP server" "$tmp/dhA" \
  "0 dhcp 198.18.1.2 198.18.1.1 198.18.1.9"
has "dhclient lease (the latest block) gives the dhcp table" "$tmp/dhA" \
  "1 dhcp 198.18.2.2 198.18.2.1 198.18.2.7"
has "no dhcp table where no lease exists" "$tmp/dhA" \
  "2 lo 127.0.0.1 255.0.0.0 nil 000000000000 -"
timeout -k 2 10 ip netns exec "$B" sh "$tmp/leases.sh" "$NETMCU" "$tmp/ifinfo.lua" >"$tmp/dhB" 2>&1
has "a lease for another address is ignored" "$tmp/dhB" \
  "0 b1 198.18.1.2 255.255.255.0 198.18.1.1 020000000102 -"

# ---- multicast: membership is global, for sockets old and new ----
cat >"$tmp/mrecv.lua" <<'EOF'
local ifip, group = ...
local s1 = net.createUDPSocket()
s1:listen(0)                       -- created before the join
net.multicastJoin(ifip, group)
local s2 = net.createUDPSocket()
s2:listen(0)                       -- created after it
local got, phase = {}, 1
local function rec(tag)
  return function(u, d, port, ip)
    print("recv " .. tag .. " " .. d)
    got[tag .. d] = true
    if phase == 1 and got.s1group and got.s2group then
      phase = 2
      net.multicastLeave(ifip, group)
      u:send(port, ip, "left")     -- tell the sender to go on
    elseif phase == 2 and got.s1marker and got.s2marker then
      s1:close(); s2:close()
    end
  end
end
s1:on("receive", rec("s1"))
s2:on("receive", rec("s2"))
print("ports " .. s1:getaddr() .. " " .. s2:getaddr())
EOF
cat >"$tmp/msend.lua" <<'EOF'
local group, rip, p1, p2 = ...
p1, p2 = tonumber(p1), tonumber(p2)
local s = net.createUDPSocket()
s:on("receive", function(u, d)
  if d ~= "left" then return end
  -- after the leave: group datagrams, then unicast markers on the same path
  u:send(p1, group, "group2"); u:send(p2, group, "group2")
  u:send(p1, rip, "marker"); u:send(p2, rip, "marker")
  u:on("sent", function(x) x:close() end)
end)
s:send(p1, group, "group"); s:send(p2, group, "group")
EOF
mcast() { # mcast NAME IFIP: B receives, A sends to 239.1.2.3
  out="$tmp/mr_$2"
  run "$B" 15 "$tmp/mrecv.lua" "$2" 239.1.2.3 >"$out" 2>&1 &
  rpid=$!
  ports=$(wait_line "$out" '^ports ') || { nok "$1: receiver started" "$(cat "$out")"; wait $rpid; return; }
  set -- "$1" $ports
  run "$A" 15 "$tmp/msend.lua" 239.1.2.3 198.18.1.2 "$3" "$4" >"$tmp/ms_$2" 2>&1
  src=$?
  wait $rpid
  rrc=$?
  check "$1: sender and receiver exit 0" "$src $rrc" "0 0"
  has "$1: socket created before multicastJoin receives the group datagram" "$out" "recv s1 group"
  has "$1: socket created after multicastJoin receives the group datagram" "$out" "recv s2 group"
  has "$1: markers sent after the leave arrive" "$out" "recv s1 marker"
  has "$1: (both)" "$out" "recv s2 marker"
  hasnt "$1: after multicastLeave the old socket gets no group datagram" "$out" "recv s1 group2"
  hasnt "$1: after multicastLeave the new socket gets no group datagram" "$out" "recv s2 group2"
}
mcast "join any" any
mcast "join on 198.18.1.2" 198.18.1.2

# ---- broadcast to the subnet's broadcast address ----
cat >"$tmp/brecv.lua" <<'EOF'
local u = net.createUDPSocket()
u:listen(0)
u:on("receive", function(x, d, port, ip) print("recv " .. d .. " " .. ip); x:close() end)
print("port " .. u:getaddr())
EOF
run "$B" 10 "$tmp/brecv.lua" >"$tmp/br" 2>&1 &
rpid=$!
if p=$(wait_line "$tmp/br" '^port '); then
  run "$A" 10 -e "net.createUDPSocket():send(${p#port }, '198.18.1.255', 'bcast',
    function(u) u:close() end)" >"$tmp/bs" 2>&1
  check "broadcast send exits 0" "$?" 0
  wait $rpid
  has "a datagram to 198.18.1.255 reaches the other namespace" "$tmp/br" "recv bcast 198.18.1.1"
else
  wait $rpid; nok "broadcast receiver started" "$(cat "$tmp/br")"
fi

# ---- TTL across a router ----
cat >"$tmp/trecv.lua" <<'EOF'
local u = net.createUDPSocket()
u:listen(0)
u:on("receive", function(x, d)
  print("recv " .. d)
  if d == "default" then x:close() end
end)
print("port " .. u:getaddr())
EOF
cat >"$tmp/tsend.lua" <<'EOF'
local ip, port = ...
port = tonumber(port)
local s = net.createUDPSocket()
s:listen()
print("ttl " .. s:ttl(1))
s:send(port, ip, "ttl1", function(u)           -- dropped by the router
  print("ttl " .. u:ttl(2))
  u:send(port, ip, "ttl2", function(v)         -- forwarded once: arrives
    v:close()
    net.createUDPSocket():send(port, ip, "default", function(w) w:close() end) -- marker
  end)
end)
EOF
run "$C" 10 "$tmp/trecv.lua" >"$tmp/tr" 2>&1 &
rpid=$!
if p=$(wait_line "$tmp/tr" '^port '); then
  run "$A" 10 "$tmp/tsend.lua" 198.18.3.1 "${p#port }" >"$tmp/ts" 2>&1
  check "ttl sender exits 0" "$?" 0
  wait $rpid
  check "receiver got ttl2 then the default-TTL marker, not the ttl(1) datagram" \
    "$(grep '^recv' "$tmp/tr" | tr '\n' ' ')" "recv ttl2 recv default "
  has "ttl(1) returned 1" "$tmp/ts" "ttl 1"
else
  wait $rpid; nok "ttl receiver started" "$(cat "$tmp/tr")"
fi

# ---- sends the kernel cannot take at once ----
# A slow qdisc on a1 holds datagrams, so A's socket buffer fills and sends
# wait in libuv's queue (the referenced-string path): all must get `sent`,
# go out in order and arrive intact.
cat >"$tmp/qrecv.lua" <<'EOF'
local n = tonumber((...))
local u = net.createUDPSocket()
u:listen(0)
local count, inorder, intact, last = 0, true, true, 0
u:on("receive", function(x, d)
  local seq = tonumber(d:sub(1, 5))
  count = count + 1
  inorder = inorder and seq == last + 1
  intact = intact and #d == 60000 and d:sub(6) == ("x"):rep(59995)
  last = seq
  if seq == n then
    print(("got %d inorder=%s intact=%s"):format(count, tostring(inorder), tostring(intact)))
    x:close()
  end
end)
print("port " .. u:getaddr())
EOF
cat >"$tmp/qsend.lua" <<'EOF'
local ip, port, n = ...
port, n = tonumber(port), tonumber(n)
local s = net.createUDPSocket()
local sent = 0
s:on("sent", function(u)
  sent = sent + 1
  if sent == n then print("sent " .. sent); u:close() end
end)
for i = 1, n do s:send(port, ip, ("%05d"):format(i) .. ("x"):rep(59995)) end
collectgarbage() -- queued strings must be kept alive by the socket, not by us
print("sent synchronously " .. sent)
EOF
ip netns exec "$A" tc qdisc add dev a1 root tbf rate 20mbit burst 64kb limit 8mb 2>/dev/null
qn=60
run "$B" 20 "$tmp/qrecv.lua" $qn >"$tmp/qr" 2>&1 &
rpid=$!
if p=$(wait_line "$tmp/qr" '^port '); then
  run "$A" 20 "$tmp/qsend.lua" 198.18.1.2 "${p#port }" $qn >"$tmp/qs" 2>&1
  check "queued sender exits 0" "$?" 0
  wait $rpid
  has "none of $qn sent callbacks fired inside send" "$tmp/qs" "sent synchronously 0"
  has "$qn sends, $qn sent callbacks" "$tmp/qs" "sent $qn"
  has "all $qn datagrams arrive in order and intact" "$tmp/qr" "got $qn inorder=true intact=true"
else
  wait $rpid; nok "queue receiver started" "$(cat "$tmp/qr")"
fi

# ---- a send that fails raises and leaves the socket unbound ----
run "$R" 10 -e '
local u = net.createUDPSocket()
local ok, err = pcall(u.send, u, 9, "198.18.200.1", "x")
print(ok, (tostring(err):match("routing problem")), u:getaddr())' >"$tmp/unreach" 2>&1
has "send with no route raises 'routing problem'; the socket stays unbound" "$tmp/unreach" \
  "false	routing problem	nil	nil"

# The netmcu processes wrote their stderr to files here: pass sanitizer
# reports on to run.sh (which scans this script's stderr) and fail.
if grep -lE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$tmp"/* >"$tmp/san" 2>/dev/null; then
  nok "no sanitizer report from any netmcu process" "$(cat "$tmp/san")"
  while read -r f; do cat "$f" >&2; done <"$tmp/san"
else
  ok "no sanitizer report from any netmcu process"
fi

echo "1..$n"
[ "$failed" -eq 0 ]
