/* interrupt.c - stopping Lua code that does not return: a signal (SIGINT,
 * SIGTERM) or the software watchdog must not wait for a busy callback, a
 * long tmr.delay or a slow main chunk.  As the standalone lua does (lua.c's
 * laction/lstop), the signal handler sets a hook that raises in the running
 * Lua code; it also wakes the loop, in case no Lua code is running. */
#include "nm.h"

#define HOOK_MASK (LUA_MASKCALL | LUA_MASKRET | LUA_MASKCOUNT)

static void intr_hook(lua_State *L, lua_Debug *ar) {
  (void)ar;
  nm_ctx *ctx = nm_ctx_find(L);
  int reason = ctx != NULL ? (int)ctx->intr : NM_INTR_NONE;
  if (reason == NM_INTR_STOP) {
    /* Raised again at every instruction until the loop has control, so
     * that a pcall in the script cannot swallow it. */
    lua_pushliteral(L, "interrupted");
    lua_error(L);
    return;
  }
  lua_sethook(L, NULL, 0, 0);
  if (reason == NM_INTR_WATCHDOG) {
    ctx->intr = NM_INTR_NONE;
    lua_pushliteral(L, NM_WATCHDOG_MSG); /* where it hung: in the traceback */
    lua_error(L);
  }
}

/* Only what lua.c's laction does, plus uv_async_send: both are
 * async-signal-safe. */
void nm_interrupt(nm_ctx *ctx, int reason) {
  if (ctx->intr != NM_INTR_STOP) ctx->intr = reason; /* a stop wins */
  lua_sethook(ctx->L, intr_hook, HOOK_MASK, 1);
  uv_async_send(&ctx->intr_async);
}

void nm_interrupt_done(nm_ctx *ctx) {
  if (lua_gethook(ctx->L) == intr_hook) lua_sethook(ctx->L, NULL, 0, 0);
  if (ctx->intr == NM_INTR_STOP) ctx->intr = NM_INTR_NONE;
}

/* From the loop: the interrupt came while no Lua code was running (or the
 * hook already raised it). */
static void intr_async_cb(uv_async_t *h) {
  nm_ctx *ctx = h->data;
  int reason = ctx->intr;
  if (ctx->stop_signal) {
    nm_interrupt_done(ctx);
    uv_stop(&ctx->loop);
    return;
  }
  if (reason != NM_INTR_WATCHDOG) return;
  ctx->intr = NM_INTR_NONE;
  if (lua_gethook(ctx->L) == intr_hook) lua_sethook(ctx->L, NULL, 0, 0);
  nm_report_error(ctx, NM_WATCHDOG_MSG);
}

void nm_interrupt_init(nm_ctx *ctx) {
  uv_async_init(&ctx->loop, &ctx->intr_async, intr_async_cb);
  ctx->intr_async.data = ctx;
  uv_unref((uv_handle_t *)&ctx->intr_async); /* not work to wait for */
}

int nm_interrupted(lua_State *L) {
  nm_ctx *ctx = nm_ctx_find(L);
  if (ctx != NULL && (ctx->intr != NM_INTR_NONE || ctx->stop_signal)) return 1;
  /* lua.c's SIGINT handler (and luajit's) arms a count hook of 1 */
  return lua_gethook(L) != NULL && (lua_gethookmask(L) & LUA_MASKCOUNT) &&
         lua_gethookcount(L) == 1;
}
