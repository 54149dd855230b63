/* gpio.c - NodeMCU's `gpio` module on simulated pins: the
 * firmware's numbering (IO index 0-12) and calls; a test drives input pins
 * and sees output pins through the channel of --gpio (gpio/channel.c);
 * trig callbacks fire from the loop. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gpio/gpio.h"

#define DELAY_TABLE_MAX_LEN 256

static const char *const mode_names[] = {"input", "output", "int", "opendrain"};

int gpio_level(const gpio_pin *p) {
  int outside = p->driven ? p->ext : p->pull == GPIO_PULLUP;
  if (p->mode == GPIO_OUTPUT) return p->out;
  if (p->mode == GPIO_OPENDRAIN) return p->out ? outside : 0;
  return outside;
}

void gpio_handle_closed(gpio_state *g) {
  if (--g->handles == 0 && g->dead) free(g);
}

static void serout_closed(uv_handle_t *h) { gpio_handle_closed(h->data); }

static void gpio_kill(nm_obj *o) {
  gpio_state *g = nm_container_of(o, gpio_state, obj);
  nm_obj_unregister(&g->obj);
  g->ctx->state[NM_STATE_GPIO] = NULL;
  g->dead = 1;
  for (int i = 0; i < GPIO_PINS; i++)
    if (g->pin[i].queued) nm_defer_cancel(g->ctx, &g->pin[i].defer);
  free(g->delays);
  g->delays = NULL;
  gpio_channel_kill(g);
  uv_close((uv_handle_t *)&g->serout_timer, serout_closed);
}

static gpio_state *gpio_get(lua_State *L) {
  nm_ctx *ctx = nm_ctx_get(L);
  gpio_state *g = ctx->state[NM_STATE_GPIO];
  if (g != NULL) return g;
  g = calloc(1, sizeof *g);
  if (g == NULL) luaL_error(L, "out of memory");
  g->ctx = ctx;
  g->serout_ref = LUA_NOREF;
  nm_list_init(&g->clients);
  for (int i = 0; i < GPIO_PINS; i++) {
    g->pin[i].cb_ref = LUA_NOREF;
    g->pin[i].g = g;
    g->pin[i].out = 0;
  }
  uv_timer_init(&ctx->loop, &g->serout_timer);
  g->serout_timer.data = g;
  g->handles = 1;
  nm_obj_register(ctx, &g->obj, gpio_kill);
  ctx->state[NM_STATE_GPIO] = g;
  gpio_channel_open(g);
  return g;
}

/* The chip changed what it does with pin n: tell the channel. */
static void chip_changed(gpio_state *g, int n, int before) {
  int now = gpio_level(&g->pin[n]);
  if (now == before) return;
  char line[32];
  snprintf(line, sizeof line, "pin %d %d\n", n, now);
  gpio_channel_send(g, line);
}

/* ---- trig ---- */

typedef struct {
  int level;
  uint64_t when;
  unsigned count;
} trig_args;

static void push_trig(lua_State *L, void *arg) {
  trig_args *a = arg;
  lua_pushinteger(L, a->level);
  lua_pushinteger(L, (lua_Integer)(a->when & 0x7fffffff));
  lua_pushinteger(L, (lua_Integer)(a->count & 0x7fff));
}

static int trig_matches(const gpio_pin *p, int old, int now) {
  switch (p->trig) {
  case TRIG_UP: return old == 0 && now == 1;
  case TRIG_DOWN: return old == 1 && now == 0;
  case TRIG_BOTH: return old != now;
  case TRIG_LOW: return now == 0;
  case TRIG_HIGH: return now == 1;
  }
  return 0;
}

static void trig_fire(nm_defer *d);

static void interrupt(gpio_pin *p, int level) {
  gpio_state *g = p->g;
  p->seen++;
  if (p->queued) return; /* told with the count when the callback runs */
  p->queued = 1;
  p->level = level;
  p->when = (uv_hrtime() - g->ctx->start_ns) / 1000;
  nm_defer_push(g->ctx, &p->defer, trig_fire);
}

/* The callback of a pin's interrupt: level, when, and how many came. */
static void trig_fire(nm_defer *d) {
  gpio_pin *p = nm_container_of(d, gpio_pin, defer);
  p->queued = 0;
  if (p->cb_ref == LUA_NOREF || p->mode != GPIO_INT) return;
  trig_args a = {p->level, p->when, p->seen - p->reported};
  p->reported = p->seen;
  nm_emit(p->g->ctx, p->cb_ref, 0, 0, push_trig, &a);
  /* a level trigger is armed again, and fires again while the level holds */
  int now = gpio_level(p);
  if ((p->trig == TRIG_LOW || p->trig == TRIG_HIGH) && p->cb_ref != LUA_NOREF &&
      p->mode == GPIO_INT && trig_matches(p, now, now) && !p->g->dead)
    interrupt(p, now);
}

void gpio_drive(gpio_state *g, int n, int level) {
  gpio_pin *p = &g->pin[n];
  int old = gpio_level(p);
  p->driven = level >= 0;
  p->ext = level > 0;
  int now = gpio_level(p);
  if (p->mode == GPIO_INT && p->cb_ref != LUA_NOREF && trig_matches(p, old, now) &&
      (old != now || p->trig == TRIG_LOW || p->trig == TRIG_HIGH))
    interrupt(p, now);
}

/* ---- the API ---- */

static int pin_exists(lua_Integer pin) { return pin >= 0 && pin < GPIO_PINS; }

static int check_pin(lua_State *L, int idx) {
  lua_Integer pin = nm_checkinteger(L, idx);
  if (!pin_exists(pin)) luaL_error(L, "gpio %d does not exist", (int)pin);
  return (int)pin;
}

static void clear_trig(lua_State *L, gpio_pin *p) {
  nm_unanchor(L, &p->cb_ref);
  p->trig = TRIG_NONE;
  gpio_channel_ref(p->g);
}

/* gpio.mode(pin, mode [, pullup]) */
static int gpio_mode(lua_State *L) {
  lua_Integer pin = nm_checkinteger(L, 1), mode = nm_checkinteger(L, 2);
  lua_Integer pull = lua_isnoneornil(L, 3) ? GPIO_FLOAT : nm_checkinteger(L, 3);
  luaL_argcheck(L, pin_exists(pin) && (mode != GPIO_INT || pin > 0), 1, "Invalid pin");
  luaL_argcheck(L, mode == GPIO_OUTPUT || mode == GPIO_OPENDRAIN || mode == GPIO_INPUT ||
                       mode == GPIO_INT, 2, "wrong arg type");
  gpio_state *g = gpio_get(L);
  gpio_pin *p = &g->pin[pin];
  int before = gpio_level(p);
  if (mode != GPIO_INT) clear_trig(L, p);
  int changed = p->mode != mode;
  p->mode = (int)mode;
  p->pull = pull != GPIO_FLOAT ? GPIO_PULLUP : GPIO_FLOAT;
  if (changed) {
    char line[32];
    snprintf(line, sizeof line, "mode %d %s\n", (int)pin, mode_names[mode]);
    gpio_channel_send(g, line);
  }
  chip_changed(g, (int)pin, before);
  gpio_channel_ref(g);
  return 0;
}

/* gpio.read(pin): 0 or 1 */
static int gpio_read(lua_State *L) {
  int pin = check_pin(L, 1);
  lua_pushinteger(L, gpio_level(&gpio_get(L)->pin[pin]));
  return 1;
}

static void pin_write(gpio_state *g, int n, int level) {
  gpio_pin *p = &g->pin[n];
  int before = gpio_level(p);
  if (n == 0 && p->mode != GPIO_OUTPUT) { /* GPIO16: a write makes it an output */
    p->mode = GPIO_OUTPUT;
    gpio_channel_send(g, "mode 0 output\n");
  }
  p->out = level;
  chip_changed(g, n, before);
}

/* gpio.write(pin, level) */
static int gpio_write(lua_State *L) {
  int pin = check_pin(L, 1);
  lua_Integer level = nm_checkinteger(L, 2);
  luaL_argcheck(L, level == 0 || level == 1, 2, "wrong level type");
  pin_write(gpio_get(L), pin, (int)level);
  return 0;
}

/* gpio.trig(pin [, type [, fn]]) */
static int gpio_trig(lua_State *L) {
  static const char *const opts[] = {"none", "up", "down", "both", "low", "high", NULL};
  lua_Integer pin = nm_checkinteger(L, 1);
  luaL_argcheck(L, pin_exists(pin) && pin > 0, 1, "Invalid interrupt pin");
  int type = luaL_checkoption(L, 2, "none", opts);
  gpio_state *g = gpio_get(L);
  gpio_pin *p = &g->pin[pin];
  if (type == TRIG_NONE) {
    clear_trig(L, p);
  } else if (lua_gettop(L) == 2 && p->cb_ref != LUA_NOREF) {
    /* the callback stays */
  } else {
    luaL_argcheck(L, lua_isfunction(L, 3), 3, "invalid callback type");
    nm_unanchor(L, &p->cb_ref);
    p->cb_ref = nm_anchor(L, 3);
  }
  p->trig = type;
  p->reported = p->seen; /* what came before is not told */
  gpio_channel_ref(g);
  return 0;
}

/* ---- serout ---- */

static void serout_done(gpio_state *g) {
  int ref = g->serout_ref;
  g->serout_ref = LUA_NOREF;
  g->serout_active = 0;
  uv_timer_stop(&g->serout_timer);
  free(g->delays);
  g->delays = NULL;
  if (ref != LUA_NOREF) {
    nm_emit(g->ctx, ref, 0, 0, NULL, NULL);
    if (!g->ctx->closed) nm_unref(g->ctx->L, ref); /* from libuv: must not raise */
  }
}

/* The firmware's seroutasync_cb: set the level, wait the next delay. */
static void serout_step(uv_timer_t *t) {
  gpio_state *g = t->data;
  if (g->index >= g->ndelays) {
    serout_done(g);
    return;
  }
  pin_write(g, g->serout_pin, g->serout_level);
  g->serout_level = !g->serout_level;
  uint64_t us = g->delays[g->index++];
  if (g->repeats && g->index >= g->ndelays) {
    g->index = 0;
    g->repeats--;
  }
  uv_timer_start(&g->serout_timer, serout_step, (us + 999) / 1000, 0);
}

static void sleep_us(uint32_t us) {
  struct timespec ts = {us / 1000000, (long)(us % 1000000) * 1000};
  while (nanosleep(&ts, &ts) != 0) {
  }
}

/* gpio.serout(pin, start_level, delay_times [, cycle_num [, callback]]) */
static int gpio_serout(lua_State *L) {
  lua_Integer pin = nm_checkinteger(L, 1), level = nm_checkinteger(L, 2);
  lua_Integer cycles = lua_isnoneornil(L, 4) ? 1 : nm_checkinteger(L, 4);
  int async = !lua_isnoneornil(L, 5);
  luaL_argcheck(L, pin_exists(pin), 1, "Invalid pin");
  luaL_argcheck(L, level == 0 || level == 1, 2, "Wrong level type");
  size_t n = lua_istable(L, 3) ? nm_rawlen(L, 3) : DELAY_TABLE_MAX_LEN;
  luaL_argcheck(L, n < DELAY_TABLE_MAX_LEN, 3, "Invalid delay_times");
  uint32_t table[DELAY_TABLE_MAX_LEN];
  for (size_t i = 0; i < n; i++) {
    lua_rawgeti(L, 3, (int)i + 1);
    table[i] = (uint32_t)nm_checkinteger(L, -1);
    lua_pop(L, 1);
  }
  if (async && lua_type(L, 5) != LUA_TNUMBER) luaL_checktype(L, 5, LUA_TFUNCTION);
  gpio_state *g = gpio_get(L);
  if (cycles < 1) cycles = 1; /* (the firmware would wrap to 2^32 cycles) */
  if (!async) { /* blocks, as on the chip */
    for (lua_Integer c = 0; c < cycles; c++)
      for (size_t i = 0; i < n; i++) {
        pin_write(g, (int)pin, (int)level);
        level = !level;
        sleep_us(table[i]);
      }
    return 0;
  }
  uint32_t *d = malloc((n ? n : 1) * sizeof *d);
  if (d == NULL) return luaL_error(L, "out of memory");
  memcpy(d, table, n * sizeof *d);
  nm_unanchor(L, &g->serout_ref); /* a new sequence replaces a running one */
  free(g->delays);
  g->delays = d;
  g->ndelays = n;
  g->index = 0;
  g->repeats = (uint32_t)(cycles - 1);
  g->serout_pin = (int)pin;
  g->serout_level = (int)level;
  g->serout_active = 1;
  if (lua_isfunction(L, 5)) g->serout_ref = nm_anchor(L, 5);
  if (n > 0) serout_step(&g->serout_timer); /* the first level at once */
  else uv_timer_start(&g->serout_timer, serout_step, 0, 0); /* done, later */
  return 0;
}

int luaopen_gpio(lua_State *L) {
  static const luaL_Reg funcs[] = {{"mode", gpio_mode},     {"read", gpio_read},
                                   {"write", gpio_write},   {"trig", gpio_trig},
                                   {"serout", gpio_serout}, {NULL, NULL}};
  static const struct {
    const char *name;
    int v;
  } consts[] = {{"OUTPUT", GPIO_OUTPUT}, {"OPENDRAIN", GPIO_OPENDRAIN}, {"INPUT", GPIO_INPUT},
                {"INT", GPIO_INT},       {"HIGH", 1},                   {"LOW", 0},
                {"FLOAT", GPIO_FLOAT},   {"PULLUP", GPIO_PULLUP}};
  gpio_get(L); /* the channel listens from the start */
  nm_newlib(L, funcs);
  for (size_t i = 0; i < sizeof consts / sizeof consts[0]; i++) {
    lua_pushinteger(L, consts[i].v);
    lua_setfield(L, -2, consts[i].name);
  }
  return 1;
}
