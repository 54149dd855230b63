/* udp_socket.c - net.udpsocket (docs/modules/net.md): listen, send,
 * receive, close, getaddr, ttl, dns.  Multicast membership is in
 * multicast.c. */
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "dns.h"
#include "sock.h"
#include "udp.h"

/* Largest UDP payload over IPv4: 65535 - 20 (IP) - 8 (UDP). */
#define NM_UDP_MAX 65507
/* Datagrams read by one recvmmsg(): libuv splits the receive buffer into
 * 64 KiB slots, one per datagram. */
#define NM_UDP_BATCH 16

typedef struct nm_udp nm_udp;

/* The Lua object: its binding to the current OS socket. */
typedef struct {
  nm_bind b; /* b.state: the nm_udp while bound; first, for sock:dns */
  /* Old firmware's one remote of a UDP socket, for its legacy forms
   * (udp:connect(port, ip), udp:send(data)): set by connect and by every
   * datagram received, as the SDK's espconn did.  Port 0: none yet. */
  struct sockaddr_in remote;
} nm_udp_ud;

/* One binding, from listen() (or the first send) to the close callback.
 * After close() the object is detached and may bind again with a new
 * state while this one finishes closing. */
struct nm_udp {
  nm_obj obj;
  uv_udp_t h;
  nm_ctx *ctx;
  nm_udp_ud *ud;      /* NULL once detached */
  nm_mcast_sock mc;   /* in the global multicast socket list */
  nm_defer sent;      /* fires `sent` for datagrams sent at once */
  unsigned sent_due;  /* how many `sent` calls it owes */
  int sent_queued;
};

/* A datagram the kernel could not take at once: queued by libuv, with the
 * Lua string referenced (not copied) until it is sent. */
typedef struct {
  uv_udp_send_t req;
  nm_udp *s;
  int strref;
} udp_sreq;

/* Does s's Lua object listen to slot?  (A bit test: no call into Lua.) */
static int udp_wants(const nm_udp *s, int slot) {
  return s->ud != NULL && nm_cb_isset(s->ud, sizeof *s->ud, slot);
}

/* The anchor of s's Lua object (LUA_NOREF once detached). */
static int udp_ref(const nm_udp *s) { return s->ud != NULL ? s->ud->b.ref : LUA_NOREF; }

static nm_udp_ud *check_udp(lua_State *L) {
  return luaL_checkudata(L, 1, NM_UDP_SOCKET);
}

/* ---- life of a binding ---- */

static void udp_closed_cb(uv_handle_t *h) {
  nm_udp *s = h->data;
  if (s->sent_queued) nm_defer_cancel(s->ctx, &s->sent);
  nm_obj_unregister(&s->obj);
  free(s);
}

/* The Lua object lets go of s (no callback reaches Lua any more) and the
 * handle closes; pending sends are cancelled by libuv. */
static void udp_shut(nm_udp *s) {
  if (s->ud != NULL) nm_bind_detach(s->ctx->L, &s->ud->b);
  s->ud = NULL;
  nm_mcast_detach(&s->mc);
  if (!uv_is_closing((uv_handle_t *)&s->h)) uv_close((uv_handle_t *)&s->h, udp_closed_cb);
}

static void udp_kill(nm_obj *o) { udp_shut(nm_container_of(o, nm_udp, obj)); }

typedef struct {
  const char *base;
  size_t len;
  const struct sockaddr *from;
} datagram;

static void push_datagram(lua_State *L, void *arg) {
  datagram *d = arg;
  lua_pushlstring(L, d->base, d->len);
  nm_push_sockaddr(L, d->from);
}

/* One `receive` per datagram.  Read errors are not reported: UDP has no
 * disconnection, and the socket keeps receiving. */
static void recv_cb(uv_udp_t *h, ssize_t n, const uv_buf_t *buf,
                    const struct sockaddr *addr, unsigned flags) {
  nm_udp *s = h->data;
  (void)flags;
  if (n < 0 || addr == NULL) return; /* error, nothing more, end of a batch */
  datagram d = {buf->base, (size_t)n, addr};
  if (s->ud != NULL && addr->sa_family == AF_INET) memcpy(&s->ud->remote, addr, sizeof s->ud->remote);
  nm_emit(s->ctx, udp_ref(s), NM_CB_RECEIVE, 0, push_datagram, &d);
}

/* Under load, datagrams arrive in batches of up to NM_UDP_BATCH per
 * system call instead of one each (UV_UDP_RECVMMSG), which saves about
 * 15 % of the CPU time of a UDP echo.  One batch buffer per loop
 * (ctx->state[NM_STATE_UDP], from the first bind); only the pages
 * datagrams land on are touched.  Without it (out of memory), datagrams
 * are read one by one into the loop's read buffer. */
typedef struct udp_loop {
  nm_obj obj;
  nm_ctx *ctx;
  char buf[NM_UDP_BATCH * 65536];
} udp_loop;

static void udp_loop_kill(nm_obj *o) {
  udp_loop *u = nm_container_of(o, udp_loop, obj);
  nm_obj_unregister(&u->obj);
  u->ctx->state[NM_STATE_UDP] = NULL;
  free(u);
}

static void udp_loop_get(nm_ctx *ctx) {
  if (ctx->state[NM_STATE_UDP] != NULL) return;
  udp_loop *u = malloc(sizeof *u);
  if (u == NULL) return;
  u->ctx = ctx;
  nm_obj_register(ctx, &u->obj, udp_loop_kill);
  ctx->state[NM_STATE_UDP] = u;
}

static void udp_alloc_cb(uv_handle_t *h, size_t hint, uv_buf_t *buf) {
  nm_ctx *ctx = h->loop->data;
  udp_loop *u = ctx->state[NM_STATE_UDP];
  if (u != NULL)
    *buf = uv_buf_init(u->buf, sizeof u->buf);
  else
    nm_readbuf_alloc_cb(h, hint, buf);
}

/* Creates and binds the OS socket of ud's object (at stack index 1) and
 * anchors it.  Returns 0, or a libuv error with nothing changed. */
static int udp_bind(lua_State *L, nm_udp_ud *ud, const struct sockaddr_in *sa) {
  nm_ctx *ctx = nm_ctx_get(L);
  nm_udp *s = calloc(1, sizeof *s);
  if (s == NULL) return UV_ENOMEM;
  s->ctx = ctx;
  nm_list_init(&s->mc.link);
  udp_loop_get(ctx);
  int rc = uv_udp_init_ex(&ctx->loop, &s->h, AF_INET | UV_UDP_RECVMMSG);
  if (rc != 0) {
    free(s);
    return rc;
  }
  s->h.data = s;
  nm_obj_register(ctx, &s->obj, udp_kill);
  rc = uv_udp_set_broadcast(&s->h, 1); /* broadcast is allowed (docs/modules/net.md) */
  if (rc == 0) rc = nm_mcast_attach(ctx, &s->mc, &s->h);
  if (rc == 0) rc = uv_udp_bind(&s->h, (const struct sockaddr *)sa, 0);
  if (rc == 0) rc = uv_udp_recv_start(&s->h, udp_alloc_cb, recv_cb);
  if (rc != 0) {
    udp_shut(s);
    return rc;
  }
  s->ud = ud;
  nm_bind_attach(L, 1, &ud->b, s);
  return 0;
}

/* ---- sending ---- */

static void sent_defer_cb(nm_defer *d) {
  nm_udp *s = nm_container_of(d, nm_udp, sent);
  unsigned n = s->sent_due;
  s->sent_due = 0;
  s->sent_queued = 0;
  /* Re-fetch each time: a callback may close the socket or replace itself. */
  while (n-- > 0 && udp_wants(s, NM_CB_SENT) &&
         nm_emit(s->ctx, udp_ref(s), NM_CB_SENT, 0, NULL, NULL)) {
  }
}

/* The kernel took the datagram inside send(): `sent` on a later turn. */
static void sent_later(nm_udp *s) {
  s->sent_due++;
  if (s->sent_queued) return;
  s->sent_queued = 1;
  nm_defer_push(s->ctx, &s->sent, sent_defer_cb);
}

/* A queued datagram went out (or failed, or the socket closed: then there
 * is no `sent`, the datagram is lost as UDP datagrams may be). */
static void send_cb(uv_udp_send_t *req, int status) {
  udp_sreq *w = nm_container_of(req, udp_sreq, req);
  nm_udp *s = w->s;
  nm_ctx *ctx = s->ctx;
  if (!ctx->closed) nm_unref(ctx->L, w->strref); /* from libuv: must not raise */
  free(w);
  if (status == 0 && udp_wants(s, NM_CB_SENT)) nm_emit(ctx, udp_ref(s), NM_CB_SENT, 0, NULL, NULL);
}

/* Hands the string at index idx to the kernel, or to libuv's queue when
 * the kernel cannot take it now (libuv keeps the order).  Returns 0 or a
 * libuv error, in which case nothing was sent. */
static int udp_transmit(lua_State *L, nm_udp *s, int idx, const struct sockaddr_in *to) {
  size_t len;
  const char *data = lua_tolstring(L, idx, &len);
  uv_buf_t buf = uv_buf_init((char *)data, (unsigned int)len);
  int rc = uv_udp_try_send(&s->h, &buf, 1, (const struct sockaddr *)to);
  if (rc >= 0) {
    sent_later(s);
    return 0;
  }
  if (rc != UV_EAGAIN) return rc;
  /* The string is kept before libuv queues it: luaL_ref after could raise
   * with the datagram queued and its bytes unreferenced (issue 18). */
  int ref = nm_ref(L, idx);
  udp_sreq *w = ref == LUA_NOREF ? NULL : malloc(sizeof *w);
  if (w == NULL) {
    nm_unref(L, ref);
    return UV_ENOMEM;
  }
  w->s = s;
  w->strref = ref;
  rc = uv_udp_send(&w->req, &s->h, &buf, 1, (const struct sockaddr *)to, send_cb);
  if (rc != 0) {
    free(w);
    nm_unref(L, ref);
  }
  return rc;
}

/* Binds ud to an ephemeral port unless it is bound; *bound_here says so. */
static int udp_bind_any(lua_State *L, nm_udp_ud *ud, int *bound_here) {
  struct sockaddr_in any;
  *bound_here = 0;
  if (ud->b.state != NULL) return 0;
  nm_sockaddr4(&any, (struct in_addr){htonl(INADDR_ANY)}, 0);
  *bound_here = 1;
  return udp_bind(L, ud, &any);
}

/* Sends the data at index data to `to`, `sent` to the function at fn. */
static int udp_send_to(lua_State *L, nm_udp_ud *ud, const struct sockaddr_in *to, int data, int fn) {
  size_t len;
  luaL_checklstring(L, data, &len);
  if (len == 0) return luaL_error(L, "no data to send");
  if (len > NM_UDP_MAX)
    return luaL_error(L, "datagram too large (%d bytes at most)", NM_UDP_MAX);
  if (nm_optcallback(L, fn)) { /* may raise (a table): before anything is bound or sent */
    lua_pushvalue(L, fn);
    nm_cb_set(L, 1, NM_CB_SENT);
  }
  int bound_here, rc = udp_bind_any(L, ud, &bound_here);
  if (rc == 0) rc = udp_transmit(L, ud->b.state, data, to);
  if (rc != 0) {
    if (bound_here && ud->b.state != NULL) udp_shut(ud->b.state); /* no side effect */
    return nm_raise_uv(L, rc);
  }
  return 0;
}

/* udp:send(port, ip, data[, fn]); the legacy udp:send(data[, fn]) of old
 * firmware goes to the socket's one remote (udp:connect's, or the sender
 * of the last datagram received). */
static int udpsocket_send(lua_State *L) {
  nm_udp_ud *ud = check_udp(L);
  if (!nm_opts.strict && lua_type(L, 2) == LUA_TSTRING && lua_type(L, 3) != LUA_TSTRING) {
    nm_legacy_warn(L, "udp:send(data)", "udp:send(port, ip, data)");
    if (ud->remote.sin_port == 0)
      return luaL_error(L, "no remote yet: udp:send(port, ip, data)");
    struct sockaddr_in to = ud->remote;
    return udp_send_to(L, ud, &to, 2, 3);
  }
  int port = nm_checkport(L, 2);
  if (port == 0) return luaL_error(L, "need port");
  struct in_addr ip;
  if (nm_checkip4(L, 3, &ip) != 0) return luaL_error(L, "invalid IP address");
  struct sockaddr_in to;
  nm_sockaddr4(&to, ip, port);
  return udp_send_to(L, ud, &to, 4, 5);
}

/* Legacy udp:connect(port, ip) of old firmware (net.createConnection(net.UDP)):
 * the remote of udp:send(data), and a bound socket to receive replies. */
static int udpsocket_connect(lua_State *L) {
  nm_udp_ud *ud = check_udp(L);
  int port = nm_checkport(L, 2);
  if (port == 0) return luaL_error(L, "need port");
  struct in_addr ip;
  if (nm_checkip4(L, 3, &ip) != 0) return luaL_error(L, "invalid IP address");
  nm_legacy_warn(L, "udp:connect(port, ip)", "udp:send(port, ip, data)");
  int bound_here, rc = udp_bind_any(L, ud, &bound_here);
  if (rc != 0) return nm_raise_uv(L, rc);
  nm_sockaddr4(&ud->remote, ip, port);
  return 0;
}


/* ---- Lua methods ---- */

/* udp:listen([port][, ip]) */
static int udpsocket_listen(lua_State *L) {
  nm_udp_ud *ud = check_udp(L);
  struct sockaddr_in sa;
  int i = nm_check_listen_addr(L, 2, &sa);
  int ip_at = nm_isnumber(L, 2) || lua_isnil(L, 2) ? 3 : 2;
  if (i == ip_at && !lua_isnoneornil(L, i)) /* neither an ip nor nil where the ip goes */
    return luaL_argerror(L, i, "port or IP address expected");
  if (ud->b.state != NULL) return luaL_error(L, "already listening");
  int rc = udp_bind(L, ud, &sa);
  if (rc != 0) return nm_raise_uv(L, rc);
  return 0;
}

static int udpsocket_on(lua_State *L) {
  static const char *const names[] = {"receive", "sent", "dns", NULL};
  static const int slots[] = {NM_CB_RECEIVE, NM_CB_SENT, NM_CB_DNS};
  check_udp(L);
  return nm_cb_on(L, names, slots);
}

static int udpsocket_close(lua_State *L) {
  nm_udp_ud *ud = check_udp(L);
  if (ud->b.state == NULL) return luaL_error(L, "not connected");
  ud->b.epoch++;
  udp_shut(ud->b.state);
  return 0;
}

static int udpsocket_getaddr(lua_State *L) {
  nm_udp *s = check_udp(L)->b.state;
  return nm_sock_name(L, s != NULL ? (uv_handle_t *)&s->h : NULL, 0);
}

/* udp:ttl([n]): the unicast TTL, and the multicast TTL with it. */
static int udpsocket_ttl(lua_State *L) {
  nm_udp *s = check_udp(L)->b.state;
  return nm_sock_ttl(L, s != NULL ? (uv_handle_t *)&s->h : NULL, 1);
}

static int udpsocket_dns(lua_State *L) {
  check_udp(L);
  return nm_sock_dns(L);
}

static int udpsocket_gc(lua_State *L) {
  nm_udp_ud *ud = lua_touserdata(L, 1);
  /* Only reached with a state at lua_close: a bound socket is anchored. */
  if (ud->b.state != NULL) udp_shut(ud->b.state);
  return 0;
}

int nm_udpsocket_create(lua_State *L) {
  nm_ctx_get(L);
  nm_obj_new(L, sizeof(nm_udp_ud), NM_UDP_SOCKET);
  return 1;
}

void nm_udpsocket_open(lua_State *L) {
  static const luaL_Reg methods[] = {
      {"listen", udpsocket_listen},   {"send", udpsocket_send}, {"on", udpsocket_on},
      {"close", udpsocket_close},     {"getaddr", udpsocket_getaddr},
      {"ttl", udpsocket_ttl},         {"dns", udpsocket_dns},   NM_GC_METHOD,
      {"connect", udpsocket_connect}, /* legacy: left out with --strict */
      {NULL, NULL}};
  nm_class(L, NM_UDP_SOCKET, methods, udpsocket_gc);
  if (nm_opts.strict) { /* current firmware has no udp:connect */
    luaL_getmetatable(L, NM_UDP_SOCKET);
    lua_getfield(L, -1, "__index");
    if (lua_istable(L, -1)) {
      lua_pushnil(L);
      lua_setfield(L, -2, "connect");
    }
    lua_pop(L, 2);
  }
}
