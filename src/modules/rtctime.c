/* rtctime.c - NodeMCU's rtctime module and netmcu's clock:
 * the host's real time plus an offset (set, sntp) and a rate.  The host
 * clock is only read.
 *
 * The clock is a process global: the runtime restarts the script in the
 * same process (node.restart, deep sleeps), and the chip's RTC keeps time
 * through a deep sleep of rtctime.dsleep, so the clock must outlive the
 * Lua state.  As on the chip (rtc_time_register_bootup), any other restart
 * loses it: the first use in a new life checks how that life started.
 * One process, one device: Lua states of one process share the clock (it
 * is not meant for states running in concurrent threads). */
#include <math.h>
#include <string.h>
#include <time.h>

#include "rtctime.h"

#define SLEW_MAX 0xffffffffLL /* us: the firmware's bound on slewing back */

static struct {
  int have;             /* the time was set (and not lost since) */
  int64_t ref_host;     /* host real time (us) when last rebased */
  int64_t ref_rtc;      /* the clock then, slewing aside */
  int32_t rate;         /* runs (2^32 + rate) / 2^32 as fast as the host */
  int64_t slew;         /* us ahead at slew_host, caught up at 1/16 speed */
  int64_t slew_host;
  unsigned life;        /* the ctx->life that used the clock last */
  unsigned dsleep_life; /* the life that asked rtctime.dsleep, 0 if none */
} clk;

static int64_t host_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* floor(x / 2^32) for any sign (>> on a negative value is not portable). */
static int64_t floor_div32(int64_t x) {
  return x >= 0 ? x >> 32 : -(int64_t)(((uint64_t)-x + 0xffffffffu) >> 32);
}

/* d * (2^32 + rate) / 2^32, floored, without overflow for |d| < 2^62. */
static int64_t scale(int64_t d, int32_t rate) {
  int64_t hi = floor_div32(d), lo = d - hi * 4294967296LL; /* 0 <= lo < 2^32 */
  return d + hi * rate + floor_div32(lo * rate);
}

/* The first use in a new life: the clock survives only the deep sleep that
 * rtctime.dsleep asked for in the life just before. */
static void clk_wake(nm_ctx *ctx) {
  if (clk.life == ctx->life) return;
  int slept = ctx->boot_reason == NM_BOOT_DEEP_SLEEP && clk.dsleep_life != 0 &&
              clk.dsleep_life + 1 == ctx->life;
  if (ctx->boot_reason != NM_BOOT_POWER_ON && !slept) memset(&clk, 0, sizeof clk);
  clk.life = ctx->life;
  clk.dsleep_life = 0;
}

static int64_t raw_at(int64_t host) { return clk.ref_rtc + scale(host - clk.ref_host, clk.rate); }

static int64_t slew_at(int64_t host) {
  int64_t gone = host > clk.slew_host ? (host - clk.slew_host) / 16 : 0;
  return gone >= clk.slew ? 0 : clk.slew - gone;
}

int nm_rtc_now(nm_ctx *ctx, int64_t *us) {
  clk_wake(ctx);
  if (!clk.have) {
    *us = 0;
    return 0;
  }
  int64_t host = host_us();
  *us = raw_at(host) + slew_at(host);
  return 1;
}

void nm_rtc_set(nm_ctx *ctx, int64_t us) {
  int64_t now, host = host_us();
  int had = nm_rtc_now(ctx, &now);
  int64_t back = had ? now - us : 0;
  clk.ref_host = host;
  clk.ref_rtc = us;
  /* As the firmware: no slewing when set to second 0 of the epoch. */
  clk.slew = back > 0 && us >= 1000000 ? (back > SLEW_MAX ? SLEW_MAX : back) : 0;
  clk.slew_host = host;
  clk.have = 1;
  nm_cron_clock_set(ctx);
}

int32_t nm_rtc_rate(nm_ctx *ctx) {
  clk_wake(ctx);
  return clk.rate;
}

void nm_rtc_set_rate(nm_ctx *ctx, int32_t rate) {
  clk_wake(ctx);
  int64_t host = host_us();
  clk.ref_rtc = raw_at(host); /* the time so far at the old rate */
  clk.ref_host = host;
  clk.rate = rate;
}

/* ---- Lua ---- */

/* The integer at idx in [lo, hi]; 0 if it is none or nil. */
static int opt_range(lua_State *L, int idx, long long lo, long long hi, long long *out) {
  if (lua_isnoneornil(L, idx)) return 0;
  *out = nm_checkrange(L, idx, lo, hi);
  return 1;
}

/* rtctime.set([sec [, usec]] [, rate]) */
static int rtctime_set(lua_State *L) {
  long long sec, usec = 0, rate;
  int set_time = opt_range(L, 1, 0, 0xffffffffLL, &sec);
  if (set_time) opt_range(L, 2, 0, 0xffffffffLL, &usec);
  int set_rate = opt_range(L, 3, INT32_MIN, INT32_MAX, &rate);
  nm_ctx *ctx = nm_ctx_get(L);
  if (set_time) nm_rtc_set(ctx, (int64_t)sec * 1000000 + usec);
  if (set_rate) nm_rtc_set_rate(ctx, (int32_t)rate);
  return 0;
}

/* rtctime.get() -> sec, usec, rate (0, 0, rate while the time is not set) */
static int rtctime_get(lua_State *L) {
  nm_ctx *ctx = nm_ctx_get(L);
  int64_t us;
  nm_rtc_now(ctx, &us);
  lua_pushinteger(L, (lua_Integer)(us / 1000000));
  lua_pushinteger(L, (lua_Integer)(us % 1000000));
  lua_pushinteger(L, clk.rate);
  return 3;
}

/* rtctime.adjust_delta(us): a tmr.now() interval in wall-clock us. */
static int rtctime_adjust_delta(lua_State *L) {
  long long us = nm_checkrange(L, 1, -(1LL << 53), 1LL << 53);
  lua_pushinteger(L, (lua_Integer)scale(us, nm_rtc_rate(nm_ctx_get(L))));
  return 1;
}

/* The sleep option (0-4 as node.dsleep's; the host has no RF to keep). */
static void check_sleep_option(lua_State *L, int idx) {
  long long opt;
  if (lua_type(L, idx) == LUA_TNUMBER && (!nm_tointeger(L, idx, &opt) || opt < 0 || opt > 4))
    luaL_error(L, "unknown sleep option");
}

/* Deep sleep for us, keeping the clock: a timed restart of the script. */
static int deep_sleep(lua_State *L, const char *what, int64_t us) {
  nm_ctx *ctx = nm_ctx_get(L);
  nm_restart(L, what, (uint64_t)us, NM_BOOT_DEEP_SLEEP);
  clk_wake(ctx);
  clk.dsleep_life = ctx->life;
  return 0;
}

/* rtctime.dsleep(us [, option]) */
static int rtctime_dsleep(lua_State *L) {
  long long us = nm_checkrange(L, 1, 0, 0xffffffffLL);
  check_sleep_option(L, 2);
  return deep_sleep(L, "rtctime.dsleep", us);
}

/* rtctime.dsleep_aligned(aligned_us, min_us [, option]): wake on the next
 * multiple of aligned_us at least min_us from now. */
static int rtctime_dsleep_aligned(lua_State *L) {
  nm_ctx *ctx = nm_ctx_get(L);
  int64_t now;
  if (!nm_rtc_now(ctx, &now)) return luaL_error(L, "time not available, unable to align");
  long long align = nm_checkrange(L, 1, 0, 0xffffffffLL);
  long long min = nm_checkrange(L, 2, 0, 0xffffffffLL);
  check_sleep_option(L, 3);
  int64_t then = now + min;
  if (align != 0) then = (then + align - 1) / align * align;
  return deep_sleep(L, "rtctime.dsleep_aligned", then - now);
}

/* Days since 1970-01-01 -> civil date (H. Hinnant's algorithm). */
static void civil_from_days(int64_t z, int64_t *y, int *m, int *d) {
  z += 719468;
  int64_t era = z / 146097;
  int64_t doe = z - era * 146097;
  int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  int64_t mp = (5 * doy + 2) / 153;
  *d = (int)(doy - (153 * mp + 2) / 5 + 1);
  *m = (int)(mp < 10 ? mp + 3 : mp - 9);
  *y = yoe + era * 400 + (*m <= 2);
}

static int is_leap(int64_t y) { return y % 4 == 0 && (y % 100 != 0 || y % 400 == 0); }

static void set_int(lua_State *L, const char *k, int64_t v) {
  lua_pushinteger(L, (lua_Integer)v);
  lua_setfield(L, -2, k);
}

void nm_rtc_gmtime(int64_t sec, nm_rtc_tm *tm) {
  static const int before[12] = {0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334};
  int64_t days = sec / 86400, s = sec % 86400;
  civil_from_days(days, &tm->year, &tm->mon, &tm->day);
  tm->yday = before[tm->mon - 1] + tm->day + (tm->mon > 2 && is_leap(tm->year));
  tm->wday = (int)((4 + days) % 7 + 1); /* 1970-01-01 was a Thursday */
  tm->hour = (int)(s / 3600);
  tm->min = (int)(s / 60 % 60);
  tm->sec = (int)(s % 60);
}

/* rtctime.epoch2cal(stamp) -> {year, mon, day, hour, min, sec, yday, wday} */
static int rtctime_epoch2cal(lua_State *L) {
  lua_Number n = luaL_checknumber(L, 1);
  luaL_argcheck(L, n >= 0 && n < 9007199254740992.0, 1, "wrong arg range");
  nm_rtc_tm tm;
  nm_rtc_gmtime((int64_t)floor(n), &tm);
  lua_createtable(L, 0, 8);
  set_int(L, "yday", tm.yday);
  set_int(L, "wday", tm.wday);
  set_int(L, "year", tm.year);
  set_int(L, "mon", tm.mon);
  set_int(L, "day", tm.day);
  set_int(L, "hour", tm.hour);
  set_int(L, "min", tm.min);
  set_int(L, "sec", tm.sec);
  return 1;
}

int luaopen_rtctime(lua_State *L) {
  static const luaL_Reg funcs[] = {{"set", rtctime_set},
                                   {"get", rtctime_get},
                                   {"adjust_delta", rtctime_adjust_delta},
                                   {"dsleep", rtctime_dsleep},
                                   {"dsleep_aligned", rtctime_dsleep_aligned},
                                   {"epoch2cal", rtctime_epoch2cal},
                                   {NULL, NULL}};
  nm_ctx_get(L);
  nm_newlib(L, funcs);
  return 1;
}
