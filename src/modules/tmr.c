/* tmr.c - NodeMCU's timer module (docs/modules/tmr.md) on the loop. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/nm.h"

#define TMR_TIMER "tmr.timer"
#define MAX_INTERVAL 6870947 /* ms, as on the device */

enum { MODE_SINGLE = 0, MODE_SEMI = 1, MODE_AUTO = 2, MODE_OFF = -1 };

typedef struct nm_tmr nm_tmr;
typedef struct {
  nm_tmr *t;
} nm_tmr_ud;

/* The C side of a timer; it outlives its Lua object until the close
 * callback of its handle. */
struct nm_tmr {
  nm_obj obj;
  uv_timer_t h;
  nm_ctx *ctx;
  nm_tmr_ud *ud;
  int ref; /* anchor while running (docs/INTERNALS.md) */
  int mode;
  uint32_t interval;
};

static void tmr_closed_cb(uv_handle_t *h) { free(h->data); }

static void tmr_kill(nm_obj *o) {
  nm_tmr *t = nm_container_of(o, nm_tmr, obj);
  nm_obj_unregister(&t->obj);
  if (t->ud != NULL) t->ud->t = NULL;
  t->ud = NULL;
  nm_unanchor(t->ctx->L, &t->ref);
  uv_close((uv_handle_t *)&t->h, tmr_closed_cb);
}

static nm_tmr *check_tmr(lua_State *L) {
  nm_tmr_ud *ud = luaL_checkudata(L, 1, TMR_TIMER);
  if (ud->t == NULL) luaL_error(L, "timer: the event loop is shut down");
  return ud->t;
}

static int tmr_running(nm_tmr *t) { return uv_is_active((uv_handle_t *)&t->h); }

static void timer_disarm(lua_State *L, nm_tmr *t) {
  uv_timer_stop(&t->h);
  nm_unanchor(L, &t->ref);
}

/* A SINGLE timer that fires is unregistered before its callback runs. */
static void forget_callback(lua_State *L, void *arg) {
  (void)arg;
  lua_pushnil(L);
  nm_cb_set(L, -2, NM_CB_TIMER);
}

static void timer_cb(uv_timer_t *h) {
  nm_tmr *t = h->data;
  nm_ctx *ctx = t->ctx;
  int ref = t->ref;
  /* As on the device, the state is updated before the call: a SINGLE
   * timer reads as unregistered, a SEMI one as stopped, and only AUTO
   * stays anchored; the anchor is dropped once the callback returned. */
  int single = t->mode == MODE_SINGLE;
  int unanchor = t->mode != MODE_AUTO;
  if (single) t->mode = MODE_OFF;
  if (unanchor) t->ref = LUA_NOREF; /* start() in the callback anchors anew */
  nm_emit(ctx, ref, NM_CB_TIMER, 0, single ? forget_callback : NULL, NULL);
  if (unanchor) nm_unanchor(ctx->L, &ref);
}

static int timer_arm(lua_State *L, nm_tmr *t, int restart) {
  if (t->mode == MODE_OFF || (tmr_running(t) && !restart)) return 0;
  uint64_t repeat = t->mode == MODE_AUTO ? t->interval : 0;
  uv_timer_start(&t->h, timer_cb, t->interval, repeat);
  if (t->ref == LUA_NOREF) t->ref = nm_anchor(L, 1);
  return 1;
}

static uint32_t check_interval(lua_State *L, int idx) {
  return (uint32_t)nm_checkrange(L, idx, 1, MAX_INTERVAL);
}

/* t:register(ms, mode, fn) */
static int tmr_register(lua_State *L) {
  nm_tmr *t = check_tmr(L);
  uint32_t interval = check_interval(L, 2);
  long long mode;
  if (!nm_tointeger(L, 3, &mode) || mode < MODE_SINGLE || mode > MODE_AUTO)
    return luaL_argerror(L, 3, "Invalid mode");
  luaL_argcheck(L, lua_type(L, 4) == LUA_TFUNCTION, 4, "Must be function");
  timer_disarm(L, t);
  lua_pushvalue(L, 4);
  nm_cb_set(L, 1, NM_CB_TIMER);
  t->interval = interval;
  t->mode = (int)mode;
  return 0;
}

static int tmr_alarm(lua_State *L) {
  tmr_register(L);
  lua_pushboolean(L, timer_arm(L, check_tmr(L), 0));
  return 1;
}

static int tmr_start(lua_State *L) {
  nm_tmr *t = check_tmr(L);
  lua_pushboolean(L, timer_arm(L, t, lua_toboolean(L, 2)));
  return 1;
}

static int tmr_stop(lua_State *L) {
  nm_tmr *t = check_tmr(L);
  int was = tmr_running(t);
  timer_disarm(L, t);
  lua_pushboolean(L, was);
  return 1;
}

static int tmr_unregister(lua_State *L) {
  nm_tmr *t = check_tmr(L);
  timer_disarm(L, t);
  lua_pushnil(L);
  nm_cb_set(L, 1, NM_CB_TIMER);
  t->mode = MODE_OFF;
  return 0;
}

static int tmr_interval(lua_State *L) {
  nm_tmr *t = check_tmr(L);
  uint32_t interval = check_interval(L, 2);
  if (t->mode == MODE_OFF) return 0;
  t->interval = interval;
  if (tmr_running(t)) timer_arm(L, t, 1);
  return 0;
}

static int tmr_state(lua_State *L) {
  nm_tmr *t = check_tmr(L);
  if (t->mode == MODE_OFF) {
    lua_pushnil(L);
    return 1;
  }
  lua_pushboolean(L, tmr_running(t));
  lua_pushinteger(L, t->mode);
  return 2;
}

static int tmr_gc(lua_State *L) {
  nm_tmr_ud *ud = lua_touserdata(L, 1);
  if (ud->t != NULL) tmr_kill(&ud->t->obj);
  return 0;
}

/* tmr.create() */
static int tmr_create(lua_State *L) {
  nm_ctx *ctx = nm_ctx_get(L);
  nm_tmr_ud *ud = nm_obj_new(L, sizeof *ud, TMR_TIMER);
  nm_tmr *t = calloc(1, sizeof *t);
  if (t == NULL) return luaL_error(L, "out of memory");
  uv_timer_init(&ctx->loop, &t->h);
  t->h.data = t;
  t->ctx = ctx;
  t->ref = LUA_NOREF;
  t->mode = MODE_OFF;
  t->ud = ud;
  ud->t = t;
  nm_obj_register(ctx, &t->obj, tmr_kill);
  return 1;
}

static uint64_t elapsed_us(lua_State *L) {
  return (uv_hrtime() - nm_ctx_get(L)->start_ns) / 1000;
}

static int tmr_now(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)(elapsed_us(L) & 0x7FFFFFFF));
  return 1;
}

static int tmr_time(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)(elapsed_us(L) / 1000000));
  return 1;
}

/* tmr.delay(us): blocks the whole loop, as on the device; but a signal or
 * the watchdog ends it early, and the hook they set raises on return. */
static int tmr_delay(lua_State *L) {
  long long us = nm_checkrange(L, 1, 0, 0x7FFFFFFF);
  struct timespec ts = {(time_t)(us / 1000000), (long)(us % 1000000) * 1000};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR && !nm_interrupted(L)) {
  }
  return 0;
}

static int tmr_ccount(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)(uv_hrtime() & 0xFFFFFFFF));
  return 1;
}

/* ---- the software watchdog ----
 * In the runtime, a POSIX timer whose signal (NM_WATCHDOG_SIGNAL) the
 * runtime's handler turns into nm_interrupt: a callback that hangs is
 * stopped, as the device's watchdog stops a hung chip.  From a stock
 * interpreter, which gets no signal handlers, a loop timer: it fires only
 * when the loop has control. */
typedef struct {
  nm_obj obj;
  nm_ctx *ctx;
  uv_timer_t timer;
  timer_t posix;
  int has_posix;
  uint64_t ms; /* 0: disarmed */
} softwd;

static void softwd_closed_cb(uv_handle_t *h) { free(h->data); }

static void softwd_kill(nm_obj *o) {
  softwd *w = nm_container_of(o, softwd, obj);
  nm_obj_unregister(&w->obj);
  w->ctx->state[NM_STATE_TMR] = NULL;
  if (w->has_posix) timer_delete(w->posix);
  uv_close((uv_handle_t *)&w->timer, softwd_closed_cb);
}

static void softwd_cb(uv_timer_t *h) {
  softwd *w = h->data;
  nm_report_error(w->ctx, NM_WATCHDOG_MSG);
}

static softwd *softwd_get(lua_State *L, nm_ctx *ctx) {
  softwd *w = ctx->state[NM_STATE_TMR];
  if (w != NULL) return w;
  w = calloc(1, sizeof *w);
  if (w == NULL) luaL_error(L, "out of memory");
  w->ctx = ctx;
  uv_timer_init(&ctx->loop, &w->timer);
  uv_unref((uv_handle_t *)&w->timer); /* not work to wait for */
  w->timer.data = w;
  if (ctx->own_signals) {
    struct sigevent sev;
    memset(&sev, 0, sizeof sev);
    sev.sigev_notify = SIGEV_SIGNAL;
    sev.sigev_signo = NM_WATCHDOG_SIGNAL;
    w->has_posix = timer_create(CLOCK_MONOTONIC, &sev, &w->posix) == 0;
  }
  nm_obj_register(ctx, &w->obj, softwd_kill);
  ctx->state[NM_STATE_TMR] = w;
  return w;
}

/* (Re)starts the countdown of w->ms, or stops it when that is 0. */
static void softwd_arm(softwd *w) {
  if (w->has_posix) {
    struct itimerspec its;
    memset(&its, 0, sizeof its);
    its.it_value.tv_sec = (time_t)(w->ms / 1000);
    its.it_value.tv_nsec = (long)(w->ms % 1000) * 1000000;
    timer_settime(w->posix, 0, &its, NULL);
  } else if (w->ms != 0) {
    uv_timer_start(&w->timer, softwd_cb, w->ms, 0);
  } else {
    uv_timer_stop(&w->timer);
  }
}

/* tmr.softwd(s): unless tmr.wdclr() is called within s seconds, the script
 * fails as with an uncaught error; s <= 0 disarms. */
static int tmr_softwd(lua_State *L) {
  nm_ctx *ctx = nm_ctx_get(L);
  long long s = nm_checkrange(L, 1, -0x7FFFFFFF, 0x7FFFFFFF);
  softwd *w = softwd_get(L, ctx);
  w->ms = s <= 0 ? 0 : (uint64_t)s * 1000;
  softwd_arm(w);
  return 0;
}

static int tmr_wdclr(lua_State *L) {
  softwd *w = nm_ctx_get(L)->state[NM_STATE_TMR];
  if (w != NULL && w->ms != 0) softwd_arm(w);
  return 0;
}

int luaopen_tmr(lua_State *L) {
  static const luaL_Reg methods[] = {
      {"alarm", tmr_alarm}, {"register", tmr_register}, {"start", tmr_start},
      {"stop", tmr_stop},   {"unregister", tmr_unregister}, {"interval", tmr_interval},
      {"state", tmr_state}, {"__gc", tmr_unregister}, {NULL, NULL}}; /* __gc: as the firmware */
  static const luaL_Reg funcs[] = {
      {"create", tmr_create}, {"now", tmr_now},     {"time", tmr_time},     {"delay", tmr_delay},
      {"wdclr", tmr_wdclr},   {"softwd", tmr_softwd}, {"ccount", tmr_ccount}, {NULL, NULL}};
  nm_ctx_get(L);
  nm_class(L, TMR_TIMER, methods, tmr_gc);
  nm_newlib(L, funcs);
  lua_pushinteger(L, MODE_SINGLE);
  lua_setfield(L, -2, "ALARM_SINGLE");
  lua_pushinteger(L, MODE_SEMI);
  lua_setfield(L, -2, "ALARM_SEMI");
  lua_pushinteger(L, MODE_AUTO);
  lua_setfield(L, -2, "ALARM_AUTO");
  nm_tmr_legacy_open(L); /* tmr_legacy.c: tmr.alarm(id, ...) and the like */
  return 1;
}
