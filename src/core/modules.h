/* modules.h - the one list of netmcu's NodeMCU modules.  Adding a module is
 * its file in src/modules/ (luaopen_<name>) and its line in NM_MODULES; the
 * runtime makes each a global, net.so preloads each for `require`, and the
 * Makefile builds a <name>.so shim for each (src/runtime/modshim.c). */
#ifndef NM_MODULES_H
#define NM_MODULES_H

#include "compat.h"

/* X(name): in the order the runtime opens them (net first: it creates the
 * loop that the others share). */
#define NM_MODULES(X) \
  X(net)              \
  X(tmr)              \
  X(node)             \
  X(crypto)           \
  X(rtctime)          \
  X(sntp)             \
  X(cron)             \
  X(bit)              \
  X(encoder)          \
  X(struct)           \
  X(sjson)            \
  X(file)             \
  X(uart)             \
  X(gpio)             \
  X(wifi)             \
  X(http)             \
  X(tls)              \
  X(mqtt)             \
  X(websocket)        \
  /* one line per module, each ending in a backslash */

/* The modules' openers are the only symbols net.so exports (the Makefile
 * hides the rest with -fvisibility=hidden). */
#define NM_MODULE_DECLARE(name) \
  __attribute__((visibility("default"))) int luaopen_##name(lua_State *L);
NM_MODULES(NM_MODULE_DECLARE)
#undef NM_MODULE_DECLARE

typedef struct nm_module {
  const char *name;
  lua_CFunction open;
} nm_module;

/* Every module, ended by {NULL, NULL}. */
extern const nm_module nm_modules[];

/* Per-loop state slots (nm_ctx.state): one per module that keeps state
 * beside its objects, and one per part of net.  The owner creates its
 * state on first use as an nm_obj (so shutdown reaches it) and clears the
 * slot when that object is killed. */
enum nm_state_id {
  NM_STATE_TCP,   /* net/tcp_conn.c: sends written at once, lingering sockets */
  NM_STATE_UDP,   /* net/udp_socket.c: the receive batch buffer */
  NM_STATE_DNS,   /* net/resolver.c: the resolver (c-ares channels, servers) */
  NM_STATE_MCAST, /* net/multicast.c: multicast memberships and UDP sockets */
  NM_STATE_TMR,   /* modules/tmr.c: the software watchdog */
  NM_STATE_NODE,  /* modules/node.c: node.task queues */
  NM_STATE_CRON,  /* modules/cron.c: the scheduled entries and their timer */
  NM_STATE_SNTP,  /* modules/sntp/: the sync in progress, servers, autorepeat */
  NM_STATE_UART,  /* modules/uart.c: the reader of standard input */
  NM_STATE_GPIO,  /* modules/gpio.c: the pins and their channel */
  NM_STATE_WIFI,  /* modules/wifi/: the station, its interface watch, events */
  NM_STATE_HTTP,  /* modules/http.c: libcurl multi, TLS policy */
  NM_STATE_TLS,   /* modules/tls.c: tls.cert settings and the SSL_CTX */
  NM_STATE_MAX
};

/* package.preload[NAME] = its opener for every module but net, so that
 * `require` (and the shims) open them from this one library. */
void nm_preload_modules(lua_State *L);

#endif
