#!/bin/sh
# The UDP and DNS examples as real programs: a discovery responder answering
# a broadcast, a multicast listener in a network namespace, and a client
# that fetches a page by host name through a real DNS server.
cd "$(dirname "$0")/.." || exit 2
. tests/lib/tap.sh
NM=${NETMCU:-build/netmcu}
case $NM in /*) ;; *) NM=$PWD/$NM ;; esac
tmp=$(mktemp -d)
ns=nmX$$
pids=""
trap 'for p in $pids; do kill -9 $p 2>/dev/null; done; ip netns del $ns 2>/dev/null; rm -rf "$tmp"' EXIT

# ---- discovery responder: broadcast on loopback (127.255.255.255) ----
$NM examples/udp_discovery.lua lamp-1 0 >"$tmp/disc" 2>&1 &
pids="$pids $!"
if wait_for "$tmp/disc" 'on udp port [0-9]*$' 10; then
  port=$(sed -n 's/.*on udp port //p' "$tmp/disc")
  out=$(timeout 10 $NM -e "
    local u = net.createUDPSocket()
    u:on('receive', function(s, d, p, ip) print(d .. ' from ' .. ip); s:close() end)
    u:send($port, '127.255.255.255', 'DISCOVER')" 2>&1)
  check "a broadcast DISCOVER gets a unicast HERE reply" \
    [ -n "$(echo "$out" | grep '^HERE lamp-1 [0-9.]* from 127.0.0.1$')" ] || echo "# $out"
else
  nok "discovery responder starts" "$(cat "$tmp/disc")"
fi

# ---- multicast listener: a namespace whose loopback carries multicast ----
if [ "$(id -u)" -eq 0 ] && ip netns add $ns 2>/dev/null; then
  ip -n $ns link set lo up multicast on
  ip -n $ns route add 224.0.0.0/4 dev lo
  ip netns exec $ns $NM examples/multicast_listener.lua 239.255.42.42 4242 2 >"$tmp/mc" 2>&1 &
  mpid=$!
  pids="$pids $mpid"
  if wait_for "$tmp/mc" '^listening to' 10; then
    out=$(timeout 10 ip netns exec $ns $NM -e "
      local u = net.createUDPSocket()
      u:on('receive', function(s, d) print('reply ' .. d); s:close() end)
      u:send(4242, '239.255.42.42', 'hello group', function(s)
        s:send(4242, '239.255.42.42', 'PING')
      end)" 2>&1)
    check "the group's datagrams reach the listener, PING gets PONG" [ "$out" = "reply PONG" ] || echo "# $out"
    if wait_exit $mpid 5; then
      check "listener left the group and ended after 2 datagrams" [ "$status" -eq 0 ]
      check "it printed both with their sender" [ "$(grep -c ' says ' "$tmp/mc")" -eq 2 ]
    else
      nok "listener ended after 2 datagrams" "$(cat "$tmp/mc")"
    fi
  else
    nok "multicast listener starts" "$(cat "$tmp/mc")"
  fi
else
  skip "multicast listener" "needs root and ip netns"
  skip "multicast listener ends" "needs root and ip netns"
  skip "multicast listener output" "needs root and ip netns"
fi

# ---- http_get by host name through dnsmasq (tests/lib/dnsmasq.sh) ----
$NM examples/http_server.lua 0 >"$tmp/http" 2>&1 &
pids="$pids $!"
if wait_for "$tmp/http" '^netmcu demo: http://127.0.0.1:[0-9]*/$' 10; then
  hport=$(sed -n 's/.*127.0.0.1:\([0-9]*\)\/$/\1/p' "$tmp/http")
  out=$(sh tests/lib/dnsmasq.sh sh -c \
    "timeout 15 $NM examples/http_get.lua http://loop.test:$hport/hello 127.0.0.1:\$NETMCU_DNS_PORT" 2>&1)
  case $out in
    "1..0 # SKIP"*) skip "http_get by name" "${out#1..0 # SKIP }" ;;
    *) check "http_get resolves loop.test, fetches the page" \
         [ "$out" = "$(printf '# loop.test is 127.0.0.1\n# status 200\nhello')" ] || echo "$out" | sed 's/^/#   /' ;;
  esac
  out=$(sh tests/lib/dnsmasq.sh sh -c \
    "timeout 15 $NM examples/http_get.lua http://nowhere.test:$hport/ 127.0.0.1:\$NETMCU_DNS_PORT" 2>&1)
  case $out in
    "1..0 # SKIP"*) skip "http_get unknown name" "no dnsmasq" ;;
    *) check "an unknown name reports dns nil then -4" \
         [ "$out" = "$(printf '# nowhere.test is unknown\n# failed: -4')" ] || echo "$out" | sed 's/^/#   /' ;;
  esac
else
  nok "demo server starts" "$(cat "$tmp/http")"
fi
plan
