/* tls.h - TLS on the connection layer (docs/modules/tls.md; docs/INTERNALS.md,
 * "The connection layer" and "TLS").  OpenSSL's libssl behind two memory
 * BIOs: the layer does every socket operation, OpenSSL only encrypts.
 *
 * tls.c holds the module (tls.createConnection, tls.cert.*, tls.setDebug)
 * and the loop's settings and SSL_CTX; tls_conn.c is the filter that puts
 * one SSL on one connection. */
#ifndef NM_TLS_H
#define NM_TLS_H

#include "core/nm.h"
#include "net/tcp.h"

/* The firmware's (espconn's) codes for TLS failures, passed to
 * `disconnection`/`reconnection` like the lwIP codes of plain TCP. */
#define NM_ERR_TLS_HANDSHAKE (-28)   /* ESPCONN_HANDSHAKE: handshake or verification failed */
#define NM_ERR_TLS_DATA (-61)        /* ESPCONN_SSL_INVALID_DATA: bad TLS data later on */

/* Puts TLS on s, a connection not yet connected (after nm_tcp_new, before
 * nm_tcp_connect), with the loop's current tls.cert settings: hostname (an
 * IPv4 literal or a name, normally the host given to connect) is sent as
 * SNI when it is a name and is what the certificate must match when
 * verification is on.  The user's `connected` then comes after the
 * handshake; a failed handshake or verification ends the connection with
 * NM_ERR_TLS_HANDSHAKE.  Returns 0, UV_ENOMEM, or UV_EINVAL (a host name
 * TLS cannot carry); nothing is changed on failure. */
int nm_tls_attach(nm_ctx *ctx, nm_tcp *s, const char *hostname);

/* Pushes the tls.cert table (also net.cert, as in the firmware). */
void nm_tls_cert_push(lua_State *L);

/* ---- between tls.c and tls_conn.c ---- */
struct ssl_ctx_st;
/* The loop's SSL_CTX for the current settings (built on first use); NULL
 * if out of memory. */
struct ssl_ctx_st *nm_tls_ctx(nm_ctx *ctx);
/* Installs the debug callbacks (tls_conn.c) on a new SSL_CTX. */
void nm_tls_ctx_debug(struct ssl_ctx_st *c);
/* tls.setDebug's level: 0 silent, 1 handshakes, failures and alerts,
 * 2 handshake states too, 3 and more every TLS message. */
extern int nm_tls_debug;

#endif
