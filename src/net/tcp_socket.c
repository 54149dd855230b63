/* tcp_socket.c - net.tcpsocket (docs/modules/net.md, net.socket): the Lua
 * object of client connections from net.createConnection() and of
 * connections accepted by a server.  It is a user of the connection layer
 * (tcp.h): its methods validate their arguments and call the layer; the
 * layer's events come back through tcpsocket_ops and reach Lua with
 * nm_emit. */
#include <string.h>

#include "dns.h"
#include "modules/tls.h"
#include "sock.h"
#include "tcp.h"

/* The Lua object: its binding to the current connection, and the ops the
 * layer calls it through. */
typedef struct nm_tcp_ud {
  nm_bind b; /* b.state: the nm_tcp while attached; first, for sock:dns */
  nm_tcp_user u;
} nm_tcp_ud;

static nm_tcp_ud *ud_of(nm_tcp_user *u) { return nm_container_of(u, nm_tcp_ud, u); }

/* Does ud listen to slot?  (A bit test: no call into Lua.) */
static int ud_wants(const nm_tcp_ud *ud, int slot) { return nm_cb_isset(ud, sizeof *ud, slot); }

/* The socket at arg 1.  Every method has the class's metatable as its
 * upvalue (nm_tcpsocket_open): comparing with it is a pointer compare,
 * where luaL_checkudata looks the metatable up by name, which cost about
 * 300 instructions per send (callgrind), more than the connection layer
 * adds.  Anything else takes luaL_checkudata's path and its message. */
static nm_tcp_ud *check_sock(lua_State *L) {
  nm_tcp_ud *ud = lua_touserdata(L, 1);
  if (ud != NULL && lua_getmetatable(L, 1)) {
    int same = lua_rawequal(L, -1, lua_upvalueindex(1));
    lua_pop(L, 1);
    if (same) return ud;
  }
  return luaL_checkudata(L, 1, NM_TCP_SOCKET);
}

static nm_tcp *sock_conn(nm_tcp_ud *ud) { return ud->b.state; }

/* ---- the layer's events ---- */

static void tcpsocket_on_resolved(nm_tcp *s, const struct in_addr *ip) {
  nm_emit(nm_tcp_ctx(s), ud_of(s->user)->b.ref, NM_CB_DNS, 0, nm_push_ip_or_nil, (void *)ip);
}

static void tcpsocket_on_connected(nm_tcp *s) {
  nm_tcp_ud *ud = ud_of(s->user);
  if (ud_wants(ud, NM_CB_CONNECTION))
    nm_emit(nm_tcp_ctx(s), ud->b.ref, NM_CB_CONNECTION, 0, NULL, NULL);
}

typedef struct {
  const char *base;
  size_t len;
} chunk;

static void push_chunk(lua_State *L, void *arg) {
  chunk *c = arg;
  lua_pushlstring(L, c->base, c->len);
}

static void tcpsocket_on_receive(nm_tcp *s, const char *p, size_t n) {
  chunk c = {p, n};
  nm_emit(nm_tcp_ctx(s), ud_of(s->user)->b.ref, NM_CB_RECEIVE, 0, push_chunk, &c);
}

/* Stops (0) when the callback is cleared. */
static int tcpsocket_on_sent(nm_tcp *s) {
  nm_tcp_ud *ud = ud_of(s->user);
  return ud_wants(ud, NM_CB_SENT) && nm_emit(nm_tcp_ctx(s), ud->b.ref, NM_CB_SENT, 0, NULL, NULL);
}

/* The connection ended by the peer or the network: code 0 goes to
 * `disconnection`; an error to `reconnection` if set, else
 * `disconnection`.  The object is detached before the callback, which may
 * connect again; its anchor is kept until the callback returned. */
static void tcpsocket_on_ended(nm_tcp *s, nm_tcp_user *u, int code) {
  nm_ctx *ctx = nm_tcp_ctx(s);
  nm_tcp_ud *ud = ud_of(u);
  int slot = code != 0 && ud_wants(ud, NM_CB_RECONNECTION) ? NM_CB_RECONNECTION
             : ud_wants(ud, NM_CB_DISCONNECTION)           ? NM_CB_DISCONNECTION
                                                           : 0;
  int ref = nm_bind_release(&ud->b);
  if (slot != 0 && code != NM_TCP_SHUTDOWN) nm_emit(ctx, ref, slot, 0, nm_push_integer, &code);
  nm_unanchor(ctx->L, &ref);
}

static const nm_tcp_user_ops tcpsocket_ops = {
    tcpsocket_on_resolved, tcpsocket_on_connected, tcpsocket_on_receive, tcpsocket_on_sent,
    tcpsocket_on_ended};
/* The same events for a secure socket: which table a socket uses is what
 * tells connect() to put TLS on its connections (no extra byte per
 * socket). */
static const nm_tcp_user_ops tcpsocket_tls_ops = {
    tcpsocket_on_resolved, tcpsocket_on_connected, tcpsocket_on_receive, tcpsocket_on_sent,
    tcpsocket_on_ended};

static nm_tcp_ud *tcpsocket_new(lua_State *L, int secure) {
  nm_tcp_ud *ud = nm_obj_new(L, sizeof *ud, NM_TCP_SOCKET);
  ud->u.ops = secure ? &tcpsocket_tls_ops : &tcpsocket_ops;
  return ud;
}

int nm_tcpsocket_create(lua_State *L, int secure) {
  nm_ctx_get(L);
  tcpsocket_new(L, secure);
  return 1;
}

void nm_tcpsocket_push_accepted(lua_State *L, void *arg) {
  nm_tcp *s = arg;
  lua_pop(L, 1); /* the listen function takes the socket, not the server */
  nm_tcp_ud *ud = tcpsocket_new(L, 0);
  nm_bind_attach(L, -1, &ud->b, s);
  s->user = &ud->u;
}

/* ---- methods ---- */

/* sock:connect(port[, host][, fn]) */
static int tcpsocket_connect(lua_State *L) {
  nm_tcp_ud *ud = check_sock(L);
  long long port;
  if (!nm_tointeger(L, 2, &port) || port < 0 || port > 65535)
    return luaL_argerror(L, 2, "invalid port (integer 1-65535 expected)");
  if (port == 0) return luaL_error(L, "specify port");
  const char *host = "127.0.0.1";
  int fn = 0;
  if (lua_type(L, 3) == LUA_TSTRING) {
    if ((host = nm_tocstring(L, 3)) == NULL) return luaL_error(L, "invalid IP address");
  } else if (!lua_isnoneornil(L, 3) && lua_type(L, 3) != LUA_TFUNCTION)
    return luaL_argerror(L, 3, "host name or IP address expected");
  if (lua_type(L, 3) == LUA_TFUNCTION) fn = 3;
  else if (lua_type(L, 4) == LUA_TFUNCTION) fn = 4; /* legacy connection callback */
  if (*host == '\0') return luaL_error(L, "invalid IP address");
  if (sock_conn(ud) != NULL) return luaL_error(L, "already connected");

  nm_tcp *s = nm_tcp_new(nm_ctx_get(L), &ud->u);
  if (s == NULL) return luaL_error(L, "out of memory");
  int rc = ud->u.ops == &tcpsocket_tls_ops ? nm_tls_attach(nm_tcp_ctx(s), s, host) : 0;
  if (rc == 0) rc = nm_tcp_connect(s, host, (uint16_t)port);
  if (rc != 0) {
    nm_tcp_abort(s);
    return rc == UV_EINVAL ? luaL_error(L, "invalid domain") : luaL_error(L, "out of memory");
  }
  nm_bind_attach(L, 1, &ud->b, s);
  if (fn) {
    lua_pushvalue(L, fn);
    nm_cb_set(L, 1, NM_CB_CONNECTION);
  }
  return 0;
}

static int tcpsocket_on(lua_State *L) {
  static const char *const names[] = {"connection", "reconnection", "disconnection",
                                      "receive", "sent", "dns", NULL};
  static const int slots[] = {NM_CB_CONNECTION, NM_CB_RECONNECTION, NM_CB_DISCONNECTION,
                              NM_CB_RECEIVE, NM_CB_SENT, NM_CB_DNS};
  check_sock(L);
  return nm_cb_on(L, names, slots);
}

/* sock:send(data[, fn]) */
static int tcpsocket_send(lua_State *L) {
  nm_tcp_ud *ud = check_sock(L);
  size_t len;
  const char *data = luaL_checklstring(L, 2, &len);
  if (len == 0) return luaL_error(L, "no data to send");
  int fn = nm_optcallback(L, 3);
  nm_tcp *s = sock_conn(ud);
  if (s == NULL) return luaL_error(L, "not connected");
  if (fn) { /* may raise (a table): before the first byte is written */
    lua_pushvalue(L, 3);
    nm_cb_set(L, 1, NM_CB_SENT);
  }
  int rc = nm_tcp_send_lua(s, L, 2, data, len);
  if (rc != 0) return nm_raise_uv(L, rc);
  return 0;
}

static int tcpsocket_close(lua_State *L) {
  nm_tcp_ud *ud = check_sock(L);
  nm_tcp *s = sock_conn(ud);
  if (s == NULL) return luaL_error(L, "not connected");
  ud->b.epoch++;
  nm_bind_detach(L, &ud->b);
  nm_tcp_close(s);
  return 0;
}

static int tcpsocket_hold(lua_State *L) {
  nm_tcp *s = sock_conn(check_sock(L));
  if (s != NULL) nm_tcp_hold(s);
  return 0;
}

static int tcpsocket_unhold(lua_State *L) {
  nm_tcp *s = sock_conn(check_sock(L));
  if (s != NULL) nm_tcp_unhold(s);
  return 0;
}

static int tcpsocket_getpeer(lua_State *L) {
  nm_tcp *s = sock_conn(check_sock(L));
  int ok = s != NULL && s->phase == NM_CONNECTED;
  return nm_sock_name(L, ok ? (uv_handle_t *)&s->h : NULL, 1);
}

static int tcpsocket_getaddr(lua_State *L) {
  nm_tcp *s = sock_conn(check_sock(L));
  int ok = s != NULL && (s->phase == NM_CONNECTED || s->phase == NM_CONNECTING);
  return nm_sock_name(L, ok ? (uv_handle_t *)&s->h : NULL, 0);
}

/* sock:ttl([n]): no OS socket while resolving (uv_fileno fails). */
static int tcpsocket_ttl(lua_State *L) {
  nm_tcp *s = sock_conn(check_sock(L));
  return nm_sock_ttl(L, s != NULL ? (uv_handle_t *)&s->h : NULL, 0);
}

static int tcpsocket_dns(lua_State *L) {
  check_sock(L);
  return nm_sock_dns(L);
}

static int tcpsocket_gc(lua_State *L) {
  nm_tcp_ud *ud = lua_touserdata(L, 1);
  nm_tcp *s = sock_conn(ud);
  /* Only reached with a connection at lua_close: an attached socket is
   * anchored. */
  if (s != NULL) {
    nm_bind_detach(L, &ud->b);
    nm_tcp_abort(s);
  }
  return 0;
}

void nm_tcpsocket_open(lua_State *L) {
  static const luaL_Reg methods[] = {{"connect", tcpsocket_connect}, {"close", tcpsocket_close},
                                     {"on", tcpsocket_on},           {"send", tcpsocket_send},
                                     {"hold", tcpsocket_hold},       {"unhold", tcpsocket_unhold},
                                     {"dns", tcpsocket_dns},         {"ttl", tcpsocket_ttl},
                                     {"getpeer", tcpsocket_getpeer}, {"getaddr", tcpsocket_getaddr},
                                     NM_GC_METHOD,                   {NULL, NULL}};
  nm_class(L, NM_TCP_SOCKET, methods, tcpsocket_gc);
  nm_class_upvalue(L, NM_TCP_SOCKET, methods);
}
