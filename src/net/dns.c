/* dns.c - the Lua side of name resolution (SPEC 6): net.dns.resolve,
 * getdnsserver, setdnsserver, sock:dns / udp:dns, and the servers read from
 * resolv.conf.  The lookups themselves run in dns_ares.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dns_impl.h"

/* resolve()'s callback holder (see l_resolve). */
#define NM_DNS_HOLDER "net.dns.request"

/* ---- servers ---- */

/* Only a decimal port 1-65535, nothing around it. */
static int parse_port(const char *s, uint16_t *out) {
  unsigned long v = 0;
  size_t n = strlen(s);
  if (n == 0 || n > 5 || strspn(s, "0123456789") != n) return -1;
  v = strtoul(s, NULL, 10);
  if (v == 0 || v > 65535) return -1;
  *out = (uint16_t)v;
  return 0;
}

int nm_dns_parse_server(const char *s, nm_dns_server *out) {
  char host[INET_ADDRSTRLEN];
  size_t len = strlen(s);
  const char *colon = strchr(s, ':');
  size_t hlen = colon != NULL ? (size_t)(colon - s) : len;
  if (len >= sizeof out->text || hlen >= sizeof host) return -1;
  memcpy(host, s, hlen);
  host[hlen] = '\0';
  nm_dns_server srv;
  memset(&srv, 0, sizeof srv);
  srv.port = 53;
  if (nm_parse_ip4(host, &srv.addr) != 0 || srv.addr.s_addr == 0) return -1;
  if (colon != NULL && parse_port(colon + 1, &srv.port) != 0) return -1;
  memcpy(srv.text, s, len + 1);
  *out = srv;
  return 0;
}

/* As the C library reads it: "nameserver ADDR" lines, in order.  Entries
 * that are not IPv4 (IPv6 servers) are skipped: netmcu speaks IPv4. */
void nm_dns_read_resolv_conf(const char *path, nm_dns_server servers[2]) {
  FILE *f = fopen(path, "r");
  if (f == NULL) return;
  char line[512];
  int n = 0;
  while (n < 2 && fgets(line, sizeof line, f) != NULL) {
    char key[16], val[64];
    if (sscanf(line, " %15s %63s", key, val) != 2 || strcmp(key, "nameserver") != 0) continue;
    if (strchr(val, ':') == NULL && nm_dns_parse_server(val, &servers[n]) == 0) n++;
  }
  fclose(f);
}

static nm_dns *dns_check(lua_State *L) {
  nm_dns *dns = nm_dns_get(nm_ctx_get(L));
  if (dns == NULL) luaL_error(L, "out of memory");
  return dns;
}

/* Server index at idx: 0 or 1, default 0; an integer, as SPEC 1 wants. */
static int check_index(lua_State *L, int idx) {
  long long v;
  if (lua_isnoneornil(L, idx)) return 0;
  if (!nm_tointeger(L, idx, &v) || v < 0 || v > 1)
    return luaL_error(L, "server index out of range [0-1]");
  return (int)v;
}

/* net.dns.getdnsserver([i]) -> "a.b.c.d[:port]" or nil */
static int l_getdnsserver(lua_State *L) {
  int i = check_index(L, 1);
  nm_dns *dns = dns_check(L);
  if (dns->servers[i].text[0] == '\0')
    lua_pushnil(L);
  else
    lua_pushstring(L, dns->servers[i].text);
  return 1;
}

/* net.dns.setdnsserver(ip[, i]) */
static int l_setdnsserver(lua_State *L) {
  nm_dns_server srv;
  const char *s = luaL_checkstring(L, 1);
  if (nm_tocstring(L, 1) == NULL || nm_dns_parse_server(s, &srv) != 0)
    return luaL_error(L, "invalid dns server ip");
  int i = check_index(L, 2);
  nm_dns *dns = dns_check(L);
  dns->servers[i] = srv;
  nm_dns_servers_changed(dns);
  return 0;
}

/* ---- lookups for Lua ---- */

/* resolve()'s holder object is left out: fn(nil, ip|nil). */
static void push_resolve_args(lua_State *L, void *addr) {
  lua_pop(L, 1);
  lua_pushnil(L);
  nm_push_ip_or_nil(L, addr);
}

/* close() count of the socket object anchored by ref (no allocation). */
static unsigned sock_epoch(lua_State *L, int ref) {
  lua_rawgeti(L, LUA_REGISTRYINDEX, ref);
  const nm_sock_common *c = lua_touserdata(L, -1);
  lua_pop(L, 1);
  return c != NULL ? c->epoch : 0;
}

/* From the loop: fn(obj, ip|nil) through the object's `dns` callback as it
 * is now — unless the socket was closed since (SPEC 2) — or fn(nil, ip|nil)
 * for resolve().  The anchor is dropped after
 * the call, so the object is collectable whatever the callback did. */
static void lua_answer(void *arg, int status, const struct in_addr *addr) {
  nm_dns_req *r = arg;
  nm_ctx *ctx = r->ctx;
  int ref = r->ref;
  (void)status;
  r->ref = LUA_NOREF;
  if (!r->sock || sock_epoch(ctx->L, ref) == r->epoch) /* else closed since */
    nm_emit(ctx, ref, NM_CB_DNS, 0, r->sock ? nm_push_ip_or_nil : push_resolve_args,
            (void *)addr);
  nm_unanchor(ctx->L, &ref);
}

/* Starts resolving name for Lua; the object at idx (the socket, or
 * resolve()'s holder) stays anchored until the answer. */
static void lua_lookup(lua_State *L, const char *name, int idx, int sock) {
  nm_ctx *ctx = nm_ctx_get(L);
  if (name == NULL) name = ""; /* an embedded NUL: no such name, not a prefix */
  int ref = nm_anchor(L, idx);
  nm_dns_req *r = nm_dns_lookup(ctx, name, lua_answer, NULL);
  if (r == NULL) {
    nm_unanchor(L, &ref);
    luaL_error(L, "out of memory");
    return;
  }
  /* Safe after the call: the answer comes on a later loop turn. */
  r->arg = r;
  r->ref = ref;
  r->sock = (uint8_t)sock;
  if (sock) r->epoch = ((const nm_sock_common *)lua_touserdata(L, idx))->epoch;
}

/* net.dns.resolve(host, fn): fn waits in the `dns` slot of a small holder
 * object, so the answer takes the same protected path (nm_emit) as every
 * other callback. */
static int l_resolve(lua_State *L) {
  luaL_checkstring(L, 1);
  const char *name = nm_tocstring(L, 1);
  luaL_checktype(L, 2, LUA_TFUNCTION);
  nm_obj_new(L, 1, NM_DNS_HOLDER);
  lua_pushvalue(L, 2);
  nm_cb_set(L, -2, NM_CB_DNS);
  lua_lookup(L, name, lua_gettop(L), 0);
  return 0;
}

/* luaL_testudata, which Lua 5.1 lacks. */
static int is_udata(lua_State *L, int idx, const char *tname) {
  if (lua_touserdata(L, idx) == NULL || !lua_getmetatable(L, idx)) return 0;
  luaL_getmetatable(L, tname);
  int same = lua_rawequal(L, -1, -2);
  lua_pop(L, 2);
  return same;
}

/* sock:dns(name[, fn]) and udp:dns(name[, fn]) */
int nm_sock_dns(lua_State *L) {
  if (!is_udata(L, 1, "net.tcpsocket") && !is_udata(L, 1, "net.udpsocket"))
    return luaL_argerror(L, 1, "net.tcpsocket or net.udpsocket expected");
  luaL_checkstring(L, 2);
  const char *name = nm_tocstring(L, 2);
  int t = lua_type(L, 3);
  if (t != LUA_TFUNCTION && t != LUA_TNONE && t != LUA_TNIL)
    return luaL_error(L, "invalid callback function");
  if (t != LUA_TFUNCTION) {
    int has = nm_cb_get(L, 1, NM_CB_DNS) == LUA_TFUNCTION;
    lua_pop(L, 1);
    if (!has) return luaL_error(L, "no callback specified");
  } else {
    lua_pushvalue(L, 3);
    nm_cb_set(L, 1, NM_CB_DNS);
  }
  lua_lookup(L, name, 1, 1);
  return 0;
}

void nm_dns_open(lua_State *L) {
  static const luaL_Reg funcs[] = {{"resolve", l_resolve},
                                   {"getdnsserver", l_getdnsserver},
                                   {"setdnsserver", l_setdnsserver},
                                   {NULL, NULL}};
  luaL_newmetatable(L, NM_DNS_HOLDER);
  lua_pop(L, 1);
  nm_newlib(L, funcs);
}
