/* tcp.h - TCP connections: the layer between libuv and whoever uses a
 * connection (docs/INTERNALS.md, "The connection layer").
 *
 *   libuv stream  <->  nm_tcp (tcp_conn.c)  <->  [filter: TLS]  <->  user
 *
 * The layer owns the connection's life: its uv_tcp_t from creation to the
 * close callback (which alone frees it), connecting (by name through the
 * resolver), reading, writing with `sent` accounting, hold, flushing close
 * with a bounded linger, and the inactivity timeout of accepted sockets.
 * A user is the Lua socket object (tcp_socket.c) or a C client (a module
 * that speaks a protocol over TCP); it gets events through its ops.  A
 * filter, when set, sits between the wire and the user: it sees the bytes
 * read before the user does and every send before it is written. */
#ifndef NM_TCP_H
#define NM_TCP_H

#include "core/nm.h"
#include "inactivity.h"

#define NM_TCP_SOCKET "net.tcpsocket"
#define NM_TCP_SERVER "net.tcpserver"

/* How long a closed connection may take to flush its queued data before it
 * is closed anyway (docs/modules/net.md, close: bounded time). */
#define NM_LINGER_MS 10000

typedef struct nm_tcp nm_tcp;
typedef struct nm_tcp_user nm_tcp_user;
typedef struct nm_tcp_filter nm_tcp_filter;
typedef struct nm_wreq nm_wreq;
struct nm_dns_req;

/* ---- the user of a connection ----
 * Every op runs from the loop, never inside the API call that caused it.
 * After an op returns the layer re-reads its state: the op may have closed
 * the connection (s->user is then NULL), held it or sent. */
typedef struct nm_tcp_user_ops {
  /* connect by name: the answer (ip NULL: none; ended(-4) follows).
   * May be NULL. */
  void (*resolved)(nm_tcp *s, const struct in_addr *ip);
  /* connected (after the filter's handshake, if there is a filter) */
  void (*connected)(nm_tcp *s);
  /* n > 0 bytes received (plaintext, if there is a filter) */
  void (*receive)(nm_tcp *s, const char *p, size_t n);
  /* one send is with the kernel: once per send, in order.  Returns 0 to
   * drop the other `sent`s due now (no listener). */
  int (*sent)(nm_tcp *s);
  /* The connection ended by the peer, the network or a failed connect
   * (code: 0 for the peer's normal close, else a NodeMCU error code), or
   * the loop is shutting down (code NM_TCP_SHUTDOWN: call no Lua).  The
   * layer has already let go of u (s->user is NULL): no other op follows. */
  void (*ended)(nm_tcp *s, nm_tcp_user *u, int code);
} nm_tcp_user_ops;

/* Embedded by the user (first member or not: ops find their container). */
struct nm_tcp_user {
  const nm_tcp_user_ops *ops;
};

#define NM_TCP_SHUTDOWN 1

/* ---- a filter (TLS) ----
 * Sees the ciphertext side through nm_tcp_write and the plaintext side
 * through nm_tcp_up_*.  Its state is allocated by whoever sets it and
 * freed by release(). */
typedef struct nm_tcp_filter_ops {
  /* The TCP connection is up: start (the handshake); call
   * nm_tcp_up_connected once the user may send. */
  void (*connected)(nm_tcp *s);
  /* n bytes came off the wire: hand the plaintext to nm_tcp_up_receive
   * (not while nm_tcp_held(s): keep it for resume), write what the
   * protocol answers with nm_tcp_write(s, ..., 0), or end the connection
   * with nm_tcp_end. */
  void (*read)(nm_tcp *s, const char *p, size_t n);
  /* One send of the user: write its ciphertext with nm_tcp_write(s, ...,
   * 1) now, or later if the handshake is not done (count every send once).
   * Returns 0 or a libuv error (nothing written). */
  int (*send)(nm_tcp *s, const char *p, size_t n);
  /* Reading resumed (the user's unhold): deliver what was kept back, from
   * the loop (a deferred call), not inside this call.  May be NULL. */
  void (*resume)(nm_tcp *s);
  /* Local close of a connected socket, before the FIN: the last words
   * (close_notify) through nm_tcp_write.  May be NULL. */
  void (*shutdown)(nm_tcp *s);
  /* The connection is being freed (its close callback). */
  void (*release)(nm_tcp *s);
  /* The peer's FIN (not a reset): the layer reads no more.  Deliver what
   * is left (not while held: at resume), then nm_tcp_end(s, code, 1).
   * May be NULL: the user's ended(0) at once. */
  void (*eof)(nm_tcp *s);
} nm_tcp_filter_ops;

struct nm_tcp_filter {
  const nm_tcp_filter_ops *ops;
};

/* ---- the connection ---- */

enum nm_tcp_phase { NM_RESOLVING, NM_CONNECTING, NM_CONNECTED, NM_CLOSING };

/* What only a connect needs (not allocated for accepted sockets, which
 * keeps their memory small). */
typedef struct nm_tcp_conn {
  struct nm_dns_req *dns; /* NM_RESOLVING: the lookup */
  nm_wreq *pending;       /* NM_RESOLVING: sends waiting for the connect */
  uv_connect_t req;
  nm_defer fail;          /* a failure found while starting, reported from the loop */
  int fail_status;
  uint8_t fail_queued;
  uint16_t port;
} nm_tcp_conn;

/* One connection, from creation (connect or accept) to the close callback
 * of its handle, which alone frees it.  The user lets go of it at close()
 * or when it ends (user NULL), and may open another one at once while this
 * one still flushes and closes.  Kept small: 10 000 idle connections cost
 * 10 000 of these (344 bytes with libuv 1.44's 248-byte uv_tcp_t). */
struct nm_tcp {
  nm_obj obj;
  uv_tcp_t h;               /* loop->data is the context */
  nm_tcp_user *user;        /* NULL once the user let go */
  nm_tcp_filter *filter;    /* NULL: plain TCP */
  nm_link due;              /* in the loop's list while `sent`s are due */
  nm_inactivity_entry tmo;  /* accepted: in its server's timeout; closing: lingering */
  unsigned phase : 2;       /* enum nm_tcp_phase */
  unsigned held : 1;
  unsigned accepted : 1;    /* which member of the union below is used */
  unsigned filter_reads : 1; /* read though held: the filter's handshake */
  unsigned eof : 1;         /* the peer's FIN was read: no more reading */
  unsigned sent_due;        /* `sent`s due on the next loop turn */
  union {
    nm_inactivity *idle;    /* accepted: the server's timeout, or NULL */
    nm_tcp_conn *conn;      /* connect(): its state */
  };
};

static inline nm_ctx *nm_tcp_ctx(const nm_tcp *s) { return s->h.loop->data; }
static inline int nm_tcp_held(const nm_tcp *s) { return s->held; }

/* ---- for users ---- */

/* A new, unconnected connection of user u (its handle initialised, no OS
 * socket yet); NULL if out of memory. */
nm_tcp *nm_tcp_new(nm_ctx *ctx, nm_tcp_user *u);
/* Connects s to host (an IPv4 literal, or a name resolved first) : port.
 * Failures come as ended(); returns 0, or UV_ENOMEM with nothing started. */
int nm_tcp_connect(nm_tcp *s, const char *host, uint16_t port);
/* One send: `sent` fires once all n bytes are with the kernel.  Bytes the
 * kernel does not take at once are queued, in order, without limit:
 * nm_tcp_send copies them; nm_tcp_send_lua, given the bytes p, n of the
 * Lua string at idx, keeps a reference to the string instead.  Returns 0
 * or a libuv error (nothing sent). */
int nm_tcp_send(nm_tcp *s, const char *p, size_t n);
int nm_tcp_send_lua(nm_tcp *s, lua_State *L, int idx, const char *p, size_t n);
/* Stop / resume reading from the kernel (TCP flow control pushes back). */
void nm_tcp_hold(nm_tcp *s);
void nm_tcp_unhold(nm_tcp *s);
/* The user lets go: no op is called any more.  close: what is queued is
 * flushed, then FIN, within NM_LINGER_MS.  abort: closed at once. */
void nm_tcp_close(nm_tcp *s);
void nm_tcp_abort(nm_tcp *s);
/* Sets the filter of a connection before it is connected: before
 * nm_tcp_connect, or between nm_tcp_accept and nm_tcp_accept_done. */
void nm_tcp_set_filter(nm_tcp *s, nm_tcp_filter *f);

/* ---- for filters ---- */

/* Writes n bytes of the malloc'd block p (the layer frees it) below the
 * filter, completing `sends` sends of the user (0 for the protocol's own
 * records).  Returns 0 or a libuv error (p freed, nothing written). */
int nm_tcp_write(nm_tcp *s, char *p, size_t n, unsigned sends);
/* Up to the user: connected, plaintext received. */
void nm_tcp_up_connected(nm_tcp *s);
void nm_tcp_up_receive(nm_tcp *s, const char *p, size_t n);
/* While on, the layer reads even though the user holds, so that the
 * filter's handshake goes on (the user's data waits in the filter).  Set it
 * from connected() and clear it once the handshake is done. */
void nm_tcp_filter_reads(nm_tcp *s, int on);
/* Ends the connection with code (NodeMCU's: 0 normal close, < 0 error):
 * the user's ended(), then close (flushing if flush is set). */
void nm_tcp_end(nm_tcp *s, int code, int flush);

/* ---- for the server ---- */

/* An inactivity timeout of timeout_ms for a server's accepted sockets. */
nm_inactivity *nm_tcp_timeout_new(nm_ctx *ctx, uint32_t timeout_ms);
/* Accepts a connection pending on server into a new connection under the
 * timeout idle (may be NULL), with no user yet; NULL if that failed.  The
 * server then gives it a user (the Lua socket: nm_tcpsocket_push_accepted)
 * and calls nm_tcp_accept_done, which fires `connection` and starts
 * reading, or closes it if no user took it. */
nm_tcp *nm_tcp_accept(nm_ctx *ctx, uv_stream_t *server, nm_inactivity *idle);
void nm_tcp_accept_done(nm_tcp *s);

/* ---- the kernel's socket (tcp_kernel.c), for the layer ---- */

/* Client connections' TCP keepalive: first probe after this much silence,
 * then every interval, given up after count probes (docs/DIFFERENCES.md). */
#define NM_TCP_KEEPIDLE_S 60
#define NM_TCP_KEEPINTVL_S 10
#define NM_TCP_KEEPCNT 5
/* The EOF just read was a reset the kernel reported to a write first. */
int nm_tcp_was_reset(const nm_tcp *s);
void nm_tcp_keepalive(nm_tcp *s);
/* Queued data is still going out, the last of it less than within_ms ago. */
int nm_tcp_draining(const nm_tcp *s, uint32_t within_ms);

/* ---- the Lua socket (tcp_socket.c) ---- */

/* Registers the net.tcpsocket class. */
void nm_tcpsocket_open(lua_State *L);
/* Pushes a new, unconnected socket object; a secure one puts TLS on every
 * connection it makes (tls.createConnection). */
int nm_tcpsocket_create(lua_State *L, int secure);
/* Pusher (nm_emit) for the server's listen function: replaces the server
 * object by a new socket object, anchored, that uses the accepted s. */
void nm_tcpsocket_push_accepted(lua_State *L, void *s);

/* ---- the server (tcp_server.c) ---- */
void nm_tcpserver_open(lua_State *L);
int nm_tcpserver_create(lua_State *L, int timeout_s);

#endif
