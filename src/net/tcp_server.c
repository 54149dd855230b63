/* tcp_server.c - net.server (SPEC 4): listen, accept, getaddr, close. */
#include <stdlib.h>
#include <string.h>

#include "tcp.h"

typedef struct nm_srv nm_srv;

/* The Lua object; timeout outlives listening periods. */
typedef struct {
  nm_srv *s;
  int timeout_s;
} nm_srv_ud;

/* One listening period, from listen() to the close callback. */
struct nm_srv {
  nm_obj obj;
  uv_tcp_t h;
  nm_ctx *ctx;
  nm_srv_ud *ud; /* NULL once closed */
  int ref;       /* anchor of the Lua object while listening */
  nm_idle *idle;
  uv_tcp_t drop; /* takes a connection that cannot be served (srv_drop) */
  unsigned dropping : 1, drop_waits : 1, closed : 1;
};

static void srv_closed_cb(uv_handle_t *h) {
  nm_srv *s = h->data;
  s->closed = 1;
  if (s->dropping) return; /* drop_closed_cb frees s */
  nm_obj_unregister(&s->obj);
  free(s);
}

/* libuv stops polling a listening socket whose pending connection was not
 * accepted, so a connection that cannot be served (out of memory) must
 * still be taken: into s->drop, closed at once (the client sees the
 * close).  One at a time: while drop closes, the next waits. */
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
  if (uv_tcp_init(&s->ctx->loop, &s->drop) != 0) return;
  s->drop.data = s;
  s->dropping = 1;
  uv_accept((uv_stream_t *)&s->h, (uv_stream_t *)&s->drop); /* EAGAIN if none waits */
  uv_close((uv_handle_t *)&s->drop, drop_closed_cb);
}

/* Stop listening; accepted sockets keep their timeout (SPEC 4). */
static void srv_close(nm_srv *s) {
  if (s->ud != NULL) s->ud->s = NULL;
  s->ud = NULL;
  nm_unanchor(s->ctx->L, &s->ref);
  if (s->idle != NULL) nm_idle_unref(s->idle);
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
  nm_tcp *sock = nm_tcp_accept(ctx, server, s->idle);
  if (sock == NULL) { /* out of memory (issue 18: the server stopped) */
    srv_drop(s);
    return;
  }
  nm_emit(ctx, s->ref, NM_CB_ACCEPT, 0, nm_tcp_push_accepted, sock);
  nm_tcp_accept_done(sock);
}

/* srv:listen([port][, ip], fn) */
static int l_listen(lua_State *L) {
  nm_srv_ud *ud = luaL_checkudata(L, 1, NM_TCP_SERVER);
  int i = 2, port = 0;
  struct sockaddr_in sa;
  memset(&sa, 0, sizeof sa);
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_ANY);
  if (lua_type(L, i) == LUA_TNUMBER) port = nm_checkport(L, i++);
  if (lua_type(L, i) == LUA_TSTRING) {
    if (nm_checkip4(L, i, &sa.sin_addr) != 0) return luaL_error(L, "invalid IP address");
    i++;
  } else if (lua_isnil(L, i)) {
    i++; /* listen(port, nil, fn) */
  }
  if (lua_type(L, i) != LUA_TFUNCTION) return luaL_error(L, "need callback");
  if (ud->s != NULL) return luaL_error(L, "already listening");
  sa.sin_port = htons((uint16_t)port);

  nm_ctx *ctx = nm_ctx_get(L);
  nm_srv *s = calloc(1, sizeof *s);
  if (s == NULL) return luaL_error(L, "out of memory");
  s->ctx = ctx;
  s->ref = LUA_NOREF;
  int rc = uv_tcp_init(&ctx->loop, &s->h);
  if (rc != 0) {
    free(s);
    return nm_raise_uv(L, rc);
  }
  s->h.data = s;
  nm_obj_register(ctx, &s->obj, srv_kill);
  rc = uv_tcp_bind(&s->h, (const struct sockaddr *)&sa, 0);
  if (rc == 0) rc = uv_listen((uv_stream_t *)&s->h, SOMAXCONN, connection_cb);
  if (rc == 0 && (s->idle = nm_idle_new(ctx, (uint64_t)ud->timeout_s * 1000)) == NULL)
    rc = UV_ENOMEM;
  if (rc != 0) {
    srv_close(s);
    return nm_raise_uv(L, rc);
  }
  lua_pushvalue(L, i);
  nm_cb_set(L, 1, NM_CB_ACCEPT);
  s->ud = ud;
  ud->s = s;
  s->ref = nm_anchor(L, 1);
  return 0;
}

static int l_getaddr(lua_State *L) {
  nm_srv_ud *ud = luaL_checkudata(L, 1, NM_TCP_SERVER);
  struct sockaddr_storage ss;
  int len = sizeof ss;
  int ok = ud->s != NULL && uv_tcp_getsockname(&ud->s->h, (struct sockaddr *)&ss, &len) == 0;
  return nm_push_sockaddr(L, ok ? (struct sockaddr *)&ss : NULL);
}

static int l_close(lua_State *L) {
  nm_srv_ud *ud = luaL_checkudata(L, 1, NM_TCP_SERVER);
  if (ud->s == NULL) return luaL_error(L, "not connected");
  srv_close(ud->s);
  return 0;
}

static int l_gc(lua_State *L) {
  nm_srv_ud *ud = lua_touserdata(L, 1);
  if (ud->s != NULL) srv_close(ud->s); /* only at lua_close: see tcp_socket.c */
  return 0;
}

int nm_tcp_server_create(lua_State *L, int timeout_s) {
  nm_ctx_get(L);
  nm_srv_ud *ud = nm_obj_new(L, sizeof *ud, NM_TCP_SERVER);
  ud->timeout_s = timeout_s;
  return 1;
}

void nm_tcp_server_open(lua_State *L) {
  static const luaL_Reg methods[] = {
      {"listen", l_listen}, {"getaddr", l_getaddr}, {"close", l_close}, {NULL, NULL}};
  nm_class(L, NM_TCP_SERVER, methods, l_gc);
}
