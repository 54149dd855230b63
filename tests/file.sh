#!/bin/sh
# tests/file.sh - the file module (tests/device/file.lua) in a root of its
# own (--fs), beside a directory it must not reach, with the links and the
# FIFO of the sandbox cases; then file.format() without --fs.
cd "$(dirname "$0")/.." || exit 2
. tests/lib/tap.sh
NETMCU=${NETMCU:-build/netmcu}
repo=$PWD
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/root/inner" "$tmp/root/deep" "$tmp/outside" "$tmp/cwd"
printf 'secret' >"$tmp/outside/secret.txt"
printf 'inside' >"$tmp/root/inner/target.txt"
ln -s "$tmp/outside/secret.txt" "$tmp/root/abs_link"
ln -s ../outside/secret.txt "$tmp/root/rel_link"
ln -s ../outside "$tmp/root/dir_link"
ln -s ../.. "$tmp/root/deep/up"
ln -s inner/target.txt "$tmp/root/in_link"
ln -s inner "$tmp/root/in_dir"
ln -s loop_b "$tmp/root/loop_a"
ln -s loop_a "$tmp/root/loop_b"
mkfifo "$tmp/root/fifo"
run_lua() { # a Lua test's TAP, its plan left for ours
  "$NETMCU" "$@" >"$tmp/out"
  rc=$?
  grep -v '^1\.\.[0-9]' "$tmp/out"
  n=$(grep -cE '^(not )?ok ' "$tmp/out")
  [ "$rc" -eq 0 ] && grep -q '^1\.\.[0-9]' "$tmp/out" || nok "$1 ran to its end (status $rc)"
}
run_lua --fs "$tmp/root" tests/device/file.lua "$repo" "$tmp"
out=$(cd "$tmp/cwd" && "$repo/$NETMCU" -e 'print(pcall(file.format))' 2>&1)
case $out in
  *"false"*"file.format"*"--fs"*) ok "format without --fs raises an error that says so" ;;
  *) nok "format without --fs raises an error that says so" "got: $out" ;;
esac
out=$("$NETMCU" --fs "$tmp/nonexistent" -e 'print(1)' 2>&1)
case $out in
  *"--fs"*"nonexistent"*) ok "--fs with a missing directory: an error naming it" ;;
  *) nok "--fs with a missing directory: an error naming it" "got: $out" ;;
esac
out=$("$NETMCU" --fs="$tmp/root" -e 'print(file.getcontents("after.txt"))' 2>&1)
check "--fs=DIR works as --fs DIR" [ "$out" = "ok" ]
"$NETMCU" -e 'print(1)' --fs >/dev/null 2>"$tmp/err"
check "--fs without a value: exit 1, message" [ $? -eq 1 ] && grep -q "'--fs' needs an argument" "$tmp/err"
plan
