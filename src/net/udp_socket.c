/* udp_socket.c - net.udpsocket (SPEC 7): listen, send, receive, close,
 * getaddr, ttl.  Multicast membership and net.ifinfo are in iface.c. */
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "dns.h"
#include "udp.h"

/* Largest UDP payload over IPv4: 65535 - 20 (IP) - 8 (UDP). */
#define NM_UDP_MAX 65507
/* Datagrams read by one recvmmsg(): libuv splits the receive buffer into
 * 64 KiB slots, one per datagram. */
#define NM_UDP_BATCH 16

typedef struct nm_udp nm_udp;

/* The Lua object: a pointer to the state of its current binding. */
typedef struct {
  nm_sock_common c;
  nm_udp *s;
} nm_udp_ud;

/* One binding, from listen() (or the first send) to the close callback.
 * After close() the object is detached and may bind again with a new
 * state while this one finishes closing. */
struct nm_udp {
  nm_obj obj;
  uv_udp_t h;
  nm_ctx *ctx;
  nm_udp_ud *ud;      /* NULL once detached */
  int ref;            /* anchor of the Lua object while attached */
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

/* The Lua object lets go of s (no callback reaches Lua any more, SPEC 2)
 * and the handle closes; pending sends are cancelled by libuv. */
static void udp_shut(nm_udp *s) {
  if (s->ud != NULL) s->ud->s = NULL;
  s->ud = NULL;
  nm_unanchor(s->ctx->L, &s->ref);
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
  nm_emit(s->ctx, s->ref, NM_CB_RECEIVE, 0, push_datagram, &d);
}

/* Under load, datagrams arrive in batches of up to NM_UDP_BATCH per
 * system call instead of one each (UV_UDP_RECVMMSG), which saves about
 * 15 % of the CPU time of a UDP echo.  One batch buffer per loop;
 * only the pages datagrams land on are touched.  Without it (out of
 * memory), datagrams are read one by one into the loop's read buffer. */
static void udp_alloc_cb(uv_handle_t *h, size_t hint, uv_buf_t *buf) {
  nm_ctx *ctx = h->loop->data;
  if (ctx->udpbuf != NULL)
    *buf = uv_buf_init(ctx->udpbuf, NM_UDP_BATCH * 65536);
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
  s->ref = LUA_NOREF;
  nm_list_init(&s->mc.link);
  if (ctx->udpbuf == NULL) ctx->udpbuf = malloc(NM_UDP_BATCH * 65536);
  int rc = uv_udp_init_ex(&ctx->loop, &s->h, AF_INET | UV_UDP_RECVMMSG);
  if (rc != 0) {
    free(s);
    return rc;
  }
  s->h.data = s;
  nm_obj_register(ctx, &s->obj, udp_kill);
  rc = uv_udp_set_broadcast(&s->h, 1); /* SPEC 7: broadcast is allowed */
  if (rc == 0) rc = nm_mcast_attach(ctx, &s->mc, &s->h);
  if (rc == 0) rc = uv_udp_bind(&s->h, (const struct sockaddr *)sa, 0);
  if (rc == 0) rc = uv_udp_recv_start(&s->h, udp_alloc_cb, recv_cb);
  if (rc != 0) {
    udp_shut(s);
    return rc;
  }
  s->ud = ud;
  ud->s = s;
  s->ref = nm_anchor(L, 1);
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
         nm_emit(s->ctx, s->ref, NM_CB_SENT, 0, NULL, NULL)) {
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
  if (status == 0 && udp_wants(s, NM_CB_SENT)) nm_emit(ctx, s->ref, NM_CB_SENT, 0, NULL, NULL);
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
  int ref = nm_ref(L, idx); /* never raises: send() then undoes its bind */
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

/* udp:send(port, ip, data[, fn]) */
static int l_send(lua_State *L) {
  nm_udp_ud *ud = check_udp(L);
  int port = nm_checkport(L, 2);
  if (port == 0) return luaL_error(L, "need port");
  struct sockaddr_in to;
  memset(&to, 0, sizeof to);
  to.sin_family = AF_INET;
  to.sin_port = htons((uint16_t)port);
  if (nm_checkip4(L, 3, &to.sin_addr) != 0) return luaL_error(L, "invalid IP address");
  size_t len;
  luaL_checklstring(L, 4, &len);
  if (len == 0) return luaL_error(L, "no data to send");
  if (len > NM_UDP_MAX)
    return luaL_error(L, "datagram too large (%d bytes at most)", NM_UDP_MAX);
  int t = lua_type(L, 5);
  if (t != LUA_TNONE && t != LUA_TNIL && t != LUA_TFUNCTION)
    return luaL_error(L, "invalid callback function");

  if (t == LUA_TFUNCTION) { /* may raise: before anything is bound or sent */
    lua_pushvalue(L, 5);
    nm_cb_set(L, 1, NM_CB_SENT);
  }
  int bound_here = 0, rc = 0;
  if (ud->s == NULL) { /* first bound to an ephemeral port (SPEC 7) */
    struct sockaddr_in any;
    memset(&any, 0, sizeof any);
    any.sin_family = AF_INET;
    any.sin_addr.s_addr = htonl(INADDR_ANY);
    rc = udp_bind(L, ud, &any);
    bound_here = 1;
  }
  if (rc == 0) rc = udp_transmit(L, ud->s, 4, &to);
  if (rc != 0) {
    if (bound_here && ud->s != NULL) udp_shut(ud->s); /* no side effect */
    return nm_raise_uv(L, rc);
  }
  return 0;
}

/* ---- Lua methods ---- */

/* udp:listen([port][, ip]) */
static int l_listen(lua_State *L) {
  nm_udp_ud *ud = check_udp(L);
  int i = 2, port = 0;
  struct sockaddr_in sa;
  memset(&sa, 0, sizeof sa);
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_ANY);
  if (lua_type(L, i) == LUA_TNUMBER) port = nm_checkport(L, i++);
  else if (lua_isnil(L, i)) i++; /* listen(nil, ip) */
  if (lua_type(L, i) == LUA_TSTRING) {
    if (nm_checkip4(L, i, &sa.sin_addr) != 0) return luaL_error(L, "invalid IP address");
  } else if (!lua_isnoneornil(L, i)) {
    return luaL_argerror(L, i, "port or IP address expected");
  }
  if (ud->s != NULL) return luaL_error(L, "already listening");
  sa.sin_port = htons((uint16_t)port);
  int rc = udp_bind(L, ud, &sa);
  if (rc != 0) return nm_raise_uv(L, rc);
  return 0;
}

static int l_on(lua_State *L) {
  static const char *const names[] = {"receive", "sent", "dns", NULL};
  static const int slots[] = {NM_CB_RECEIVE, NM_CB_SENT, NM_CB_DNS};
  check_udp(L);
  return nm_cb_on(L, names, slots);
}

static int l_close(lua_State *L) {
  nm_udp_ud *ud = check_udp(L);
  if (ud->s == NULL) return luaL_error(L, "not connected");
  ud->c.epoch++;
  udp_shut(ud->s);
  return 0;
}

static int l_getaddr(lua_State *L) {
  nm_udp_ud *ud = check_udp(L);
  struct sockaddr_storage ss;
  int len = sizeof ss;
  int ok = ud->s != NULL && uv_udp_getsockname(&ud->s->h, (struct sockaddr *)&ss, &len) == 0;
  return nm_push_sockaddr(L, ok ? (struct sockaddr *)&ss : NULL);
}

/* Sets an IPPROTO_IP option of fd, or raises. */
static void set_ipopt(lua_State *L, uv_os_fd_t fd, int opt, int v) {
  if (setsockopt(fd, IPPROTO_IP, opt, &v, sizeof v) != 0)
    nm_raise_uv(L, uv_translate_sys_error(errno));
}

/* udp:ttl([n]): the unicast TTL, and the multicast TTL with it (SPEC 7). */
static int l_ttl(lua_State *L) {
  nm_udp_ud *ud = check_udp(L);
  uv_os_fd_t fd;
  if (ud->s == NULL || uv_fileno((uv_handle_t *)&ud->s->h, &fd) != 0)
    return luaL_error(L, "socket is not open/bound yet");
  int ttl;
  if (!lua_isnoneornil(L, 2)) {
    ttl = (int)nm_checkrange(L, 2, 1, 255);
    set_ipopt(L, fd, IP_MULTICAST_TTL, ttl);
    set_ipopt(L, fd, IP_TTL, ttl);
  } else {
    socklen_t len = sizeof ttl;
    if (getsockopt(fd, IPPROTO_IP, IP_TTL, &ttl, &len) != 0)
      return nm_raise_uv(L, uv_translate_sys_error(errno));
  }
  lua_pushinteger(L, ttl);
  return 1;
}

static int l_gc(lua_State *L) {
  nm_udp_ud *ud = lua_touserdata(L, 1);
  /* Only reached with a state at lua_close: a bound socket is anchored. */
  if (ud->s != NULL) udp_shut(ud->s);
  return 0;
}

int nm_udp_create(lua_State *L) {
  nm_ctx_get(L);
  nm_obj_new(L, sizeof(nm_udp_ud), NM_UDP_SOCKET);
  return 1;
}

void nm_udp_open(lua_State *L) {
  static const luaL_Reg methods[] = {
      {"listen", l_listen}, {"send", l_send},   {"on", l_on},
      {"close", l_close},   {"getaddr", l_getaddr}, {"ttl", l_ttl},
      {"dns", nm_sock_dns}, {NULL, NULL}};
  nm_class(L, NM_UDP_SOCKET, methods, l_gc);
}
