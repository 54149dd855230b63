/* tcp_socket.c - net.socket (SPEC 5): client connections from
 * net.createConnection() and connections accepted by a server. */
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include "dns.h"
#include "tcp.h"

/* A send the kernel did not take at once (or made while resolving).
 * While libuv still holds some of its bytes, the Lua string stays
 * referenced (strref), so nothing is copied. */
struct nm_wreq {
  uv_write_t req;
  nm_tcp *s;
  int strref;    /* LUA_NOREF when nothing needs the string any more */
  uv_buf_t buf;
  nm_wreq *next; /* in the connect's pending list */
};

static void tcp_closed_cb(uv_handle_t *h);
static void tcp_kill(nm_obj *o);
static void read_cb(uv_stream_t *st, ssize_t n, const uv_buf_t *buf);

/* Does s's Lua object listen to slot?  (A bit test: no call into Lua.) */
static int tcp_wants(const nm_tcp *s, int slot) {
  return s->ud != NULL && nm_cb_isset(s->ud, sizeof *s->ud, slot);
}

static nm_tcp_ud *check_sock(lua_State *L) {
  return luaL_checkudata(L, 1, NM_TCP_SOCKET);
}

/* ---- life of a connection state ---- */

static nm_tcp *tcp_new(nm_ctx *ctx) {
  nm_tcp *s = calloc(1, sizeof *s);
  if (s == NULL) return NULL;
  s->ctx = ctx;
  s->ref = LUA_NOREF;
  nm_list_init(&s->link);
  s->h.data = s;
  nm_obj_register(ctx, &s->obj, tcp_kill);
  return s;
}

static int tcp_init_handle(nm_tcp *s) {
  int rc = uv_tcp_init(&s->ctx->loop, &s->h);
  if (rc == 0) s->h.data = s;
  return rc;
}

static void tcp_attach(lua_State *L, nm_tcp *s, nm_tcp_ud *ud, int idx) {
  s->ud = ud;
  ud->s = s;
  s->ref = nm_anchor(L, idx);
}

/* The Lua object lets go of s: no callback of s reaches Lua any more and
 * the object becomes collectable (SPEC 2). */
static void tcp_detach(nm_tcp *s) {
  if (s->ud != NULL) s->ud->s = NULL;
  s->ud = NULL;
  nm_unanchor(s->ctx->L, &s->ref);
}

static void wreq_free(nm_ctx *ctx, nm_wreq *w) {
  if (!ctx->closed) nm_unref(ctx->L, w->strref); /* from libuv: must not raise */
  free(w);
}

static void tcp_free(nm_tcp *s) {
  nm_tcp_conn *c = s->accepted ? NULL : s->conn;
  if (c != NULL) {
    if (c->fail != NULL) {
      nm_defer_cancel(s->ctx, c->fail);
      free(c->fail);
    }
    while (c->pending != NULL) {
      nm_wreq *w = c->pending;
      c->pending = w->next;
      wreq_free(s->ctx, w);
    }
    free(c);
  }
  nm_list_remove(&s->link);
  nm_obj_unregister(&s->obj);
  if (s->sent_due > 0)
    s->gone = 1; /* the `sent` list still points to it: it frees s */
  else
    free(s);
}

static void tcp_closed_cb(uv_handle_t *h) { tcp_free(h->data); }

/* Close at once: queued data is discarded. */
static void tcp_abort(nm_tcp *s) {
  nm_idle_remove(s);
  if (s->phase == NM_RESOLVING) {
    if (s->conn->dns != NULL) nm_dns_cancel(s->conn->dns);
    s->conn->dns = NULL;
    if (s->in_dns_cb)
      s->in_dns_cb = 2; /* connect_dns_cb still uses s: it frees it */
    else
      tcp_free(s);
    return;
  }
  s->phase = NM_CLOSING;
  if (!uv_is_closing((uv_handle_t *)&s->h)) uv_close((uv_handle_t *)&s->h, tcp_closed_cb);
}

static void tcp_kill(nm_obj *o) {
  nm_tcp *s = nm_container_of(o, nm_tcp, obj);
  tcp_detach(s);
  tcp_abort(s);
}

/* ---- close with flush, bounded by the linger timer ---- */

static void linger_timer_cb(uv_timer_t *t) {
  nm_ctx *ctx = t->loop->data;
  uint64_t now = uv_now(&ctx->loop);
  while (!nm_list_empty(&ctx->lingering)) {
    nm_tcp *s = nm_container_of(ctx->lingering.next, nm_tcp, link);
    if (s->deadline > now) {
      uv_timer_start(t, linger_timer_cb, s->deadline - now, 0);
      return;
    }
    nm_list_remove(&s->link);
    tcp_abort(s);
  }
}

static void shutdown_cb(uv_shutdown_t *req, int status) {
  nm_tcp *s = req->data;
  (void)status;
  free(req);
  if (!uv_is_closing((uv_handle_t *)&s->h)) uv_close((uv_handle_t *)&s->h, tcp_closed_cb);
}

/* Flush what was queued, send FIN, close; within NM_LINGER_MS. */
static void tcp_close_gracefully(nm_tcp *s) {
  nm_ctx *ctx = s->ctx;
  nm_idle_remove(s);
  if (s->phase == NM_RESOLVING) {
    tcp_abort(s);
    return;
  }
  int connected = s->phase == NM_CONNECTED;
  s->phase = NM_CLOSING;
  uv_read_stop((uv_stream_t *)&s->h);
  if (uv_is_closing((uv_handle_t *)&s->h)) return;
  /* Every byte already with the kernel (the usual case: send() wrote at
   * once): FIN now.  libuv 1.44's uv_shutdown would first wait a loop turn
   * for POLLOUT, an epoll_ctl and a wakeup per closed connection. */
  uv_os_fd_t fd;
  if (connected && s->h.write_queue_size == 0 && uv_fileno((uv_handle_t *)&s->h, &fd) == 0 &&
      shutdown(fd, SHUT_WR) == 0) {
    uv_close((uv_handle_t *)&s->h, tcp_closed_cb);
    return;
  }
  uv_shutdown_t *req = malloc(sizeof *req);
  if (req == NULL || uv_shutdown(req, (uv_stream_t *)&s->h, shutdown_cb) != 0) {
    free(req);
    tcp_abort(s);
    return;
  }
  req->data = s;
  s->deadline = uv_now(&ctx->loop) + NM_LINGER_MS;
  nm_list_append(&ctx->lingering, &s->link);
  if (!uv_is_active((uv_handle_t *)&ctx->linger_timer))
    uv_timer_start(&ctx->linger_timer, linger_timer_cb, NM_LINGER_MS, 0);
}

/* The connection ended by the peer or the network (SPEC 5): code 0 goes to
 * `disconnection`; an error to `reconnection` if set, else `disconnection`.
 * The state is detached before the callback, which may connect again; the
 * anchor is kept until the callback returned. */
static void tcp_end(nm_tcp *s, int code, int flush) {
  nm_ctx *ctx = s->ctx;
  int ref = s->ref;
  int slot = code != 0 && tcp_wants(s, NM_CB_RECONNECTION) ? NM_CB_RECONNECTION
             : tcp_wants(s, NM_CB_DISCONNECTION)              ? NM_CB_DISCONNECTION
                                                              : 0;
  s->ref = LUA_NOREF;
  tcp_detach(s);
  if (flush)
    tcp_close_gracefully(s);
  else
    tcp_abort(s); /* may free s */
  if (slot != 0) nm_emit(ctx, ref, slot, 0, nm_push_integer, &code);
  nm_unanchor(ctx->L, &ref);
}

void nm_tcp_timed_out(nm_tcp *s) { tcp_end(s, -3, 1); }

/* ---- reading ---- */

typedef struct {
  const char *base;
  size_t len;
} chunk;

static void push_chunk(lua_State *L, void *arg) {
  chunk *c = arg;
  lua_pushlstring(L, c->base, c->len);
}

/* An EOF on a connection the peer reset: when a write() consumed the
 * ECONNRESET first (its callback comes later), read() then gives a plain
 * EOF.  The TCP state tells them apart: CLOSE after a reset, CLOSE_WAIT
 * after the peer's FIN.  (Found by tests/faults_tcp.lua: 1 run in 10
 * reported a reset as disconnection(0).) */
static int tcp_was_reset(nm_tcp *s) {
  struct tcp_info ti;
  socklen_t len = sizeof ti;
  uv_os_fd_t fd;
  return uv_fileno((uv_handle_t *)&s->h, &fd) == 0 &&
         getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) == 0 && ti.tcpi_state == TCP_CLOSE;
}

static void read_cb(uv_stream_t *st, ssize_t n, const uv_buf_t *buf) {
  nm_tcp *s = st->data;
  if (n == 0) return;
  if (n < 0) {
    if (n == UV_EOF && tcp_was_reset(s)) n = UV_ECONNRESET;
    tcp_end(s, nm_errcode((int)n), n == UV_EOF);
    return;
  }
  nm_idle_touch(s);
  chunk c = {buf->base, (size_t)n};
  nm_emit(s->ctx, s->ref, NM_CB_RECEIVE, 0, push_chunk, &c);
}

static void tcp_read_start(nm_tcp *s) {
  if (s->phase != NM_CONNECTED || s->held) return;
  int rc = uv_read_start((uv_stream_t *)&s->h, nm_readbuf_alloc_cb, read_cb);
  if (rc != 0) tcp_end(s, nm_errcode(rc), 0);
}

/* A client connection to a peer that vanished without a FIN (host gone,
 * cable cut) would wait forever while nothing is sent: TCP keepalive
 * probes it after 60 s of silence, every 10 s, and gives up after 5
 * (disconnection -8).  Accepted sockets have the server's inactivity
 * timeout instead (docs/DIFFERENCES.md). */
static void tcp_keepalive(nm_tcp *s) {
  uv_os_fd_t fd;
  int intvl = 10, cnt = 5;
  if (uv_tcp_keepalive(&s->h, 1, 60) != 0 || uv_fileno((uv_handle_t *)&s->h, &fd) != 0) return;
  setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof intvl);
  setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof cnt);
}

/* Connected (either way): fire `connection`, then read unless held. */
static void tcp_connected(nm_tcp *s) {
  s->phase = NM_CONNECTED;
  uv_tcp_nodelay(&s->h, 1); /* see docs: NodeMCU scripts send in pieces */
  if (!s->accepted) tcp_keepalive(s);
  if (tcp_wants(s, NM_CB_CONNECTION))
    nm_emit(s->ctx, s->ref, NM_CB_CONNECTION, 0, NULL, NULL);
  if (s->ud != NULL) tcp_read_start(s);
}

/* ---- sends the kernel took at once ----
 * send() first tries uv_try_write, which usually hands every byte to the
 * kernel at once: no uv_write request then (its completion round through
 * libuv costs an epoll_ctl per write in libuv 1.44), no registry ref to the
 * string, and no allocation.  The `sent` of such a send is due on a later
 * loop turn (SPEC 1): the socket counts it (sent_due) and joins a per-loop
 * list, drained by one deferred call.  While a socket has sents due, its
 * completed uv_writes count there too, so that `sent` keeps call order; a
 * socket closed meanwhile stays allocated (gone) until the list reached it.
 * One spare request and one spare registry slot (for the string of a send
 * libuv queues) per loop are kept ready, so that send() fails for want of
 * memory before it has written anything, never after. */
typedef struct nm_tcp_sent {
  nm_obj obj; /* shutdown frees the list */
  nm_ctx *ctx;
  nm_defer d;
  int queued;
  nm_tcp *head, **tail;
  nm_wreq *spare;
  int spare_ref; /* a registry slot holding false, or LUA_NOREF */
} nm_tcp_sent;

static void sent_due_cb(nm_defer *d) {
  nm_tcp_sent *q = nm_container_of(d, nm_tcp_sent, d);
  nm_tcp *s = q->head; /* this batch; what callbacks add waits a turn */
  q->head = NULL;
  q->tail = &q->head;
  q->queued = 0;
  while (s != NULL) {
    nm_tcp *next = s->sent_next;
    unsigned n = s->sent_due;
    s->sent_due = 0; /* a send from a callback below lists s again */
    if (s->gone) {
      free(s);
    } else {
      /* Stops when the socket is closed or the callback cleared. */
      while (n-- > 0 && tcp_wants(s, NM_CB_SENT) &&
             nm_emit(s->ctx, s->ref, NM_CB_SENT, 0, NULL, NULL)) {
      }
    }
    s = next;
  }
}

static void sent_kill(nm_obj *o) {
  nm_tcp_sent *q = nm_container_of(o, nm_tcp_sent, obj);
  while (q->head != NULL) {
    nm_tcp *s = q->head;
    q->head = s->sent_next;
    s->sent_due = 0;
    if (s->gone) free(s);
  }
  if (q->queued) nm_defer_cancel(q->ctx, &q->d);
  nm_obj_unregister(&q->obj);
  q->ctx->state[NM_STATE_TCP] = NULL;
  free(q->spare);
  nm_unref(q->ctx->L, q->spare_ref);
  free(q);
}

static nm_tcp_sent *sent_list(nm_ctx *ctx) {
  nm_tcp_sent *q = ctx->state[NM_STATE_TCP];
  if (q == NULL && (q = calloc(1, sizeof *q)) != NULL) {
    q->tail = &q->head;
    q->ctx = ctx;
    q->spare_ref = LUA_NOREF;
    nm_obj_register(ctx, &q->obj, sent_kill);
    ctx->state[NM_STATE_TCP] = q;
  }
  return q;
}

/* One more send of s is with the kernel: its `sent` fires on a later turn. */
static void sent_later(nm_tcp_sent *q, nm_tcp *s) {
  if (s->sent_due++ == 0) {
    s->sent_next = NULL;
    *q->tail = s;
    q->tail = &s->sent_next;
  }
  if (!q->queued) {
    q->queued = 1;
    nm_defer_push(s->ctx, &q->d, sent_due_cb);
  }
}

/* ---- writing ---- */

static void write_cb(uv_write_t *req, int status) {
  nm_wreq *w = nm_container_of(req, nm_wreq, req);
  nm_tcp *s = w->s;
  nm_ctx *ctx = s->ctx;
  wreq_free(ctx, w);
  if (status == 0 && s->sent_due > 0 && ctx->state[NM_STATE_TCP] != NULL) {
    /* earlier sends' `sent` are still due: this one waits behind them */
    nm_idle_touch(s);
    sent_later(ctx->state[NM_STATE_TCP], s);
    return;
  }
  if (status < 0) {
    /* The read side usually reports the same failure; whoever comes first
     * ends the connection. */
    if (status != UV_ECANCELED && s->ud != NULL) tcp_end(s, nm_errcode(status), 0);
    return;
  }
  nm_idle_touch(s);
  if (tcp_wants(s, NM_CB_SENT)) nm_emit(ctx, s->ref, NM_CB_SENT, 0, NULL, NULL);
}

static int tcp_write(nm_tcp *s, nm_wreq *w) {
  int rc = uv_write(&w->req, (uv_stream_t *)&s->h, &w->buf, 1, write_cb);
  return rc;
}

/* ---- connecting ---- */

static void connect_cb(uv_connect_t *req, int status) {
  nm_tcp *s = req->data;
  free(req);
  if (s->ud == NULL || status == UV_ECANCELED) return; /* closed meanwhile */
  if (status < 0) {
    tcp_end(s, nm_errcode(status), 0);
    return;
  }
  tcp_connected(s);
}

/* A failure found while starting a connect still reaches Lua from the loop. */
typedef struct {
  nm_defer d;
  nm_tcp *s;
  int status;
} deferred_fail;

static void deferred_fail_cb(nm_defer *d) {
  deferred_fail *f = nm_container_of(d, deferred_fail, d);
  nm_tcp *s = f->s;
  int status = f->status;
  free(f);
  s->conn->fail = NULL;
  if (s->ud != NULL) tcp_end(s, nm_errcode(status), 0);
}

static void fail_later(nm_tcp *s, int status) {
  deferred_fail *f = malloc(sizeof *f);
  if (f == NULL) { /* cannot even report: close quietly */
    tcp_detach(s);
    tcp_abort(s);
    return;
  }
  f->s = s;
  f->status = status;
  s->conn->fail = &f->d;
  nm_defer_push(s->ctx, &f->d, deferred_fail_cb);
}

static void tcp_start_connect(nm_tcp *s, const struct in_addr *ip) {
  struct sockaddr_in sa;
  memset(&sa, 0, sizeof sa);
  sa.sin_family = AF_INET;
  sa.sin_port = htons(s->conn->port);
  sa.sin_addr = *ip;
  int rc = tcp_init_handle(s);
  if (rc != 0) {
    s->phase = NM_RESOLVING; /* no handle to close */
    fail_later(s, rc);
    return;
  }
  s->phase = NM_CONNECTING;
  uv_connect_t *req = malloc(sizeof *req);
  if (req == NULL) {
    fail_later(s, UV_ENOMEM);
    return;
  }
  req->data = s;
  rc = uv_tcp_connect(req, &s->h, (const struct sockaddr *)&sa, connect_cb);
  if (rc != 0) {
    free(req);
    fail_later(s, rc);
    return;
  }
  /* Sends made while resolving go out, in order, once connected. */
  while (s->conn->pending != NULL) {
    nm_wreq *w = s->conn->pending;
    s->conn->pending = w->next;
    if (tcp_write(s, w) != 0) wreq_free(s->ctx, w);
  }
}

static void connect_dns_cb(void *arg, int status, const struct in_addr *addr) {
  nm_tcp *s = arg;
  nm_ctx *ctx = s->ctx;
  s->conn->dns = NULL;
  s->in_dns_cb = 1;
  nm_emit(ctx, s->ref, NM_CB_DNS, 0, nm_push_ip_or_nil, (void *)addr);
  if (s->in_dns_cb == 2) { /* the callback closed the socket */
    tcp_free(s);
    return;
  }
  s->in_dns_cb = 0;
  if (s->ud == NULL || s->phase != NM_RESOLVING) return;
  if (status != 0) {
    tcp_end(s, nm_errcode(UV_EAI_NONAME), 0);
    return;
  }
  tcp_start_connect(s, addr);
}

/* sock:connect(port[, host][, fn]) */
static int l_connect(lua_State *L) {
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
  if (ud->s != NULL) return luaL_error(L, "already connected");

  nm_ctx *ctx = nm_ctx_get(L);
  nm_tcp *s = tcp_new(ctx);
  if (s != NULL && (s->conn = calloc(1, sizeof *s->conn)) == NULL) {
    tcp_free(s);
    s = NULL;
  }
  if (s == NULL) return luaL_error(L, "out of memory");
  s->conn->port = (uint16_t)port;
  s->phase = NM_RESOLVING;
  struct in_addr ip;
  if (nm_parse_ip4(host, &ip) != 0) {
    s->conn->dns = nm_dns_lookup(ctx, host, connect_dns_cb, s);
    if (s->conn->dns == NULL) {
      tcp_free(s);
      return luaL_error(L, "out of memory");
    }
  }
  if (fn) {
    lua_pushvalue(L, fn);
    nm_cb_set(L, 1, NM_CB_CONNECTION);
  }
  tcp_attach(L, s, ud, 1);
  if (s->conn->dns == NULL) tcp_start_connect(s, &ip);
  return 0;
}

/* ---- accepted connections ---- */

nm_tcp *nm_tcp_accept(nm_ctx *ctx, uv_stream_t *server, nm_idle *idle) {
  nm_tcp *s = tcp_new(ctx);
  if (s == NULL) return NULL;
  if (tcp_init_handle(s) != 0) {
    tcp_free(s);
    return NULL;
  }
  s->phase = NM_CONNECTED; /* getpeer() works inside the listen function */
  if (uv_accept(server, (uv_stream_t *)&s->h) != 0) {
    tcp_abort(s);
    return NULL;
  }
  nm_idle_add(idle, s);
  return s;
}

void nm_tcp_push_accepted(lua_State *L, void *arg) {
  nm_tcp *s = arg;
  lua_pop(L, 1); /* the listen function takes the socket, not the server */
  nm_tcp_ud *ud = nm_obj_new(L, sizeof *ud, NM_TCP_SOCKET);
  tcp_attach(L, s, ud, -1);
}

void nm_tcp_accept_done(nm_tcp *s) {
  if (s->ud != NULL)
    tcp_connected(s);
  else if (s->phase != NM_CLOSING)
    tcp_kill(&s->obj); /* never reached Lua (error or out of memory) */
}

/* ---- Lua methods ---- */

static int l_on(lua_State *L) {
  static const char *const names[] = {"connection", "reconnection", "disconnection",
                                      "receive", "sent", "dns", NULL};
  static const int slots[] = {NM_CB_CONNECTION, NM_CB_RECONNECTION, NM_CB_DISCONNECTION,
                              NM_CB_RECEIVE, NM_CB_SENT, NM_CB_DNS};
  check_sock(L);
  return nm_cb_on(L, names, slots);
}

/* sock:send(data[, fn]) */
static int l_send(lua_State *L) {
  nm_tcp_ud *ud = check_sock(L);
  size_t len;
  const char *data = luaL_checklstring(L, 2, &len);
  if (len == 0) return luaL_error(L, "no data to send");
  int t = lua_type(L, 3);
  if (t != LUA_TNONE && t != LUA_TNIL && t != LUA_TFUNCTION)
    return luaL_error(L, "invalid callback function");
  nm_tcp *s = ud->s;
  if (s == NULL) return luaL_error(L, "not connected");
  /* Whatever may raise comes before the first byte is written (SPEC 2). */
  nm_tcp_sent *q = sent_list(s->ctx);
  if (q == NULL) return luaL_error(L, "out of memory");
  nm_wreq *w = q->spare != NULL ? q->spare : malloc(sizeof *w);
  if (w == NULL) return luaL_error(L, "out of memory");
  q->spare = w; /* kept if what follows raises */
  if (q->spare_ref == LUA_NOREF) {
    lua_pushboolean(L, 0);
    q->spare_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  }
  if (t == LUA_TFUNCTION) {
    lua_pushvalue(L, 3);
    nm_cb_set(L, 1, NM_CB_SENT);
  }
  q->spare = NULL;
  w->s = s;
  w->buf = uv_buf_init((char *)data, 0);
  w->buf.len = len; /* uv_buf_init takes 32 bits: a 4 GiB + 16 send sent 16 */
  w->next = NULL;
  int n = s->phase == NM_CONNECTED ? uv_try_write((uv_stream_t *)&s->h, &w->buf, 1) : UV_EAGAIN;
  if (n > 0 && (size_t)n == len) { /* all with the kernel already */
    q->spare = w;
    sent_later(q, s);
    goto done;
  }
  if (n > 0) { /* the rest goes through libuv's queue */
    w->buf.base += n;
    w->buf.len -= (size_t)n;
  }
  if (s->phase == NM_RESOLVING) {
    nm_wreq **pp = &s->conn->pending;
    while (*pp != NULL) pp = &(*pp)->next;
    *pp = w;
  } else {
    int rc = tcp_write(s, w);
    if (rc != 0) {
      free(w);
      return nm_raise_uv(L, rc);
    }
  }
  /* Nothing left queued: libuv handed every byte to the kernel at once (the
   * usual case), so the string need not be kept alive for the write
   * callback, which saves a registry ref and unref per send.  Otherwise it
   * takes the spare slot: setting an existing key cannot fail. */
  if (s->phase != NM_RESOLVING && s->h.write_queue_size == 0) {
    w->strref = LUA_NOREF;
  } else {
    lua_pushvalue(L, 2);
    lua_rawseti(L, LUA_REGISTRYINDEX, q->spare_ref);
    w->strref = q->spare_ref;
    q->spare_ref = LUA_NOREF;
  }
done:
  nm_idle_touch(s);
  return 0;
}

static int l_close(lua_State *L) {
  nm_tcp_ud *ud = check_sock(L);
  nm_tcp *s = ud->s;
  if (s == NULL) return luaL_error(L, "not connected");
  ud->c.epoch++;
  tcp_detach(s);
  tcp_close_gracefully(s);
  return 0;
}

static int l_hold(lua_State *L) {
  nm_tcp_ud *ud = check_sock(L);
  nm_tcp *s = ud->s;
  if (s != NULL && !s->held) {
    s->held = 1;
    if (s->phase == NM_CONNECTED) uv_read_stop((uv_stream_t *)&s->h);
  }
  return 0;
}

static int l_unhold(lua_State *L) {
  nm_tcp_ud *ud = check_sock(L);
  nm_tcp *s = ud->s;
  if (s != NULL && s->held) {
    s->held = 0;
    tcp_read_start(s);
  }
  return 0;
}

static int push_name(lua_State *L, int peer) {
  nm_tcp_ud *ud = check_sock(L);
  nm_tcp *s = ud->s;
  struct sockaddr_storage ss;
  int len = sizeof ss;
  int rc = -1;
  if (s != NULL && (s->phase == NM_CONNECTED || (!peer && s->phase == NM_CONNECTING)))
    rc = peer ? uv_tcp_getpeername(&s->h, (struct sockaddr *)&ss, &len)
              : uv_tcp_getsockname(&s->h, (struct sockaddr *)&ss, &len);
  return nm_push_sockaddr(L, rc == 0 ? (struct sockaddr *)&ss : NULL);
}

static int l_getpeer(lua_State *L) { return push_name(L, 1); }
static int l_getaddr(lua_State *L) { return push_name(L, 0); }

/* sock:ttl([n]) */
static int l_ttl(lua_State *L) {
  nm_tcp_ud *ud = check_sock(L);
  nm_tcp *s = ud->s;
  uv_os_fd_t fd;
  if (s == NULL || s->phase == NM_RESOLVING || uv_fileno((uv_handle_t *)&s->h, &fd) != 0)
    return luaL_error(L, "socket is not open/bound yet");
  int ttl;
  if (!lua_isnoneornil(L, 2)) {
    ttl = (int)nm_checkrange(L, 2, 1, 255);
    if (setsockopt(fd, IPPROTO_IP, IP_TTL, &ttl, sizeof ttl) != 0)
      return nm_raise_uv(L, uv_translate_sys_error(errno));
  } else {
    socklen_t len = sizeof ttl;
    if (getsockopt(fd, IPPROTO_IP, IP_TTL, &ttl, &len) != 0)
      return nm_raise_uv(L, uv_translate_sys_error(errno));
  }
  lua_pushinteger(L, ttl);
  return 1;
}

static int l_gc(lua_State *L) {
  nm_tcp_ud *ud = lua_touserdata(L, 1);
  nm_tcp *s = ud->s;
  /* Only reached with a state at lua_close: an attached socket is anchored. */
  if (s != NULL) tcp_kill(&s->obj);
  return 0;
}

int nm_tcp_socket_create(lua_State *L) {
  nm_ctx_get(L);
  nm_obj_new(L, sizeof(nm_tcp_ud), NM_TCP_SOCKET);
  return 1;
}

void nm_tcp_socket_open(lua_State *L) {
  static const luaL_Reg methods[] = {
      {"connect", l_connect}, {"close", l_close},     {"on", l_on},
      {"send", l_send},       {"hold", l_hold},       {"unhold", l_unhold},
      {"dns", nm_sock_dns},   {"ttl", l_ttl},         {"getpeer", l_getpeer},
      {"getaddr", l_getaddr}, {NULL, NULL}};
  nm_class(L, NM_TCP_SOCKET, methods, l_gc);
}
