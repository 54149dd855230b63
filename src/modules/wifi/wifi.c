/* wifi.c - the wifi module: luaopen_wifi, the wifi.* calls, the
 * constants and the helpers shared by sta.c and ap.c.  The station mirrors
 * a host interface (netlink.c, state.c); nothing here changes the host's
 * network configuration. */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "wifi.h"

/* ---- helpers ---- */

int wifi_field_int(lua_State *L, const char *key, int lo, int hi, int dflt, const char *notnum,
                   const char *range) {
  lua_getfield(L, 1, key);
  if (lua_isnil(L, -1)) {
    lua_pop(L, 1);
    return dflt;
  }
  if (!lua_isnumber(L, -1)) luaL_argerror(L, 1, notnum);
  long long v = nm_checkinteger(L, -1);
  luaL_argcheck(L, v >= lo && v <= hi, 1, range);
  lua_pop(L, 1);
  return (int)v;
}

void wifi_push_mac(lua_State *L, const uint8_t m[6]) {
  char s[18];
  snprintf(s, sizeof s, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
  lua_pushstring(L, s);
}

void wifi_push_ip(lua_State *L, struct in_addr a) { nm_push_ip4(L, &a); }

/* ets_str2macaddr: six hex pairs at offsets 0, 3, ..., 15, any separator
 * ("DE:C1:A5:51:F1:ED", "AC-1D-1C-B1-0B-22", "DE AD BE EF 7A C0").
 * Returns 0, or -1 if len is not 17 or a pair is not hex. */
int wifi_parse_mac(const char *s, size_t len, uint8_t mac[6]) {
  if (len != 17) return -1;
  for (int i = 0; i < 6; i++) {
    const char *p = s + 3 * i;
    if (!isxdigit((unsigned char)p[0]) || !isxdigit((unsigned char)p[1])) return -1;
    unsigned v;
    sscanf(p, "%2x", &v);
    mac[i] = (uint8_t)v;
  }
  return 0;
}

int wifi_field_str(lua_State *L, const char *key, char *out, size_t min, size_t max,
                   const char *typemsg, const char *lenmsg) {
  lua_getfield(L, 1, key);
  if (lua_isnil(L, -1)) {
    lua_pop(L, 1);
    return 0;
  }
  if (!lua_isstring(L, -1)) luaL_argerror(L, 1, typemsg);
  size_t len;
  const char *s = lua_tolstring(L, -1, &len);
  luaL_argcheck(L, len >= min && len <= max, 1, lenmsg);
  memcpy(out, s, len);
  out[len] = '\0';
  lua_pop(L, 1);
  return 1;
}

int wifi_field_bool(lua_State *L, const char *key, int *out, const char *typemsg) {
  lua_getfield(L, 1, key);
  int t = lua_type(L, -1);
  if (t != LUA_TNIL && t != LUA_TBOOLEAN) luaL_argerror(L, 1, typemsg);
  if (t == LUA_TBOOLEAN) *out = lua_toboolean(L, -1);
  lua_pop(L, 1);
  return t == LUA_TBOOLEAN;
}

/* ---- wifi.* ---- */

static int check_mode(lua_State *L) {
  long long mode = nm_checkinteger(L, 1);
  luaL_argcheck(L, mode >= MODE_NULL && mode <= MODE_STATIONAP, 1, "Invalid mode");
  if (!lua_isnoneornil(L, 2)) luaL_checktype(L, 2, LUA_TBOOLEAN);
  return (int)mode;
}

/* wifi.setmode(mode[, save]) */
static int wifi_setmode(lua_State *L) {
  int mode = check_mode(L);
  int save = lua_isnoneornil(L, 2) || lua_toboolean(L, 2);
  nm_wifi *w = wifi_get(L);
  wifi_set_mode(w, mode);
  if (save) wifi_saved.mode = mode;
  lua_pushinteger(L, w->mode);
  return 1;
}

/* wifi.mode(mode[, save]) of the ESP32 firmware: the same, no result. */
static int wifi_mode(lua_State *L) {
  wifi_setmode(L);
  return 0;
}

static int wifi_getmode(lua_State *L) {
  lua_pushinteger(L, wifi_get(L)->mode);
  return 1;
}

static int wifi_getdefaultmode(lua_State *L) {
  wifi_get(L);
  lua_pushinteger(L, wifi_saved.mode);
  return 1;
}

/* The radio's channel: the station's network's, else the AP's. */
static int wifi_getchannel(lua_State *L) {
  nm_wifi *w = wifi_get(L);
  lua_pushinteger(L, w->connected || !wifi_has_ap(w) ? w->channel : w->ap.channel);
  return 1;
}

/* wifi.start() / wifi.stop() of the ESP32 firmware: the radio on or off
 * without changing the mode. */
static int wifi_start(lua_State *L) {
  nm_wifi *w = wifi_get(L);
  if (w->started) return 0;
  w->started = 1;
  wifi_event *e;
  if (wifi_has_sta(w) && (e = wifi_push(w, EV_START)) != NULL) e->flags = 0;
  if (wifi_has_ap(w) && (e = wifi_push(w, EV_START)) != NULL) e->flags = 1;
  if (wifi_has_sta(w) && w->autoconnect) wifi_sta_attempt(w);
  return 0;
}

static int wifi_stop(lua_State *L) {
  nm_wifi *w = wifi_get(L);
  wifi_sta_leave(w);
  w->started = 0;
  wifi_event *e;
  if (wifi_has_sta(w) && (e = wifi_push(w, EV_STOP)) != NULL) e->flags = 0;
  if (wifi_has_ap(w) && (e = wifi_push(w, EV_STOP)) != NULL) e->flags = 1;
  return 0;
}

static int wifi_getcountry(lua_State *L) {
  nm_wifi *w = wifi_get(L);
  lua_createtable(L, 0, 4);
  lua_pushstring(L, w->country);
  lua_setfield(L, -2, "country");
  lua_pushinteger(L, w->country_start);
  lua_setfield(L, -2, "start_ch");
  lua_pushinteger(L, w->country_end);
  lua_setfield(L, -2, "end_ch");
  lua_pushinteger(L, w->country_policy);
  lua_setfield(L, -2, "policy");
  return 1;
}

/* The firmware's setcountry says "<key>: must be a number". */
static int country_num(lua_State *L, const char *key, int lo, int hi, int dflt, const char *range) {
  char notnum[40];
  snprintf(notnum, sizeof notnum, "%s: must be a number", key);
  return wifi_field_int(L, key, lo, hi, dflt, notnum, range);
}

/* wifi.setcountry(country_info) */
static int wifi_setcountry(lua_State *L) {
  if (!lua_istable(L, 1)) return luaL_argerror(L, 1, "Table not found!");
  char cc[3] = "CN";
  lua_getfield(L, 1, "country");
  if (!lua_isnil(L, -1)) {
    size_t len;
    if (!lua_isstring(L, -1)) return luaL_argerror(L, 1, "country: must be string");
    const char *s = lua_tolstring(L, -1, &len);
    luaL_argcheck(L, len == 2 && isalpha((unsigned char)s[0]) && isalpha((unsigned char)s[1]), 1,
                  "country: country code must be 2 chars");
    cc[0] = (char)toupper((unsigned char)s[0]);
    cc[1] = (char)toupper((unsigned char)s[1]);
  }
  lua_pop(L, 1);
  int start = country_num(L, "start_ch", 1, 14, 1, "start_ch: Range:1-14");
  int end = country_num(L, "end_ch", 1, 14, 13, "end_ch: Range:1-14");
  luaL_argcheck(L, end >= start, 1, "end_ch: can't be less than start_ch");
  int policy = country_num(L, "policy", 0, 1, 0, "policy: must be 0 or 1");
  nm_wifi *w = wifi_get(L);
  memcpy(w->country, cc, 3);
  w->country_start = start;
  w->country_end = end;
  w->country_policy = policy;
  lua_pushboolean(L, 1);
  return 1;
}

static int wifi_setphymode(lua_State *L) {
  long long mode = nm_checkinteger(L, 1);
  if (mode < 1 || mode > 3) return luaL_error(L, "wrong arg type");
  nm_wifi *w = wifi_get(L);
  w->phymode = (int)mode;
  lua_pushinteger(L, w->phymode);
  return 1;
}

static int wifi_getphymode(lua_State *L) {
  lua_pushinteger(L, wifi_get(L)->phymode);
  return 1;
}

static int wifi_setmaxtxpower(lua_State *L) {
  long long p = nm_checkinteger(L, 1);
  luaL_argcheck(L, p > 0 && p < 83, 1, "tx power out of range (0->82)");
  return 0;
}

static int wifi_nullmodesleep(lua_State *L) {
  nm_wifi *w = wifi_get(L);
  if (!lua_isnone(L, 1)) w->nullmodesleep = lua_toboolean(L, 1);
  lua_pushboolean(L, w->nullmodesleep);
  return 1;
}

/* wifi.sleeptype(type) and wifi.sta.sleeptype(type) */
int wifi_sleeptype(lua_State *L) {
  nm_wifi *w = wifi_get(L);
  if (lua_isnumber(L, 1)) {
    long long t = nm_checkinteger(L, 1);
    luaL_argcheck(L, t >= SLEEP_NONE && t <= SLEEP_MODEM, 1, "range:0-2");
    w->sleeptype = (int)t;
  }
  lua_pushinteger(L, w->sleeptype);
  return 1;
}

/* As built by default (PMSLEEP_ENABLE off in user_config.h). */
static int wifi_suspend(lua_State *L) { return luaL_error(L, "wifi.suspend is unavailable"); }

/* ---- the module ---- */

static void set_consts(lua_State *L, const char *const names[], const int values[]) {
  for (int i = 0; names[i] != NULL; i++) {
    lua_pushinteger(L, values[i]);
    lua_setfield(L, -2, names[i]);
  }
}

static void open_eventmon(lua_State *L) {
  static const luaL_Reg funcs[] = {{"register", wifi_eventmon_register},
                                   {"unregister", wifi_eventmon_register},
                                   {NULL, NULL}};
  static const char *const ev[] = {"STA_CONNECTED", "STA_DISCONNECTED", "STA_AUTHMODE_CHANGE",
                                   "STA_GOT_IP", "STA_DHCP_TIMEOUT", "AP_STACONNECTED",
                                   "AP_STADISCONNECTED", "AP_PROBEREQRECVED", "WIFI_MODE_CHANGED",
                                   "EVENT_MAX", NULL};
  static const int evv[] = {0, 1, 2, 3, 4, 5, 6, 7, 8, EV_MAX};
  static const char *const rn[] = {
      "UNSPECIFIED", "AUTH_EXPIRE", "AUTH_LEAVE", "ASSOC_EXPIRE", "ASSOC_TOOMANY", "NOT_AUTHED",
      "NOT_ASSOCED", "ASSOC_LEAVE", "ASSOC_NOT_AUTHED", "DISASSOC_PWRCAP_BAD",
      "DISASSOC_SUPCHAN_BAD", "IE_INVALID", "MIC_FAILURE", "4WAY_HANDSHAKE_TIMEOUT",
      "GROUP_KEY_UPDATE_TIMEOUT", "IE_IN_4WAY_DIFFERS", "GROUP_CIPHER_INVALID",
      "PAIRWISE_CIPHER_INVALID", "AKMP_INVALID", "UNSUPP_RSN_IE_VERSION", "INVALID_RSN_IE_CAP",
      "802_1X_AUTH_FAILED", "CIPHER_SUITE_REJECTED", "BEACON_TIMEOUT", "NO_AP_FOUND",
      "AUTH_FAIL", "ASSOC_FAIL", "HANDSHAKE_TIMEOUT", NULL};
  static const int rv[] = {1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11,  13,  14,  15,
                           16, 17, 18, 19, 20, 21, 22, 23, 24, 200, 201, 202, 203, 204};
  nm_newlib(L, funcs);
  set_consts(L, ev, evv);
  lua_newtable(L);
  set_consts(L, rn, rv);
  lua_setfield(L, -2, "reason");
  lua_setfield(L, -2, "eventmon");
}

int luaopen_wifi(lua_State *L) {
  static const luaL_Reg funcs[] = {
      {"setmode", wifi_setmode},         {"getmode", wifi_getmode},
      {"getdefaultmode", wifi_getdefaultmode}, {"getchannel", wifi_getchannel},
      {"getcountry", wifi_getcountry},   {"setcountry", wifi_setcountry},
      {"setphymode", wifi_setphymode},   {"getphymode", wifi_getphymode},
      {"setmaxtxpower", wifi_setmaxtxpower}, {"suspend", wifi_suspend},
      {"resume", wifi_suspend},          {"nullmodesleep", wifi_nullmodesleep},
      {"sleeptype", wifi_sleeptype}, {"mode", wifi_mode},
      {"start", wifi_start},             {"stop", wifi_stop},
      {NULL, NULL}};
  static const char *const names[] = {
      "NULLMODE", "STATION", "SOFTAP", "STATIONAP", "PHYMODE_B", "PHYMODE_G", "PHYMODE_N",
      "NONE_SLEEP", "LIGHT_SLEEP", "MODEM_SLEEP", "OPEN", "WPA_PSK", "WPA2_PSK", "WPA_WPA2_PSK",
      "STA_IDLE", "STA_CONNECTING", "STA_WRONGPWD", "STA_APNOTFOUND", "STA_FAIL", "STA_GOTIP",
      "COUNTRY_AUTO", "COUNTRY_MANUAL", NULL};
  static const int values[] = {MODE_NULL, MODE_STATION, MODE_SOFTAP, MODE_STATIONAP, 1, 2, 3,
                               SLEEP_NONE, SLEEP_LIGHT, SLEEP_MODEM, AUTH_OPEN, AUTH_WPA_PSK,
                               AUTH_WPA2_PSK, AUTH_WPA_WPA2_PSK, STA_IDLE, STA_CONNECTING,
                               STA_WRONGPWD, STA_APNOTFOUND, STA_FAIL, STA_GOTIP, 0, 1};
  nm_ctx_get(L);
  nm_newlib(L, funcs);
  set_consts(L, names, values);
  wifi_open_sta(L);
  wifi_open_ap(L);
  open_eventmon(L);
  return 1;
}
