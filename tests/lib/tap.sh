# tests/lib/tap.sh - TAP helpers for shell tests (sourced).
n=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
nok() { n=$((n + 1)); echo "not ok $n - $1"; [ -n "${2:-}" ] && printf '%s\n' "$2" | sed 's/^/#   /'; }
# check NAME COMMAND...: ok if the command succeeds
check() { name=$1; shift; if "$@"; then ok "$name"; else nok "$name"; fi; }
skip() { n=$((n + 1)); echo "ok $n - $1 # SKIP $2"; }
plan() { echo "1..$n"; }
# wait_for FILE PATTERN SECONDS: until a line of FILE matches, bounded
wait_for() {
  i=0
  while [ $i -lt $(($3 * 20)) ]; do
    grep -q "$2" "$1" 2>/dev/null && return 0
    sleep 0.05; i=$((i + 1))
  done
  return 1
}
# wait_exit PID SECONDS: until the process ended, bounded; status in $status
wait_exit() {
  i=0
  while kill -0 "$1" 2>/dev/null; do
    [ $i -ge $(($2 * 20)) ] && return 1
    sleep 0.05; i=$((i + 1))
  done
  wait "$1"; status=$?
  return 0
}
