#!/bin/sh
# make install / uninstall with PREFIX and DESTDIR put the runtime, the
# module and the man page where they belong, and take them away again.
. tests/lib/tap.sh
LUA=${NETMCU_LUA:-lua5.3}
if [ -n "${NETMCU_SANITIZED:-}" ]; then
  echo "1..0 # SKIP installs the normal build; checked in the normal run"; exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
abi=$($LUA -e 'print((_VERSION:gsub("Lua ", "")))' 2>/dev/null)
[ "$LUA" = luajit ] && abi=5.1
lua_opt=$(case $LUA in luajit) echo luajit;; *) echo "$abi";; esac)
make -s install BUILD="$(dirname "${NETMCU:-build/netmcu}")" LUA="$lua_opt" PREFIX=/opt/nm DESTDIR="$tmp/dest" >"$tmp/log" 2>&1
check "make install succeeds" [ $? -eq 0 ]
root="$tmp/dest/opt/nm"
check "runtime installed" [ -x "$root/bin/netmcu" ]
check "module installed under lib/lua/$abi" [ -f "$root/lib/lua/$abi/net.so" -a -e "$root/lib/lua/$abi/tmr.so" ]
check "man page installed" [ -f "$root/share/man/man1/netmcu.1" ]
out=$(LUA_CPATH="$root/lib/lua/$abi/?.so" $LUA -e 'local n = require "net"; local t = require "tmr"; print(n.TCP, t.ALARM_AUTO)' 2>&1)
check "installed module loads in stock $LUA" [ "$out" = "$(printf '1\t2')" ]
check "installed runtime runs" [ "$("$root/bin/netmcu" -e 'print(net.UDP)')" = 2 ]
make -s uninstall BUILD="$(dirname "${NETMCU:-build/netmcu}")" LUA="$lua_opt" PREFIX=/opt/nm DESTDIR="$tmp/dest" >>"$tmp/log" 2>&1
check "make uninstall removes every file" [ -z "$(find "$tmp/dest" -type f -o -type l)" ]
plan
