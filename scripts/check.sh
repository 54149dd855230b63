#!/bin/sh
# scripts/check.sh - the whole suite twice: on the normal build and on the
# ASan+UBSan build; prints one closing "N passed, N failed" line for both.
cd "$(dirname "$0")/.." || exit 2
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
for target in test test-asan; do
  echo "==== make $target"
  make --no-print-directory $target 2>&1 | tee -a "$log" || status=1
done
p=$(sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed.*/\1/p' "$log" | awk '{s+=$1} END {print s+0}')
f=$(sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed.*/\2/p' "$log" | awk '{s+=$1} END {print s+0}')
k=$(sed -n 's/.* failed, \([0-9]*\) skipped.*/\1/p' "$log" | awk '{s+=$1} END {print s+0}')
runs=$(grep -c '^[0-9]* passed, [0-9]* failed' "$log")
[ "$runs" -eq 2 ] || { echo "a suite run did not finish"; f=$((f + 1)); status=1; }
[ "$f" -eq 0 ] || status=1
echo "$p passed, $f failed, $k skipped"
exit $status
