/* ap.c - wifi.ap.* and wifi.ap.dhcp.*: the soft access point.  The host
 * has no radio: the AP keeps and reports its configuration, carries no
 * traffic, and no station ever joins it (its events never fire). */
#include <string.h>

#include "wifi.h"

static void ap_callbacks(lua_State *L, int cb[3]) {
  static const char *const keys[] = {"staconnected_cb", "stadisconnected_cb", "probereq_cb"};
  static const char *const msgs[] = {"staconnected_cb:not function",
                                     "stadisconnected_cb:not function", "probereq_cb:not function"};
  for (int i = 0; i < 3; i++) {
    lua_getfield(L, 1, keys[i]);
    if (lua_isnil(L, -1)) {
      lua_pop(L, 1);
    } else {
      if (!lua_isfunction(L, -1)) luaL_argerror(L, 1, msgs[i]);
      cb[i] = lua_gettop(L);
    }
  }
}

/* wifi.ap.config(cfg) */
static int wifi_ap_config(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  wifi_apconf c;
  memset(&c, 0, sizeof c);
  if (!wifi_field_str(L, "ssid", c.ssid, 1, 32, "ssid: not string", "ssid: length:1-32"))
    luaL_argerror(L, 1, "ssid: required");
  c.auth = wifi_field_str(L, "pwd", c.pwd, 8, 64, "pwd: not string", "pwd: length:0 or 8-64")
               ? AUTH_WPA_WPA2_PSK
               : AUTH_OPEN;
  c.auth = wifi_field_int(L, "auth", 0, AUTH_MAX - 1, c.auth, "auth: not number", "auth: Range:0-4");
  c.channel = wifi_field_int(L, "channel", 1, 13, 6, "channel: not number", "channel: Range:1-13");
  lua_getfield(L, 1, "hidden");
  int t = lua_type(L, -1);
  if (t == LUA_TBOOLEAN) c.hidden = lua_toboolean(L, -1);
  else if (t != LUA_TNIL && t != LUA_TNUMBER) luaL_argerror(L, 1, "hidden: not boolean");
  lua_pop(L, 1);
  if (t == LUA_TNUMBER) c.hidden = wifi_field_int(L, "hidden", 0, 1, 0, "", "hidden: 0 or 1");
  c.max = wifi_field_int(L, "max", 1, 4, 4, "max: not number", "max: 1-4");
  c.beacon = wifi_field_int(L, "beacon", 100, 60000, 100, "beacon: not number", "beacon: 100-60000");
  int save = 1;
  wifi_field_bool(L, "save", &save, "save: not boolean");
  int cb[3] = {0, 0, 0};
  ap_callbacks(L, cb);
  nm_wifi *w = wifi_get(L);
  for (int i = 0; i < 3; i++)
    if (cb[i] != 0) wifi_set_ref(L, &w->ev_ref[EV_AP_STACONNECTED + i], cb[i]);
  w->ap = c;
  if (save) wifi_saved.ap = c;
  lua_pushboolean(L, 1);
  return 1;
}

static int getconfig(lua_State *L, const wifi_apconf *c) {
  if (lua_isboolean(L, 1) && lua_toboolean(L, 1)) {
    lua_createtable(L, 0, 7);
    lua_pushstring(L, c->ssid);
    lua_setfield(L, -2, "ssid");
    if (c->auth != AUTH_OPEN) {
      lua_pushstring(L, c->pwd);
      lua_setfield(L, -2, "pwd");
    }
    lua_pushinteger(L, c->auth);
    lua_setfield(L, -2, "auth");
    lua_pushinteger(L, c->channel);
    lua_setfield(L, -2, "channel");
    lua_pushboolean(L, c->hidden);
    lua_setfield(L, -2, "hidden");
    lua_pushinteger(L, c->max);
    lua_setfield(L, -2, "max");
    lua_pushinteger(L, c->beacon);
    lua_setfield(L, -2, "beacon");
    return 1;
  }
  lua_pushstring(L, c->ssid);
  if (c->auth == AUTH_OPEN) lua_pushnil(L);
  else lua_pushstring(L, c->pwd);
  return 2;
}

static int wifi_ap_getconfig(lua_State *L) { return getconfig(L, &wifi_get(L)->ap); }

static int wifi_ap_getdefaultconfig(lua_State *L) {
  wifi_get(L);
  return getconfig(L, &wifi_saved.ap);
}

/* wifi.ap.deauth([MAC]): true unless in STATION mode (nobody to remove). */
static int wifi_ap_deauth(lua_State *L) {
  if (lua_isstring(L, 1)) {
    size_t len;
    lua_tolstring(L, 1, &len);
    luaL_argcheck(L, len == 17, 1, INVALID_MAC_STR);
  }
  lua_pushboolean(L, wifi_get(L)->mode != MODE_STATION);
  return 1;
}

static int wifi_ap_getip(lua_State *L) {
  nm_wifi *w = wifi_get(L);
  if (!wifi_has_ap(w) || w->ap_ip.s_addr == 0) {
    lua_pushnil(L);
    return 1;
  }
  wifi_push_ip(L, w->ap_ip);
  wifi_push_ip(L, w->ap_mask);
  wifi_push_ip(L, w->ap_gw);
  return 3;
}

static int wifi_ap_getbroadcast(lua_State *L) {
  nm_wifi *w = wifi_get(L);
  if (!wifi_has_ap(w) || w->ap_ip.s_addr == 0) {
    lua_pushnil(L);
    return 1;
  }
  struct in_addr b = {(w->ap_ip.s_addr & w->ap_mask.s_addr) | ~w->ap_mask.s_addr};
  wifi_push_ip(L, b);
  return 1;
}

/* An address field: 0 when absent or not a dotted quad. */
static in_addr_t ip_field(lua_State *L, const char *key) {
  struct in_addr a = {0};
  lua_getfield(L, 1, key);
  if (lua_isstring(L, -1) && nm_checkip4(L, -1, &a) != 0) a.s_addr = 0;
  lua_pop(L, 1);
  return a.s_addr;
}

/* wifi.ap.setip(cfg): the AP's addresses (it carries no traffic, so this
 * changes nothing on the host). */
static int wifi_ap_setip(lua_State *L) {
  if (!lua_istable(L, 1)) return luaL_error(L, "wrong arg type");
  in_addr_t ip = ip_field(L, "ip"), mask = ip_field(L, "netmask"), gw = ip_field(L, "gateway");
  nm_wifi *w = wifi_get(L);
  if (ip != 0) w->ap_ip.s_addr = ip;
  if (mask != 0) w->ap_mask.s_addr = mask;
  w->ap_gw.s_addr = gw;
  lua_pushboolean(L, 1);
  return 1;
}

static int wifi_ap_getmac(lua_State *L) {
  wifi_push_mac(L, wifi_get(L)->ap_mac);
  return 1;
}

static int wifi_ap_setmac(lua_State *L) {
  size_t len;
  const char *s = luaL_checklstring(L, 1, &len);
  luaL_argcheck(L, len == 17, 1, INVALID_MAC_STR);
  uint8_t mac[6];
  int ok = wifi_parse_mac(s, len, mac) == 0 && !(mac[0] & 1); /* unicast only */
  if (ok) memcpy(wifi_get(L)->ap_mac, mac, 6);
  lua_pushboolean(L, ok);
  return 1;
}

static int wifi_ap_getclient(lua_State *L) {
  if (wifi_get(L)->mode == MODE_STATION) return luaL_error(L, "Can't list clients in STATION mode");
  lua_newtable(L);
  return 1;
}

/* wifi.ap.dhcp.config({start = ip}) -> pool start, pool end */
static int wifi_ap_dhcp_config(lua_State *L) {
  if (!lua_istable(L, 1)) return luaL_error(L, "wrong arg type");
  in_addr_t start = ip_field(L, "start");
  if (start == 0) return luaL_error(L, "wrong arg type");
  nm_wifi *w = wifi_get(L);
  w->dhcp_start.s_addr = start;
  struct in_addr end = {start};
  ((uint8_t *)&end.s_addr)[3] += (uint8_t)(w->ap.max - 1); /* the firmware's arithmetic */
  wifi_push_ip(L, w->dhcp_start);
  wifi_push_ip(L, end);
  return 2;
}

static int wifi_ap_dhcp_startstop(lua_State *L) {
  wifi_get(L);
  lua_pushboolean(L, 1);
  return 1;
}

void wifi_open_ap(lua_State *L) {
  static const luaL_Reg funcs[] = {
      {"config", wifi_ap_config},       {"deauth", wifi_ap_deauth},
      {"getip", wifi_ap_getip},         {"setip", wifi_ap_setip},
      {"getbroadcast", wifi_ap_getbroadcast}, {"getmac", wifi_ap_getmac},
      {"setmac", wifi_ap_setmac},       {"getclient", wifi_ap_getclient},
      {"getconfig", wifi_ap_getconfig}, {"getdefaultconfig", wifi_ap_getdefaultconfig},
      {"on", wifi_ap_on},       {NULL, NULL}};
  static const luaL_Reg dhcp[] = {
      {"config", wifi_ap_dhcp_config}, {"start", wifi_ap_dhcp_startstop}, {"stop", wifi_ap_dhcp_startstop}, {NULL, NULL}};
  nm_newlib(L, funcs);
  nm_newlib(L, dhcp);
  lua_setfield(L, -2, "dhcp");
  lua_setfield(L, -2, "ap");
}
