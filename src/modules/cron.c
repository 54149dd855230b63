/* cron.c - NodeMCU's cron module: crontab-like entries that fire
 * at the start of each matching minute of rtctime (UTC).  One timer per
 * loop, aimed at the next minute boundary of the clock and aimed anew
 * whenever the clock is set; it runs only while entries are scheduled.
 * Scheduled entries are anchored (they fire without a reference from the
 * script); the handler lives in the entry's user value. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "rtctime.h"

#define CRON_ENTRY "cron.entry"
#define SLOT_HANDLER NM_CB_TIMER

typedef struct {
  uint64_t min;  /* bits 0-59 */
  uint32_t hour; /* bits 0-23 */
  uint32_t dom;  /* bits 0-30: days 1-31 */
  uint16_t mon;  /* bits 0-11: months 1-12 */
  uint8_t dow;   /* bits 0-6: Sunday is 0 */
} cron_desc;

typedef struct {
  cron_desc desc;
  int64_t fired; /* the minute (since the epoch) it last fired for, -1 */
  uint64_t seq;  /* when it was (last) scheduled */
} cron_entry;

typedef struct {
  nm_obj obj;
  nm_ctx *ctx;
  uv_timer_t timer;
  int *refs;          /* anchors of the scheduled entries, in order */
  cron_entry **ents;  /* ... and the entries themselves */
  size_t n, cap;
  int64_t last;       /* the minute handled last, -1 */
  uint64_t seq;       /* entries scheduled so far */
} cron_state;

/* ---- the mask ---- */

static int is_blank(char c) { return c == ' ' || c == '\t'; }

/* The number at s as strtol reads it (blanks, a sign, decimal digits),
 * clamped instead of wrapping; *end = s if there is none. */
static long spec_number(const char *s, const char **end) {
  const char *p = s;
  while (isspace((unsigned char)*p)) p++;
  int neg = *p == '-';
  if (*p == '-' || *p == '+') p++;
  if (!isdigit((unsigned char)*p)) {
    *end = s;
    return 0;
  }
  long v = 0;
  for (; isdigit((unsigned char)*p); p++)
    if (v < 100000) v = v * 10 + (*p - '0');
  *end = p;
  return neg ? -v : v;
}

/* One field: "*", "*\/N" or "a,b,c", as the firmware's lcron_parsepart. */
static uint64_t parse_part(lua_State *L, const char *s, const char **end, int min, int max) {
  uint64_t res = 0;
  while (is_blank(*s)) s++;
  if (*s == '*') {
    long each = 1;
    *end = s + 1;
    if (s[1] == '/') {
      each = spec_number(s + 2, end);
      if (each <= 0 || each >= max - min) luaL_error(L, "invalid spec (each %d)", (int)each);
    }
    for (int i = 0; i <= max - min; i++)
      if (i % each == 0) res |= (uint64_t)1 << i;
    return res;
  }
  for (;;) {
    long val = spec_number(s, end);
    if (val < min || val > max)
      luaL_error(L, "invalid spec (val %d out of range %d..%d)", (int)val, min, max);
    res |= (uint64_t)1 << (val - min);
    if (**end != ',') break;
    s = *end + 1;
  }
  return res;
}

static void parse_desc(lua_State *L, const char *str, cron_desc *d) {
  static const int lo[5] = {0, 0, 1, 1, 0}, hi[5] = {59, 23, 31, 12, 6};
  uint64_t part[5];
  const char *s = str;
  for (int i = 0; i < 5; i++) {
    if (i > 0 && !is_blank(*s)) luaL_error(L, "invalid spec (separator @%d)", (int)(s - str));
    part[i] = parse_part(L, i > 0 ? s + 1 : s, &s, lo[i], hi[i]);
  }
  while (is_blank(*s)) s++;
  if (*s != '\0') luaL_error(L, "invalid spec (trailing @%d)", (int)(s - str));
  d->min = part[0];
  d->hour = (uint32_t)part[1];
  d->dom = (uint32_t)part[2];
  d->mon = (uint16_t)part[3];
  d->dow = (uint8_t)part[4];
}

/* ---- the state and its timer ---- */

static void state_closed_cb(uv_handle_t *h) { free(h->data); }

static void cron_kill(nm_obj *o) {
  cron_state *st = nm_container_of(o, cron_state, obj);
  nm_obj_unregister(&st->obj);
  st->ctx->state[NM_STATE_CRON] = NULL;
  free(st->refs); /* the registry goes with the Lua state */
  free(st->ents);
  uv_close((uv_handle_t *)&st->timer, state_closed_cb);
}

static cron_state *state_get(lua_State *L) {
  nm_ctx *ctx = nm_ctx_get(L);
  cron_state *st = ctx->state[NM_STATE_CRON];
  if (st != NULL) return st;
  st = calloc(1, sizeof *st);
  if (st == NULL) luaL_error(L, "out of memory");
  st->ctx = ctx;
  st->last = -1;
  uv_timer_init(&ctx->loop, &st->timer);
  st->timer.data = st;
  nm_obj_register(ctx, &st->obj, cron_kill);
  ctx->state[NM_STATE_CRON] = st;
  return st;
}

static int entry_matches(const cron_entry *e, int64_t minute) {
  nm_rtc_tm tm;
  nm_rtc_gmtime(minute * 60, &tm);
  return (e->desc.mon >> (tm.mon - 1) & 1) && (e->desc.dom >> (tm.day - 1) & 1) &&
         (e->desc.dow >> (tm.wday - 1) & 1) && (e->desc.hour >> tm.hour & 1) &&
         (e->desc.min >> tm.min & 1);
}

/* Calls every entry that was scheduled when this minute came and matches
 * it, each once, while the handlers change the list: after each call the
 * scan starts over.  (Entries scheduled by the handlers wait for the next
 * minute, so a handler that schedules another cannot loop forever.) */
static void fire(cron_state *st, int64_t minute) {
  nm_ctx *ctx = st->ctx;
  uint64_t before = st->seq;
  for (;;) {
    size_t i = 0;
    while (i < st->n && (st->ents[i]->fired == minute || st->ents[i]->seq >= before ||
                         !entry_matches(st->ents[i], minute)))
      i++;
    if (i == st->n) return;
    st->ents[i]->fired = minute;
    nm_emit(ctx, st->refs[i], SLOT_HANDLER, 0, NULL, NULL);
    if (ctx->state[NM_STATE_CRON] != st || !nm_lua_ok(ctx)) return;
  }
}

static void tick_cb(uv_timer_t *h);

/* Aims the timer at the next minute boundary of the clock (each second
 * while it is not set); with fire_now, first runs the entries of the
 * minute the clock is in, unless that minute was handled already. */
static void cron_arm(cron_state *st, int fire_now) {
  int64_t us;
  if (st->n == 0) {
    uv_timer_stop(&st->timer);
    return;
  }
  if (!nm_rtc_now(st->ctx, &us)) {
    uv_timer_start(&st->timer, tick_cb, 1000, 0);
    return;
  }
  int64_t sec = us / 1000000, minute = sec / 60;
  /* Rounded up, from the loop's time brought up to now: not early. */
  uint64_t ms = 60000 - (uint64_t)(sec % 60) * 1000 - (uint64_t)(us % 1000000) / 1000;
  uv_update_time(&st->ctx->loop);
  if (!fire_now) { /* this minute was not waited for: from the next one */
    st->last = minute;
    uv_timer_start(&st->timer, tick_cb, ms, 0);
    return;
  }
  if (sec % 60 == 59) { /* a tick a little early: it is for the next minute */
    minute++;
    ms += 60000;
  }
  uv_timer_start(&st->timer, tick_cb, ms, 0);
  if (minute == st->last) return;
  st->last = minute;
  fire(st, minute);
}

static void tick_cb(uv_timer_t *h) { cron_arm(h->data, 1); }

void nm_cron_clock_set(nm_ctx *ctx) {
  cron_state *st = ctx->state[NM_STATE_CRON];
  if (st != NULL && st->n > 0) {
    /* Not from inside the set call (no synchronous callbacks): at once,
     * from the loop. */
    uv_timer_start(&st->timer, tick_cb, 0, 0);
  }
}

/* ---- the list ---- */

static size_t find(cron_state *st, const cron_entry *e) {
  size_t i = 0;
  while (i < st->n && st->ents[i] != e) i++;
  return i;
}

/* Appends the entry at idx (anchoring it) unless it is scheduled. */
static void list_add(lua_State *L, cron_state *st, int idx, cron_entry *e) {
  if (find(st, e) < st->n) return;
  if (st->n == st->cap) {
    size_t cap = st->cap ? st->cap * 2 : 8;
    int *refs = realloc(st->refs, cap * sizeof *refs);
    if (refs != NULL) st->refs = refs;
    cron_entry **ents = refs != NULL ? realloc(st->ents, cap * sizeof *ents) : NULL;
    if (ents == NULL) luaL_error(L, "out of memory");
    st->ents = ents;
    st->cap = cap;
  }
  st->refs[st->n] = nm_anchor(L, idx);
  st->ents[st->n++] = e;
  e->seq = st->seq++;
  if (st->n == 1) {
    /* The firmware's timer first ticks 1 s after boot and runs the
     * minute it finds (the time survives rtctime.dsleep); later, an entry
     * waits for the next minute. */
    uint64_t up_ms = (uv_hrtime() - st->ctx->start_ns) / 1000000;
    st->last = -1;
    if (up_ms < 1000)
      uv_timer_start(&st->timer, tick_cb, 1000 - up_ms, 0);
    else
      cron_arm(st, 0);
  }
}

static void list_remove(lua_State *L, cron_state *st, size_t i) {
  nm_unanchor(L, &st->refs[i]);
  memmove(st->refs + i, st->refs + i + 1, (st->n - i - 1) * sizeof *st->refs);
  memmove(st->ents + i, st->ents + i + 1, (st->n - i - 1) * sizeof *st->ents);
  if (--st->n == 0) uv_timer_stop(&st->timer);
}

/* ---- Lua ---- */

/* cron.schedule(mask, fn) -> entry */
static int cron_schedule(lua_State *L) {
  const char *mask = luaL_checkstring(L, 1);
  luaL_checktype(L, 2, LUA_TFUNCTION);
  cron_desc d;
  parse_desc(L, mask, &d);
  cron_state *st = state_get(L);
  cron_entry *e = nm_obj_new(L, sizeof *e, CRON_ENTRY);
  e->desc = d;
  e->fired = -1;
  lua_pushvalue(L, 2);
  nm_cb_set(L, -2, SLOT_HANDLER);
  list_add(L, st, -1, e);
  return 1;
}

/* cron.reset(): unschedules every entry. */
static int cron_reset(lua_State *L) {
  cron_state *st = nm_ctx_get(L)->state[NM_STATE_CRON];
  while (st != NULL && st->n > 0) list_remove(L, st, st->n - 1);
  return 0;
}

/* entry:schedule(mask): a new mask; schedules the entry again if needed. */
static int entry_schedule(lua_State *L) {
  cron_entry *e = luaL_checkudata(L, 1, CRON_ENTRY);
  const char *mask = luaL_checkstring(L, 2);
  cron_desc d;
  parse_desc(L, mask, &d);
  cron_state *st = state_get(L);
  e->desc = d;
  list_add(L, st, 1, e);
  return 0;
}

/* entry:handler(fn) */
static int entry_handler(lua_State *L) {
  luaL_checkudata(L, 1, CRON_ENTRY);
  luaL_checktype(L, 2, LUA_TFUNCTION);
  lua_settop(L, 2);
  nm_cb_set(L, 1, SLOT_HANDLER);
  return 0;
}

/* entry:unschedule() */
static int entry_unschedule(lua_State *L) {
  cron_entry *e = luaL_checkudata(L, 1, CRON_ENTRY);
  cron_state *st = nm_ctx_get(L)->state[NM_STATE_CRON];
  size_t i;
  if (st != NULL && (i = find(st, e)) < st->n) list_remove(L, st, i);
  return 0;
}

/* Only unscheduled entries are collected: nothing to release. */
static int entry_gc(lua_State *L) {
  (void)L;
  return 0;
}

int luaopen_cron(lua_State *L) {
  static const luaL_Reg methods[] = {{"schedule", entry_schedule},
                                     {"handler", entry_handler},
                                     {"unschedule", entry_unschedule},
                                     {NULL, NULL}};
  static const luaL_Reg funcs[] = {
      {"schedule", cron_schedule}, {"reset", cron_reset}, {NULL, NULL}};
  nm_ctx_get(L);
  nm_class(L, CRON_ENTRY, methods, entry_gc);
  nm_newlib(L, funcs);
  return 1;
}
