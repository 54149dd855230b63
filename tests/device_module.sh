#!/bin/sh
# tests/device_module.sh - file, node, uart and gpio from a stock Lua
# interpreter: require gives each, on the loop of net; the root
# is the current directory; what needs the runtime says so.
cd "$(dirname "$0")/.." || exit 2
. tests/lib/tap.sh
LUA=${NETMCU_LUA:-lua5.3}
CPATH=${NETMCU_CPATH:-build/?.so}
if [ -n "${NETMCU_SANITIZED:-}" ]; then
  echo "1..0 # SKIP a sanitized module cannot load into a stock interpreter"
  exit 0
fi
if ! command -v "$LUA" >/dev/null; then
  echo "1..0 # SKIP no $LUA interpreter"
  exit 0
fi
repo=$PWD
CPATH=$(echo "$CPATH" | sed "s|^\([^/]\)|$repo/\1|")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cat >"$tmp/mods.lua" <<'L'
local net, file, node = require "net", require "file", require "node"
local uart, gpio, tmr = require "uart", require "gpio", require "tmr"
assert(file.putcontents("here.txt", "in the current directory"))
print(file.getcontents("here.txt"), file.exists("here.txt"))
gpio.mode(1, gpio.OUTPUT) gpio.write(1, 1) print(gpio.read(1))
uart.write(0, "uart\n")
local got = {}
node.output(function(s) got[#got + 1] = s end, 0)
print("redirected")
node.input("=1+1\n")
tmr.create():alarm(20, tmr.ALARM_SINGLE, function()
  node.output()
  print(table.concat(got):gsub("\n", "|"))
  print(pcall(node.dsleep, 1000))
  print(pcall(node.LFS.reload, "here.txt"))
end)
net.run()
L
out=$(cd "$tmp" && LUA_CPATH="$CPATH" timeout 10 "$LUA" mods.lua 2>&1)
want=$(printf 'in the current directory\ttrue\n1\nuart\nredirected|2|> \t2\nfalse\tnode.dsleep needs the netmcu runtime\ntrue\there.txt: netmcu loads LFS from a directory of Lua modules')
check "require file, node, uart, gpio from stock $LUA: one loop, the root is the current directory" \
  [ "$out" = "$want" ] || printf '%s\n' "$out" | sed 's/^/#   /'
plan
