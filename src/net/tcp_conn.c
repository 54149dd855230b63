/* tcp_conn.c - the connection layer (tcp.h): one TCP connection from its
 * creation to the close callback of its handle, for the Lua socket and for
 * C clients alike, with an optional filter (TLS) between the wire and the
 * user.  docs/INTERNALS.md draws it. */
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "dns.h"
#include "sock.h"
#include "tcp.h"

/* A write the kernel did not take at once (or made while resolving).
 * While libuv still holds some of its bytes, they stay valid: the Lua
 * string is referenced (strref), or the block is the request's (owned). */
struct nm_wreq {
  uv_write_t req;
  nm_tcp *s;
  int strref;     /* LUA_NOREF when no Lua string needs keeping */
  unsigned sends; /* sends of the user this write completes */
  char *owned;    /* freed with the request, or NULL */
  uv_buf_t buf;
  nm_wreq *next;  /* in the connect's pending list */
};

/* Per loop (ctx->state[NM_STATE_TCP]), created with the first connection:
 * the connections whose `sent`s are due (see "sends the kernel took at
 * once" below), a spare write request, and the lingering closed ones. */
typedef struct tcp_loop {
  nm_obj obj;
  nm_ctx *ctx;
  nm_defer d;
  int queued;            /* d is in the context's queue */
  nm_link due;           /* nm_tcp.due, in the order their sends were made */
  nm_wreq *spare;
  int spare_ref; /* a registry slot holding false, or LUA_NOREF (tcp_write) */
  nm_inactivity linger; /* closed, still flushing; aborted after NM_LINGER_MS */
} tcp_loop;

/* Accepted sockets must not grow: 96 bytes around libuv's handle. */
_Static_assert(sizeof(nm_tcp) - sizeof(uv_tcp_t) <= 96, "nm_tcp grew");

static void tcp_closed_cb(uv_handle_t *h);
static void tcp_kill(nm_obj *o);

static inline void tcp_touch(nm_tcp *s) {
  if (s->accepted && s->idle != NULL) nm_inactivity_touch(s->idle, &s->tmo);
}

static void tcp_idle_leave(nm_tcp *s) {
  if (!s->accepted || s->idle == NULL) return;
  nm_inactivity_leave(&s->tmo);
  nm_inactivity_unref(s->idle);
  s->idle = NULL;
}

static void wreq_free(nm_ctx *ctx, nm_wreq *w) {
  if (!ctx->closed) nm_unref(ctx->L, w->strref); /* from libuv: must not raise */
  free(w->owned);
  free(w);
}

/* ---- the loop's part ---- */

static void sent_due_cb(nm_defer *d);

static void linger_expired(nm_inactivity_entry *e);

static void tcp_loop_closed_cb(uv_handle_t *h) {
  free(nm_container_of((uv_timer_t *)h, tcp_loop, linger.timer));
}

static void tcp_loop_kill(nm_obj *o) {
  tcp_loop *q = nm_container_of(o, tcp_loop, obj);
  nm_obj_unregister(&q->obj);
  while (!nm_list_empty(&q->due)) {
    nm_tcp *s = nm_container_of(q->due.next, nm_tcp, due);
    nm_list_remove(&s->due);
    s->sent_due = 0;
  }
  if (q->queued) nm_defer_cancel(q->ctx, &q->d);
  q->ctx->state[NM_STATE_TCP] = NULL;
  free(q->spare);
  q->spare = NULL;
  if (!q->ctx->closed) nm_unref(q->ctx->L, q->spare_ref);
  nm_inactivity_close(&q->linger, tcp_loop_closed_cb);
}

static tcp_loop *tcp_loop_get(nm_ctx *ctx) {
  tcp_loop *q = ctx->state[NM_STATE_TCP];
  if (q != NULL) return q;
  q = calloc(1, sizeof *q);
  if (q == NULL) return NULL;
  nm_inactivity_init(&q->linger, ctx, NM_LINGER_MS, linger_expired);
  q->ctx = ctx;
  q->spare_ref = LUA_NOREF;
  nm_list_init(&q->due);
  nm_obj_register(ctx, &q->obj, tcp_loop_kill);
  ctx->state[NM_STATE_TCP] = q;
  return q;
}

/* ---- life of a connection ---- */

nm_tcp *nm_tcp_new(nm_ctx *ctx, nm_tcp_user *u) {
  if (tcp_loop_get(ctx) == NULL) return NULL;
  nm_tcp *s = calloc(1, sizeof *s);
  if (s == NULL) return NULL;
  if (uv_tcp_init(&ctx->loop, &s->h) != 0) { /* opens no socket: only a bad loop fails */
    free(s);
    return NULL;
  }
  s->user = u;
  nm_list_init(&s->due);
  nm_inactivity_entry_init(&s->tmo);
  nm_obj_register(ctx, &s->obj, tcp_kill);
  return s;
}

void nm_tcp_set_filter(nm_tcp *s, nm_tcp_filter *f) { s->filter = f; }

static void conn_free(nm_ctx *ctx, nm_tcp_conn *c) {
  if (c->dns != NULL) nm_dns_cancel(c->dns);
  if (c->fail_queued) nm_defer_cancel(ctx, &c->fail);
  while (c->pending != NULL) {
    nm_wreq *w = c->pending;
    c->pending = w->next;
    wreq_free(ctx, w);
  }
  free(c);
}

/* The one place a connection is freed: libuv is done with its handle (its
 * write, shutdown and connect requests were called back before this). */
static void tcp_closed_cb(uv_handle_t *h) {
  nm_tcp *s = nm_container_of((uv_tcp_t *)h, nm_tcp, h);
  if (s->filter != NULL) s->filter->ops->release(s);
  if (!s->accepted && s->conn != NULL) conn_free(nm_tcp_ctx(s), s->conn);
  tcp_idle_leave(s);
  nm_list_remove(&s->due); /* `sent`s due are dropped, as after close() */
  nm_inactivity_leave(&s->tmo);
  nm_obj_unregister(&s->obj);
  free(s);
}

/* Close at once: queued data is discarded. */
static void tcp_close_now(nm_tcp *s) {
  tcp_idle_leave(s);
  nm_inactivity_leave(&s->tmo);
  if (!s->accepted && s->conn != NULL && s->conn->dns != NULL) {
    nm_dns_cancel(s->conn->dns);
    s->conn->dns = NULL;
  }
  s->phase = NM_CLOSING;
  if (!uv_is_closing((uv_handle_t *)&s->h)) uv_close((uv_handle_t *)&s->h, tcp_closed_cb);
}

static void linger_expired(nm_inactivity_entry *e) {
  tcp_close_now(nm_container_of(e, nm_tcp, tmo));
}

static void shutdown_cb(uv_shutdown_t *req, int status) {
  nm_tcp *s = req->data;
  (void)status;
  free(req);
  if (!uv_is_closing((uv_handle_t *)&s->h)) uv_close((uv_handle_t *)&s->h, tcp_closed_cb);
}

/* The bound on flushing: s is aborted NM_LINGER_MS after its close. */
static void tcp_linger(nm_tcp *s) {
  tcp_loop *q = nm_tcp_ctx(s)->state[NM_STATE_TCP];
  if (q != NULL && nm_list_empty(&s->tmo.link)) nm_inactivity_join(&q->linger, &s->tmo);
}

/* A connected socket being closed: what was queued, then FIN, then close. */
static void tcp_flush_fin(nm_tcp *s) {
  /* Every byte already with the kernel (the usual case: send() wrote at
   * once): FIN now.  libuv 1.44's uv_shutdown would first wait a loop turn
   * for POLLOUT, an epoll_ctl and a wakeup per closed connection. */
  uv_os_fd_t fd;
  if (s->h.write_queue_size == 0 && uv_fileno((uv_handle_t *)&s->h, &fd) == 0 &&
      shutdown(fd, SHUT_WR) == 0) {
    uv_close((uv_handle_t *)&s->h, tcp_closed_cb);
    return;
  }
  uv_shutdown_t *req = malloc(sizeof *req);
  if (req == NULL || uv_shutdown(req, (uv_stream_t *)&s->h, shutdown_cb) != 0) {
    free(req);
    tcp_close_now(s);
    return;
  }
  req->data = s;
  tcp_linger(s);
}

/* Flush what was queued, send FIN, close; within NM_LINGER_MS.  While
 * connecting, connect_cb finishes the close: a uv_shutdown queued now
 * would never run (libuv 1.44 stops polling for POLLOUT when the connect
 * completes with nothing to write). */
static void tcp_close_gracefully(nm_tcp *s) {
  tcp_idle_leave(s);
  if (s->phase == NM_RESOLVING) {
    tcp_close_now(s);
    return;
  }
  int connected = s->phase == NM_CONNECTED;
  if (connected && s->filter != NULL && s->filter->ops->shutdown != NULL)
    s->filter->ops->shutdown(s); /* close_notify goes before the FIN */
  s->phase = NM_CLOSING;
  uv_read_stop((uv_stream_t *)&s->h);
  if (uv_is_closing((uv_handle_t *)&s->h)) return;
  if (connected)
    tcp_flush_fin(s);
  else
    tcp_linger(s);
}

void nm_tcp_close(nm_tcp *s) {
  s->user = NULL;
  tcp_close_gracefully(s);
}

void nm_tcp_abort(nm_tcp *s) {
  s->user = NULL;
  tcp_close_now(s);
}

void nm_tcp_end(nm_tcp *s, int code, int flush) {
  nm_tcp_user *u = s->user;
  s->user = NULL;
  if (flush)
    tcp_close_gracefully(s);
  else
    tcp_close_now(s);
  if (u != NULL) u->ops->ended(s, u, code);
}

/* Shutdown: closed at once, the user told without Lua. */
static void tcp_kill(nm_obj *o) {
  nm_tcp *s = nm_container_of(o, nm_tcp, obj);
  nm_tcp_user *u = s->user;
  nm_tcp_abort(s);
  if (u != NULL) u->ops->ended(s, u, NM_TCP_SHUTDOWN);
}

/* ---- reading ---- */

void nm_tcp_up_receive(nm_tcp *s, const char *p, size_t n) {
  if (s->user != NULL) s->user->ops->receive(s, p, n);
}

static void read_cb(uv_stream_t *st, ssize_t n, const uv_buf_t *buf) {
  nm_tcp *s = nm_container_of((uv_tcp_t *)st, nm_tcp, h);
  if (n == 0) return;
  if (n < 0) {
    if (n == UV_EOF && nm_tcp_was_reset(s)) n = UV_ECONNRESET;
    if (n == UV_EOF && s->filter != NULL && s->filter->ops->eof != NULL) {
      s->eof = 1; /* libuv stopped reading; the filter ends when it delivered */
      s->filter->ops->eof(s);
      return;
    }
    nm_tcp_end(s, nm_errcode((int)n), n == UV_EOF);
    return;
  }
  tcp_touch(s);
  if (s->filter != NULL)
    s->filter->ops->read(s, buf->base, (size_t)n);
  else
    nm_tcp_up_receive(s, buf->base, (size_t)n);
}

static void tcp_read_start(nm_tcp *s) {
  if (s->phase != NM_CONNECTED || (s->held && !s->filter_reads) || s->eof) return;
  int rc = uv_read_start((uv_stream_t *)&s->h, nm_readbuf_alloc_cb, read_cb);
  if (rc != 0) nm_tcp_end(s, nm_errcode(rc), 0);
}

void nm_tcp_hold(nm_tcp *s) {
  if (s->held) return;
  s->held = 1;
  if (s->phase == NM_CONNECTED && !s->filter_reads) uv_read_stop((uv_stream_t *)&s->h);
}

void nm_tcp_unhold(nm_tcp *s) {
  if (!s->held) return;
  s->held = 0;
  if (s->filter != NULL && s->filter->ops->resume != NULL && s->phase == NM_CONNECTED)
    s->filter->ops->resume(s);
  /* (while the filter reads, reading never stopped) */
  if (s->user != NULL && !s->held && !s->filter_reads) tcp_read_start(s);
}

void nm_tcp_filter_reads(nm_tcp *s, int on) {
  s->filter_reads = on != 0;
  if (!on && s->held && s->phase == NM_CONNECTED) uv_read_stop((uv_stream_t *)&s->h);
}

void nm_tcp_up_connected(nm_tcp *s) {
  if (s->user != NULL) s->user->ops->connected(s);
}

/* Connected (either way): the filter starts, or the user learns it; then
 * reading starts unless held. */
static void tcp_connected(nm_tcp *s) {
  s->phase = NM_CONNECTED;
  uv_tcp_nodelay(&s->h, 1); /* see docs: NodeMCU scripts send in pieces */
  if (!s->accepted) nm_tcp_keepalive(s); /* for every user: Lua, mqtt, websocket */
  if (s->filter != NULL)
    s->filter->ops->connected(s);
  else
    nm_tcp_up_connected(s);
  if (s->user != NULL) tcp_read_start(s);
}

/* ---- sends the kernel took at once ----
 * A send first tries uv_try_write, which usually hands every byte to the
 * kernel at once: no uv_write request then (its completion round through
 * libuv costs an epoll_ctl per write in libuv 1.44), no registry ref to the
 * string, and no allocation.  The `sent` of such a send is due on a later
 * loop turn (never synchronous): the connection counts it (sent_due) and
 * joins the loop's list, drained by one deferred call.  While a connection
 * has sents due, its completed uv_writes count there too, so that `sent`
 * keeps call order.  A connection freed meanwhile leaves the list (its
 * sents are dropped, as after close()).  One spare request per loop is
 * kept ready, so that a send can fail for want of memory before it has
 * written anything. */

/* Up to n `sent`s to the user, while it listens. */
static void tcp_up_sent(nm_tcp *s, unsigned n) {
  while (n-- > 0 && s->user != NULL && s->user->ops->sent(s)) {
  }
}

static void sent_due_cb(nm_defer *d) {
  tcp_loop *q = nm_container_of(d, tcp_loop, d);
  nm_link batch; /* this batch; what the callbacks add waits a turn */
  q->queued = 0;
  nm_list_init(&batch);
  if (!nm_list_empty(&q->due)) {
    batch.next = q->due.next;
    batch.prev = q->due.prev;
    batch.next->prev = batch.prev->next = &batch;
    nm_list_init(&q->due);
  }
  while (!nm_list_empty(&batch)) {
    nm_tcp *s = nm_container_of(batch.next, nm_tcp, due);
    unsigned n = s->sent_due;
    nm_list_remove(&s->due);
    s->sent_due = 0; /* a send from a callback below lists s again */
    tcp_up_sent(s, n);
  }
}

/* n more sends of s are with the kernel: their `sent`s on a later turn. */
static void sent_later(tcp_loop *q, nm_tcp *s, unsigned n) {
  if (n == 0) return;
  if (s->sent_due == 0) nm_list_append(&q->due, &s->due);
  s->sent_due += n;
  if (!q->queued) {
    q->queued = 1;
    nm_defer_push(q->ctx, &q->d, sent_due_cb);
  }
}

/* ---- writing ---- */

static void write_cb(uv_write_t *req, int status) {
  nm_wreq *w = nm_container_of(req, nm_wreq, req);
  nm_tcp *s = w->s;
  nm_ctx *ctx = nm_tcp_ctx(s);
  unsigned sends = w->sends;
  wreq_free(ctx, w);
  if (status < 0) {
    /* The read side usually reports the same failure; whoever comes first
     * ends the connection. */
    if (status != UV_ECANCELED && s->user != NULL) nm_tcp_end(s, nm_errcode(status), 0);
    return;
  }
  tcp_touch(s);
  if (s->sent_due > 0 && ctx->state[NM_STATE_TCP] != NULL) {
    sent_later(ctx->state[NM_STATE_TCP], s, sends); /* behind earlier sends' */
    return;
  }
  tcp_up_sent(s, sends);
}

/* Writes n bytes at p, completing `sends` sends.  They stay valid until
 * written through the Lua string at idx of L (when L is set) or because
 * they are the malloc'd block owned, which this takes in any case.
 * Inlined into the Lua send, the hot path. */
static inline __attribute__((always_inline)) int tcp_write(nm_tcp *s, const char *p, size_t n,
                                                           unsigned sends, lua_State *L, int idx,
                                                           char *owned) {
  tcp_loop *q = nm_tcp_ctx(s)->state[NM_STATE_TCP];
  nm_wreq *w = q != NULL ? q->spare : NULL;
  if (w == NULL && (q == NULL || (w = malloc(sizeof *w)) == NULL)) {
    free(owned);
    return UV_ENOMEM;
  }
  q->spare = NULL;
  w->s = s;
  w->strref = LUA_NOREF;
  w->sends = sends;
  w->owned = owned;
  w->buf = uv_buf_init((char *)p, 0);
  w->buf.len = n; /* uv_buf_init takes 32 bits: a 4 GiB + 16 send sent 16 */
  w->next = NULL;
  int k = s->phase == NM_CONNECTED ? uv_try_write((uv_stream_t *)&s->h, &w->buf, 1) : UV_EAGAIN;
  if (k > 0 && (size_t)k == n) { /* all with the kernel already */
    if (owned != NULL) {
      free(owned);
      w->owned = NULL;
    }
    q->spare = w;
    sent_later(q, s, sends);
    return 0;
  }
  if (k > 0) { /* the rest goes through libuv's queue */
    w->buf.base += k;
    w->buf.len -= (size_t)k;
  }
  if (s->phase == NM_RESOLVING) {
    nm_wreq **pp = &s->conn->pending;
    while (*pp != NULL) pp = &(*pp)->next;
    *pp = w;
  } else {
    int rc = uv_write(&w->req, (uv_stream_t *)&s->h, &w->buf, 1, write_cb);
    if (rc != 0) {
      w->strref = LUA_NOREF;
      wreq_free(nm_tcp_ctx(s), w);
      return rc;
    }
  }
  /* Nothing left queued: libuv handed every byte to the kernel at once (the
   * usual case), so the string need not be kept alive for the write
   * callback, which saves a registry ref and unref per send.  Else: the
   * slot nm_tcp_send_lua reserved (luaL_ref could raise after the write). */
  if (L != NULL && (s->phase == NM_RESOLVING || s->h.write_queue_size != 0))
    w->strref = nm_ref_fill(L, idx, &q->spare_ref);
  return 0;
}

int nm_tcp_write(nm_tcp *s, char *p, size_t n, unsigned sends) {
  return tcp_write(s, p, n, sends, NULL, 0, p);
}

int nm_tcp_send_lua(nm_tcp *s, lua_State *L, int idx, const char *p, size_t n) {
  tcp_loop *q = nm_tcp_ctx(s)->state[NM_STATE_TCP];
  if (q != NULL) nm_ref_reserve(L, &q->spare_ref); /* may raise: nothing written yet */
  int rc = s->filter != NULL ? s->filter->ops->send(s, p, n) : tcp_write(s, p, n, 1, L, idx, NULL);
  if (rc == 0) tcp_touch(s);
  return rc;
}

int nm_tcp_send(nm_tcp *s, const char *p, size_t n) {
  int rc;
  if (s->filter != NULL) {
    rc = s->filter->ops->send(s, p, n);
  } else {
    char *copy = malloc(n > 0 ? n : 1);
    if (copy == NULL) return UV_ENOMEM;
    memcpy(copy, p, n);
    rc = nm_tcp_write(s, copy, n, 1);
  }
  if (rc == 0) tcp_touch(s);
  return rc;
}

/* ---- connecting ---- */

static void connect_cb(uv_connect_t *req, int status) {
  nm_tcp *s = req->data;
  if (status == UV_ECANCELED || uv_is_closing((uv_handle_t *)&s->h)) return;
  if (s->user == NULL) { /* close()d while connecting: finish the close */
    if (status == 0)
      tcp_flush_fin(s);
    else
      tcp_close_now(s);
    return;
  }
  if (status < 0) {
    nm_tcp_end(s, nm_errcode(status), 0);
    return;
  }
  tcp_connected(s);
}

static void fail_cb(nm_defer *d) {
  nm_tcp_conn *c = nm_container_of(d, nm_tcp_conn, fail);
  nm_tcp *s = c->req.data;
  c->fail_queued = 0;
  if (s->user != NULL) nm_tcp_end(s, nm_errcode(c->fail_status), 0);
}

/* A failure found while starting a connect still reaches the user from the
 * loop. */
static void fail_later(nm_tcp *s, int status) {
  s->conn->fail_status = status;
  s->conn->fail_queued = 1;
  nm_defer_push(nm_tcp_ctx(s), &s->conn->fail, fail_cb);
}

static void tcp_start_connect(nm_tcp *s, const struct in_addr *ip) {
  struct sockaddr_in sa;
  nm_sockaddr4(&sa, *ip, s->conn->port);
  s->phase = NM_CONNECTING;
  int rc = uv_tcp_connect(&s->conn->req, &s->h, (const struct sockaddr *)&sa, connect_cb);
  if (rc != 0) {
    fail_later(s, rc);
    return;
  }
  /* Sends made while resolving go out, in order, once connected. */
  while (s->conn->pending != NULL) {
    nm_wreq *w = s->conn->pending;
    s->conn->pending = w->next;
    if (uv_write(&w->req, (uv_stream_t *)&s->h, &w->buf, 1, write_cb) != 0)
      wreq_free(nm_tcp_ctx(s), w);
  }
}

static void connect_dns_cb(void *arg, int status, const struct in_addr *addr) {
  nm_tcp *s = arg;
  s->conn->dns = NULL;
  if (s->user != NULL && s->user->ops->resolved != NULL) s->user->ops->resolved(s, addr);
  /* Closed by the callback?  Its close callback frees s, not before. */
  if (s->user == NULL || s->phase != NM_RESOLVING) return;
  if (status != 0) {
    nm_tcp_end(s, nm_errcode(UV_EAI_NONAME), 0);
    return;
  }
  tcp_start_connect(s, addr);
}

int nm_tcp_connect(nm_tcp *s, const char *host, uint16_t port) {
  nm_tcp_conn *c = calloc(1, sizeof *c);
  if (c == NULL) return UV_ENOMEM;
  c->port = port;
  c->req.data = s;
  s->conn = c;
  s->phase = NM_RESOLVING;
  struct in_addr ip;
  if (nm_parse_ip4(host, &ip) == 0) {
    tcp_start_connect(s, &ip);
    return 0;
  }
  c->dns = nm_dns_lookup(nm_tcp_ctx(s), host, connect_dns_cb, s);
  return c->dns != NULL ? 0 : UV_ENOMEM;
}

/* ---- accepted connections ---- */

/* A socket still draining a send it made is active (docs/modules/net.md): checked again
 * a timeout later. */
static void tcp_timed_out(nm_inactivity_entry *e) {
  nm_tcp *s = nm_container_of(e, nm_tcp, tmo);
  if (s->idle != NULL && nm_tcp_draining(s, s->idle->timeout_ms))
    nm_inactivity_touch(s->idle, e);
  else
    nm_tcp_end(s, -3, 1);
}

nm_inactivity *nm_tcp_timeout_new(nm_ctx *ctx, uint32_t timeout_ms) {
  return nm_inactivity_new(ctx, timeout_ms, tcp_timed_out);
}

nm_tcp *nm_tcp_accept(nm_ctx *ctx, uv_stream_t *server, nm_inactivity *idle) {
  nm_tcp *s = nm_tcp_new(ctx, NULL);
  if (s == NULL) return NULL;
  s->accepted = 1;
  s->phase = NM_CONNECTED; /* getpeer() works inside the listen function */
  if (uv_accept(server, (uv_stream_t *)&s->h) != 0) {
    tcp_close_now(s);
    return NULL;
  }
  if (idle != NULL) {
    nm_inactivity_ref(idle);
    s->idle = idle;
    nm_inactivity_join(idle, &s->tmo);
  }
  return s;
}

void nm_tcp_accept_done(nm_tcp *s) {
  if (s->user != NULL)
    tcp_connected(s);
  else if (s->phase != NM_CLOSING)
    nm_tcp_abort(s); /* never reached a user (error or out of memory) */
}
