/* sntp.c - NodeMCU's sntp module on the loop.  sync() looks the
 * servers up one after the other (nm_dns_lookup), then asks them in turn
 * over one UDP socket, one request at a time with 1 s to answer, until 5
 * rounds or 8 requests are done, as the firmware does; the answer with the
 * least delay sets rtctime (or, on an autorepeat sync close to the right
 * time, tunes its rate).  Replies are believed only after packet.c's
 * checks and a round trip that holds together.  Callbacks always run from
 * the loop, after the sync's state is cleared (a callback may sync again). */
#include <stdlib.h>
#include <string.h>

#include "modules/rtctime.h"
#include "net/dns.h"
#include "sntp.h"

#define REQUEST_MS 1000
#define MAX_ATTEMPTS 5
#define MAX_REQUESTS 8
#define REPEAT_MS (1000 * 1000)
#define PLL_A (1 << (32 - 11))
#define PLL_B (1 << (32 - 11 - 2))

enum { ERR_DNS = 1, ERR_MEM = 2, ERR_SEND = 3, ERR_TIMEOUT = 4 };

typedef struct {
  struct in_addr addr;
  uint16_t port;
  int dead; /* refused us with a kiss-o'-death (DENY, RSTR) */
} server;

typedef struct {
  int have;
  int pos;
  struct in_addr from;
  uint16_t port;
  int64_t weight;     /* what ranks answers: 2 root delays + the delay */
  int64_t server_us;  /* the server's time when the answer arrived */
  uint64_t at_ns;     /* uv_hrtime() then */
  int64_t delay_us, root_delay_us, root_disp_us;
  int stratum, li;
} answer;

typedef struct sntp {
  nm_obj obj;
  nm_ctx *ctx;
  uv_udp_t udp;
  uv_timer_t timer;  /* the request's 1 s, or a turn after a failed send */
  uv_timer_t repeat; /* autorepeat */
  int open_handles;
  int bound;
  nm_defer done;
  int done_queued;
  /* kept from sync to sync */
  name_list names;  /* the servers named last ... */
  server srv[MAX_SERVERS];
  size_t nsrv;      /* ... and those found (0: look them up again) */
  int last_pos;
  int offset, using_offset, pending_li;
  int64_t next_midnight;
  int32_t pll_increment;
  name_list rep_names;
  int rep_ok, rep_err;
  /* the sync in progress */
  int active, on_repeat, borrowed; /* borrowed: ok/err are the repeat's refs */
  int ok_ref, err_ref;
  size_t lookup_pos;
  nm_dns_req *dns;
  int pos, attempts;
  uint32_t kodbits;
  uint64_t cookie, sent_ns;
  int sends, send_failures;
  answer best;
  int err;
  char err_name[MAX_NAME + 16];
} sntp;

static const char *const default_servers[] = {"0.nodemcu.pool.ntp.org", "1.nodemcu.pool.ntp.org",
                                              "2.nodemcu.pool.ntp.org", "3.nodemcu.pool.ntp.org"};

/* ---- the state ---- */

static void handle_closed_cb(uv_handle_t *h) {
  sntp *st = h->data;
  if (--st->open_handles == 0) free(st);
}

static void unref(sntp *st, int *ref) {
  if (!st->ctx->closed) nm_unanchor(st->ctx->L, ref);
  *ref = LUA_NOREF;
}

static void sntp_kill(nm_obj *o) {
  sntp *st = nm_container_of(o, sntp, obj);
  nm_obj_unregister(&st->obj);
  st->ctx->state[NM_STATE_SNTP] = NULL;
  if (st->dns != NULL) nm_dns_cancel(st->dns);
  if (st->done_queued) nm_defer_cancel(st->ctx, &st->done);
  names_free(&st->names);
  names_free(&st->rep_names);
  uv_close((uv_handle_t *)&st->udp, handle_closed_cb);
  uv_close((uv_handle_t *)&st->timer, handle_closed_cb);
  uv_close((uv_handle_t *)&st->repeat, handle_closed_cb);
}

static sntp *sntp_get(lua_State *L) {
  nm_ctx *ctx = nm_ctx_get(L);
  sntp *st = ctx->state[NM_STATE_SNTP];
  if (st != NULL) return st;
  st = calloc(1, sizeof *st);
  if (st == NULL) luaL_error(L, "out of memory");
  st->ctx = ctx;
  st->last_pos = -1;
  st->ok_ref = st->err_ref = st->rep_ok = st->rep_err = LUA_NOREF;
  uv_udp_init(&ctx->loop, &st->udp);
  uv_timer_init(&ctx->loop, &st->timer);
  uv_timer_init(&ctx->loop, &st->repeat);
  st->udp.data = st->timer.data = st->repeat.data = st;
  st->open_handles = 3;
  nm_obj_register(ctx, &st->obj, sntp_kill);
  ctx->state[NM_STATE_SNTP] = st;
  return st;
}

/* ---- leap seconds (setoffset) ---- */

static int64_t next_midnight(const sntp *st, int64_t now) {
  return now + 86400 - st->offset - (now - st->offset) % 86400;
}

/* At the first midnight UTC of a month after a leap warning, the offset
 * takes the leap second (the firmware's update_offset). */
static void update_offset(sntp *st) {
  int64_t us;
  if (!st->pending_li || !st->using_offset || !nm_rtc_now(st->ctx, &us)) return;
  int64_t now = us / 1000000;
  if (st->next_midnight < 100000) {
    st->next_midnight = next_midnight(st, now);
  } else if (now - st->offset >= st->next_midnight) {
    st->next_midnight = next_midnight(st, now);
    nm_rtc_tm tm;
    nm_rtc_gmtime(now - st->offset, &tm);
    if (tm.day == 1) st->offset += st->pending_li == 1 ? 1 : -1;
    st->pending_li = 0;
  }
}

/* ---- the end of a sync ---- */

static void done_cb(nm_defer *d);

/* The sync is over: stop asking, report from the loop. */
static void finish(sntp *st, int err, const char *name) {
  uv_timer_stop(&st->timer);
  uv_udp_recv_stop(&st->udp);
  st->err = err;
  snprintf(st->err_name, sizeof st->err_name, "%s", name != NULL ? name : "");
  if (!st->done_queued) {
    st->done_queued = 1;
    nm_defer_push(st->ctx, &st->done, done_cb);
  }
}

/* What the firmware calls the time of day: rtctime, or the time since the
 * start when rtctime is not set. */
static int64_t local_us(nm_ctx *ctx) {
  int64_t us;
  if (!nm_rtc_now(ctx, &us)) us = (int64_t)((uv_hrtime() - ctx->start_ns) / 1000);
  return us;
}

typedef struct {
  sntp *st;
  int64_t now_us, delta_us;
} result;

static void push_server(lua_State *L, struct in_addr addr, uint16_t port) {
  nm_push_ip4(L, &addr);
  if (port != NTP_PORT) {
    lua_pushfstring(L, ":%d", (int)port);
    lua_concat(L, 2);
  }
}

static void set_field(lua_State *L, const char *k, int64_t v) {
  lua_pushinteger(L, (lua_Integer)v);
  lua_setfield(L, -2, k);
}

/* ok(sec, usec, server, info) */
static void push_result(lua_State *L, void *arg) {
  result *r = arg;
  const answer *b = &r->st->best;
  lua_pushinteger(L, (lua_Integer)(r->now_us / 1000000));
  lua_pushinteger(L, (lua_Integer)(r->now_us % 1000000));
  push_server(L, b->from, b->port);
  lua_createtable(L, 0, 9);
  /* The firmware's cut: seconds from 256 s on (delta >> 40 in 32.32). */
  if (r->delta_us >= 256000000 || r->delta_us < -256000000) {
    int64_t s = r->delta_us / 1000000;
    set_field(L, "offset_s", r->delta_us < 0 && r->delta_us % 1000000 ? s - 1 : s);
  } else {
    set_field(L, "offset_us", r->delta_us);
  }
  if (b->delay_us > 0) set_field(L, "delay_us", b->delay_us);
  set_field(L, "root_delay_us", b->root_delay_us);
  set_field(L, "root_dispersion_us", b->root_disp_us);
  set_field(L, "root_maxerr_us", b->root_disp_us + b->root_delay_us / 2 + b->delay_us / 2);
  set_field(L, "stratum", b->stratum);
  set_field(L, "leap", b->li);
  set_field(L, "pending_leap", r->st->pending_li);
}

/* err(code, name) */
static void push_error(lua_State *L, void *arg) {
  sntp *st = arg;
  lua_pushinteger(L, st->err);
  if (st->err_name[0] != '\0')
    lua_pushstring(L, st->err_name);
  else
    lua_pushnil(L);
}

/* Sets rtctime from the best answer: a step, or on an autorepeat sync
 * within 200 ms, a new rate (the firmware's PLL). */
static void apply(sntp *st, result *r) {
  const answer *b = &st->best;
  int64_t local = local_us(st->ctx);
  int64_t since = (int64_t)((uv_hrtime() - b->at_ns) / 1000);
  r->now_us = b->server_us + since + (int64_t)st->offset * 1000000;
  r->delta_us = r->now_us - local;
  if (st->on_repeat && r->delta_us > -200000 && r->delta_us < 200000) {
    int64_t d = (r->delta_us * 4294967296LL) / 1000000; /* 32.32 seconds */
    int64_t f = ((d * PLL_A) >> 32) + st->pll_increment;
    st->pll_increment += (int32_t)((d * PLL_B) >> 32);
    nm_rtc_set_rate(st->ctx, (int32_t)(f > INT32_MAX ? INT32_MAX : f < INT32_MIN ? INT32_MIN : f));
  } else {
    nm_rtc_set(st->ctx, r->now_us);
  }
}

static void done_cb(nm_defer *d) {
  sntp *st = nm_container_of(d, sntp, done);
  nm_ctx *ctx = st->ctx;
  st->done_queued = 0;
  int ok = st->ok_ref, err = st->err_ref, owned = !st->borrowed;
  st->ok_ref = st->err_ref = LUA_NOREF;
  st->active = st->borrowed = 0;
  if (st->err != 0) {
    if (st->err == ERR_TIMEOUT || st->err == ERR_DNS) st->nsrv = 0; /* look up anew */
    nm_emit(ctx, err, 0, 0, push_error, st);
  } else {
    result r = {st, 0, 0};
    st->last_pos = st->best.pos;
    apply(st, &r);
    nm_emit(ctx, ok, 0, 0, push_result, &r);
  }
  if (owned) {
    unref(st, &ok);
    unref(st, &err);
  }
}

/* ---- asking the servers ---- */

static uint64_t random64(void) {
  uint64_t v;
  if (uv_random(NULL, NULL, &v, sizeof v, 0, NULL) != 0) v = uv_hrtime() * 0x9E3779B97F4A7C15ull;
  return v;
}

static void timer_cb(uv_timer_t *h);

/* Sends the next request: the next live server, one round after the
 * other, until 5 rounds or 8 requests are done. */
static void dosend(sntp *st) {
  for (;;) {
    if (st->nsrv == 0) {
      finish(st, ERR_TIMEOUT, NULL);
      return;
    }
    if (st->pos < 0) {
      st->pos = 0;
    } else if ((size_t)++st->pos >= st->nsrv) {
      st->pos = 0;
      st->attempts++;
    }
    if (st->attempts >= MAX_ATTEMPTS || st->attempts * (int)st->nsrv >= MAX_REQUESTS) {
      int err = st->best.have ? 0 : st->sends > 0 && st->send_failures == st->sends ? ERR_SEND
                                                                                    : ERR_TIMEOUT;
      finish(st, err, NULL);
      return;
    }
    if (!st->srv[st->pos].dead && !(st->kodbits >> st->pos & 1)) break;
  }
  uint8_t buf[NTP_PACKET];
  st->cookie = random64(); /* a random transmit time: nothing to spoof, nothing told */
  ntp_request(buf, st->cookie);
  struct sockaddr_in to = {0};
  to.sin_family = AF_INET;
  to.sin_addr = st->srv[st->pos].addr;
  to.sin_port = htons(st->srv[st->pos].port);
  uv_buf_t b = uv_buf_init((char *)buf, sizeof buf);
  st->sent_ns = uv_hrtime();
  st->sends++;
  int rc = uv_udp_try_send(&st->udp, &b, 1, (const struct sockaddr *)&to);
  if (rc < 0) st->send_failures++; /* on to the next one, from the loop */
  uv_timer_start(&st->timer, timer_cb, rc < 0 ? 0 : REQUEST_MS, 0);
}

static void timer_cb(uv_timer_t *h) { dosend(h->data); }

static int is_anycast(struct in_addr a) { return ntohl(a.s_addr) == 0xE0000101u; /* 224.0.1.1 */ }

/* Keeps the answer if it is the best so far (the firmware's ranking:
 * nearby servers first, a 25 % bonus to the last best one). */
static void record(sntp *st, const ntp_reply *r, const struct sockaddr_in *from, int64_t server_us,
                   uint64_t at_ns, int64_t delay_us) {
  answer a = {1, st->pos, from->sin_addr, ntohs(from->sin_port), 0, server_us, at_ns, delay_us,
              ntp_short_us(r->root_delay), ntp_short_us(r->root_dispersion), r->stratum, r->li};
  a.weight = 2 * a.root_delay_us + delay_us;
  if (st->pos == st->last_pos) a.weight -= a.weight / 4;
  if (!st->best.have || a.weight < st->best.weight) st->best = a;
}

/* A kiss-o'-death: DENY and RSTR end our use of the server; any other
 * code skips it for the rest of this sync. */
static void kissed(sntp *st, const char *code) {
  if (strcmp(code, "DENY") == 0 || strcmp(code, "RSTR") == 0)
    st->srv[st->pos].dead = 1;
  else
    st->kodbits |= 1u << st->pos;
  uv_timer_start(&st->timer, timer_cb, 0, 0);
}

static void recv_cb(uv_udp_t *h, ssize_t n, const uv_buf_t *buf, const struct sockaddr *addr,
                    unsigned flags) {
  sntp *st = h->data;
  uint64_t t4 = uv_hrtime();
  (void)flags;
  if (n <= 0 || addr == NULL || addr->sa_family != AF_INET || !st->active || st->done_queued ||
      st->pos < 0)
    return;
  const struct sockaddr_in *from = (const struct sockaddr_in *)addr;
  const server *s = &st->srv[st->pos];
  int same = from->sin_addr.s_addr == s->addr.s_addr && ntohs(from->sin_port) == s->port;
  if (!same && !is_anycast(s->addr)) return; /* not from the server asked */
  ntp_reply r;
  enum ntp_verdict v = ntp_check((const uint8_t *)buf->base, (size_t)n, st->cookie, &r);
  if (v == NTP_KISS || (v == NTP_UNSYNC && strcmp(r.refid, "DENY") == 0)) {
    kissed(st, r.refid);
    return;
  }
  if (v != NTP_OK) return; /* not believed: wait for another answer or the timeout */
  int64_t t2 = ntp_to_unix_us(r.recv), t3 = ntp_to_unix_us(r.xmit);
  int64_t rtt = (int64_t)((t4 - st->sent_ns) / 1000), held = t3 - t2;
  if (t2 < 0 || held < 0 || held > rtt) return; /* before 1970; or sent before received, or
                                                 * held longer than the round trip: lies */
  st->kodbits &= ~(1u << st->pos);
  uv_timer_stop(&st->timer);
  if (r.li != 0) st->pending_li = r.li;
  update_offset(st);
  int64_t delay = rtt - held;
  record(st, &r, from, t3 + delay / 2, t4, delay);
  dosend(st);
}

/* ---- looking the servers up ---- */

static void next_lookup(sntp *st);

static void dns_cb(void *arg, int status, const struct in_addr *addr) {
  sntp *st = arg;
  st->dns = NULL;
  if (status == 0 && st->nsrv < MAX_SERVERS) {
    server *s = &st->srv[st->nsrv++];
    s->addr = *addr;
    s->port = st->names.port[st->lookup_pos - 1];
    s->dead = 0;
  }
  next_lookup(st);
}

/* Looks up the next name; after the last, starts asking. */
static void next_lookup(sntp *st) {
  if (st->lookup_pos == st->names.n) {
    if (st->nsrv == 0)
      finish(st, ERR_DNS, st->names.n > 0 ? st->names.host[0] : NULL);
    else
      dosend(st);
    return;
  }
  const char *host = st->names.host[st->lookup_pos++];
  if (strlen(host) > MAX_NAME) {
    finish(st, ERR_DNS, host);
    return;
  }
  st->dns = nm_dns_lookup(st->ctx, host, dns_cb, st);
  if (st->dns == NULL) finish(st, ERR_MEM, NULL);
}

/* Starts a sync: with the servers found last (lookup 0), or by looking up
 * st->names.  Nothing reaches Lua before a later loop turn. */
static void sync_start(sntp *st, int lookup) {
  st->active = 1;
  st->pos = -1;
  st->attempts = 0;
  st->kodbits = 0;
  st->sends = st->send_failures = 0;
  st->best.have = 0;
  st->err = 0;
  uv_udp_recv_start(&st->udp, nm_readbuf_alloc_cb, recv_cb);
  if (lookup) {
    st->nsrv = 0;
    st->lookup_pos = 0;
    next_lookup(st);
  } else {
    dosend(st);
  }
}

/* ---- autorepeat ---- */

static void repeat_stop(sntp *st) {
  uv_timer_stop(&st->repeat);
  if (st->active && st->borrowed) {
    st->borrowed = 0; /* the running sync keeps the callbacks */
  } else {
    unref(st, &st->rep_ok);
    unref(st, &st->rep_err);
  }
  st->rep_ok = st->rep_err = LUA_NOREF;
  names_free(&st->rep_names);
}

/* 1000 s, or NETMCU_SNTP_REPEAT_MS (for tests, which cannot wait that). */
static uint64_t repeat_ms(void) {
  const char *e = getenv("NETMCU_SNTP_REPEAT_MS");
  long v = e != NULL ? strtol(e, NULL, 10) : 0;
  return v > 0 ? (uint64_t)v : REPEAT_MS;
}

/* Every 1000 s: a sync with the same callbacks, unless one is running. */
static void repeat_cb(uv_timer_t *h) {
  sntp *st = h->data;
  if (st->active || !nm_lua_ok(st->ctx)) return;
  st->on_repeat = 1;
  st->borrowed = 1;
  st->ok_ref = st->rep_ok;
  st->err_ref = st->rep_err;
  if (st->nsrv > 0) {
    sync_start(st, 0);
  } else if (names_copy(&st->names, &st->rep_names) != 0) {
    st->active = 1;
    finish(st, ERR_MEM, NULL);
  } else {
    sync_start(st, 1);
  }
}

/* ---- Lua ---- */

static void check_fn(lua_State *L, int idx) {
  int t = lua_type(L, idx);
  luaL_argcheck(L, t == LUA_TFUNCTION || t == LUA_TNIL || t == LUA_TNONE, idx,
                "function or nil expected");
}

static int fn_ref(lua_State *L, int idx) {
  return lua_isfunction(L, idx) ? nm_anchor(L, idx) : LUA_NOREF;
}

/* sntp.sync([server | {servers}], [ok], [err], [autorepeat]) */
static int sntp_sync(lua_State *L) {
  check_fn(L, 2);
  check_fn(L, 3);
  sntp *st = sntp_get(L);
  if (st->active) return luaL_error(L, "sync in progress");
  name_list given = {0};
  int have_names = check_servers(L, &given);
  if (!st->bound) {
    struct sockaddr_in any = {0};
    any.sin_family = AF_INET;
    if (uv_udp_bind(&st->udp, (const struct sockaddr *)&any, 0) != 0) {
      names_free(&given);
      return luaL_error(L, "no port available");
    }
    st->bound = 1;
  }
  /* From here on nothing raises but an out-of-memory error. */
  repeat_stop(st);
  int lookup = 1;
  if (have_names) {
    names_free(&st->names);
    st->names = given;
  } else if (st->nsrv > 0) {
    lookup = 0;
  } else {
    names_free(&st->names);
    for (size_t i = 0; i < 4; i++) {
      const char *d = default_servers[i];
      if (names_add(&st->names, d, strlen(d), NTP_PORT) != 0) return luaL_error(L, "out of memory");
    }
  }
  st->ok_ref = fn_ref(L, 2);
  st->err_ref = fn_ref(L, 3);
  st->on_repeat = st->borrowed = 0;
  st->pll_increment = nm_rtc_rate(st->ctx);
  if (!lua_isnoneornil(L, 4)) {
    st->rep_ok = fn_ref(L, 2);
    st->rep_err = fn_ref(L, 3);
    if (names_copy(&st->rep_names, &st->names) == 0) {
      uint64_t ms = repeat_ms();
      uv_timer_start(&st->repeat, repeat_cb, ms, ms);
    }
  }
  sync_start(st, lookup);
  return 0;
}

/* sntp.setoffset([offset]): NTP time = rtctime - offset (leap seconds). */
static int sntp_setoffset(lua_State *L) {
  long long off = lua_isnoneornil(L, 1) ? 0 : nm_checkrange(L, 1, 0, 255);
  sntp *st = sntp_get(L);
  st->offset = (int)off;
  int64_t us;
  if (nm_rtc_now(st->ctx, &us)) st->next_midnight = next_midnight(st, us / 1000000);
  st->using_offset = 1;
  return 0;
}

/* sntp.getoffset() */
static int sntp_getoffset(lua_State *L) {
  sntp *st = sntp_get(L);
  update_offset(st);
  lua_pushinteger(L, st->offset);
  return 1;
}

int luaopen_sntp(lua_State *L) {
  static const luaL_Reg funcs[] = {{"sync", sntp_sync},
                                   {"setoffset", sntp_setoffset},
                                   {"getoffset", sntp_getoffset},
                                   {NULL, NULL}};
  nm_ctx_get(L);
  nm_newlib(L, funcs);
  return 1;
}
