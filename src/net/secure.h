/* secure.h - the one seam where TLS goes on the connection of a C client
 * (mqtt, websocket: docs/INTERNALS.md, "How TLS will plug in").
 *
 * The tls module defines nm_tls_attach: it puts its filter on a connection
 * that is not connected yet (before nm_tcp_connect), with hostname for SNI
 * and verification, and returns 0 or a libuv error.  The declaration here
 * is weak: while no tls module is linked in, the symbol is NULL, clients
 * check nm_secure_available() and refuse secure connections ("ssl not
 * available", the firmware's words for a build without TLS).  Linking the
 * tls module's definition switches every client over, with no change
 * here. */
#ifndef NM_SECURE_H
#define NM_SECURE_H

#include "tcp.h"

__attribute__((weak, visibility("hidden"))) int nm_tls_attach(nm_ctx *ctx, nm_tcp *s,
                                                         const char *hostname);

static inline int nm_secure_available(void) { return nm_tls_attach != NULL; }

/* A C client's connection to host:port, with TLS when secure: the new
 * connection in *out, or a libuv error with nothing left behind. */
static inline int nm_tcp_open_client(nm_ctx *ctx, nm_tcp_user *u, const char *host,
                                     uint16_t port, int secure, nm_tcp **out) {
  nm_tcp *s = nm_tcp_new(ctx, u);
  int rc = s == NULL ? UV_ENOMEM : 0;
  if (rc == 0 && secure) rc = nm_tls_attach(ctx, s, host);
  if (rc == 0) rc = nm_tcp_connect(s, host, port);
  if (rc != 0 && s != NULL) {
    nm_tcp_abort(s);
    s = NULL;
  }
  *out = s;
  return rc;
}

#endif
