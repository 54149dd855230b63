/* websocket.h - NodeMCU's websocket client (docs/modules/websocket.md),
 * RFC 6455, a C user of the connection layer (net/tcp.h).
 *
 *   websocket.c  the Lua side: createClient, config, connect (the URL and
 *                the handshake request), on, send, close
 *   conn.c       one connection: handshake check, frames in and out,
 *                ping, the close handshake, the end (`close` with the
 *                firmware's status codes) */
#ifndef NM_WEBSOCKET_H
#define NM_WEBSOCKET_H

#include "core/nm.h"
#include "net/tcp.h"

#define WS_CLIENT "websocket.client" /* the firmware's metatable name */

/* Callback slots in the client object's user value, and its headers. */
enum { WS_CONNECTION = 1, WS_RECEIVE, WS_CLOSE, WS_HEADERS };

/* The firmware's status codes for `close` (docs/modules/websocket.md). */
enum {
  WS_OK = 0,
  WS_BAD_PROTOCOL = -1,
  WS_HOST_TOO_LONG = -2,
  WS_BAD_PORT = -3,
  WS_NO_HOST = -4,
  WS_DNS = -5,
  WS_SERVER_CLOSED = -6,
  WS_BAD_KEY = -7,
  WS_TOO_LARGE = -8,   /* -8 to -14: memory for a message */
  WS_BAD_FIN = -15,    /* the server broke the framing */
  WS_NOT_SWITCHING = -17,
  WS_TIMEOUT = -18,
  WS_UNHEALTHY = -19,
  WS_UNKNOWN = -99     /* the TCP connection ended without a close handshake */
};

#define WS_CONNECT_TIMEOUT_MS 10000
#define WS_PING_INTERVAL_MS 30000
#define WS_FORCE_CLOSE_MS 5000
#define WS_UNHEALTHY_PINGS 2
#define WS_MAX_HANDSHAKE 16384          /* bytes of the server's HTTP answer */
#define WS_MAX_MESSAGE (64u << 20)      /* a message, fragments included */

typedef struct ws_ud {
  struct ws_conn *c; /* while connecting or connected */
} ws_ud;

/* The frame reader's state. */
typedef struct ws_rx {
  uint8_t hdr[14];
  uint8_t hlen, need; /* header bytes seen / its full size once known */
  uint64_t len;       /* this frame's payload length */
  uint64_t got;       /* payload bytes seen */
  uint8_t ctl[125];   /* a control frame's payload */
  char *msg;          /* a message being assembled (fragments, or split) */
  size_t msg_len, msg_cap;
  int msg_op;         /* its opcode, -1 when none is in progress */
} ws_rx;

/* Starts a connection of the client at idx to host:port, sending the
 * handshake request req (malloc'd, taken) and expecting accept.  fail,
 * when not 0, is a URL error to report from the loop instead.  Returns 0
 * or a libuv error (nothing started). */
int ws_conn_start(lua_State *L, int idx, ws_ud *ud, int fail, const char *host, uint16_t port,
                  int secure, char *req, size_t req_len, const char accept[29]);
/* Is the handshake done (send allowed)? */
int ws_conn_open(const ws_ud *ud);
/* One frame to the server (masked).  Returns 0 or a libuv error. */
int ws_conn_send(ws_ud *ud, int opcode, const char *p, size_t n);
/* close(): the close handshake, or the attempt dropped; `close` follows
 * from the loop either way. */
void ws_conn_close(ws_ud *ud);
void ws_conn_gc(ws_ud *ud);

#endif
