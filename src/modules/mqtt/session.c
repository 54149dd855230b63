/* session.c - one connection of an mqtt client to a broker, as a user of
 * the connection layer (net/tcp.h).
 *
 * Life: TCP (resolving, connecting; TLS handshake if secure) -> CONNACK
 * (CONNECT written, 5 s for the answer) -> DATA -> CLOSING (close(): a
 * DISCONNECT behind what is queued, within NM_LINGER_MS) -> ended.  The
 * end is one function, session_end: the object is detached first, so its
 * callback (`connfail` or `offline`) may connect again.
 *
 * The queue is the firmware's: messages go out in call order, and one that
 * waits for the broker's answer (a PUBLISH with QoS 1 or 2, SUBSCRIBE,
 * UNSUBSCRIBE) holds back the ones behind it until the answer came.  What
 * may go out is written in batches from a deferred call, so a script
 * publishing in a loop costs one write per loop turn, not one per message.
 * Acknowledgements of the broker's messages and pings do not queue: they
 * go out with the next batch, ahead of the queue.
 *
 * Memory: the session is freed by the close callback of its timer, never
 * inside a call, so code that called into Lua can still look at it and
 * sees ud == NULL once it ended. */
#include <stdlib.h>
#include <string.h>

#include "mqtt.h"
#include "net/secure.h"

enum { S_TCP, S_CONNACK, S_DATA, S_CLOSING };
enum { M_QUEUED, M_WRITTEN, M_AWAIT_COMP }; /* M_AWAIT_COMP: QoS 2 after PUBREC */
enum { END_QUIET, END_FAIL, END_OFFLINE };

#define BATCH_MAX (256 * 1024) /* bytes per write */

typedef struct mqtt_msg {
  nm_link link;
  uint8_t type, qos, state;
  uint16_t id;
  uint32_t seq; /* the write that carried it */
  size_t len;
  uint8_t data[];
} mqtt_msg;

typedef struct mqtt_session {
  nm_obj obj;
  nm_tcp_user u;
  nm_ctx *ctx;
  nm_tcp *tcp;        /* NULL once let go */
  mqtt_ud *ud;        /* NULL once ended */
  int ref;            /* the object's anchor while connecting or connected */
  uv_timer_t timer;   /* CONNACK timeout, then keepalive */
  uint64_t last_write;
  uint32_t keepalive_ms, max_len;
  uint8_t phase;
  unsigned dns_failed : 1, connect_sent : 1, ping_out : 1, flush_queued : 1;
  nm_link queue;      /* mqtt_msg, in call order */
  nm_link *next_write; /* first link not written yet, &queue when none */
  mqtt_msg *awaiting; /* the written message waiting for its answer */
  uint32_t wseq, sseq; /* writes made, writes with the kernel */
  nm_defer flush;
  uint8_t *connect;   /* the CONNECT packet until written */
  size_t connect_len;
  uint8_t *direct;    /* acknowledgements and pings for the next batch */
  size_t direct_len, direct_cap;
  mqtt_rx rx;
} mqtt_session;

static mqtt_session *of_user(nm_tcp_user *u) { return nm_container_of(u, mqtt_session, u); }

uint32_t mqtt_session_max_len(const mqtt_session *c) { return c->max_len; }
int mqtt_session_wants_connack(const mqtt_session *c) { return c->phase == S_CONNACK; }

static int awaits_answer(const mqtt_msg *m) {
  return m->type != MQTT_DISCONNECT && (m->type != MQTT_PUBLISH || m->qos > 0);
}

/* ---- the end ---- */

static void session_closed_cb(uv_handle_t *h) {
  free(nm_container_of((uv_timer_t *)h, mqtt_session, timer));
}

static void session_free_parts(mqtt_session *c) {
  while (!nm_list_empty(&c->queue)) {
    nm_link *l = c->queue.next;
    nm_list_remove(l);
    free(nm_container_of(l, mqtt_msg, link));
  }
  c->next_write = &c->queue;
  c->awaiting = NULL;
  free(c->connect);
  c->connect = NULL;
  free(c->direct);
  c->direct = NULL;
  c->direct_len = c->direct_cap = 0;
  mqtt_rx_free(&c->rx);
}

typedef struct {
  int code;
} fail_arg;

/* Ends the session: lets go of the connection (flushing it if flush),
 * detaches the object, then tells it (`connfail` with code, `offline`, or
 * nothing) and drops its anchor. */
static void session_end(mqtt_session *c, int how, int code, int flush) {
  if (c->ud == NULL) return;
  nm_ctx *ctx = c->ctx;
  if (c->tcp != NULL) {
    if (flush)
      nm_tcp_close(c->tcp);
    else
      nm_tcp_abort(c->tcp);
    c->tcp = NULL;
  }
  if (c->flush_queued) nm_defer_cancel(ctx, &c->flush);
  c->flush_queued = 0;
  session_free_parts(c);
  c->ud->c = NULL;
  c->ud = NULL;
  int ref = c->ref;
  c->ref = LUA_NOREF;
  nm_obj_unregister(&c->obj);
  uv_close((uv_handle_t *)&c->timer, session_closed_cb);
  if (how == END_FAIL)
    nm_emit(ctx, ref, MQ_CONNFAIL, 0, nm_push_integer, &code);
  else if (how == END_OFFLINE)
    nm_emit(ctx, ref, MQ_OFFLINE, 0, NULL, NULL);
  if (!ctx->closed) nm_unanchor(ctx->L, &ref);
}

/* Shutdown of the loop: no Lua. */
static void session_kill(nm_obj *o) {
  session_end(nm_container_of(o, mqtt_session, obj), END_QUIET, 0, 0);
}

/* The broker broke the protocol (or memory ran out reading it). */
static void session_broken(mqtt_session *c) {
  if (c->phase == S_CONNACK)
    session_end(c, END_FAIL, MQTT_FAIL_NOT_A_CONNACK, 0);
  else
    session_end(c, END_OFFLINE, 0, 0);
}

/* ---- writing ---- */

static void flush_cb(nm_defer *d);

static void flush_later(mqtt_session *c) {
  if (c->flush_queued || c->ud == NULL) return;
  c->flush_queued = 1;
  nm_defer_push(c->ctx, &c->flush, flush_cb);
}

static int session_send(mqtt_session *c, const uint8_t *p, size_t n) {
  int rc = nm_tcp_send(c->tcp, (const char *)p, n);
  if (rc != 0) return rc;
  c->wseq++;
  c->last_write = uv_now(&c->ctx->loop);
  return 0;
}

/* An acknowledgement or ping for the next batch. */
static int direct_add(mqtt_session *c, const uint8_t *p, size_t n) {
  if (c->direct_len + n > c->direct_cap) {
    size_t cap = c->direct_cap < 64 ? 64 : c->direct_cap * 2;
    uint8_t *b = realloc(c->direct, cap);
    if (b == NULL) return -1;
    c->direct = b;
    c->direct_cap = cap;
  }
  memcpy(c->direct + c->direct_len, p, n);
  c->direct_len += n;
  flush_later(c);
  return 0;
}

static int direct_ack(mqtt_session *c, int type, unsigned id) {
  uint8_t b[4];
  mqtt_ack_write(b, type, id);
  return direct_add(c, b, 4);
}

/* The next batch: the direct packets, then queued messages until one that
 * waits for an answer (included).  Returns 0 or a libuv error. */
static int flush_batch(mqtt_session *c, uint8_t **buf, size_t *cap) {
  size_t len = 0;
  nm_link *l = c->next_write;
  while (l != &c->queue && c->awaiting == NULL) {
    mqtt_msg *m = nm_container_of(l, mqtt_msg, link);
    if (len > 0 && len + m->len > BATCH_MAX) break;
    if (len == 0 && c->direct_len == 0 && (l->next == &c->queue || awaits_answer(m))) {
      /* a single message: sent from where it is */
      int rc = session_send(c, m->data, m->len);
      if (rc != 0) return rc;
      m->state = M_WRITTEN;
      m->seq = c->wseq;
      if (awaits_answer(m)) c->awaiting = m;
      c->next_write = l->next;
      return 0;
    }
    if (c->direct_len + len + m->len > *cap) { /* room for the direct ones too */
      size_t need = c->direct_len + len + m->len;
      size_t ncap = *cap * 2 > need ? *cap * 2 : need;
      uint8_t *b = realloc(*buf, ncap);
      if (b == NULL) return UV_ENOMEM;
      *buf = b;
      *cap = ncap;
    }
    memcpy(*buf + c->direct_len + len, m->data, m->len);
    len += m->len;
    m->state = M_WRITTEN;
    m->seq = c->wseq + 1;
    if (awaits_answer(m)) c->awaiting = m;
    l = l->next;
  }
  c->next_write = l;
  if (c->direct_len + len == 0) return 0;
  if (c->direct_len > 0) {
    if (len == 0) {
      int rc = session_send(c, c->direct, c->direct_len);
      c->direct_len = 0;
      return rc;
    }
    memcpy(*buf, c->direct, c->direct_len);
  }
  int rc = session_send(c, *buf, c->direct_len + len);
  c->direct_len = 0;
  return rc;
}

static void flush_now(mqtt_session *c) {
  if (c->tcp == NULL || c->phase < S_DATA) return;
  uint8_t *buf = NULL;
  size_t cap = 0;
  int rc = 0;
  nm_link *before;
  do { /* batch after batch while messages may go */
    before = c->next_write;
    rc = flush_batch(c, &buf, &cap);
  } while (rc == 0 && c->next_write != before && c->next_write != &c->queue && c->awaiting == NULL);
  free(buf);
  if (rc != 0) session_end(c, END_OFFLINE, 0, 0);
}

static void flush_cb(nm_defer *d) {
  mqtt_session *c = nm_container_of(d, mqtt_session, flush);
  c->flush_queued = 0;
  flush_now(c);
}

/* ---- the connection layer's events ---- */

static void on_resolved(nm_tcp *s, const struct in_addr *ip) {
  if (ip == NULL) of_user(s->user)->dns_failed = 1;
}

static void timer_cb(uv_timer_t *h);

static void on_connected(nm_tcp *s) {
  mqtt_session *c = of_user(s->user);
  int rc = session_send(c, c->connect, c->connect_len);
  free(c->connect);
  c->connect = NULL;
  if (rc != 0) {
    session_end(c, END_FAIL, MQTT_FAIL_TIMEOUT_SENDING, 0);
    return;
  }
  c->phase = S_CONNACK;
  uv_timer_start(&c->timer, timer_cb, MQTT_SEND_TIMEOUT_MS, 0);
}

static void on_receive(nm_tcp *s, const char *p, size_t n) {
  mqtt_session *c = of_user(s->user);
  int rc = mqtt_rx_feed(c, &c->rx, (const uint8_t *)p, n);
  if (rc < 0) session_broken(c);
}

/* A queued message that needed no answer is with the kernel: QoS 0
 * PUBLISH -> `puback` (as the firmware: "when message sent"), DISCONNECT
 * -> the end. */
static int on_sent(nm_tcp *s) {
  mqtt_session *c = of_user(s->user);
  c->sseq++;
  if (c->phase == S_CONNACK) c->connect_sent = 1;
  while (c->ud != NULL && !nm_list_empty(&c->queue)) {
    nm_link *l = c->queue.next;
    mqtt_msg *m = nm_container_of(l, mqtt_msg, link);
    if (l == c->next_write || m == c->awaiting || m->seq > c->sseq) break;
    nm_list_remove(l);
    int type = m->type;
    free(m);
    if (type == MQTT_DISCONNECT) {
      session_end(c, END_OFFLINE, 0, 1);
      break;
    }
    if (nm_cb_isset(c->ud, sizeof *c->ud, MQ_PUBACK))
      nm_emit(c->ctx, c->ref, MQ_PUBACK, 0, NULL, NULL);
  }
  return 1;
}

static void on_ended(nm_tcp *s, nm_tcp_user *u, int code) {
  (void)s;
  mqtt_session *c = of_user(u);
  c->tcp = NULL; /* the layer let go already */
  if (code == NM_TCP_SHUTDOWN)
    session_end(c, END_QUIET, 0, 0);
  else if (c->phase == S_TCP)
    session_end(c, END_FAIL, c->dns_failed ? MQTT_FAIL_DNS : MQTT_FAIL_SERVER_NOT_FOUND, 0);
  else
    session_broken(c); /* before CONNACK: not a CONNACK; after: offline */
}

static const nm_tcp_user_ops session_ops = {on_resolved, on_connected, on_receive, on_sent,
                                            on_ended};

/* ---- timers: CONNACK, keepalive ---- */

static void timer_cb(uv_timer_t *h) {
  mqtt_session *c = nm_container_of(h, mqtt_session, timer);
  if (c->phase == S_CONNACK) {
    session_end(c, END_FAIL,
                c->connect_sent ? MQTT_FAIL_TIMEOUT_RECEIVING : MQTT_FAIL_TIMEOUT_SENDING, 0);
    return;
  }
  if (c->phase == S_CLOSING) { /* the DISCONNECT did not get out in time */
    session_end(c, END_OFFLINE, 0, 0);
    return;
  }
  uint64_t now = uv_now(&c->ctx->loop);
  uint64_t since = now - c->last_write;
  if (since < c->keepalive_ms) { /* written since: wait for the rest */
    uv_timer_start(&c->timer, timer_cb, c->keepalive_ms - since, 0);
    return;
  }
  if (c->ping_out) { /* the last ping got no answer: the broker is gone */
    session_end(c, END_OFFLINE, 0, 0);
    return;
  }
  uint8_t b[2];
  mqtt_short_write(b, MQTT_PINGREQ);
  if (direct_add(c, b, 2) != 0) {
    session_end(c, END_OFFLINE, 0, 0);
    return;
  }
  c->ping_out = 1;
  flush_now(c);
  if (c->ud != NULL) uv_timer_start(&c->timer, timer_cb, c->keepalive_ms, 0);
}

/* ---- packets from the broker ---- */

static void emit_plain(mqtt_session *c, int slot) {
  if (nm_cb_isset(c->ud, sizeof *c->ud, slot)) nm_emit(c->ctx, c->ref, slot, 0, NULL, NULL);
}

typedef struct {
  mqtt_str topic, payload;
} publish_args;

/* The firmware passes the payload only when it is not empty. */
static void push_publish(lua_State *L, void *arg) {
  publish_args *a = arg;
  lua_pushlstring(L, a->topic.p, a->topic.n);
  if (a->payload.n > 0) lua_pushlstring(L, a->payload.p, a->payload.n);
}

static int on_publish(mqtt_session *c, const mqtt_pkt *k) {
  publish_args a;
  unsigned id;
  if (mqtt_publish_parse(k, &a.topic, &a.payload, &id) != 0) return -1;
  int qos = (k->flags >> 1) & 3;
  if (qos > 0 && direct_ack(c, qos == 1 ? MQTT_PUBACK : MQTT_PUBREC, id) != 0) return -1;
  int slot = k->truncated ? MQ_OVERFLOW : MQ_MESSAGE;
  if (a.topic.p != NULL && a.topic.n > 0 && nm_cb_isset(c->ud, sizeof *c->ud, slot))
    nm_emit(c->ctx, c->ref, slot, 0, push_publish, &a);
  return 0;
}

/* The answer to the awaited message: it leaves the queue, its callback
 * fires, the queue moves on. */
static void answered(mqtt_session *c, int slot) {
  mqtt_msg *m = c->awaiting;
  c->awaiting = NULL;
  nm_list_remove(&m->link);
  free(m);
  flush_later(c);
  emit_plain(c, slot);
}

static int awaited(mqtt_session *c, int type, int state, const mqtt_pkt *k) {
  mqtt_msg *m = c->awaiting;
  unsigned id = (unsigned)k->body[0] << 8 | k->body[1];
  return m != NULL && m->type == type && m->state == state && m->id == id;
}

static int on_connack(mqtt_session *c, const mqtt_pkt *k) {
  if (c->phase != S_CONNACK) return 0; /* a second one: ignored, as the firmware */
  int code = k->body[1];
  if (code != 0) {
    session_end(c, END_FAIL, code, 0);
    return 1;
  }
  c->phase = S_DATA;
  c->ping_out = 0;
  uv_timer_start(&c->timer, timer_cb, c->keepalive_ms, 0);
  flush_later(c); /* what was published while connecting */
  emit_plain(c, MQ_CONNECT);
  return 0;
}

int mqtt_packet(mqtt_session *c, const mqtt_pkt *k) {
  int rc = 0;
  unsigned id = k->len >= 2 ? (unsigned)k->body[0] << 8 | k->body[1] : 0;
  switch (k->type) {
    case MQTT_CONNACK: rc = on_connack(c, k); break;
    case MQTT_PUBLISH: rc = on_publish(c, k); break;
    case MQTT_PUBACK:
      if (awaited(c, MQTT_PUBLISH, M_WRITTEN, k) && c->awaiting->qos == 1) answered(c, MQ_PUBACK);
      break;
    case MQTT_PUBREC:
      if (awaited(c, MQTT_PUBLISH, M_WRITTEN, k) && c->awaiting->qos == 2) {
        c->awaiting->state = M_AWAIT_COMP;
        rc = direct_ack(c, MQTT_PUBREL, id);
      }
      break;
    case MQTT_PUBCOMP:
      if (awaited(c, MQTT_PUBLISH, M_AWAIT_COMP, k)) answered(c, MQ_PUBACK);
      break;
    case MQTT_PUBREL: rc = direct_ack(c, MQTT_PUBCOMP, id); break;
    case MQTT_SUBACK:
      if (awaited(c, MQTT_SUBSCRIBE, M_WRITTEN, k)) answered(c, MQ_SUBACK);
      break;
    case MQTT_UNSUBACK:
      if (awaited(c, MQTT_UNSUBSCRIBE, M_WRITTEN, k)) answered(c, MQ_UNSUBACK);
      break;
    case MQTT_PINGREQ: {
      uint8_t b[2];
      mqtt_short_write(b, MQTT_PINGRESP);
      rc = direct_add(c, b, 2);
      break;
    }
    case MQTT_PINGRESP: c->ping_out = 0; break;
    default: rc = -1; break;
  }
  if (rc != 0) return rc;
  return c->ud == NULL ? 1 : 0; /* a callback may have closed it */
}

/* ---- for mqtt.c ---- */

int mqtt_session_start(lua_State *L, int idx, mqtt_ud *ud, uint8_t *connect, size_t n,
                       const char *host, uint16_t port, int secure) {
  nm_ctx *ctx = nm_ctx_get(L);
  mqtt_session *c = calloc(1, sizeof *c);
  if (c == NULL) {
    free(connect);
    return UV_ENOMEM;
  }
  c->u.ops = &session_ops;
  c->ctx = ctx;
  c->ref = LUA_NOREF;
  c->connect = connect;
  c->connect_len = n;
  c->keepalive_ms = ud->keepalive * 1000u;
  c->max_len = ud->max_len;
  nm_list_init(&c->queue);
  c->next_write = &c->queue;
  uv_timer_init(&ctx->loop, &c->timer);
  int rc = nm_tcp_open_client(ctx, &c->u, host, port, secure, &c->tcp);
  if (rc != 0) {
    free(c->connect);
    uv_close((uv_handle_t *)&c->timer, session_closed_cb);
    return rc;
  }
  nm_obj_register(ctx, &c->obj, session_kill);
  c->ud = ud;
  ud->c = c;
  c->ref = nm_anchor(L, idx);
  return 0;
}

int mqtt_session_ready(const mqtt_ud *ud) {
  return ud->c != NULL && (ud->c->phase == S_CONNACK || ud->c->phase == S_DATA);
}

uint8_t *mqtt_session_queue(mqtt_ud *ud, int type, int qos, unsigned id, size_t n) {
  mqtt_session *c = ud->c;
  mqtt_msg *m = malloc(sizeof *m + n);
  if (m == NULL) return NULL;
  m->type = (uint8_t)type;
  m->qos = (uint8_t)qos;
  m->state = M_QUEUED;
  m->id = (uint16_t)id;
  m->seq = 0;
  m->len = n;
  nm_list_append(&c->queue, &m->link);
  if (c->next_write == &c->queue) c->next_write = &m->link;
  if (c->phase >= S_DATA) flush_later(c);
  return m->data;
}

void mqtt_session_close(lua_State *L, mqtt_ud *ud) {
  (void)L;
  mqtt_session *c = ud->c;
  if (c == NULL || c->phase == S_CLOSING) return;
  if (c->phase < S_DATA) { /* not accepted yet: dropped, no callback */
    session_end(c, END_QUIET, 0, 0);
    return;
  }
  uint8_t *p = mqtt_session_queue(ud, MQTT_DISCONNECT, 0, 0, 2);
  if (p == NULL) { /* no memory: the firmware drops the connection */
    session_end(c, END_QUIET, 0, 0);
    return;
  }
  mqtt_short_write(p, MQTT_DISCONNECT);
  c->phase = S_CLOSING;
  /* Bounded like a socket's close: a message that waits for an answer
   * that never comes must not hold the DISCONNECT (and the client) back
   * for ever. */
  uv_timer_start(&c->timer, timer_cb, NM_LINGER_MS, 0);
}

void mqtt_session_gc(mqtt_ud *ud) {
  if (ud->c != NULL) session_end(ud->c, END_QUIET, 0, 0);
}
