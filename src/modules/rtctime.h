/* rtctime.h - netmcu's clock, shared by rtctime, sntp and cron.
 * It is the host's real time plus an offset that rtctime.set and sntp
 * move, and a rate (rtctime's units of 2^-32); the host clock is never
 * set.  Like the chip's RTC it survives a deep sleep of rtctime.dsleep and
 * is lost on any other restart (rtctime.c).  Times are microseconds since
 * the Unix epoch. */
#ifndef NM_RTCTIME_H
#define NM_RTCTIME_H

#include "core/nm.h"

/* 1 and the time in *us if the clock is set; else 0 and *us = 0. */
int nm_rtc_now(nm_ctx *ctx, int64_t *us);
/* Sets the clock (the firmware's rtctime_settimeofday): the rate is kept,
 * and the clock never goes back: set earlier, it slows to 15/16 of its
 * speed until the new time has caught up (at most 4295 s of it). */
void nm_rtc_set(nm_ctx *ctx, int64_t us);
int32_t nm_rtc_rate(nm_ctx *ctx);
void nm_rtc_set_rate(nm_ctx *ctx, int32_t rate);

/* A time (seconds since the epoch, >= 0) as a UTC calendar date. */
typedef struct {
  int64_t year;
  int mon, day, hour, min, sec; /* mon 1-12, day 1-31 */
  int yday, wday;               /* 1-366; 1-7, Sunday is 1 */
} nm_rtc_tm;
void nm_rtc_gmtime(int64_t sec, nm_rtc_tm *tm);

/* cron.c: the clock was set; cron re-arms its timer for the new time. */
void nm_cron_clock_set(nm_ctx *ctx);

#endif
