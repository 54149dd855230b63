/* dns.c - the Lua side of name resolution (docs/modules/net.md, net.dns):
 * net.dns.resolve, getdnsserver, setdnsserver, and sock:dns / udp:dns.  It
 * owns the Lua requests: each holds its object's anchor until the answer,
 * and is an nm_obj, so that shutdown cancels it.  The lookups and the
 * servers are the resolver's (resolver.c). */
#include <stdlib.h>

#include "dns.h"

/* resolve()'s callback holder (see net_dns_resolve). */
#define NM_DNS_HOLDER "net.dns.request"

/* A lookup for Lua, from its start to its answer. */
typedef struct lua_req {
  nm_obj obj;
  nm_ctx *ctx;
  nm_dns_req *req;
  int ref;        /* the anchored object: the socket, or resolve()'s holder */
  unsigned epoch; /* sock:dns: the socket's close() count at the start */
  int sock;       /* sock:dns (else resolve) */
} lua_req;

/* ---- servers ---- */

/* Server index at idx: 0 or 1, default 0; an integer. */
static int check_index(lua_State *L, int idx) {
  long long v;
  if (lua_isnoneornil(L, idx)) return 0;
  if (!nm_tointeger(L, idx, &v) || v < 0 || v > 1)
    return luaL_error(L, "server index out of range [0-1]");
  return (int)v;
}

/* net.dns.getdnsserver([i]) -> "a.b.c.d[:port]" or nil */
static int net_dns_getdnsserver(lua_State *L) {
  int i = check_index(L, 1);
  const char *text = nm_dns_getserver(nm_ctx_get(L), i);
  if (text == NULL) return luaL_error(L, "out of memory");
  if (*text == '\0')
    lua_pushnil(L);
  else
    lua_pushstring(L, text);
  return 1;
}

/* net.dns.setdnsserver(ip[, i]) */
static int net_dns_setdnsserver(lua_State *L) {
  const char *text = luaL_checkstring(L, 1);
  if (nm_tocstring(L, 1) == NULL || !nm_dns_server_ok(text)) /* a NUL: not its prefix */
    return luaL_error(L, "invalid dns server ip");
  int i = check_index(L, 2);
  if (nm_dns_setserver(nm_ctx_get(L), i, text) != 0) return luaL_error(L, "out of memory");
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
  const nm_bind *b = lua_touserdata(L, -1);
  lua_pop(L, 1);
  return b != NULL ? b->epoch : 0;
}

static void lua_req_free(lua_req *q) {
  nm_obj_unregister(&q->obj);
  free(q);
}

/* Shutdown: no Lua is called. */
static void lua_req_kill(nm_obj *o) {
  lua_req *q = nm_container_of(o, lua_req, obj);
  nm_dns_cancel(q->req);
  nm_unanchor(q->ctx->L, &q->ref);
  lua_req_free(q);
}

/* From the loop: fn(obj, ip|nil) through the object's `dns` callback as it
 * is now — unless the socket was closed since — or fn(nil, ip|nil) for
 * resolve().  The anchor is dropped after the call, so the object is
 * collectable whatever the callback did. */
static void lua_answer(void *arg, int status, const struct in_addr *addr) {
  lua_req *q = arg;
  nm_ctx *ctx = q->ctx;
  int ref = q->ref, sock = q->sock;
  unsigned epoch = q->epoch;
  (void)status;
  lua_req_free(q); /* the resolver frees its request after this call */
  if (!sock || sock_epoch(ctx->L, ref) == epoch) /* else closed since */
    nm_emit(ctx, ref, NM_CB_DNS, 0, sock ? nm_push_ip_or_nil : push_resolve_args, (void *)addr);
  nm_unanchor(ctx->L, &ref);
}

/* The name to look up for the string at idx: one with an embedded NUL
 * names nothing (not its prefix), so it resolves to nil like any unknown
 * name. */
static const char *lookup_name(lua_State *L, int idx) {
  const char *name = nm_tocstring(L, idx);
  return name != NULL ? name : "";
}

/* Starts resolving name for Lua; the object at idx (the socket, or
 * resolve()'s holder) stays anchored until the answer. */
static void lua_lookup(lua_State *L, const char *name, int idx, int sock) {
  nm_ctx *ctx = nm_ctx_get(L);
  int ref = nm_anchor(L, idx);
  lua_req *q = calloc(1, sizeof *q);
  if (q == NULL || (q->req = nm_dns_lookup(ctx, name, lua_answer, q)) == NULL) {
    free(q);
    nm_unanchor(L, &ref);
    luaL_error(L, "out of memory");
    return;
  }
  q->ctx = ctx;
  q->ref = ref;
  q->sock = sock;
  if (sock) q->epoch = ((const nm_bind *)lua_touserdata(L, idx))->epoch;
  nm_obj_register(ctx, &q->obj, lua_req_kill);
}

/* net.dns.resolve(host, fn): fn waits in the `dns` slot of a small holder
 * object, so the answer takes the same protected path (nm_emit) as every
 * other callback. */
static int net_dns_resolve(lua_State *L) {
  luaL_checkstring(L, 1);
  const char *name = lookup_name(L, 1);
  luaL_checktype(L, 2, LUA_TFUNCTION);
  nm_obj_new(L, 1, NM_DNS_HOLDER);
  lua_pushvalue(L, 2);
  nm_cb_set(L, -2, NM_CB_DNS);
  lua_lookup(L, name, lua_gettop(L), 0);
  return 0;
}

/* sock:dns(name[, fn]) and udp:dns(name[, fn]) */
int nm_sock_dns(lua_State *L) {
  luaL_checkstring(L, 2);
  const char *name = lookup_name(L, 2);
  if (nm_optcallback(L, 3)) {
    lua_pushvalue(L, 3);
    nm_cb_set(L, 1, NM_CB_DNS);
  } else {
    int has = nm_cb_get(L, 1, NM_CB_DNS) == LUA_TFUNCTION;
    lua_pop(L, 1);
    if (!has) return luaL_error(L, "no callback specified");
  }
  lua_lookup(L, name, 1, 1);
  return 0;
}

void nm_dns_open(lua_State *L) {
  static const luaL_Reg funcs[] = {{"resolve", net_dns_resolve},
                                   {"getdnsserver", net_dns_getdnsserver},
                                   {"setdnsserver", net_dns_setdnsserver},
                                   {NULL, NULL}};
  luaL_newmetatable(L, NM_DNS_HOLDER);
  lua_pop(L, 1);
  nm_newlib(L, funcs);
}
