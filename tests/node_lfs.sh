#!/bin/sh
# tests/node_lfs.sh - node.LFS from --lfs DIR (tests/device/lfs.lua), then
# node.LFS.reload() of a directory in the root: the device restarts with
# it as its LFS, and keeps it across a later restart.
cd "$(dirname "$0")/.." || exit 2
. tests/lib/tap.sh
NM=${NETMCU:-build/netmcu}
repo=$PWD
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/root/newlfs" "$tmp/lfs"
printf 'local who = ...\nreturn "hello " .. who\n' >"$tmp/lfs/greet.lua"
printf 'LFS_INIT_RAN = true\n' >"$tmp/lfs/_init.lua"
printf 'return "lua"\n' >"$tmp/lfs/twice.lua"
printf 'return = 1\n' >"$tmp/lfs/broken.lua"
printf 'not a module' >"$tmp/lfs/notes.txt"
printf 'local f = io.open(arg[1], "wb") f:write(string.dump((loadstring or load)("return \"lc\""))) f:close()' >"$tmp/dump.lua"
"$NM" "$tmp/dump.lua" "$tmp/lfs/twice.lc"
printf 'return "new"\n' >"$tmp/root/newlfs/fresh.lua"

"$NM" --fs "$tmp/root" --lfs "$tmp/lfs" tests/device/lfs.lua "$repo" >"$tmp/out"
rc=$?
grep -v '^1\.\.[0-9]' "$tmp/out"
n=$(grep -cE '^(not )?ok ' "$tmp/out")
[ "$rc" -eq 0 ] && grep -q '^1\.\.[0-9]' "$tmp/out" || nok "tests/device/lfs.lua ran to its end (status $rc)"

cat >"$tmp/reload.lua" <<'L'
local _, reason = node.bootreason()
print(reason, table.concat(node.LFS.list() or {"none"}, ","))
if reason == 0 then node.LFS.reload("newlfs")
elseif reason == 4 and not RESTARTED then node.dsleep(1000)
end
L
out=$(timeout 10 "$NM" --fs "$tmp/root" --lfs "$tmp/lfs" "$tmp/reload.lua" | tr '\n' '|')
check "reload: a restart (reason 4) with the new LFS, kept across a deep sleep (5)" \
  [ "$out" = "$(printf '0\t_init,broken,greet,twice|4\tfresh|5\tfresh|')" ]
out=$("$NM" -e 'print(node.LFS.list(), node.LFS.get("greet"), node.LFS.config.lfs_size)')
check "without --lfs: no LFS (nil, nil, size 0)" [ "$out" = "$(printf 'nil\tnil\t0')" ]
plan
