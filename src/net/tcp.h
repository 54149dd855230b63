/* tcp.h - what the TCP server and TCP socket files share. */
#ifndef NM_TCP_H
#define NM_TCP_H

#include "core/nm.h"

#define NM_TCP_SOCKET "net.tcpsocket"
#define NM_TCP_SERVER "net.tcpserver"

/* How long a closed socket may take to flush its queued data before it is
 * closed anyway (SPEC 2: bounded time). */
#define NM_LINGER_MS 10000

typedef struct nm_tcp nm_tcp;
typedef struct nm_idle nm_idle;
typedef struct nm_wreq nm_wreq;
struct nm_dns_req;

/* The Lua object: a pointer to the state of its current connection. */
typedef struct nm_tcp_ud {
  nm_sock_common c;
  nm_tcp *s;
} nm_tcp_ud;

enum nm_tcp_phase { NM_RESOLVING, NM_CONNECTING, NM_CONNECTED, NM_CLOSING };

/* What only a client connect needs (not allocated for accepted sockets,
 * which keep per-connection memory small). */
typedef struct nm_tcp_conn {
  struct nm_dns_req *dns;   /* NM_RESOLVING: the lookup */
  nm_wreq *pending;         /* NM_RESOLVING: sends waiting for the connect */
  nm_defer *fail;           /* a connect failure waiting to be reported */
  uint16_t port;            /* NM_RESOLVING: where to connect */
} nm_tcp_conn;

/* One connection, from connect() or accept to the close callback.  It
 * outlives its Lua object's interest in it: after close() or a disconnection
 * the object is detached (ud == NULL, no callbacks) and may connect again
 * with a new state while this one still flushes and closes.  Kept small:
 * 10 000 idle connections cost 10 000 of these. */
struct nm_tcp {
  nm_obj obj;
  uv_tcp_t h;               /* initialised unless phase is NM_RESOLVING */
  nm_ctx *ctx;
  nm_tcp_ud *ud;            /* NULL once detached */
  int ref;                  /* anchor of the Lua object while attached */
  unsigned phase : 2;       /* enum nm_tcp_phase */
  unsigned held : 1;
  unsigned in_dns_cb : 2;   /* 1: connect's dns callback runs; 2: it closed s */
  unsigned accepted : 1;    /* which member of the union below is used */
  unsigned gone : 1;        /* closed; freed when its due `sent`s have run */
  unsigned sent_due;        /* `sent`s due; while > 0, s is in the loop's list */
  nm_tcp *sent_next;        /* next in that list */
  nm_link link;             /* in the idle list, or once closed, lingering */
  uint64_t deadline;        /* last activity (idle) or linger end, uv_now ms */
  union {
    nm_idle *idle;          /* accepted: the server's timeout, or NULL */
    nm_tcp_conn *conn;      /* connected by connect(): its connect state */
  };
};

/* The inactivity timeout of one server's accepted sockets (SPEC 4): the
 * sockets sit in a list ordered by last activity, and one timer wakes for
 * the oldest, so a connection costs a link and a timestamp, not a timer.
 * Reference-counted: the server and each of its sockets hold one, so the
 * timeout keeps working after srv:close(). */
struct nm_idle {
  nm_obj obj;
  uv_timer_t timer;
  nm_ctx *ctx;
  nm_link socks;
  uint64_t timeout_ms;
  int refs;
};

nm_idle *nm_idle_new(nm_ctx *ctx, uint64_t timeout_ms);
void nm_idle_unref(nm_idle *idle);
/* s joins idle (taking a reference), or leaves its list (dropping it). */
void nm_idle_add(nm_idle *idle, nm_tcp *s);
void nm_idle_remove(nm_tcp *s);

/* Data moved on s: it becomes the youngest of its list.  O(1); the timer is
 * not touched (it re-arms itself for the oldest when it fires). */
static inline void nm_idle_touch(nm_tcp *s) {
  if (!s->accepted || s->idle == NULL) return;
  s->deadline = uv_now(&s->ctx->loop);
  nm_list_remove(&s->link);
  nm_list_append(&s->idle->socks, &s->link);
}

/* Accepts a connection pending on server into a new connection state that
 * uses the inactivity timeout idle; NULL if accepting failed.  Then:
 * nm_tcp_push_accepted, the pusher (nm_emit) that replaces the server
 * object by a new, anchored socket object for the listen function; and
 * nm_tcp_accept_done, which fires `connection` and starts reading. */
nm_tcp *nm_tcp_accept(nm_ctx *ctx, uv_stream_t *server, nm_idle *idle);
void nm_tcp_push_accepted(lua_State *L, void *s);
void nm_tcp_accept_done(nm_tcp *s);
/* The inactivity timeout expired for s (called by the idle timer). */
void nm_tcp_timed_out(nm_tcp *s);


#endif
