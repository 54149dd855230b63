/* ctx.c - the per-Lua-state loop context: creation and teardown, running
 * the loop, the deferred-call queue, and protected calls into Lua with the
 * error policy (docs/INTERNALS.md, "Calling Lua"). */
#include <dlfcn.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nm.h"

static const char ctx_key = 'k'; /* registry key: address is unique */

static int ctx_gc(lua_State *L) {
  nm_ctx **pctx = lua_touserdata(L, 1);
  nm_ctx *ctx = *pctx;
  if (ctx == NULL) return 0;
  *pctx = NULL;
  ctx->L = L;
  nm_shutdown(ctx);
  ctx->closed = 1;
  if (uv_loop_close(&ctx->loop) != 0) {
    /* A handle we do not own is still open; leaking the context beats
     * freeing memory libuv still points to. */
    return 0;
  }
  nm_unref(L, ctx->err_ref); /* a finalizer: must not raise */
  free(ctx);
  return 0;
}

static void defer_idle_cb(uv_idle_t *h);
static int emit_trampoline(lua_State *L);
static int pushstring_f(lua_State *L);

/* A C function kept in the registry, so that pushing it later cannot fail
 * (on 5.1 lua_pushcfunction allocates). */
static int ref_cfunction(lua_State *L, lua_CFunction f) {
  lua_pushcfunction(L, f);
  return luaL_ref(L, LUA_REGISTRYINDEX);
}

int nm_stdio_reserve(void) {
  /* open() takes the lowest free descriptor: in order, each closed one of
   * 0-2 gets /dev/null (a closed input reads as empty). */
  for (int fd = 0; fd <= STDERR_FILENO; fd++) {
    if (fcntl(fd, F_GETFD) >= 0) continue;
    int got = open("/dev/null", fd == 0 ? O_RDONLY : O_WRONLY);
    if (got != fd) {
      if (got >= 0) close(got);
      return -1;
    }
  }
  return 0;
}

/* The C side, once the Lua side exists: nothing here raises (a Lua error
 * would leave an initialised loop behind). */
static nm_ctx *ctx_create(lua_State *L, int *rc) {
  /* A write to a connection the peer has reset raises SIGPIPE, whose
   * default action kills the process; netmcu reports the EPIPE as a
   * disconnection instead (docs/modules/net.md; found by tests/fuzz).  Only the default
   * disposition is changed: a handler of the host program is kept. */
  struct sigaction sa;
  if (sigaction(SIGPIPE, NULL, &sa) == 0 && sa.sa_handler == SIG_DFL) signal(SIGPIPE, SIG_IGN);
  /* A closed 0-2 would be taken by the loop's epoll descriptor, which libuv
   * asserts it never closes (issue 18: `lua x.lua >&-` with net.so). */
  nm_stdio_reserve();
  nm_ctx *ctx = calloc(1, sizeof *ctx);
  *rc = ctx == NULL ? UV_ENOMEM : uv_loop_init(&ctx->loop);
  if (*rc != 0) {
    free(ctx);
    return NULL;
  }
  ctx->loop.data = ctx;
  ctx->L = nm_mainthread(L);
  nm_list_init(&ctx->objs);
  ctx->defer_head = NULL;
  ctx->defer_tail = &ctx->defer_head;
  uv_idle_init(&ctx->loop, &ctx->defer_idle);
  nm_interrupt_init(ctx);
  ctx->err_ref = LUA_NOREF;
  ctx->onerror_ref = LUA_NOREF;
  ctx->start_ns = uv_hrtime();
  static unsigned lives; /* contexts made by this process */
  ctx->life = ++lives;
  return ctx;
}

nm_ctx *nm_ctx_find(lua_State *L) {
  lua_pushlightuserdata(L, (void *)&ctx_key);
  lua_rawget(L, LUA_REGISTRYINDEX);
  nm_ctx **pctx = lua_touserdata(L, -1);
  lua_pop(L, 1);
  return pctx != NULL ? *pctx : NULL;
}

nm_ctx *nm_ctx_get(lua_State *L) {
  lua_pushlightuserdata(L, (void *)&ctx_key);
  lua_rawget(L, LUA_REGISTRYINDEX);
  nm_ctx **pctx = lua_touserdata(L, -1);
  lua_pop(L, 1);
  if (pctx != NULL) {
    if (*pctx == NULL) luaL_error(L, "netmcu: the event loop is shut down");
    return *pctx;
  }
  /* Everything that may raise (allocate in Lua) first, while nothing
   * outside Lua exists yet. */
  int msgh_ref = ref_cfunction(L, nm_msgh);
  int emit_ref = ref_cfunction(L, emit_trampoline);
  int pushstring_ref = ref_cfunction(L, pushstring_f);
  nm_obj_init(L);
  lua_pushlightuserdata(L, (void *)&ctx_key);
  pctx = lua_newuserdata(L, sizeof *pctx);
  *pctx = NULL;
  lua_createtable(L, 0, 1);
  lua_pushcfunction(L, ctx_gc);
  lua_setfield(L, -2, "__gc");
  lua_setmetatable(L, -2);
  lua_pushvalue(L, -2);
  lua_pushvalue(L, -2);
  lua_rawset(L, LUA_REGISTRYINDEX); /* key, ud stay on the stack */
  int rc;
  nm_ctx *ctx = ctx_create(L, &rc);
  if (ctx == NULL) {
    lua_pop(L, 1);
    lua_pushnil(L);
    lua_rawset(L, LUA_REGISTRYINDEX); /* the key exists: no allocation */
    nm_raise_uv(L, rc);
  }
  lua_pop(L, 2);
  ctx->msgh_ref = msgh_ref;
  ctx->emit_ref = emit_ref;
  ctx->pushstring_ref = pushstring_ref;
  *pctx = ctx;
  return ctx;
}

void nm_obj_register(nm_ctx *ctx, nm_obj *o, void (*kill)(nm_obj *)) {
  o->kill = kill;
  nm_list_append(&ctx->objs, &o->link);
}

void nm_obj_unregister(nm_obj *o) { nm_list_remove(&o->link); }

void nm_readbuf_alloc_cb(uv_handle_t *h, size_t hint, uv_buf_t *buf) {
  nm_ctx *ctx = h->loop->data;
  (void)hint;
  buf->base = ctx->readbuf; /* not uv_buf_init: a library call per read */
  buf->len = sizeof ctx->readbuf;
}

/* ---- deferred calls ---- */

void nm_defer_push(nm_ctx *ctx, nm_defer *d, void (*fn)(nm_defer *)) {
  d->fn = fn;
  d->next = NULL;
  *ctx->defer_tail = d;
  ctx->defer_tail = &d->next;
  if (!uv_is_active((uv_handle_t *)&ctx->defer_idle) &&
      !uv_is_closing((uv_handle_t *)&ctx->defer_idle))
    uv_idle_start(&ctx->defer_idle, defer_idle_cb);
}

void nm_defer_cancel(nm_ctx *ctx, nm_defer *d) {
  /* A node of the batch being drained may be cancelled (and freed) by a
   * call that ran before it in the same batch: unlink it from there too,
   * else the drain reads freed memory (found by tests/fuzz: a socket
   * closed while its DNS answer for a literal was queued). */
  nm_defer **pp = &ctx->defer_run;
  while (*pp != NULL && *pp != d) pp = &(*pp)->next;
  if (*pp != NULL) {
    *pp = d->next;
    d->next = NULL;
    return;
  }
  pp = &ctx->defer_head;
  while (*pp != NULL && *pp != d) pp = &(*pp)->next;
  if (*pp == NULL) return;
  *pp = d->next;
  if (ctx->defer_tail == &d->next) ctx->defer_tail = pp;
}

/* Runs what was queued before this turn; what those calls queue waits for
 * the next turn, so a callback that re-queues itself cannot starve I/O. */
static void defer_idle_cb(uv_idle_t *h) {
  nm_ctx *ctx = h->loop->data;
  ctx->defer_run = ctx->defer_head;
  ctx->defer_head = NULL;
  ctx->defer_tail = &ctx->defer_head;
  while (ctx->defer_run != NULL) {
    nm_defer *d = ctx->defer_run;
    ctx->defer_run = d->next;
    d->next = NULL;
    d->fn(d);
  }
  if (ctx->defer_head == NULL) uv_idle_stop(h);
}

/* ---- running ---- */

/* Did a netmcu C function call net.run() through a finalizer?  A
 * collection step inside the call (any allocation) runs finalizers, and a
 * loop run there would free what the call is still using (issue 18: a __gc
 * calling net.run() during sock:send()).  So: is a C function of netmcu's
 * own (in the same executable or library as this one, but `allowed`) on
 * L's stack, whose callee is not a chunk it loaded (dofile, require run
 * one: that is a script, not a finalizer)? */
static lua_CFunction run_allowed_from;

void nm_run_allow_from(lua_CFunction f) { run_allowed_from = f; }

static int runs_a_chunk(const lua_Debug *callee) {
  return strcmp(callee->what, "main") == 0 &&
         !(callee->namewhat != NULL && strcmp(callee->namewhat, "metamethod") == 0);
}

static int inside_netmcu_call(lua_State *L) {
  Dl_info self, info;
  lua_Debug ar, callee;
  if (dladdr((void *)(uintptr_t)nm_run, &self) == 0) return 0;
  if (!lua_getstack(L, 0, &callee) || !lua_getinfo(L, "Sn", &callee)) return 0;
  for (int level = 1; lua_getstack(L, level, &ar); level++) {
    if (!lua_checkstack(L, 1) || !lua_getinfo(L, "Snf", &ar)) return 0;
    lua_CFunction f = lua_tocfunction(L, -1);
    lua_pop(L, 1);
    if (f != NULL && f != run_allowed_from && !runs_a_chunk(&callee) &&
        dladdr((void *)(uintptr_t)f, &info) != 0 && info.dli_fbase == self.dli_fbase)
      return 1;
    callee = ar;
  }
  return 0;
}

int nm_run(nm_ctx *ctx, lua_State *L) {
  if (ctx->running) return luaL_error(L, "the event loop is already running");
  if (inside_netmcu_call(L))
    return luaL_error(L, "the event loop cannot run inside a netmcu call (from a finalizer?)");
  lua_State *prev = ctx->L;
  ctx->L = L;
  ctx->running = 1;
  while (!nm_stopping(ctx)) {
    if (uv_run(&ctx->loop, UV_RUN_DEFAULT) == 0) break;
  }
  ctx->running = 0;
  ctx->L = prev;
  if (!ctx->failed) return 0;
  ctx->failed = 0;
  if (ctx->err_ref == LUA_NOREF) { /* the message could not be kept */
    lua_pushliteral(L, "not enough memory");
    return 1;
  }
  lua_rawgeti(L, LUA_REGISTRYINDEX, ctx->err_ref);
  nm_unref(L, ctx->err_ref);
  ctx->err_ref = LUA_NOREF;
  return 1;
}

static void close_walk_cb(uv_handle_t *h, void *arg) {
  (void)arg;
  if (!uv_is_closing(h)) uv_close(h, NULL);
}

void nm_shutdown(nm_ctx *ctx) {
  ctx->defer_head = NULL; /* their owners are about to be freed */
  ctx->defer_tail = &ctx->defer_head;
  ctx->defer_run = NULL;
  while (!nm_list_empty(&ctx->objs)) {
    nm_obj *o = nm_container_of(ctx->objs.next, nm_obj, link);
    nm_list_remove(&o->link);
    o->kill(o);
  }
  uv_walk(&ctx->loop, close_walk_cb, NULL);
  uv_run(&ctx->loop, UV_RUN_DEFAULT);
}

/* ---- protected calls ---- */

int nm_msgh(lua_State *L) {
  const char *msg = lua_tostring(L, 1);
  if (msg == NULL) {
    if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING)
      msg = lua_tostring(L, -1);
    else
      msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
  }
  nm_traceback(L, L, msg, 1);
  return 1;
}

/* lua_pushstring(L, msg), run under lua_pcall by nm_report_error, which
 * must not raise. */
static int pushstring_f(lua_State *L) {
  lua_pushstring(L, lua_touserdata(L, 1));
  return 1;
}

/* An error left a message on top of L: hand it to node.setonerror's
 * handler, else stop the loop so that run() reports it.  Nothing here may
 * raise: it runs from libuv callbacks. */
static void callback_error(nm_ctx *ctx, lua_State *L) {
  if (ctx->stop_signal) { /* the signal's "interrupted": not an error */
    lua_pop(L, 1);
    nm_interrupt_done(ctx);
    uv_stop(&ctx->loop);
    return;
  }
  if (ctx->onerror_ref != LUA_NOREF && lua_checkstack(L, 4)) {
    lua_rawgeti(L, LUA_REGISTRYINDEX, ctx->msgh_ref);
    lua_rawgeti(L, LUA_REGISTRYINDEX, ctx->onerror_ref);
    lua_pushvalue(L, -3);
    int rc = lua_pcall(L, 1, 0, -3);
    if (rc == 0) {
      lua_pop(L, 2); /* msgh, message */
      return;
    }
    lua_replace(L, -3); /* the handler's own error replaces the message */
    lua_pop(L, 1);
  }
  if (ctx->err_ref == LUA_NOREF) /* else an earlier one is still unreported */
    ctx->err_ref = nm_ref(L, -1); /* LUA_NOREF: run() says "not enough memory" */
  lua_pop(L, 1);
  ctx->failed = 1;
  uv_stop(&ctx->loop);
}

typedef struct {
  int ref, slot, alt;
  nm_pusher push;
  void *arg;
  int called;
} emit_frame;

/* Runs in protected mode: fetch the object and its callback, push the
 * arguments, call. */
static int emit_trampoline(lua_State *L) {
  emit_frame *f = lua_touserdata(L, 1);
  lua_rawgeti(L, LUA_REGISTRYINDEX, f->ref);
  if (f->slot == 0) { /* a bare function */
    if (lua_type(L, -1) != LUA_TFUNCTION) return 0;
  } else {
    if (nm_cb_get(L, -1, f->slot) != LUA_TFUNCTION) {
      lua_pop(L, 1);
      if (f->alt == 0 || nm_cb_get(L, -1, f->alt) != LUA_TFUNCTION) return 0;
    }
    lua_insert(L, -2); /* fn, obj */
  }
  int fn = lua_gettop(L) - (f->slot == 0 ? 0 : 1);
  if (f->push != NULL) f->push(L, f->arg);
  f->called = 1;
  lua_call(L, lua_gettop(L) - fn, 0);
  return 0;
}

int nm_emit(nm_ctx *ctx, int ref, int slot, int alt, nm_pusher push, void *arg) {
  if (!nm_lua_ok(ctx) || ref == LUA_NOREF) return 0;
  lua_State *L = ctx->L;
  if (!lua_checkstack(L, 8)) return 0;
  emit_frame f = {ref, slot, alt, push, arg, 0};
  lua_rawgeti(L, LUA_REGISTRYINDEX, ctx->msgh_ref);
  lua_rawgeti(L, LUA_REGISTRYINDEX, ctx->emit_ref);
  lua_pushlightuserdata(L, &f);
  if (lua_pcall(L, 1, 0, -3) != 0) callback_error(ctx, L);
  lua_pop(L, 1); /* msgh */
  return f.called;
}

void nm_push_integer(lua_State *L, void *int_ptr) { lua_pushinteger(L, *(int *)int_ptr); }

void nm_report_error(nm_ctx *ctx, const char *msg) {
  lua_State *L = ctx->L;
  if (!nm_lua_ok(ctx) || !lua_checkstack(L, 4)) return;
  /* protected: on out of memory the memory error is reported instead */
  lua_rawgeti(L, LUA_REGISTRYINDEX, ctx->pushstring_ref);
  lua_pushlightuserdata(L, (void *)msg);
  lua_pcall(L, 1, 1, 0);
  callback_error(ctx, L);
}

int nm_restart(lua_State *L, const char *what, uint64_t delay_us, int reason) {
  nm_ctx *ctx = nm_ctx_get(L);
  if (!ctx->can_restart) return luaL_error(L, "%s needs the netmcu runtime", what);
  ctx->restart = 1;
  ctx->restart_delay_us = delay_us;
  ctx->restart_reason = reason;
  uv_stop(&ctx->loop);
  return 0;
}
