#!/bin/sh
# scripts/check.sh - every test: the suite on the Lua 5.3 build, on the
# ASan+UBSan build (with the API fuzzer's longer budget), and on Lua 5.1,
# 5.4 and LuaJIT builds; one closing "N passed, N failed" line for all.
#   LUAS="5.1 5.4 luajit"   the other Lua versions (set to "" to skip)
#   NETMCU_FUZZ_SECONDS     fuzzer budget of the sanitized run (CI: 120)
#   NETMCU_BIG_SEND         1: the 4 GiB send of tests/faults_api.lua in the
#                           normal and the sanitized run (CI: 1; about a
#                           minute each and 6 GiB of memory, else it skips)
cd "$(dirname "$0")/.." || exit 2
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
runs=0
run() {
  echo "==== make $*"
  runs=$((runs + 1))
  make --no-print-directory "$@" 2>&1 | tee -a "$log"
}
if [ -n "${CI:-}" ]; then
  fuzz=${NETMCU_FUZZ_SECONDS:-120} big=${NETMCU_BIG_SEND:-1}
else
  fuzz=${NETMCU_FUZZ_SECONDS:-} big=${NETMCU_BIG_SEND:-}
fi
run test NETMCU_BIG_SEND="$big"
run test-asan NETMCU_FUZZ_SECONDS="$fuzz" NETMCU_BIG_SEND="$big"
for v in ${LUAS-5.1 5.4 luajit}; do
  run test LUA="$v" BUILD="build-$v"
done
total() { sed -n "s/^\([0-9]*\) passed, \([0-9]*\) failed, \([0-9]*\) skipped.*/\\$1/p" "$log" | awk '{s+=$1} END {print s+0}'; }
p=$(total 1) f=$(total 2) k=$(total 3)
done_runs=$(grep -c '^[0-9]* passed, [0-9]* failed' "$log")
if [ "$done_runs" -ne "$runs" ]; then
  echo "$((runs - done_runs)) of $runs suite runs did not finish"
  f=$((f + runs - done_runs))
fi
[ "$f" -eq 0 ] || status=1
echo "$p passed, $f failed, $k skipped"
exit $status
