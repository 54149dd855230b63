# tests/lib/failmalloc.sh - sourced by the out-of-memory tests after
# tap.sh, with $tmp and $NM set: builds the LD_PRELOAD allocator
# tests/faults/failmalloc.c into $tmp/failmalloc.so (or skips the whole
# file, naming NAME, when it cannot), and sets what every run needs.
#   failmalloc_setup NAME [SRC]
failmalloc_setup() {
  src=${2:-tests/faults/failmalloc.c}
  if [ ! -f "$src" ] || ! ${CC:-cc} -shared -fPIC -O2 -o "$tmp/failmalloc.so" "$src" -ldl 2>"$tmp/cc.err"; then
    skip "$1" "cannot build $src (a C compiler is needed)"
    plan
    exit 0
  fi
  # Under ASan the preloaded allocator sits in front of ASan's.
  if [ "${NETMCU_SANITIZED:-}" = 1 ]; then
    export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0"
  fi
  # No DNS server but loopback, in case a lookup leaks out.
  printf 'nameserver 127.0.0.1\n' > "$tmp/resolv.conf"
  export NETMCU_RESOLV_CONF="$tmp/resolv.conf"
  # The allocator acts in netmcu only (not in timeout, env or a client).
  export NETMCU_FAIL_PROG="$(basename "$NM")"
}
