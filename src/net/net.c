/* net.c - the `net` module table (docs/modules/net.md) and net.run(), the
 * call that runs the event loop from a stock interpreter and from the
 * runtime. */
#include "dns.h"
#include "modules/tls.h"
#include "tcp.h"
#include "udp.h"

#define NET_TCP 1
#define NET_UDP 2

/* The legacy type argument: TCP or UDP, anything else raises. */
static int check_type(lua_State *L, int idx) {
  if (lua_isnoneornil(L, idx)) return NET_TCP;
  long long t;
  if (!nm_tointeger(L, idx, &t) || (t != NET_TCP && t != NET_UDP))
    return luaL_argerror(L, idx, "invalid type (net.TCP or net.UDP expected)");
  return (int)t;
}

/* net.createConnection([type[, secure]]) */
static int net_createConnection(lua_State *L) {
  int type = check_type(L, 1);
  int secure = lua_type(L, 2) == LUA_TNUMBER ? lua_tonumber(L, 2) != 0 : lua_toboolean(L, 2);
  if (type == NET_UDP) {
    if (secure) return luaL_error(L, "secure connections are not supported");
    return nm_udpsocket_create(L);
  }
  return nm_tcpsocket_create(L, secure); /* secure: as tls.createConnection() */
}

/* net.createServer([timeout]) or legacy net.createServer(type[, timeout]).
 * A single 2 is a timeout, as current firmware reads it; old programs
 * meant net.UDP by it, and get a note saying so (docs/modules/net.md). */
static int net_createServer(lua_State *L) {
  int n = lua_gettop(L), tidx = 1;
  long long first;
  int one = n == 1 && nm_tointeger(L, 1, &first);
  if (n >= 2 || (one && first == NET_TCP)) {
    if (check_type(L, 1) == NET_UDP) return nm_udpsocket_create(L);
    tidx = 2;
  }
  if (one && first == NET_UDP && !nm_opts.strict)
    nm_warn_once(L, "createServer(2)",
                 "net.createServer(2) is a TCP server with a 2 s timeout, as on current firmware; "
                 "old firmware read the 2 as net.UDP: for a UDP socket use net.createUDPSocket()");
  int timeout = 30;
  if (!lua_isnoneornil(L, tidx)) timeout = (int)nm_checkrange(L, tidx, 1, 28800);
  return nm_tcpserver_create(L, timeout);
}

static int net_createUDPSocket(lua_State *L) { return nm_udpsocket_create(L); }

/* net.run(): serve events until nothing is active.  An uncaught error in a
 * callback stops the loop and is raised here, traceback included. */
int nm_net_run(lua_State *L) {
  nm_ctx *ctx = nm_ctx_get(L);
  if (nm_run(ctx, L)) return lua_error(L);
  return 0;
}

/* net.__objects(): a test hook, not NodeMCU API (docs/INTERNALS.md, "Leak
 * checks"): how many C objects of the loop are alive — connections,
 * servers and their timeouts, UDP sockets, timers, pending Lua lookups —
 * leaving out the modules' per-loop states (one nm_obj each). */
static int net___objects(lua_State *L) {
  nm_ctx *ctx = nm_ctx_get(L);
  long n = 0;
  for (nm_link *l = ctx->objs.next; l != &ctx->objs; l = l->next) n++;
  for (int i = 0; i < NM_STATE_MAX; i++) n -= ctx->state[i] != NULL;
  lua_pushinteger(L, n);
  return 1;
}

int luaopen_net(lua_State *L) {
  static const luaL_Reg funcs[] = {{"createConnection", net_createConnection},
                                   {"createServer", net_createServer},
                                   {"createUDPSocket", net_createUDPSocket},
                                   {"ifinfo", net_ifinfo},
                                   {"multicastJoin", net_multicastJoin},
                                   {"multicastLeave", net_multicastLeave},
                                   {"run", nm_net_run},
                                   {"__objects", net___objects},
                                   {NULL, NULL}};
  nm_ctx_get(L);
  nm_preload_modules(L);
  nm_tcpserver_open(L);
  nm_tcpsocket_open(L);
  nm_udpsocket_open(L);
  nm_newlib(L, funcs);
  lua_pushinteger(L, NET_TCP);
  lua_setfield(L, -2, "TCP");
  lua_pushinteger(L, NET_UDP);
  lua_setfield(L, -2, "UDP");
  nm_dns_open(L);
  lua_setfield(L, -2, "dns");
  nm_tls_cert_push(L); /* net.cert: the firmware's old name of tls.cert */
  lua_setfield(L, -2, "cert");
  return 1;
}
