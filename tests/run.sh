#!/bin/sh
# tests/run.sh - runs every test of the suite and prints TAP per file and a
# closing "N passed, N failed" line.  Environment:
#   NETMCU        the runtime under test (default build/netmcu)
#   NETMCU_LUA    a stock interpreter for the module tests (default lua5.3)
#   NETMCU_CPATH  LUA_CPATH for it (default build/?.so)
#   NETMCU_SANITIZED=1  the build is sanitized: skip what cannot preload it
#   NETMCU_SANLOG  directory where sanitizer reports are logged (any report
#                  fails the file that produced it)
#   TESTS         a space-separated subset (file names under tests/)
cd "$(dirname "$0")/.." || exit 2
export NETMCU="${NETMCU:-build/netmcu}"
export NETMCU_LUA="${NETMCU_LUA:-lua5.3}"
export NETMCU_CPATH="${NETMCU_CPATH:-build/?.so}"
[ -x "$NETMCU" ] || { echo "no runtime at $NETMCU: run make first"; exit 2; }

files=${TESTS:-$(cd tests && ls *.lua *.sh 2>/dev/null | grep -v '^run.sh$')}
passed=0 failed=0 skipped=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for f in $files; do
  case $f in
    *.lua) cmd="$NETMCU tests/$f" ;;
    *.sh) cmd="sh tests/$f" ;;
  esac
  echo "== $f"
  timeout -k 5 300 $cmd >"$tmp/out" 2>"$tmp/err"
  rc=$?
  cat "$tmp/out"
  ok=$(grep -c '^ok ' "$tmp/out")
  nok=$(grep -c '^not ok ' "$tmp/out")
  sk=$(grep -c '^ok .*# *SKIP' "$tmp/out")
  plan=$(grep -c '^1\.\.[0-9]' "$tmp/out")
  # Sanitizer reports and stray errors fail the file even if its tests passed.
  if grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$tmp/err"; then
    echo "not ok - $f: sanitizer report"; nok=$((nok + 1))
  fi
  if [ -n "${NETMCU_SANLOG:-}" ] && [ -n "$(ls "$NETMCU_SANLOG" 2>/dev/null)" ]; then
    echo "not ok - $f: sanitizer report"; nok=$((nok + 1))
    cat "$NETMCU_SANLOG"/* | sed 's/^/# /' | head -80
    mkdir -p "$NETMCU_SANLOG.seen" && mv "$NETMCU_SANLOG"/* "$NETMCU_SANLOG.seen/"
  fi
  if [ "$rc" -ne 0 ] || [ "$plan" -eq 0 ]; then
    echo "not ok - $f: exit status $rc, plan printed: $plan"; nok=$((nok + 1))
  fi
  if [ "$nok" -gt 0 ]; then sed 's/^/# stderr: /' "$tmp/err" | head -60; fi
  passed=$((passed + ok - sk)) failed=$((failed + nok)) skipped=$((skipped + sk))
done
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
