/* sta.c - wifi.sta.*: the station, which mirrors a host interface
 * (state.c).  Setters that would change the host (setip, setmac) change
 * nothing and return false, as a refused setting does on the device. */
#include <ctype.h>
#include <string.h>

#include "wifi.h"

/* ---- wifi.sta.config ---- */

typedef struct {
  wifi_staconf c;
  int autoc, save;
  int cb[5]; /* stack index of the *_cb functions, by event id, or 0 */
} sta_cfg;

/* The event callbacks of the config table (under the names of the
 * firmware's code and of its documentation), checked, left on the stack. */
static void config_callbacks(lua_State *L, sta_cfg *cfg) {
  static const char *const keys[][2] = {{"connect_cb", "connected_cb"},
                                        {"disconnect_cb", "disconnected_cb"},
                                        {"authmode_change_cb", NULL},
                                        {"got_ip_cb", NULL},
                                        {"dhcp_timeout_cb", NULL}};
  static const char *const msgs[] = {"connect_cb:not function", "disconnect_cb:not function",
                                     "authmode_change_cb:not function", "gotip_cb:not function",
                                     "dhcp_timeout_cb:not function"};
  for (int id = 0; id < 5; id++)
    for (int k = 0; k < 2 && keys[id][k] != NULL; k++) {
      lua_getfield(L, 1, keys[id][k]);
      if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        continue;
      }
      if (!lua_isfunction(L, -1)) luaL_argerror(L, 1, msgs[id]);
      cfg->cb[id] = lua_gettop(L);
    }
}

static void config_table(lua_State *L, sta_cfg *cfg) {
  wifi_staconf *c = &cfg->c;
  if (!wifi_field_str(L, "ssid", c->ssid, 0, 32, "ssid:not string", "ssid: length:0-32"))
    luaL_argerror(L, 1, "ssid required");
  wifi_field_str(L, "pwd", c->pwd, 0, 64, "pwd:not string", "pwd: length:0-64");
  char mac[18];
  if (wifi_field_str(L, "bssid", mac, 0, 17, "bssid:not string", "bssid: FF:FF:FF:FF:FF:FF")) {
    luaL_argcheck(L, wifi_parse_mac(mac, strlen(mac), c->bssid) == 0, 1, "bssid: FF:FF:FF:FF:FF:FF");
    c->bssid_set = 1;
  }
  wifi_field_bool(L, "auto", &cfg->autoc, "auto:not boolean");
  wifi_field_bool(L, "save", &cfg->save, "save:not boolean");
  config_callbacks(L, cfg);
}

/* wifi.sta.config(ssid, pwd[, auto[, bssid]]) of firmware before 2.0 (its
 * checks and messages); auto is 0 or 1, a string third argument is the
 * bssid. */
static void config_positional(lua_State *L, sta_cfg *cfg) {
  size_t sl, pl, ml;
  const char *ssid = luaL_checklstring(L, 1, &sl);
  luaL_argcheck(L, sl >= 1 && sl < 32, 1, "length:1-32");
  const char *pwd = luaL_checklstring(L, 2, &pl);
  luaL_argcheck(L, pl == 0 || (pl >= 8 && pl < 64), 2, "length:0 or 8-64");
  int bssid_at = 4;
  if (lua_type(L, 3) == LUA_TNUMBER) {
    long long a;
    if (!nm_tointeger(L, 3, &a) || (a != 0 && a != 1)) luaL_error(L, "wrong arg type");
    cfg->autoc = (int)a;
  } else if (lua_type(L, 3) == LUA_TSTRING && !lua_isnumber(L, 3)) {
    bssid_at = 3;
  } else if (lua_isnil(L, 3)) {
    luaL_error(L, "wrong arg type");
  }
  if (lua_type(L, bssid_at) == LUA_TSTRING && !lua_isnumber(L, bssid_at)) {
    const char *mac = lua_tolstring(L, bssid_at, &ml);
    luaL_argcheck(L, wifi_parse_mac(mac, ml, cfg->c.bssid) == 0, 1, INVALID_MAC_STR);
    cfg->c.bssid_set = 1;
  }
  memcpy(cfg->c.ssid, ssid, sl);
  memcpy(cfg->c.pwd, pwd, pl);
  nm_legacy_warn(L, "wifi.sta.config(ssid, pwd, ...)", "wifi.sta.config{ssid=..., pwd=...}");
}

/* Connects anew with c (after a disconnection, as the firmware does). */
static void sta_apply(lua_State *L, nm_wifi *w, const wifi_staconf *c, int autoc, int save) {
  wifi_sta_leave(w);
  w->conf = *c;
  if (save) wifi_saved.sta = *c;
  if (c->ssid[0] != '\0') wifi_remember_ap(w, c);
  w->autoconnect = wifi_saved.autoconnect = autoc;
  if (autoc) wifi_sta_attempt(w);
  (void)L;
}

static int wifi_sta_config(lua_State *L) {
  sta_cfg cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.autoc = cfg.save = 1;
  if (lua_istable(L, 1)) config_table(L, &cfg);
  else if (nm_opts.strict) return luaL_argerror(L, 1, "config table not found!");
  else config_positional(L, &cfg);
  nm_wifi *w = wifi_get(L);
  for (int id = 0; id < 5; id++)
    if (cfg.cb[id] != 0) wifi_set_ref(L, &w->ev_ref[id], cfg.cb[id]);
  sta_apply(L, w, &cfg.c, cfg.autoc, cfg.save);
  lua_pushboolean(L, 1);
  return 1;
}

/* wifi.sta.connect([connected_cb]) */
static int wifi_sta_connect(lua_State *L) {
  nm_wifi *w = wifi_get(L);
  if (lua_isfunction(L, 1)) wifi_set_ref(L, &w->ev_ref[EV_STA_CONNECTED], 1);
  wifi_sta_attempt(w);
  return 0;
}

/* wifi.sta.disconnect([disconnected_cb]) */
static int wifi_sta_disconnect(lua_State *L) {
  nm_wifi *w = wifi_get(L);
  if (lua_isfunction(L, 1)) wifi_set_ref(L, &w->ev_ref[EV_STA_DISCONNECTED], 1);
  wifi_sta_leave(w);
  return 0;
}

static int wifi_sta_autoconnect(lua_State *L) {
  long long a = nm_checkinteger(L, 1);
  luaL_argcheck(L, a == 0 || a == 1, 1, "0 or 1");
  nm_wifi *w = wifi_get(L);
  w->autoconnect = wifi_saved.autoconnect = (int)a;
  return 0;
}

static int wifi_sta_clearconfig(lua_State *L) {
  nm_wifi *w = wifi_get(L);
  wifi_staconf none;
  memset(&none, 0, sizeof none);
  sta_apply(L, w, &none, 0, 1);
  lua_pushboolean(L, 1);
  return 1;
}

/* ---- the AP cache ---- */

static long long check_apindex(lua_State *L) {
  long long i = nm_checkinteger(L, 1);
  luaL_argcheck(L, i >= 1 && i <= MAX_APS, 1, "Valid range: 1-5");
  return i;
}

static int wifi_sta_changeap(lua_State *L) {
  long long i = check_apindex(L);
  nm_wifi *w = wifi_get(L);
  if (i > w->naps) {
    lua_pushboolean(L, 0);
    return 1;
  }
  wifi_staconf c = w->aps[i - 1];
  wifi_sta_leave(w);
  w->conf = c;
  w->apindex = (int)i - 1;
  wifi_sta_attempt(w);
  lua_pushboolean(L, 1);
  return 1;
}

static int wifi_sta_getapindex(lua_State *L) {
  lua_pushinteger(L, wifi_get(L)->apindex + 1);
  return 1;
}

static int wifi_sta_setaplimit(lua_State *L) {
  long long q = check_apindex(L);
  wifi_get(L);
  wifi_saved.aplimit = (int)q; /* as on the device: from the next start */
  lua_pushboolean(L, 1);
  return 1;
}

static int wifi_sta_getapinfo(lua_State *L) {
  nm_wifi *w = wifi_get(L);
  lua_createtable(L, w->naps, 1);
  lua_pushinteger(L, w->naps);
  lua_setfield(L, -2, "qty");
  for (int i = 0; i < w->naps; i++) {
    const wifi_staconf *c = &w->aps[i];
    lua_createtable(L, 0, 3);
    lua_pushstring(L, c->ssid);
    lua_setfield(L, -2, "ssid");
    if (c->pwd[0] != '\0') {
      lua_pushstring(L, c->pwd);
      lua_setfield(L, -2, "pwd");
    }
    if (c->bssid_set) {
      wifi_push_mac(L, c->bssid);
      lua_setfield(L, -2, "bssid");
    }
    lua_rawseti(L, -2, i + 1);
  }
  return 1;
}

/* ---- reading the station ---- */

static void push_bssid(lua_State *L, const wifi_staconf *c, const nm_wifi *w) {
  static const uint8_t none[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
  wifi_push_mac(L, c->bssid_set ? c->bssid : w != NULL && w->connected ? w->bssid : none);
}

/* wifi.sta.getconfig([return_table]), getdefaultconfig */
static int getconfig(lua_State *L, const wifi_staconf *c, const nm_wifi *w) {
  if (lua_toboolean(L, 1) && lua_isboolean(L, 1)) {
    lua_createtable(L, 0, 4);
    lua_pushstring(L, c->ssid);
    lua_setfield(L, -2, "ssid");
    if (c->pwd[0] != '\0') {
      lua_pushstring(L, c->pwd);
      lua_setfield(L, -2, "pwd");
    }
    lua_pushboolean(L, c->bssid_set);
    lua_setfield(L, -2, "bssid_set");
    push_bssid(L, c, w);
    lua_setfield(L, -2, "bssid");
    return 1;
  }
  lua_pushstring(L, c->ssid);
  lua_pushstring(L, c->pwd);
  lua_pushinteger(L, c->bssid_set);
  push_bssid(L, c, w);
  return 4;
}

static int wifi_sta_getconfig(lua_State *L) {
  nm_wifi *w = wifi_get(L);
  return getconfig(L, &w->conf, w);
}

static int wifi_sta_getdefaultconfig(lua_State *L) {
  wifi_get(L);
  return getconfig(L, &wifi_saved.sta, NULL);
}

static int wifi_sta_getip(lua_State *L) {
  nm_wifi *w = wifi_get(L);
  wifi_refresh(w);
  if (w->status != STA_GOTIP) {
    lua_pushnil(L);
    return 1;
  }
  wifi_push_ip(L, w->ip);
  wifi_push_ip(L, w->mask);
  wifi_push_ip(L, w->gw);
  return 3;
}

static int wifi_sta_getbroadcast(lua_State *L) {
  nm_wifi *w = wifi_get(L);
  wifi_refresh(w);
  if (w->status != STA_GOTIP) {
    lua_pushnil(L);
    return 1;
  }
  struct in_addr b = {(w->ip.s_addr & w->mask.s_addr) | ~w->mask.s_addr};
  wifi_push_ip(L, b);
  return 1;
}

static int wifi_sta_getmac(lua_State *L) {
  wifi_push_mac(L, wifi_get(L)->ifs.hw);
  return 1;
}

static int wifi_sta_getrssi(lua_State *L) {
  nm_wifi *w = wifi_get(L);
  wifi_refresh(w);
  if (w->status == STA_GOTIP) lua_pushinteger(L, HOST_RSSI);
  else lua_pushnil(L);
  return 1;
}

static int wifi_sta_status(lua_State *L) {
  nm_wifi *w = wifi_get(L);
  wifi_refresh(w);
  lua_pushinteger(L, w->status);
  return 1;
}

/* ---- settings ---- */

static int wifi_sta_gethostname(lua_State *L) {
  lua_pushstring(L, wifi_get(L)->hostname);
  return 1;
}

/* RFC 952/1123 as the firmware checks: 1-32 letters, digits and hyphens,
 * alphanumeric first and last. */
static int hostname_ok(const char *s, size_t len) {
  if (len == 0 || len > 32 || !isalnum((unsigned char)s[0]) || !isalnum((unsigned char)s[len - 1]))
    return 0;
  for (size_t i = 1; i < len; i++)
    if (!isalnum((unsigned char)s[i]) && s[i] != '-') return 0;
  return 1;
}

/* The name the device would give its DHCP server; the host's own name is
 * not touched. */
static int wifi_sta_sethostname(lua_State *L) {
  size_t len;
  const char *name = luaL_checklstring(L, 1, &len);
  luaL_argcheck(L, hostname_ok(name, len), 1, "Invalid hostname");
  nm_wifi *w = wifi_get(L);
  memcpy(w->hostname, name, len);
  w->hostname[len] = '\0';
  lua_pushboolean(L, 1);
  return 1;
}

/* The host's address is not the script's to change. */
static int wifi_sta_setip(lua_State *L) {
  if (!lua_istable(L, 1)) return luaL_error(L, "wrong arg type");
  lua_pushboolean(L, 0);
  return 1;
}

static int wifi_sta_setmac(lua_State *L) {
  size_t len;
  luaL_checklstring(L, 1, &len);
  luaL_argcheck(L, len == 17, 1, INVALID_MAC_STR);
  lua_pushboolean(L, 0);
  return 1;
}

/* ---- wifi.sta.getap ---- */

/* The scan filter table of getap. */
static void getap_filter(lua_State *L, wifi_event *f) {
  size_t len;
  lua_getfield(L, 1, "ssid");
  if (!lua_isnil(L, -1)) {
    if (!lua_isstring(L, -1)) luaL_error(L, "wrong arg type");
    const char *s = lua_tolstring(L, -1, &len);
    if (len > 32) luaL_error(L, "ssid:<32");
    memcpy(f->ssid, s, len);
    f->flags |= SCAN_SSID;
  }
  lua_getfield(L, 1, "bssid");
  if (!lua_isnil(L, -1)) {
    if (!lua_isstring(L, -1)) luaL_error(L, "wrong arg type");
    const char *s = lua_tolstring(L, -1, &len);
    luaL_argcheck(L, wifi_parse_mac(s, len, f->bssid) == 0, 1, INVALID_MAC_STR);
    f->flags |= SCAN_BSSID;
  }
  lua_getfield(L, 1, "channel");
  if (!lua_isnil(L, -1)) {
    if (!lua_isnumber(L, -1)) luaL_error(L, "wrong arg type");
    long long ch = nm_checkinteger(L, -1);
    if (ch < 0 || ch > 13) luaL_error(L, "channel: 0 or 1-13");
    f->channel = (uint8_t)ch;
    f->flags |= SCAN_CHANNEL;
  }
  lua_getfield(L, 1, "show_hidden");
  if (!lua_isnil(L, -1)) {
    if (!lua_isnumber(L, -1)) luaL_error(L, "wrong arg type");
    long long h = nm_checkinteger(L, -1);
    if (h != 0 && h != 1) luaL_error(L, "show_hidden: 0 or 1");
  }
  lua_pop(L, 4);
}

/* wifi.sta.getap([[cfg], format,] callback(table)): the arguments shift
 * as in the firmware, to cfg, format, callback at 1, 2, 3. */
static int wifi_sta_getap(lua_State *L) {
  nm_wifi *w = wifi_get(L);
  if (w->mode == MODE_SOFTAP) return luaL_error(L, "Can't list ap in SOFTAP mode");
  wifi_event f;
  memset(&f, 0, sizeof f);
  if (lua_type(L, 1) == LUA_TTABLE) {
    getap_filter(L, &f);
    if (lua_isfunction(L, 2)) lua_pushnil(L), lua_insert(L, 2);
  } else if (lua_type(L, 1) == LUA_TNUMBER) {
    lua_pushnil(L), lua_insert(L, 1);
  } else if (lua_isfunction(L, 1)) {
    lua_pushnil(L), lua_insert(L, 1);
    lua_pushnil(L), lua_insert(L, 1);
  } else if (lua_isnil(L, 1)) {
    if (lua_isfunction(L, 2)) lua_pushnil(L), lua_insert(L, 2);
  } else {
    return luaL_error(L, "wrong arg type");
  }
  if (lua_type(L, 2) == LUA_TNUMBER) {
    long long fmt = nm_checkinteger(L, 2);
    if (fmt != 0 && fmt != 1) return luaL_error(L, "wrong arg type");
    if (fmt == 1) f.flags |= SCAN_FMT1;
  }
  if (!lua_isfunction(L, 3)) {
    wifi_set_ref(L, &w->scan_ref, 0);
    return 0;
  }
  wifi_event *e = wifi_push(w, EV_SCAN);
  if (e == NULL) return luaL_error(L, "out of memory"); /* the event queue is full */
  f.id = EV_SCAN;
  *e = f;
  wifi_set_ref(L, &w->scan_ref, 3);
  return 0;
}

void wifi_open_sta(lua_State *L) {
  static const luaL_Reg funcs[] = {
      {"autoconnect", wifi_sta_autoconnect},   {"changeap", wifi_sta_changeap},
      {"clearconfig", wifi_sta_clearconfig},   {"config", wifi_sta_config},
      {"connect", wifi_sta_connect},           {"disconnect", wifi_sta_disconnect},
      {"getap", wifi_sta_getap},               {"getapindex", wifi_sta_getapindex},
      {"getapinfo", wifi_sta_getapinfo},       {"getbroadcast", wifi_sta_getbroadcast},
      {"getconfig", wifi_sta_getconfig},       {"getdefaultconfig", wifi_sta_getdefaultconfig},
      {"gethostname", wifi_sta_gethostname},   {"getip", wifi_sta_getip},
      {"getmac", wifi_sta_getmac},             {"getrssi", wifi_sta_getrssi},
      {"setaplimit", wifi_sta_setaplimit},     {"sethostname", wifi_sta_sethostname},
      {"setip", wifi_sta_setip},               {"setmac", wifi_sta_setmac},
      {"sleeptype", wifi_sleeptype},  {"status", wifi_sta_status},
      {"on", wifi_sta_on},            {NULL, NULL}};
  nm_newlib(L, funcs);
  wifi_open_legacy_eventmon(L);
  lua_setfield(L, -2, "sta");
}
