/* events.c - delivering queued events to the script (always from the
 * loop, through nm_emit): wifi.eventmon callbacks (also set by
 * wifi.sta.config's *_cb fields, connect(fn) and disconnect(fn), which
 * share their slots as in the firmware), wifi.sta.on / wifi.ap.on of the
 * ESP32 firmware, the legacy wifi.sta.eventMonReg, and wifi.sta.getap
 * answers. */
#include <net/if.h>
#include <stdio.h>
#include <string.h>

#include "wifi.h"

void wifi_set_ref(lua_State *L, int *ref, int idx) {
  nm_unref(L, *ref); /* also at shutdown (wifi_unref_all): must not raise */
  *ref = LUA_NOREF;
  if (idx == 0) return;
  lua_pushvalue(L, idx);
  *ref = luaL_ref(L, LUA_REGISTRYINDEX);
}

void wifi_unref_all(nm_wifi *w) {
  lua_State *L = w->ctx->L;
  for (int i = 0; i <= EV_MAX; i++) wifi_set_ref(L, &w->ev_ref[i], 0);
  for (int i = 0; i < ON_MAX; i++) wifi_set_ref(L, &w->on_ref[i], 0);
  for (int i = 0; i <= STA_GOTIP; i++) wifi_set_ref(L, &w->mon_ref[i], 0);
  wifi_set_ref(L, &w->scan_ref, 0);
}

/* ---- the tables passed to callbacks ---- */

static void set_int(lua_State *L, const char *k, int v) {
  lua_pushinteger(L, v);
  lua_setfield(L, -2, k);
}
static void set_str(lua_State *L, const char *k, const char *v) {
  lua_pushstring(L, v);
  lua_setfield(L, -2, k);
}
static void set_mac(lua_State *L, const char *k, const uint8_t *mac) {
  wifi_push_mac(L, mac);
  lua_setfield(L, -2, k);
}
static void set_ip(lua_State *L, const char *k, struct in_addr a) {
  wifi_push_ip(L, a);
  lua_setfield(L, -2, k);
}

/* wifi.eventmon: function(T), T as the firmware fills it. */
static void push_eventmon(lua_State *L, void *arg) {
  const wifi_event *e = arg;
  lua_createtable(L, 0, 3);
  switch (e->id) {
  case EV_STA_CONNECTED:
    set_str(L, "SSID", e->ssid);
    set_mac(L, "BSSID", e->bssid);
    set_int(L, "channel", e->channel);
    break;
  case EV_STA_DISCONNECTED:
    set_str(L, "SSID", e->ssid);
    set_int(L, "reason", e->reason);
    set_mac(L, "BSSID", e->bssid);
    break;
  case EV_STA_GOT_IP:
    set_ip(L, "IP", e->ip);
    set_ip(L, "netmask", e->mask);
    set_ip(L, "gateway", e->gw);
    break;
  case EV_MODE_CHANGED:
    set_int(L, "old_mode", e->old_v);
    set_int(L, "new_mode", e->new_v);
    break;
  }
}

static const char *const on_names[ON_MAX] = {
    "start", "stop", "connected", "disconnected", "authmode_changed", "got_ip",
    "start", "stop", "sta_connected", "sta_disconnected", "probe_req"};

typedef struct {
  const nm_wifi *w;
  const wifi_event *e;
  int slot;
} on_arg;

/* wifi.sta.on / wifi.ap.on: function(event, info), as the ESP32 has it. */
static void push_on(lua_State *L, void *arg) {
  const on_arg *a = arg;
  const wifi_event *e = a->e;
  lua_pushstring(L, on_names[a->slot]);
  lua_createtable(L, 0, 4);
  switch (a->slot) {
  case ON_STA_CONNECTED:
    set_str(L, "ssid", e->ssid);
    set_mac(L, "bssid", e->bssid);
    set_int(L, "channel", e->channel);
    set_int(L, "auth", a->w->conf.pwd[0] ? AUTH_WPA2_PSK : AUTH_OPEN);
    break;
  case ON_STA_DISCONNECTED:
    set_str(L, "ssid", e->ssid);
    set_mac(L, "bssid", e->bssid);
    set_int(L, "reason", e->reason);
    break;
  case ON_STA_GOT_IP:
    set_ip(L, "ip", e->ip);
    set_ip(L, "netmask", e->mask);
    set_ip(L, "gw", e->gw);
    break;
  }
}

/* ---- wifi.sta.getap answers: the networks in range ---- */

/* The one network in range: --wifi-ap's, else the one the interface
 * stands for; none while the interface is down. */
static int in_range(const nm_wifi *w, char ssid[33], char pwd[65]) {
  if (!w->if_found || !(w->ifs.flags & IFF_UP) || !(w->ifs.flags & IFF_RUNNING)) return 0;
  if (wifi_ap_given(ssid, pwd)) return 1;
  snprintf(ssid, 33, "%s", w->conf.ssid[0] ? w->conf.ssid : w->ifname);
  snprintf(pwd, 65, "%s", w->conf.pwd);
  return 1;
}

static void push_scan(lua_State *L, void *arg) {
  const on_arg *a = arg;
  const nm_wifi *w = a->w;
  const wifi_event *e = a->e;
  char ssid[33], pwd[65], key[40], val[80], mac[18];
  lua_newtable(L);
  if (!in_range(w, ssid, pwd)) return;
  if ((e->flags & SCAN_SSID) && strcmp(ssid, e->ssid) != 0) return;
  if ((e->flags & SCAN_BSSID) && memcmp(w->bssid, e->bssid, 6) != 0) return;
  if ((e->flags & SCAN_CHANNEL) && e->channel != 0 && e->channel != w->channel) return;
  int auth = pwd[0] ? AUTH_WPA2_PSK : AUTH_OPEN;
  const uint8_t *b = w->bssid;
  snprintf(mac, sizeof mac, "%02x:%02x:%02x:%02x:%02x:%02x", b[0], b[1], b[2], b[3], b[4], b[5]);
  if (e->flags & SCAN_FMT1) { /* BSSID: SSID, RSSI, auth, channel */
    snprintf(key, sizeof key, "%s", mac);
    snprintf(val, sizeof val, "%s,%d,%d,%d", ssid, HOST_RSSI, auth, w->channel);
  } else { /* SSID: auth, RSSI, BSSID, channel */
    snprintf(key, sizeof key, "%s", ssid);
    snprintf(val, sizeof val, "%d,%d,%s,%d", auth, HOST_RSSI, mac, w->channel);
  }
  lua_pushstring(L, val);
  lua_setfield(L, -2, key);
}

/* ---- delivery ---- */

static void push_prev_status(lua_State *L, void *arg) {
  lua_pushinteger(L, ((const wifi_event *)arg)->old_v);
}

static void emit_on(nm_wifi *w, int slot, const wifi_event *e) {
  on_arg a = {w, e, slot};
  if (w->on_ref[slot] != LUA_NOREF) nm_emit(w->ctx, w->on_ref[slot], 0, 0, push_on, &a);
}

void wifi_deliver(nm_wifi *w, const wifi_event *e) {
  nm_ctx *ctx = w->ctx;
  on_arg a = {w, e, 0};
  int ref;
  switch (e->id) {
  case EV_STATUS:
    if (w->mon_running && (ref = w->mon_ref[e->new_v]) != LUA_NOREF)
      nm_emit(ctx, ref, 0, 0, push_prev_status, (void *)e);
    return;
  case EV_SCAN:
    if ((ref = w->scan_ref) == LUA_NOREF) return; /* a later getap replaced this one */
    w->scan_ref = LUA_NOREF; /* answered once; the callback may ask again */
    nm_emit(ctx, ref, 0, 0, push_scan, &a);
    if (!ctx->closed) nm_unref(ctx->L, ref); /* from libuv: must not raise */
    return;
  case EV_START:
  case EV_STOP:
    emit_on(w, (e->flags ? ON_AP_START : ON_STA_START) + (e->id == EV_STOP), e);
    return;
  }
  wifi_delivering(w, e);
  if (w->ev_ref[e->id] != LUA_NOREF) nm_emit(ctx, w->ev_ref[e->id], 0, 0, push_eventmon, (void *)e);
  if (ctx->state[NM_STATE_WIFI] != w) return;
  switch (e->id) {
  case EV_STA_CONNECTED: emit_on(w, ON_STA_CONNECTED, e); break;
  case EV_STA_DISCONNECTED: emit_on(w, ON_STA_DISCONNECTED, e); break;
  case EV_STA_GOT_IP: emit_on(w, ON_STA_GOT_IP, e); break;
  }
}

/* ---- registering ---- */

/* wifi.eventmon.register(event[, fn]), wifi.eventmon.unregister(event) */
int wifi_eventmon_register(lua_State *L) {
  long long id = nm_checkinteger(L, 1);
  if (id < 0 || id > EV_MAX) return luaL_error(L, "valid wifi events:0-%d", EV_MAX);
  nm_wifi *w = wifi_get(L);
  wifi_set_ref(L, &w->ev_ref[id], lua_type(L, 2) == LUA_TFUNCTION ? 2 : 0);
  wifi_keepalive(w);
  return 0;
}

/* wifi.sta.on(event, fn|nil), wifi.ap.on(...): the ESP32 firmware's. */
static int wifi_events_on(lua_State *L, int first, int last) {
  const char *name = luaL_checkstring(L, 1);
  if (!lua_isnoneornil(L, 2)) luaL_checktype(L, 2, LUA_TFUNCTION);
  int slot = first;
  while (slot <= last && strcmp(on_names[slot], name) != 0) slot++;
  if (slot > last) return luaL_error(L, "unknown event: %s", name);
  nm_wifi *w = wifi_get(L);
  wifi_set_ref(L, &w->on_ref[slot], lua_isnoneornil(L, 2) ? 0 : 2);
  wifi_keepalive(w);
  return 0;
}
int wifi_sta_on(lua_State *L) { return wifi_events_on(L, ON_STA_START, ON_STA_GOT_IP); }
int wifi_ap_on(lua_State *L) { return wifi_events_on(L, ON_AP_START, ON_AP_PROBE); }

/* ---- the station status monitor of firmware before 2.0 (legacy) ---- */

#define MON_INSTEAD "wifi.eventmon.register(...)"

/* wifi.sta.eventMonReg(status[, fn]) */
static int wifi_eventmonreg(lua_State *L) {
  long long st = nm_checkinteger(L, 1);
  if (st < 0 || st > STA_GOTIP) return luaL_error(L, "valid wifi status:0-5");
  nm_legacy_warn(L, "wifi.sta.eventMonReg(...)", MON_INSTEAD);
  nm_wifi *w = wifi_get(L);
  wifi_set_ref(L, &w->mon_ref[st], lua_type(L, 2) == LUA_TFUNCTION ? 2 : 0);
  wifi_keepalive(w);
  return 0;
}

/* wifi.sta.eventMonStart([ms]): status changes are events here, not
 * polled, so ms is checked and not needed. */
static int wifi_eventmonstart(lua_State *L) {
  nm_wifi *w = wifi_get(L);
  if (w->mode == MODE_SOFTAP) return luaL_error(L, "Can't monitor in SOFTAP mode");
  int any = 0;
  for (int i = 0; i <= STA_GOTIP; i++) any |= w->mon_ref[i] != LUA_NOREF;
  if (!any) return luaL_error(L, "No callbacks defined");
  if (lua_isnumber(L, 1)) luaL_checknumber(L, 1);
  nm_legacy_warn(L, "wifi.sta.eventMonStart(...)", MON_INSTEAD);
  if (!w->mon_running && w->status != STA_IDLE && w->mon_ref[w->status] != LUA_NOREF) {
    wifi_event *e = wifi_push(w, EV_STATUS); /* the device's monitor started from 0 */
    if (e != NULL) e->new_v = (int8_t)w->status;
  }
  w->mon_running = 1;
  wifi_keepalive(w);
  return 0;
}

/* wifi.sta.eventMonStop([unregister_all]) */
static int wifi_eventmonstop(lua_State *L) {
  nm_legacy_warn(L, "wifi.sta.eventMonStop(...)", MON_INSTEAD);
  nm_wifi *w = wifi_get(L);
  w->mon_running = 0;
  if (lua_isstring(L, 1))
    for (int i = 0; i <= STA_GOTIP; i++) wifi_set_ref(L, &w->mon_ref[i], 0);
  wifi_keepalive(w);
  return 0;
}

void wifi_open_legacy_eventmon(lua_State *L) {
  static const luaL_Reg funcs[] = {{"eventMonReg", wifi_eventmonreg},
                                   {"eventMonStart", wifi_eventmonstart},
                                   {"eventMonStop", wifi_eventmonstop},
                                   {NULL, NULL}};
  if (!nm_opts.strict) nm_setfuncs(L, funcs, 0);
}
