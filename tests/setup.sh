#!/bin/sh
# The first `make` on a machine that lacks packages (issue 12): as root it
# installs them and then builds, in the same run, for every LUA; as a user
# it prints the exact apt-get line and stops before compiling anything.
# Nothing is removed from this machine: NETMCU_EXTRA_PACKAGES names a
# package that is not installed, apt-get is a stand-in on PATH that
# "installs" it, and pkg-config answers only once that happened, as on a
# fresh machine where the -dev packages (and their .pc files) come with the
# install.  (.ci/run proves the same with real packages, purged first.)
. tests/lib/tap.sh
if [ -n "${NETMCU_SANITIZED:-}" ]; then
  echo "1..0 # SKIP builds with the normal flags; checked in the normal run"; exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
chmod 755 "$tmp"
fake=netmcu-test-no-such-package
mkdir "$tmp/bin"
cat > "$tmp/bin/apt-get" <<EOF
#!/bin/sh
echo "apt-get \$*" >> "$tmp/apt.log"
case " \$* " in *" install "*) touch "$tmp/installed" ;; esac
exit 0
EOF
real_pc=$(command -v pkg-config) || { echo "1..0 # SKIP no pkg-config"; exit 0; }
cat > "$tmp/bin/pkg-config" <<EOF
#!/bin/sh
[ -e "$tmp/installed" ] || { echo "pkg-config: nothing installed yet" >&2; exit 1; }
exec "$real_pc" "\$@"
EOF
chmod 755 "$tmp/bin/apt-get" "$tmp/bin/pkg-config"

# As root (or as root of a user namespace): install, then build at once.
if [ "$(id -u)" -eq 0 ]; then asroot=""
elif unshare -r true 2>/dev/null; then asroot="unshare -r"
else asroot=none
fi
# first_run LUA TARGET...: one make from "nothing installed"
first_run() {
  lua=$1; shift
  rm -f "$tmp/installed" "$tmp/apt.log"
  PATH="$tmp/bin:$PATH" NETMCU_EXTRA_PACKAGES=$fake $asroot \
    make --no-print-directory LUA="$lua" BUILD="$tmp/b-$lua" PKG_CONFIG="$tmp/bin/pkg-config" \
    "$@" >"$tmp/out" 2>&1
}
dev_of() { case $1 in 5.1) echo liblua5.1-0-dev ;; luajit) echo libluajit-5.1-dev ;; *) echo "liblua$1-dev" ;; esac; }
if [ "$asroot" = none ]; then
  skip "first make as root installs, then builds" "needs root or unshare -r"
else
  first_run 5.3 # the default goal: runtime, module and shims
  rc=$?
  check "root: the first make succeeds" [ $rc -eq 0 ] || sed 's/^/#   /' "$tmp/out" | tail -20
  check "root: it installed the missing package" grep -q "^installing: $fake\$" "$tmp/out"
  check "root: with apt-get install -y" grep -q "install -y .*$fake" "$tmp/apt.log"
  out=$("$tmp/b-5.3/netmcu" -e 'print(net.TCP, type(tmr.create))' 2>&1)
  check "root: the runtime it built runs" [ "$out" = "$(printf '1\tfunction')" ]
  for lua in 5.1 5.4 luajit; do
    if ! dpkg-query -W -f='${Status}' "$(dev_of $lua)" 2>/dev/null | grep -q 'ok installed'; then
      skip "root: first make LUA=$lua compiles" "$(dev_of $lua) not installed here"
      continue
    fi
    first_run "$lua" "$tmp/b-$lua/obj/core/compat.o" "$tmp/b-$lua/obj/runtime/main.o"
    rc=$?
    check "root: the first make LUA=$lua installs, then compiles" [ $rc -eq 0 ] ||
      sed 's/^/#   /' "$tmp/out" | tail -20
  done
fi

# As a user: the apt-get line, and nothing compiled.
if [ "$(id -u)" -ne 0 ]; then asuser=""
elif command -v setpriv >/dev/null && setpriv --reuid=65534 --regid=65534 --clear-groups true 2>/dev/null; then
  asuser="setpriv --reuid=65534 --regid=65534 --clear-groups"
else asuser=none
fi
if [ "$asuser" = none ]; then
  skip "first make as a user lists the packages" "cannot run as nobody (setpriv)"
else
  # A copy of the tree the user can write to, so nothing but the missing
  # packages can stop it.
  mkdir "$tmp/tree"
  cp -r Makefile scripts src examples "$tmp/tree/"
  [ -n "$asuser" ] && chown -R 65534:65534 "$tmp/tree"
  nothing_built() { [ ! -e "$tmp/tree/build" ] && ! grep -q 'error:' "$tmp/out"; }
  for goal in "" "demo" "LUA=5.1" "LUA=5.4" "LUA=luajit" "check"; do
    (cd "$tmp/tree" && PATH="$tmp/bin:$PATH" NETMCU_EXTRA_PACKAGES=$fake HOME="$tmp" $asuser \
      make --no-print-directory $goal </dev/null >"$tmp/out" 2>&1)
    rc=$?
    what="user: make${goal:+ $goal}"
    check "$what fails" [ $rc -ne 0 ]
    check "$what prints the apt-get line" grep -q "^  apt-get install .*$fake" "$tmp/out" ||
      sed 's/^/#   /' "$tmp/out" | tail -10
    check "$what says what to do" grep -q "^Install them as root with:" "$tmp/out"
    check "$what compiles nothing" nothing_built
  done
fi
plan
