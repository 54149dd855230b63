/* state.c - the wifi module's per-loop state (ctx->state[NM_STATE_WIFI]),
 * the "flash" that outlives node.restart(), the station's state machine
 * and the event queue.
 *
 * The station is connected exactly while it wants to be (a config with
 * auto, connect(), or the boot with autoconnect), the network is "in
 * range" (--wifi-ap) and the host interface is up, running and has an
 * IPv4 address.  Every change of any of these goes through wifi_update(),
 * which queues the firmware's events for the loop: nothing reaches Lua
 * from inside the call or the netlink read that caused it. */
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wifi.h"

wifi_flash wifi_saved;

/* --wifi-ap SSID[:PASSWORD]: the only network in range, if given. */
int wifi_ap_given(char ssid[33], char pwd[65]) {
  const char *s = nm_opts.wifi_ap;
  if (s == NULL) return 0;
  size_t n = strcspn(s, ":");
  snprintf(ssid, 33, "%.*s", (int)(n < 32 ? n : 32), s);
  snprintf(pwd, 65, "%s", s[n] == ':' ? s + n + 1 : "");
  return 1;
}

/* The flash of a device that has been set up for the network the host
 * interface stands for: station mode, auto-connect, that network's SSID
 * (the --wifi-ap one, else the interface's name). */
static void flash_init(const nm_wifi *w) {
  if (wifi_saved.init) return;
  wifi_flash *f = &wifi_saved;
  memset(f, 0, sizeof *f);
  f->init = 1;
  f->mode = MODE_STATION;
  f->autoconnect = 1;
  f->aplimit = 1;
  if (!wifi_ap_given(f->sta.ssid, f->sta.pwd)) snprintf(f->sta.ssid, sizeof f->sta.ssid, "%s", w->ifname);
  f->ap.auth = AUTH_OPEN;
  f->ap.channel = 1;
  f->ap.max = 4;
  f->ap.beacon = 100;
  const uint8_t *m = w->ifs.hw;
  snprintf(f->ap.ssid, sizeof f->ap.ssid, "NODE_%02X%02X%02X", m[3], m[4], m[5]);
}

/* ---- the event queue ---- */

static void drain_cb(nm_defer *d) {
  nm_wifi *w = nm_container_of(d, nm_wifi, defer);
  nm_ctx *ctx = w->ctx;
  w->queued = 0;
  /* What the callbacks queue waits for the next turn; what they purge
   * (purge_unseen) is gone. */
  for (unsigned n = w->q_len; n > 0 && w->q_len > 0 && ctx->state[NM_STATE_WIFI] == w; n--) {
    wifi_event e = w->q[w->q_head];
    w->q_head = (w->q_head + 1) % EVQ_LEN;
    w->q_len--;
    wifi_deliver(w, &e);
  }
  if (ctx->state[NM_STATE_WIFI] == w && w->q_len > 0 && !w->queued) {
    w->queued = 1;
    nm_defer_push(ctx, &w->defer, drain_cb);
  }
}

wifi_event *wifi_push(nm_wifi *w, int id) {
  if (w->q_len == EVQ_LEN) return NULL; /* dropped: the loop is not keeping up */
  wifi_event *e = &w->q[(w->q_head + w->q_len++) % EVQ_LEN];
  memset(e, 0, sizeof *e);
  e->id = (uint8_t)id;
  if (!w->queued) {
    w->queued = 1;
    nm_defer_push(w->ctx, &w->defer, drain_cb);
  }
  return e;
}

/* ---- the station ---- */

int wifi_has_sta(const nm_wifi *w) { return w->mode == MODE_STATION || w->mode == MODE_STATIONAP; }
int wifi_has_ap(const nm_wifi *w) { return w->mode == MODE_SOFTAP || w->mode == MODE_STATIONAP; }

/* Is the configured network in range?  0, or the reason it is not. */
static int ap_check(const nm_wifi *w) {
  char ssid[33], pwd[65];
  if (w->conf.bssid_set && memcmp(w->conf.bssid, w->bssid, 6) != 0) return REASON_NO_AP_FOUND;
  if (!wifi_ap_given(ssid, pwd)) return 0;
  if (strcmp(w->conf.ssid, ssid) != 0) return REASON_NO_AP_FOUND;
  if (pwd[0] != '\0' && strcmp(w->conf.pwd, pwd) != 0) return REASON_AUTH_FAIL;
  return 0;
}

void wifi_set_status(nm_wifi *w, int status) {
  int old = w->status;
  w->status = status;
  if (old == status || !w->mon_running || w->mon_ref[status] == LUA_NOREF) return;
  wifi_event *e = wifi_push(w, EV_STATUS); /* legacy wifi.sta.eventMonReg */
  if (e == NULL) return;
  e->old_v = (int8_t)old;
  e->new_v = (int8_t)status;
}

/* The status of a station that is not connected. */
static int sta_status(const nm_wifi *w) {
  if (!wifi_has_sta(w) || !w->want) return STA_IDLE;
  switch (ap_check(w)) {
  case REASON_NO_AP_FOUND: return STA_APNOTFOUND;
  case REASON_AUTH_FAIL: return STA_WRONGPWD;
  }
  return STA_CONNECTING; /* retrying, until the interface is back */
}

/* Returns 0 if the queue was full (the event is dropped). */
static int push_sta(nm_wifi *w, int id, int reason) {
  wifi_event *e = wifi_push(w, id);
  if (e == NULL) return 0;
  memcpy(e->ssid, w->conf.ssid, sizeof e->ssid);
  if (reason != REASON_NO_AP_FOUND) memcpy(e->bssid, w->bssid, 6); /* one not found has none */
  e->reason = (uint8_t)reason;
  e->conn = w->conn_id;
  e->channel = (uint8_t)w->channel;
  e->ip = w->ip;
  e->mask = w->mask;
  e->gw = w->gw;
  return 1;
}

/* Why the station is not connected now (it was). */
static int down_reason(const nm_wifi *w) {
  if (!w->want || !wifi_has_sta(w)) return REASON_ASSOC_LEAVE; /* the script's doing */
  if (!w->if_found || !(w->ifs.flags & IFF_UP) || !(w->ifs.flags & IFF_RUNNING))
    return REASON_BEACON_TIMEOUT; /* the interface went down or lost its carrier */
  return REASON_UNSPECIFIED;      /* it lost its IPv4 address */
}

/* A connection the script has not heard of yet ends: its queued
 * STA_CONNECTED and STA_GOT_IP go, and no STA_DISCONNECTED comes (a config
 * right after the boot connects once, as on the device). */
static void purge_unseen(nm_wifi *w) {
  unsigned kept = 0;
  for (unsigned i = 0; i < w->q_len; i++) {
    wifi_event *e = &w->q[(w->q_head + i) % EVQ_LEN];
    if ((e->id == EV_STA_CONNECTED || e->id == EV_STA_GOT_IP) && e->conn == w->conn_id) continue;
    w->q[(w->q_head + kept++) % EVQ_LEN] = *e;
  }
  w->q_len = kept;
}

/* Brings the station in line with what it wants and what the host has,
 * queueing the events of the change.  A loss shows in status() and
 * getip() at once; a connection only when its GOT_IP is delivered (until
 * then the station reads as connecting, as on the device). */
void wifi_update(nm_wifi *w) {
  int ok = w->want && wifi_has_sta(w) && ap_check(w) == 0 && w->if_up;
  int got_ip = 0;
  if (w->connected && !ok) {
    if (w->seen_conn == w->conn_id) push_sta(w, EV_STA_DISCONNECTED, down_reason(w));
    else purge_unseen(w);
    w->connected = 0;
  } else if (ok) {
    got_ip = !w->connected || w->ip.s_addr != w->ifs.ip.s_addr;
    w->ip = w->ifs.ip; /* netmask and gateway follow silently */
    w->mask = w->ifs.mask;
    w->gw = w->ifs.gw;
    if (!w->connected) {
      w->conn_id++;
      if (!push_sta(w, EV_STA_CONNECTED, 0)) w->seen_conn = w->conn_id; /* as if delivered */
      wifi_set_status(w, STA_CONNECTING);
    }
    w->connected = 1;
    if (got_ip && !push_sta(w, EV_STA_GOT_IP, 0)) wifi_set_status(w, STA_GOTIP);
  }
  if (!ok) wifi_set_status(w, sta_status(w));
  wifi_keepalive(w);
}

/* A station event is about to reach the script: the connection is now
 * known to it, and with GOT_IP it reads as connected. */
void wifi_delivering(nm_wifi *w, const wifi_event *e) {
  if (!w->connected || e->conn != w->conn_id) return;
  if (e->id == EV_STA_CONNECTED) w->seen_conn = w->conn_id;
  if (e->id == EV_STA_GOT_IP) wifi_set_status(w, STA_GOTIP);
}

/* The station keeps the runtime running while it waits for the interface
 * to come back and the script waits for that (a callback of STA_CONNECTED
 * or STA_GOT_IP), as a connecting socket would.  Otherwise wifi never
 * does: a script that only registers callbacks still ends. */
void wifi_keepalive(nm_wifi *w) {
  if (!w->watching || w->closing) return;
  int waits = w->ev_ref[EV_STA_CONNECTED] != LUA_NOREF || w->ev_ref[EV_STA_GOT_IP] != LUA_NOREF ||
              w->on_ref[ON_STA_CONNECTED] != LUA_NOREF || w->on_ref[ON_STA_GOT_IP] != LUA_NOREF ||
              (w->mon_running && w->mon_ref[STA_GOTIP] != LUA_NOREF);
  int reconnecting = w->want && wifi_has_sta(w) && !w->connected && ap_check(w) == 0;
  if (waits && reconnecting) uv_ref((uv_handle_t *)&w->nl_poll);
  else uv_unref((uv_handle_t *)&w->nl_poll);
}

/* A GOT_IP event is being delivered: the station now reads as connected
 * (unless it lost the connection since). */
void wifi_got_ip(nm_wifi *w) {
  if (w->connected) wifi_set_status(w, STA_GOTIP);
}

void wifi_sta_attempt(nm_wifi *w) {
  if (!wifi_has_sta(w)) return;
  w->want = w->conf.ssid[0] != '\0'; /* an empty SSID is no network */
  int reason = w->want && !w->connected ? ap_check(w) : 0;
  if (reason != 0) push_sta(w, EV_STA_DISCONNECTED, reason); /* as each failed try does */
  wifi_update(w);
}

void wifi_sta_leave(nm_wifi *w) {
  w->want = 0;
  wifi_update(w);
}

static void push_startstop(nm_wifi *w, int id, int ap) {
  wifi_event *e = wifi_push(w, id);
  if (e != NULL) e->flags = (uint8_t)ap;
}

/* A station that leaves disconnects first; one that comes connects after
 * the mode changed. */
void wifi_set_mode(nm_wifi *w, int mode) {
  int old = w->mode;
  if (mode == old) return;
  int had_sta = old == MODE_STATION || old == MODE_STATIONAP;
  int had_ap = old == MODE_SOFTAP || old == MODE_STATIONAP;
  w->mode = mode;
  if (had_sta && !wifi_has_sta(w)) {
    w->want = 0;
    wifi_update(w);
  }
  wifi_event *e = wifi_push(w, EV_MODE_CHANGED);
  if (e != NULL) {
    e->old_v = (int8_t)old;
    e->new_v = (int8_t)mode;
  }
  if (had_sta != wifi_has_sta(w)) push_startstop(w, had_sta ? EV_STOP : EV_START, 0);
  if (had_ap != wifi_has_ap(w)) push_startstop(w, had_ap ? EV_STOP : EV_START, 1);
  if (!had_sta && wifi_has_sta(w) && w->autoconnect) wifi_sta_attempt(w);
}

/* The AP cache of wifi.sta.getapinfo: the latest configs, newest first. */
void wifi_remember_ap(nm_wifi *w, const wifi_staconf *c) {
  int i = 0;
  while (i < w->naps && memcmp(&w->aps[i], c, sizeof *c) != 0) i++;
  if (i == w->naps && w->naps < w->aplimit) w->naps++;
  if (i == w->naps) i = w->naps - 1;
  memmove(&w->aps[1], &w->aps[0], (size_t)i * sizeof *c);
  w->aps[0] = *c;
  w->apindex = 0;
}

/* ---- the state ---- */

static void wifi_kill(nm_obj *o) {
  nm_wifi *w = nm_container_of(o, nm_wifi, obj);
  nm_obj_unregister(&w->obj);
  if (w->queued) nm_defer_cancel(w->ctx, &w->defer);
  w->queued = 0;
  w->ctx->state[NM_STATE_WIFI] = NULL;
  w->closing = 1;
  if (!w->ctx->closed) wifi_unref_all(w);
  wifi_host_close(w); /* frees w once its handle is closed */
}

void wifi_defaults(nm_wifi *w) {
  const wifi_flash *f = &wifi_saved;
  w->mode = f->mode;
  w->autoconnect = f->autoconnect;
  w->aplimit = f->aplimit;
  w->conf = f->sta;
  w->ap = f->ap;
  w->naps = 0;
  if (w->conf.ssid[0] != '\0') wifi_remember_ap(w, &w->conf);
  const uint8_t *m = w->ifs.hw;
  snprintf(w->hostname, sizeof w->hostname, "NODE-%02X%02X%02X", m[3], m[4], m[5]);
  w->sleeptype = SLEEP_MODEM;
  w->phymode = 3; /* PHYMODE_N */
  w->nullmodesleep = 1;
  memcpy(w->country, "CN", 3);
  w->country_start = 1;
  w->country_end = 13;
  nm_parse_ip4("192.168.4.1", &w->ap_ip);
  nm_parse_ip4("255.255.255.0", &w->ap_mask);
  w->ap_gw = w->ap_ip;
  nm_parse_ip4("192.168.4.2", &w->dhcp_start);
  memcpy(w->ap_mac, m, 6);
  w->ap_mac[0] |= 0x02; /* the device's AP address differs from the station's */
}

/* The module's state, created on first use: it reads the interface and
 * boots the station as the device does (auto-connect with the saved
 * config), whose events come on a later loop turn. */
nm_wifi *wifi_get(lua_State *L) {
  nm_ctx *ctx = nm_ctx_get(L);
  if (ctx->state[NM_STATE_WIFI] != NULL) return ctx->state[NM_STATE_WIFI];
  nm_wifi *w = calloc(1, sizeof *w);
  if (w == NULL) luaL_error(L, "out of memory");
  w->ctx = ctx;
  w->nl_fd = -1;
  w->scan_ref = LUA_NOREF;
  for (int i = 0; i <= EV_MAX; i++) w->ev_ref[i] = LUA_NOREF;
  for (int i = 0; i < ON_MAX; i++) w->on_ref[i] = LUA_NOREF;
  for (int i = 0; i <= STA_GOTIP; i++) w->mon_ref[i] = LUA_NOREF;
  nm_obj_register(ctx, &w->obj, wifi_kill);
  ctx->state[NM_STATE_WIFI] = w;
  wifi_host_open(w);
  flash_init(w);
  wifi_defaults(w);
  w->status = STA_IDLE;
  if (wifi_has_sta(w) && w->autoconnect) wifi_sta_attempt(w);
  return w;
}
