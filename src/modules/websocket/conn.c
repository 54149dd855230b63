/* conn.c - one websocket connection, as a user of the connection layer.
 *
 * Life: CONNECTING (resolve, TCP, TLS if wss) -> HANDSHAKE (request sent,
 * the 101 answer and its Sec-WebSocket-Accept checked) -> OPEN -> CLOSING
 * (close(): our close frame sent, 5 s for the server's) -> ended.  The end
 * is one function, conn_end: the object is detached, then `close` fires
 * with the firmware's status (websocket.h) and the anchor is dropped.
 *
 * The frame reader trusts nothing from the server: a length with the top
 * bit set or past WS_MAX_MESSAGE, a continuation without a start, a new
 * message inside a fragmented one, a fragmented or long (> 125 bytes)
 * control frame all end the connection; memory grows only with payload
 * bytes that arrived.  Masked frames (which a server must not send) are
 * unmasked, as the firmware does; text is not checked for UTF-8, as in the
 * firmware.  The session is freed by its timer's close callback, never
 * inside a call. */
#include <stdlib.h>
#include <string.h>
#include <openssl/rand.h>

#include "net/secure.h"
#include "websocket.h"

enum { W_CONNECTING, W_HANDSHAKE, W_OPEN, W_CLOSING, W_ENDING };
#define END_QUIET 1 /* conn_end: no callback (shutdown) */

typedef struct ws_conn {
  nm_obj obj;
  nm_tcp_user u;
  nm_ctx *ctx;
  nm_tcp *tcp;       /* NULL once let go */
  ws_ud *ud;         /* NULL once ended */
  int ref;           /* the object's anchor */
  uv_timer_t timer;  /* connect timeout, pings, the close handshake's bound */
  uint64_t last_recv;
  uint8_t phase, unhealthy;
  unsigned dns_failed : 1, end_queued : 1;
  int end_code;
  nm_defer end;      /* an end reported from the loop */
  char *req;         /* the handshake request until written */
  size_t req_len;
  char accept[29];
  char *hbuf;        /* the server's answer so far */
  size_t hlen;
  ws_rx rx;
} ws_conn;

static ws_conn *of_user(nm_tcp_user *u) { return nm_container_of(u, ws_conn, u); }
static void timer_cb(uv_timer_t *h);

/* ---- the end ---- */

static void conn_closed_cb(uv_handle_t *h) {
  free(nm_container_of((uv_timer_t *)h, ws_conn, timer));
}

static void conn_end(ws_conn *c, int code, int flush) {
  if (c->ud == NULL) return;
  nm_ctx *ctx = c->ctx;
  if (c->tcp != NULL) {
    if (flush)
      nm_tcp_close(c->tcp);
    else
      nm_tcp_abort(c->tcp);
    c->tcp = NULL;
  }
  if (c->end_queued) nm_defer_cancel(ctx, &c->end);
  c->end_queued = 0;
  free(c->req);
  c->req = NULL;
  free(c->hbuf);
  c->hbuf = NULL;
  free(c->rx.msg);
  c->rx.msg = NULL;
  c->ud->c = NULL;
  c->ud = NULL;
  int ref = c->ref;
  c->ref = LUA_NOREF;
  nm_obj_unregister(&c->obj);
  uv_close((uv_handle_t *)&c->timer, conn_closed_cb);
  if (code != END_QUIET) nm_emit(ctx, ref, WS_CLOSE, 0, nm_push_integer, &code);
  if (!ctx->closed) nm_unanchor(ctx->L, &ref);
}

static void kill_cb(nm_obj *o) { conn_end(nm_container_of(o, ws_conn, obj), END_QUIET, 0); }

static void end_cb(nm_defer *d) {
  ws_conn *c = nm_container_of(d, ws_conn, end);
  c->end_queued = 0;
  conn_end(c, c->end_code, 0);
}

/* The end with code, from the loop (for calls: URL errors, close()). */
static void end_later(ws_conn *c, int code) {
  if (c->tcp != NULL) {
    nm_tcp_abort(c->tcp);
    c->tcp = NULL;
  }
  uv_timer_stop(&c->timer);
  c->phase = W_ENDING;
  c->end_code = code;
  c->end_queued = 1;
  nm_defer_push(c->ctx, &c->end, end_cb);
}

/* ---- frames out ---- */

static int send_frame(ws_conn *c, int opcode, const char *p, size_t n) {
  size_t h = 2 + (n < 126 ? 0 : n < 65536 ? 2 : 8);
  uint8_t *b = malloc(h + 4 + n);
  if (b == NULL) return UV_ENOMEM;
  b[0] = (uint8_t)(0x80 | opcode);
  if (n < 126) {
    b[1] = (uint8_t)(0x80 | n);
  } else if (n < 65536) {
    b[1] = 0x80 | 126;
    b[2] = (uint8_t)(n >> 8);
    b[3] = (uint8_t)n;
  } else {
    b[1] = 0x80 | 127;
    for (int i = 0; i < 8; i++) b[2 + i] = (uint8_t)((uint64_t)n >> (56 - 8 * i));
  }
  uint8_t *mask = b + h;
  if (RAND_bytes(mask, 4) != 1) {
    uint64_t t = uv_hrtime(); /* no entropy: still a mask, if a weaker one */
    memcpy(mask, &t, 4);
  }
  uint8_t *d = mask + 4;
  for (size_t i = 0; i < n; i++) d[i] = (uint8_t)p[i] ^ mask[i & 3];
  int rc = nm_tcp_send(c->tcp, (const char *)b, h + 4 + n);
  free(b);
  return rc;
}

/* ---- frames in ---- */

typedef struct {
  const char *p;
  size_t n;
  int op;
} ws_msg;

static void push_message(lua_State *L, void *arg) {
  ws_msg *m = arg;
  lua_pushlstring(L, m->p, m->n);
  lua_pushinteger(L, m->op);
}

/* receive(ws, message, opcode) */
static void deliver(ws_conn *c, const char *p, size_t n, int opcode) {
  ws_msg m = {p, n, opcode};
  if (nm_cb_isset(c->ud, sizeof *c->ud, WS_RECEIVE))
    nm_emit(c->ctx, c->ref, WS_RECEIVE, 0, push_message, &m);
}

/* The server's close frame: in OPEN we answer with its payload and end
 * with -6; after our close() it is the answer we waited for. */
static void on_close_frame(ws_conn *c, const uint8_t *p, size_t n) {
  if (c->phase == W_CLOSING) {
    conn_end(c, WS_OK, 1);
    return;
  }
  send_frame(c, 8, (const char *)p, n);
  conn_end(c, WS_SERVER_CLOSED, 1);
}

static void control_done(ws_conn *c, int opcode, const uint8_t *p, size_t n) {
  if (opcode == 8)
    on_close_frame(c, p, n);
  else if (opcode == 9) {
    if (c->phase == W_OPEN && send_frame(c, 10, (const char *)p, n) != 0)
      conn_end(c, WS_UNKNOWN, 0);
  } else if (opcode != 10)
    deliver(c, (const char *)p, n, opcode); /* reserved: passed on, as the firmware */
}

/* The header is complete: check it.  Returns 0 or a status to end with. */
static int frame_begin(ws_rx *rx) {
  int fin = rx->hdr[0] & 0x80, op = rx->hdr[0] & 0x0f, l7 = rx->hdr[1] & 0x7f;
  uint64_t len = (uint64_t)l7;
  if (l7 == 126) len = (uint64_t)rx->hdr[2] << 8 | rx->hdr[3];
  if (l7 == 127) {
    len = 0;
    for (int i = 0; i < 8; i++) len = len << 8 | rx->hdr[2 + i];
    if (len >> 63) return WS_BAD_FIN;
  }
  rx->len = len;
  rx->got = 0;
  if (op >= 8) return !fin || len > 125 ? WS_BAD_FIN : 0;
  if (op == 0 && rx->msg_op < 0) return WS_BAD_FIN; /* a continuation of nothing */
  if (op != 0 && rx->msg_op >= 0) return WS_BAD_FIN; /* a new message inside one */
  if (len > WS_MAX_MESSAGE || rx->msg_len + len > WS_MAX_MESSAGE) return WS_TOO_LARGE;
  if (op != 0) rx->msg_op = op;
  return 0;
}

static int msg_append(ws_rx *rx, const uint8_t *p, size_t n) {
  if (rx->msg_len + n > rx->msg_cap) {
    size_t cap = rx->msg_cap < 4096 ? 4096 : rx->msg_cap * 2;
    if (cap < rx->msg_len + n) cap = rx->msg_len + n;
    if (cap > WS_MAX_MESSAGE) cap = WS_MAX_MESSAGE;
    char *b = realloc(rx->msg, cap);
    if (b == NULL) return -1;
    rx->msg = b;
    rx->msg_cap = cap;
  }
  memcpy(rx->msg + rx->msg_len, p, n);
  rx->msg_len += n;
  return 0;
}

/* Payload bytes of the current frame, unmasked, to where they belong. */
static int frame_bytes(ws_rx *rx, const uint8_t *p, size_t n) {
  int op = rx->hdr[0] & 0x0f;
  uint8_t *dst;
  if (op >= 8) {
    dst = rx->ctl + rx->got;
    memcpy(dst, p, n);
  } else {
    if (msg_append(rx, p, n) != 0) return WS_TOO_LARGE;
    dst = (uint8_t *)rx->msg + rx->msg_len - n;
  }
  if (rx->hdr[1] & 0x80) {
    const uint8_t *mask = rx->hdr + rx->need - 4;
    for (size_t i = 0; i < n; i++) dst[i] ^= mask[(rx->got + i) & 3];
  }
  rx->got += n;
  return 0;
}

/* The frame's payload is complete. */
static void frame_end(ws_conn *c) {
  ws_rx *rx = &c->rx;
  int fin = rx->hdr[0] & 0x80, op = rx->hdr[0] & 0x0f;
  rx->hlen = rx->need = 0;
  if (op >= 8) {
    control_done(c, op, rx->ctl, (size_t)rx->len);
    return;
  }
  if (!fin) return;
  int mop = rx->msg_op;
  size_t len = rx->msg_len;
  rx->msg_op = -1;
  rx->msg_len = 0;
  deliver(c, rx->msg != NULL ? rx->msg : "", len, mop);
  if (c->ud != NULL && rx->msg_cap > 65536) { /* a large buffer goes back once used */
    free(rx->msg);
    rx->msg = NULL;
    rx->msg_cap = 0;
  }
}

static void frames_feed(ws_conn *c, const uint8_t *p, size_t n) {
  ws_rx *rx = &c->rx;
  while (n > 0 && c->ud != NULL && (c->phase == W_OPEN || c->phase == W_CLOSING)) {
    if (rx->hlen < 2 || rx->hlen < rx->need) {
      rx->hdr[rx->hlen++] = *p++;
      n--;
      if (rx->hlen == 2) {
        int l7 = rx->hdr[1] & 0x7f;
        rx->need = (uint8_t)(2 + (l7 == 126 ? 2 : l7 == 127 ? 8 : 0) + (rx->hdr[1] & 0x80 ? 4 : 0));
      }
      if (rx->hlen < 2 || rx->hlen < rx->need) continue;
      int rc = frame_begin(rx);
      if (rc != 0) {
        conn_end(c, rc, 0);
        return;
      }
      if (rx->len == 0) frame_end(c);
      continue;
    }
    size_t want = (size_t)(rx->len - rx->got);
    int op = rx->hdr[0] & 0x0f;
    if (rx->got == 0 && n >= want && op < 8 && op != 0 && (rx->hdr[0] & 0x80) &&
        !(rx->hdr[1] & 0x80)) { /* a whole unfragmented frame: in place */
      rx->hlen = rx->need = 0;
      rx->msg_op = -1;
      p += want;
      n -= want;
      deliver(c, (const char *)p - want, want, op);
      continue;
    }
    size_t take = n < want ? n : want;
    int rc = frame_bytes(rx, p, take);
    if (rc != 0) {
      conn_end(c, rc, 0);
      return;
    }
    p += take;
    n -= take;
    if (rx->got == rx->len) frame_end(c);
  }
}

/* ---- the handshake ---- */

/* The value of header name (case-insensitive) in the answer h, trimmed;
 * NULL if absent. */
static const char *header_value(const char *h, const char *name, size_t *len) {
  size_t nl = strlen(name);
  for (const char *l = strstr(h, "\r\n"); l != NULL; l = strstr(l + 2, "\r\n")) {
    const char *s = l + 2;
    if (strncasecmp(s, name, nl) != 0 || s[nl] != ':') continue;
    s += nl + 1;
    while (*s == ' ' || *s == '\t') s++;
    const char *e = strstr(s, "\r\n");
    while (e > s && (e[-1] == ' ' || e[-1] == '\t')) e--;
    *len = (size_t)(e - s);
    return s;
  }
  return NULL;
}

static void handshake_feed(ws_conn *c, const char *p, size_t n) {
  size_t old = c->hlen;
  size_t take = n < WS_MAX_HANDSHAKE - old ? n : WS_MAX_HANDSHAKE - old;
  char *b = realloc(c->hbuf, old + take + 1);
  if (b == NULL) {
    conn_end(c, WS_TOO_LARGE, 0);
    return;
  }
  c->hbuf = b;
  memcpy(b + old, p, take);
  c->hlen = old + take;
  b[c->hlen] = '\0';
  char *end = memmem(b + (old > 3 ? old - 3 : 0), c->hlen - (old > 3 ? old - 3 : 0), "\r\n\r\n", 4);
  if (end == NULL) {
    if (c->hlen >= WS_MAX_HANDSHAKE) conn_end(c, WS_NOT_SWITCHING, 0);
    return;
  }
  end[2] = '\0'; /* the headers, each line ending in \r\n */
  size_t used = (size_t)(end + 4 - b) - old;
  size_t alen = 0;
  const char *acc = header_value(b, "Sec-WebSocket-Accept", &alen);
  if (strncmp(b, "HTTP/1.1 101", 12) != 0 || (b[12] != ' ' && b[12] != '\r')) {
    conn_end(c, WS_NOT_SWITCHING, 0);
    return;
  }
  if (acc == NULL || alen != 28 || memcmp(acc, c->accept, 28) != 0) {
    conn_end(c, WS_BAD_KEY, 0);
    return;
  }
  free(c->hbuf);
  c->hbuf = NULL;
  c->phase = W_OPEN;
  uv_timer_start(&c->timer, timer_cb, WS_PING_INTERVAL_MS, 0);
  if (nm_cb_isset(c->ud, sizeof *c->ud, WS_CONNECTION))
    nm_emit(c->ctx, c->ref, WS_CONNECTION, 0, NULL, NULL);
  if (c->ud != NULL && used < n) frames_feed(c, (const uint8_t *)p + used, n - used);
}

/* ---- the connection layer's events ---- */

static void on_resolved(nm_tcp *s, const struct in_addr *ip) {
  if (ip == NULL) of_user(s->user)->dns_failed = 1;
}

static void on_connected(nm_tcp *s) {
  ws_conn *c = of_user(s->user);
  int rc = nm_tcp_send(c->tcp, c->req, c->req_len);
  free(c->req);
  c->req = NULL;
  if (rc != 0) {
    conn_end(c, nm_errcode(rc) - 100, 0);
    return;
  }
  c->phase = W_HANDSHAKE;
}

static void on_receive(nm_tcp *s, const char *p, size_t n) {
  ws_conn *c = of_user(s->user);
  c->last_recv = uv_now(&c->ctx->loop);
  c->unhealthy = 0; /* the server talks: healthy */
  if (c->phase == W_HANDSHAKE)
    handshake_feed(c, p, n);
  else
    frames_feed(c, (const uint8_t *)p, n);
}

static int on_sent(nm_tcp *s) {
  (void)s;
  return 0; /* nothing waits for it */
}

/* The TCP connection ended without the close handshake: the firmware's
 * -99 for a plain close, the error's code - 100 otherwise (-109 for a
 * reset or a refused connect); after close() it is the end we wanted. */
static void on_ended(nm_tcp *s, nm_tcp_user *u, int code) {
  (void)s;
  ws_conn *c = of_user(u);
  c->tcp = NULL;
  if (code == NM_TCP_SHUTDOWN)
    conn_end(c, END_QUIET, 0);
  else if (c->phase == W_CLOSING)
    conn_end(c, WS_OK, 0);
  else if (c->phase == W_CONNECTING && c->dns_failed)
    conn_end(c, WS_DNS, 0);
  else
    conn_end(c, code == 0 ? WS_UNKNOWN : code - 100, 0);
}

static const nm_tcp_user_ops conn_ops = {on_resolved, on_connected, on_receive, on_sent,
                                         on_ended};

/* Connect timeout; then a ping when the server was silent for a while,
 * and the end when it stayed silent after WS_UNHEALTHY_PINGS of them;
 * after close(), the bound on the close handshake. */
static void timer_cb(uv_timer_t *h) {
  ws_conn *c = nm_container_of(h, ws_conn, timer);
  if (c->phase == W_CONNECTING || c->phase == W_HANDSHAKE) {
    conn_end(c, WS_TIMEOUT, 0);
    return;
  }
  if (c->phase == W_CLOSING) {
    conn_end(c, WS_OK, 0);
    return;
  }
  uint64_t since = uv_now(&c->ctx->loop) - c->last_recv;
  if (since < WS_PING_INTERVAL_MS) {
    uv_timer_start(&c->timer, timer_cb, WS_PING_INTERVAL_MS - since, 0);
    return;
  }
  if (c->unhealthy >= WS_UNHEALTHY_PINGS) {
    conn_end(c, WS_UNHEALTHY, 0);
    return;
  }
  if (send_frame(c, 9, "", 0) != 0) {
    conn_end(c, WS_UNKNOWN, 0);
    return;
  }
  c->unhealthy++;
  c->last_recv = uv_now(&c->ctx->loop);
  uv_timer_start(&c->timer, timer_cb, WS_PING_INTERVAL_MS, 0);
}

/* ---- for websocket.c ---- */

int ws_conn_start(lua_State *L, int idx, ws_ud *ud, int fail, const char *host, uint16_t port,
                  int secure, char *req, size_t req_len, const char accept[29]) {
  nm_ctx *ctx = nm_ctx_get(L);
  ws_conn *c = calloc(1, sizeof *c);
  if (c == NULL) {
    free(req);
    return UV_ENOMEM;
  }
  c->u.ops = &conn_ops;
  c->ctx = ctx;
  c->req = req;
  c->req_len = req_len;
  memcpy(c->accept, accept, 29);
  c->rx.msg_op = -1;
  uv_timer_init(&ctx->loop, &c->timer);
  int rc = 0;
  if (!fail) rc = nm_tcp_open_client(ctx, &c->u, host, port, secure, &c->tcp);
  if (rc != 0) {
    free(c->req);
    uv_close((uv_handle_t *)&c->timer, conn_closed_cb);
    return rc;
  }
  nm_obj_register(ctx, &c->obj, kill_cb);
  c->ud = ud;
  ud->c = c;
  c->ref = nm_anchor(L, idx);
  if (fail)
    end_later(c, fail);
  else
    uv_timer_start(&c->timer, timer_cb, WS_CONNECT_TIMEOUT_MS, 0);
  return 0;
}

int ws_conn_open(const ws_ud *ud) { return ud->c != NULL && ud->c->phase == W_OPEN; }

int ws_conn_send(ws_ud *ud, int opcode, const char *p, size_t n) {
  return send_frame(ud->c, opcode, p, n);
}

void ws_conn_close(ws_ud *ud) {
  ws_conn *c = ud->c;
  if (c == NULL || c->phase == W_CLOSING || c->phase == W_ENDING) return;
  if (c->phase != W_OPEN || send_frame(c, 8, "", 0) != 0) {
    end_later(c, WS_OK);
    return;
  }
  c->phase = W_CLOSING;
  uv_timer_start(&c->timer, timer_cb, WS_FORCE_CLOSE_MS, 0);
}

void ws_conn_gc(ws_ud *ud) {
  if (ud->c != NULL) conn_end(ud->c, END_QUIET, 0);
}
