/* nm.h - netmcu internals shared by every object type: the per-state loop
 * context, the Lua object model (callbacks in the user value, anchoring in
 * the registry while active), protected calls into Lua, deferred calls and
 * argument checks.  See docs/INTERNALS.md for the lifetime rules. */
#ifndef NM_H
#define NM_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>
#include <uv.h>

#include "compat.h"
#include "modules.h"

/* ---- intrusive doubly linked lists ---- */

typedef struct nm_link {
  struct nm_link *prev, *next;
} nm_link;

#define nm_container_of(ptr, type, field) \
  ((type *)((char *)(ptr) - offsetof(type, field)))

static inline void nm_list_init(nm_link *h) { h->prev = h->next = h; }
static inline int nm_list_empty(const nm_link *h) { return h->next == h; }
static inline void nm_list_append(nm_link *h, nm_link *n) {
  n->prev = h->prev;
  n->next = h;
  h->prev->next = n;
  h->prev = n;
}
/* Safe on an unlinked (self-pointing) node. */
static inline void nm_list_remove(nm_link *n) {
  n->prev->next = n->next;
  n->next->prev = n->prev;
  n->prev = n->next = n;
}

/* ---- objects owning libuv handles ----
 * Every C state that owns a libuv handle is listed in its context, so that
 * shutdown (end of run, error, signal, lua_close) can close it.  kill()
 * must start closing every handle of the object without calling into Lua;
 * the close callbacks free the memory. */
typedef struct nm_obj {
  nm_link link;
  void (*kill)(struct nm_obj *);
} nm_obj;

/* ---- deferred calls ----
 * Work that must reach Lua on a later loop turn (no callback is
 * synchronous: docs/INTERNALS.md).  The node is embedded in its owner; fn runs from the loop. */
typedef struct nm_defer {
  struct nm_defer *next;
  void (*fn)(struct nm_defer *);
} nm_defer;

/* One read buffer per loop (Lua copies what it receives).  256 KiB rather
 * than libuv's usual 64 KiB: a bulk stream then costs a quarter of the
 * reads, receive callbacks and sends: about 20 % less server CPU per GiB
 * of TCP echo (bench/).  Untouched pages cost no memory. */
#define NM_READBUF_SIZE (256 * 1024)
typedef struct nm_ctx {
  uv_loop_t loop;
  lua_State *L;          /* thread that runs the loop; callbacks run on it */
  nm_link objs;          /* every live nm_obj */
  nm_defer *defer_head;
  nm_defer **defer_tail;
  nm_defer *defer_run;   /* the batch being drained (nm_defer_cancel sees it) */
  uv_idle_t defer_idle;  /* active only while defer_head is not empty */
  int failed;            /* an uncaught Lua error is waiting in err_ref */
  int err_ref;
  int onerror_ref;       /* node.setonerror handler, or LUA_NOREF */
  int msgh_ref, emit_ref, pushstring_ref; /* C functions, fetched allocation-free */
  int running;
  volatile sig_atomic_t stop_signal; /* set by the runtime's signal handlers */
  volatile sig_atomic_t intr; /* nm_interrupt's reason, until handled */
  uv_async_t intr_async; /* wakes the loop for it */
  int own_signals;       /* set by the runtime: its handlers call nm_interrupt */
  int restart;           /* node.restart() asked the runtime to start over */
  uint64_t restart_delay_us; /* ... after this long (node.dsleep, rtctime.dsleep) */
  int restart_reason;    /* ... and node.bootreason() of the next life */
  int boot_reason;       /* set by the runtime: why this life started */
  int can_restart;       /* set by the runtime: node.restart() is possible */
  unsigned life;         /* 1, 2, ...: this context's number in the process, so in
                          * the runtime the life of the script (state that outlives
                          * a restart, like rtctime's clock, tells lives apart by it) */
  int closed;            /* loop shut down (lua_close in progress) */
  uint64_t start_ns;     /* uv_hrtime() at creation, for tmr.now/time */
  /* The device around the network, set by the runtime before
   * the modules open; zero from a stock interpreter. */
  const char *fs_root;   /* --fs DIR: the flash file system; NULL: "." */
  const char *lfs_dir;   /* --lfs DIR: the LFS modules; NULL: no LFS */
  const char *gpio_path; /* --gpio PATH: the pins' channel, listening on */
  int gpio_fd;           /* ... this socket (valid when gpio_path is set) */
  void *state[NM_STATE_MAX]; /* per-loop state of modules (modules.h) */
  char readbuf[NM_READBUF_SIZE]; /* every TCP read (UDP: see net/udp_socket.c) */
} nm_ctx;

/* The context of this Lua state, created on first use. */
nm_ctx *nm_ctx_get(lua_State *L);
/* The context if there is a live one, else NULL; never raises. */
nm_ctx *nm_ctx_find(lua_State *L);
/* Makes sure descriptors 0-2 are open (on /dev/null where they were
 * closed), so that no socket or libuv descriptor takes one of them: libuv
 * aborts when it closes one.  0, or -1 if one cannot be opened. */
int nm_stdio_reserve(void);
void nm_obj_register(nm_ctx *ctx, nm_obj *o, void (*kill)(nm_obj *));
void nm_obj_unregister(nm_obj *o);

/* Run the loop until nothing is active, an uncaught error, or a stop
 * signal.  Returns 0, or 1 with the error message (traceback included)
 * pushed on L. */
int nm_run(nm_ctx *ctx, lua_State *L);
/* Close every handle and run the loop until they are all closed. */
void nm_shutdown(nm_ctx *ctx);

void nm_defer_push(nm_ctx *ctx, nm_defer *d, void (*fn)(nm_defer *));
/* libuv alloc callback for every TCP read and UDP datagram: the context's
 * one read buffer (Lua copies what it receives). */
void nm_readbuf_alloc_cb(uv_handle_t *h, size_t hint, uv_buf_t *buf);
/* Remove a queued node (used when its owner is freed first). */
void nm_defer_cancel(nm_ctx *ctx, nm_defer *d);

/* ---- the Lua side of objects ----
 * Each Lua object is a userdata whose first field points to its C state
 * (NULL while it has none).  Callbacks live in the user value table, keyed
 * by the slot numbers below, so callback -> object cycles are collectable. */
enum nm_slot {
  NM_CB_CONNECTION = 1,
  NM_CB_RECONNECTION,
  NM_CB_DISCONNECTION,
  NM_CB_RECEIVE,
  NM_CB_SENT,
  NM_CB_DNS,
  NM_CB_ACCEPT, /* server: the listen() function */
  NM_CB_TIMER,  /* tmr: the registered function */
  NM_CB_MAX
};

/* Registers the metatable of an object type: methods, __gc, a __tostring
 * that shows tname and the address.  gc gets only objects of this type
 * (others raise, as with luaL_checkudata): scripts can reach it. */
void nm_class(lua_State *L, const char *tname, const luaL_Reg *methods, lua_CFunction gc);
/* Registers the methods of class tname again as closures over its
 * metatable (upvalue 1), for a hot class whose methods check their object
 * with one pointer compare instead of luaL_checkudata's lookup by name.
 * (Light functions elsewhere: luaL_argerror names them from the module.) */
void nm_class_upvalue(lua_State *L, const char *tname, const luaL_Reg *methods);
/* In methods: obj:__gc(), as the firmware's method tables have it (its
 * lua_modules/ftp calls server:__gc()): runs gc, then drops the object's
 * callbacks (nm_cb_clear).  gc must leave the object closed and usable,
 * safe to call again and to collect later. */
#define NM_GC_METHOD {"__gc", NULL}
/* A Lua object whose C state comes and goes (a socket's connection, a
 * server's listening period) starts with this.  While a state is attached
 * the object is anchored (docs/INTERNALS.md, "Anchoring"); close() bumps
 * the epoch, so that work started before it (a sock:dns lookup) no longer
 * calls back. */
typedef struct nm_bind {
  void *state;    /* the C state, NULL while detached */
  int ref;        /* the anchor; meaningful only while state is set */
  unsigned epoch;
} nm_bind;
/* Attaches state to the object at idx, whose userdata starts with b, and
 * anchors the object. */
void nm_bind_attach(lua_State *L, int idx, nm_bind *b, void *state);
/* Detaches b and returns its anchor, which the caller drops with
 * nm_unanchor once it no longer needs the object (LUA_NOREF if b was not
 * attached). */
int nm_bind_release(nm_bind *b);
/* Detaches b and drops its anchor. */
void nm_bind_detach(lua_State *L, nm_bind *b);

/* Pushes a new userdata of size sz with metatable tname; a tail follows
 * the sz bytes: */
void *nm_obj_new(lua_State *L, size_t sz, const char *tname);
typedef struct nm_ud_tail {
  uint16_t set;              /* bit n: a callback is set in slot n */
  unsigned char inline_slot; /* obj.c: the slot of a lone callback (5.3+) */
} nm_ud_tail;
/* Where the tail starts after sz bytes (aligned). */
static inline size_t nm_ud_tail_offset(size_t sz) {
  return (sz + _Alignof(nm_ud_tail) - 1) & ~(_Alignof(nm_ud_tail) - 1);
}
/* Is a callback set in slot of the object ud, made with size sz?  Lets C
 * skip an unset callback without calling into Lua. */
static inline int nm_cb_isset(const void *ud, size_t sz, int slot) {
  const nm_ud_tail *t = (const nm_ud_tail *)((const char *)ud + nm_ud_tail_offset(sz));
  return (t->set >> slot) & 1;
}
/* Sets slot of the object at idx to the value on top (popped; nil clears). */
void nm_cb_set(lua_State *L, int idx, int slot);
/* Pushes slot of the object at idx; returns its Lua type. */
int nm_cb_get(lua_State *L, int idx, int slot);
/* Drops every callback of the object at idx (its user value). */
void nm_cb_clear(lua_State *L, int idx);
/* obj:on(name, fn|nil) with the given event names and slots. */
int nm_cb_on(lua_State *L, const char *const names[], const int slots[]);
/* An optional callback argument: 1 for a function, 0 for none or nil;
 * anything else raises "invalid callback function".  (Inline: sends take
 * one.) */
int nm_optcallback_fail(lua_State *L);
static inline int nm_optcallback(lua_State *L, int idx) {
  int t = lua_type(L, idx);
  if (t == LUA_TFUNCTION) return 1;
  return t == LUA_TNONE || t == LUA_TNIL ? 0 : nm_optcallback_fail(L);
}

/* Anchoring: a registry reference to the object at idx while it is active
 * (docs/INTERNALS.md).  nm_anchor returns the reference; nm_unanchor drops it. */
int nm_anchor(lua_State *L, int idx);
void nm_unanchor(lua_State *L, int *ref);
/* Drops a registry reference without ever raising (libuv callbacks and
 * shutdown call it outside any protected call): under out-of-memory the
 * reference is kept rather than the process panicking. */
void nm_unref(lua_State *L, int ref);
/* luaL_ref of the value at idx that never raises: LUA_NOREF if out of
 * memory. */
int nm_ref(lua_State *L, int idx);
/* A reference taken in two steps, for a call that must not raise once it
 * has a side effect: nm_ref_reserve (may raise) makes *slot a registry
 * slot unless it is one already; nm_ref_fill (never raises) stores the
 * value at idx there and returns it as the reference, *slot LUA_NOREF. */
void nm_ref_reserve(lua_State *L, int *slot);
int nm_ref_fill(lua_State *L, int idx, int *slot);
/* Stores the C function nm_ref/nm_unref use in the registry (ctx.c, at
 * start). */
void nm_obj_init(lua_State *L);

/* Pushes the extra arguments of a callback.  The object is on top of the
 * stack when it runs: it may use it, or pop it to leave it out of the
 * arguments.  Everything above the callback is passed. */
typedef void (*nm_pusher)(lua_State *L, void *arg);

/* From a libuv callback: call the callback in `slot` (or, if that has
 * none, in `alt`; 0 for no alternative) of the object anchored by `ref`
 * (with slot 0, ref is the function itself and no object is passed),
 * with the object and what push(L, arg) adds.  Everything — fetching the
 * callback, building the arguments, the call — runs in protected mode with
 * a traceback handler, so no Lua error (memory errors included) unwinds
 * through libuv; an error goes to the error policy (docs/INTERNALS.md,
 * "Calling Lua").  Returns 1 if
 * a callback was found and called.  Does nothing after an uncaught error. */
int nm_emit(nm_ctx *ctx, int ref, int slot, int alt, nm_pusher push, void *arg);
/* (The protected call costs more than a callback: where one is often not
 * set, like `sent`, callers check nm_cb_isset first.) */
void nm_push_integer(lua_State *L, void *int_ptr);       /* pusher: an int */
void nm_push_ip_or_nil(lua_State *L, void *in_addr_or_null); /* pusher: "a.b.c.d" or nil */

/* Boot reasons of node.bootreason() (the firmware's rst_info.reason). */
enum nm_boot_reason {
  NM_BOOT_POWER_ON = 0,
  NM_BOOT_SW_WATCHDOG = 3,
  NM_BOOT_SW_RESTART = 4,
  NM_BOOT_DEEP_SLEEP = 5
};
/* Asks the runtime to end this life of the script once the running
 * callback returns and to start it again in a fresh Lua state after
 * delay_us, with node.bootreason() giving reason (node.restart,
 * node.dsleep, rtctime.dsleep).  Outside the runtime raises
 * "<what> needs the netmcu runtime". */
int nm_restart(lua_State *L, const char *what, uint64_t delay_us, int reason);

/* Message handler: the error (any value, made a string) plus a traceback. */
int nm_msgh(lua_State *L);
/* Report an error that did not come from Lua (e.g. the software watchdog)
 * through the same policy as a callback error. */
void nm_report_error(nm_ctx *ctx, const char *msg);

/* ---- interrupting running Lua code (interrupt.c) ----
 * A signal handler cannot wait for a busy callback to return: as the
 * standalone lua does, it sets a hook that raises in the running Lua code,
 * and wakes the loop in case no Lua code runs.  Reasons: */
enum nm_intr { NM_INTR_NONE, NM_INTR_STOP, NM_INTR_WATCHDOG };
#define NM_WATCHDOG_MSG "software watchdog expired (tmr.softwd)"
/* The signal of tmr.softwd's timer, when the runtime handles signals. */
#define NM_WATCHDOG_SIGNAL SIGALRM
/* Async-signal-safe.  NM_INTR_STOP: ctx->stop_signal is set; the running
 * Lua code raises until the loop has control again (then the runtime
 * closes everything).  NM_INTR_WATCHDOG: the running Lua code raises
 * NM_WATCHDOG_MSG once (an uncaught error), or, if none runs, the loop
 * reports it. */
void nm_interrupt(nm_ctx *ctx, int reason);
/* Is an interrupt waiting to be raised in L (ours, or the one the
 * standalone lua's SIGINT handler sets)?  For calls that block, such as
 * tmr.delay, to return early. */
int nm_interrupted(lua_State *L);
/* The hook is no longer wanted: the loop has control. */
void nm_interrupt_done(nm_ctx *ctx);
void nm_interrupt_init(nm_ctx *ctx);
/* The runtime calls the script and net.run() from f: net.run() refuses to
 * run inside any other netmcu C function (a finalizer run by a collection
 * inside it would otherwise run the loop under its feet). */
void nm_run_allow_from(lua_CFunction f);
/* May Lua be called now?  (False after an uncaught error.) */
static inline int nm_stopping(const nm_ctx *ctx) {
  return ctx->failed || ctx->stop_signal || ctx->restart;
}
static inline int nm_lua_ok(const nm_ctx *ctx) { return ctx->running && !nm_stopping(ctx); }

/* ---- argument checks (the messages of docs/modules/net.md) ---- */
/* An integer port 0-65535 at idx, else a Lua error naming the argument. */
int nm_checkport(lua_State *L, int idx);
/* An integer in [lo, hi] at idx, else a Lua error. */
long long nm_checkrange(lua_State *L, int idx, long long lo, long long hi);
/* Parses an IPv4 dotted quad strictly; 0 on success. */
int nm_parse_ip4(const char *s, struct in_addr *out);
/* The string at idx if it is one and holds no NUL byte, else NULL: what an
 * address, host name, URL or interface name must be ("lo\0x" is
 * malformed, not "lo"). */
const char *nm_tocstring(lua_State *L, int idx);
/* The strict IPv4 literal at idx (a string, no NUL); 0 on success, -1 if it
 * is not one (the caller raises its own message). */
int nm_checkip4(lua_State *L, int idx, struct in_addr *out);
/* Pushes "a.b.c.d" for addr. */
void nm_push_ip4(lua_State *L, const struct in_addr *addr);
/* Pushes port, ip of a sockaddr (nil, nil if it is NULL or not IPv4).
 * Returns 2. */
int nm_push_sockaddr(lua_State *L, const struct sockaddr *sa);

/* ---- errors (errors.c): libuv status -> NodeMCU code and wording ---- */
/* A c-ares status as the libuv error the resolver reports (UV_EAI_*). */
int nm_ares_to_uv(int ares_status);
int nm_errcode(int uverr);
const char *nm_errword(int uverr);
/* Raise a Lua error for a failed OS call: the lwIP wording, with the OS
 * reason in parentheses where it differs.  Never returns. */
int nm_raise_uv(lua_State *L, int uverr);

/* ---- the runtime's command line, for the modules (legacy.c) ----
 * Set by src/runtime/main.c before any module opens; all zero in a stock
 * interpreter. */
typedef struct nm_options {
  int strict;             /* --strict: legacy forms raise current firmware's errors */
  const char *wifi_iface; /* --wifi IFACE: the station's interface */
  const char *wifi_ap;    /* --wifi-ap SSID[:PASSWORD]: the only network in range */
} nm_options;
extern nm_options nm_opts;
/* A legacy form ran: warns on stderr, once per call site (the
 * Lua code calling the running C function), naming the form and what
 * replaces it. */
void nm_legacy_warn(lua_State *L, const char *form, const char *instead);
/* Prints "netmcu: <call site>: msg" on stderr once per call site and form. */
void nm_warn_once(lua_State *L, const char *form, const char *msg);

/* An interface as net.ifinfo picks and reads it (net/ifinfo.c), for wifi. */
typedef struct nm_ifstate {
  char name[16];          /* IF_NAMESIZE */
  unsigned index, flags;  /* flags: IFF_UP, IFF_RUNNING, ... */
  int has_ip;
  struct in_addr ip, mask, gw; /* gw: 0 without a default route through it */
  unsigned char hw[6];    /* zeros without a 6-byte hardware address */
} nm_ifstate;
/* Interface `index` of net.ifinfo's order, or the one called `name` if
 * that is not NULL.  Returns 1, 0 if there is none, or -errno. */
int nm_iface_get(long long index, const char *name, nm_ifstate *out);

/* Adds tmr.alarm(id, ...) and the rest of the static timer API to the tmr
 * table on top of the stack, unless --strict (modules/tmr_legacy.c). */
void nm_tmr_legacy_open(lua_State *L);

/* net.run(), also called by the runtime (net/net.c). */
int nm_net_run(lua_State *L);
/* The runtime only (runtime/dialect.c): what the firmware's Lua 5.3 keeps
 * of 5.1 (unpack, loadstring, package.loaders), on 5.3 and 5.4. */
void nm_dialect_open(lua_State *L);

#endif
