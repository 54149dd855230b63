#!/bin/sh
# The connection layer from C (tests/c/tcp_layer.c): a C client and a
# filter shaped like TLS over a real loopback connection, built against the
# objects of the build under test (the one $NETMCU belongs to).
. tests/lib/tap.sh
build=$(dirname "$NETMCU")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# The Lua the runtime was linked with, as pkg-config names it.
lua=$(ldd "$NETMCU" 2>/dev/null | sed -n 's/.*lib\(luajit-5\.1\|lua5\.[1-4]\)\.so.*/\1/p' | head -1)
[ "$lua" = "luajit-5.1" ] && lua=luajit
objs=$(ls "$build"/obj/core/*.o "$build"/obj/net/*.o "$build"/obj/modules/*.o "$build"/obj/modules/*/*.o 2>/dev/null)
if [ -z "$lua" ] || [ -z "$objs" ]; then
  echo "1..0 # SKIP no objects or no Lua found for $NETMCU"
  exit 0
fi
san=""
[ -n "${NETMCU_SANITIZED:-}" ] && san="-fsanitize=address,undefined -fno-sanitize-recover=all"
if ! cc -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -g $san -Isrc \
    $(pkg-config --cflags "$lua" libuv libcares libcrypto) -o "$tmp/tcp_layer" tests/c/tcp_layer.c $objs \
    $(pkg-config --libs "$lua" libuv libcares libcrypto) -lm 2>"$tmp/cc.err"; then
  nok "tests/c/tcp_layer.c builds against $build" "$(cat "$tmp/cc.err")"
  plan
  exit 1
fi
timeout 30 "$tmp/tcp_layer"
