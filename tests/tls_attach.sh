#!/bin/sh
# TLS for C clients of the connection layer (tests/c/tls_attach.c):
# nm_tls_attach on a connection with a C user, against tests/tls/peer.c
# with certificates made by tests/tls/mkcerts.sh, built against the objects
# of the build under test (the one $NETMCU belongs to).
. tests/lib/tap.sh
build=$(dirname "$NETMCU")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
lua=$(ldd "$NETMCU" 2>/dev/null | sed -n 's/.*lib\(luajit-5\.1\|lua5\.[1-4]\)\.so.*/\1/p' | head -1)
[ "$lua" = "luajit-5.1" ] && lua=luajit
objs=$(ls "$build"/obj/core/*.o "$build"/obj/net/*.o "$build"/obj/modules/*.o "$build"/obj/modules/*/*.o 2>/dev/null)
# The libraries the objects need, as the Makefile names them.
deps=$(make -s --no-print-directory pc-deps)
if [ -z "$lua" ] || [ -z "$objs" ] || ! command -v openssl >/dev/null; then
  echo "1..0 # SKIP no objects, no Lua or no openssl found for $NETMCU"
  exit 0
fi
san=""
[ -n "${NETMCU_SANITIZED:-}" ] && san="-fsanitize=address,undefined -fno-sanitize-recover=all"
if ! sh tests/tls/mkcerts.sh "$tmp" >"$tmp/setup.err" 2>&1 ||
  ! cc -std=c11 -D_GNU_SOURCE -O1 -o "$tmp/peer" tests/tls/peer.c \
    $(pkg-config --cflags --libs openssl) 2>>"$tmp/setup.err" ||
  ! cc -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -g $san -Isrc \
    $(pkg-config --cflags "$lua" $deps) -o "$tmp/tls_attach" tests/c/tls_attach.c \
    $objs $(pkg-config --libs "$lua" $deps) -lm 2>>"$tmp/setup.err"; then
  nok "tests/c/tls_attach.c builds against $build" "$(cat "$tmp/setup.err")"
  plan
  exit 1
fi
timeout 30 "$tmp/tls_attach" "$tmp"
