/* tcp_server.c - net.tcpserver (docs/modules/net.md, net.server): listen,
 * accept, getaddr, close.  Accepted connections go to the connection layer
 * (tcp_conn.c) and to a new Lua socket object (tcp_socket.c). */
#include <stdlib.h>
#include <string.h>

#include "sock.h"
#include "tcp.h"

typedef struct nm_srv nm_srv;

/* The Lua object; timeout outlives listening periods. */
typedef struct {
  nm_bind b; /* b.state: the nm_srv while listening */
  int timeout_s;
} nm_srv_ud;

/* One listening period, from listen() to the close callback. */
struct nm_srv {
  nm_obj obj;
  uv_tcp_t h;
  nm_ctx *ctx;
  nm_srv_ud *ud;       /* NULL once closed */
  nm_inactivity *idle; /* the accepted sockets' inactivity timeout */
  uv_tcp_t drop;       /* takes a connection that cannot be served (srv_drop) */
  unsigned dropping : 1, drop_waits : 1, closed : 1;
};

static nm_srv_ud *check_srv(lua_State *L) { return luaL_checkudata(L, 1, NM_TCP_SERVER); }

static void srv_closed_cb(uv_handle_t *h) {
  nm_srv *s = h->data;
  s->closed = 1;
  if (s->dropping) return; /* drop_closed_cb frees s */
  nm_obj_unregister(&s->obj);
  free(s);
}

/* libuv stops polling a listening socket whose pending connection was not
 * accepted: a connection that cannot be served (out of memory, no Lua to
 * run) must still be taken, into s->drop, and closed at once (the client
 * sees the close), or no later client is ever served (issue 18).  One at a
 * time: while drop closes, the next one waits in libuv. */
static void srv_drop(nm_srv *s);

static void drop_closed_cb(uv_handle_t *h) {
  nm_srv *s = h->data;
  s->dropping = 0;
  if (s->closed) {
    nm_obj_unregister(&s->obj);
    free(s);
  } else if (s->drop_waits && !uv_is_closing((uv_handle_t *)&s->h)) {
    s->drop_waits = 0;
    srv_drop(s);
  }
}

static void srv_drop(nm_srv *s) {
  if (s->dropping) {
    s->drop_waits = 1;
    return;
  }
  if (uv_tcp_init(&s->ctx->loop, &s->drop) != 0) return; /* opens no socket: cannot fail */
  s->drop.data = s;
  s->dropping = 1;
  uv_accept((uv_stream_t *)&s->h, (uv_stream_t *)&s->drop); /* UV_EAGAIN if already taken */
  uv_close((uv_handle_t *)&s->drop, drop_closed_cb);
}

/* Stop listening; accepted sockets keep their timeout. */
static void srv_close(nm_srv *s) {
  if (s->ud != NULL) nm_bind_detach(s->ctx->L, &s->ud->b);
  s->ud = NULL;
  if (s->idle != NULL) nm_inactivity_unref(s->idle);
  s->idle = NULL;
  if (!uv_is_closing((uv_handle_t *)&s->h)) uv_close((uv_handle_t *)&s->h, srv_closed_cb);
}

static void srv_kill(nm_obj *o) { srv_close(nm_container_of(o, nm_srv, obj)); }

static void connection_cb(uv_stream_t *server, int status) {
  nm_srv *s = server->data;
  nm_ctx *ctx = s->ctx;
  /* Accept errors (EMFILE, ...) leave the connection in the backlog or, for
   * EMFILE, libuv refuses it; the server keeps listening. */
  if (status < 0 || s->ud == NULL) return;
  nm_tcp *sock = nm_lua_ok(ctx) ? nm_tcp_accept(ctx, server, s->idle) : NULL;
  if (sock == NULL) {
    srv_drop(s);
    return;
  }
  nm_emit(ctx, s->ud->b.ref, NM_CB_ACCEPT, 0, nm_tcpsocket_push_accepted, sock);
  nm_tcp_accept_done(sock);
}

/* srv:listen([port][, ip], fn) */
static int tcpserver_listen(lua_State *L) {
  nm_srv_ud *ud = check_srv(L);
  struct sockaddr_in sa;
  int i = nm_check_listen_addr(L, 2, &sa);
  if (lua_type(L, i) != LUA_TFUNCTION) return luaL_error(L, "need callback");
  if (ud->b.state != NULL) return luaL_error(L, "already listening");

  nm_ctx *ctx = nm_ctx_get(L);
  nm_srv *s = calloc(1, sizeof *s);
  if (s == NULL) return luaL_error(L, "out of memory");
  s->ctx = ctx;
  int rc = uv_tcp_init(&ctx->loop, &s->h);
  if (rc != 0) {
    free(s);
    return nm_raise_uv(L, rc);
  }
  s->h.data = s;
  nm_obj_register(ctx, &s->obj, srv_kill);
  rc = uv_tcp_bind(&s->h, (const struct sockaddr *)&sa, 0);
  if (rc == 0) rc = uv_listen((uv_stream_t *)&s->h, SOMAXCONN, connection_cb);
  if (rc == 0 && (s->idle = nm_tcp_timeout_new(ctx, (uint32_t)ud->timeout_s * 1000)) == NULL)
    rc = UV_ENOMEM;
  if (rc != 0) {
    srv_close(s);
    return nm_raise_uv(L, rc);
  }
  lua_pushvalue(L, i);
  nm_cb_set(L, 1, NM_CB_ACCEPT);
  s->ud = ud;
  nm_bind_attach(L, 1, &ud->b, s);
  return 0;
}

static int tcpserver_getaddr(lua_State *L) {
  nm_srv *s = check_srv(L)->b.state;
  return nm_sock_name(L, s != NULL ? (uv_handle_t *)&s->h : NULL, 0);
}

static int tcpserver_close(lua_State *L) {
  nm_srv *s = check_srv(L)->b.state;
  if (s == NULL) return luaL_error(L, "not connected");
  srv_close(s);
  return 0;
}

static int tcpserver_gc(lua_State *L) {
  nm_srv_ud *ud = lua_touserdata(L, 1);
  nm_srv *s = ud->b.state;
  if (s != NULL) srv_close(s); /* only at lua_close: a listening server is anchored */
  return 0;
}

int nm_tcpserver_create(lua_State *L, int timeout_s) {
  nm_ctx_get(L);
  nm_srv_ud *ud = nm_obj_new(L, sizeof *ud, NM_TCP_SERVER);
  ud->timeout_s = timeout_s;
  return 1;
}

void nm_tcpserver_open(lua_State *L) {
  static const luaL_Reg methods[] = {{"listen", tcpserver_listen},
                                     {"getaddr", tcpserver_getaddr},
                                     {"close", tcpserver_close},
                                     NM_GC_METHOD,
                                     {NULL, NULL}};
  nm_class(L, NM_TCP_SERVER, methods, tcpserver_gc);
}
