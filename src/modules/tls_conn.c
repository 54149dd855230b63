/* tls_conn.c - the TLS filter of the connection layer (net/tcp.h): one
 * OpenSSL SSL per connection between the wire and its user (the Lua socket
 * or a C client).  OpenSSL never touches the socket: what the layer reads
 * goes into a memory BIO, SSL_read's plaintext goes up to the user, and
 * whatever OpenSSL writes into the other memory BIO (handshake, ciphertext,
 * alerts, KeyUpdate answers, close_notify) goes down through nm_tcp_write.
 * docs/INTERNALS.md, "TLS", draws it. */
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tls.h"

/* Plaintext is encrypted in slices of this size: each is one block for the
 * layer (four 16 KiB records), so a large send neither doubles in one
 * allocation nor costs a write per record. */
#define TLS_SLICE (64 * 1024)

/* A send that waits: made before the handshake completed, or one that
 * SSL_write cannot take until OpenSSL has read (a renegotiation). */
typedef struct tls_send {
  struct tls_send *next;
  size_t n, off; /* off: bytes already encrypted */
  char p[];
} tls_send;

typedef struct tls_conn {
  nm_tcp_filter f; /* first: s->filter is the tls_conn */
  nm_tcp *s;
  SSL *ssl;
  BIO *rbio, *wbio; /* memory BIOs, owned by ssl: from the wire, to the wire */
  tls_send *head, **tail;
  nm_defer later;   /* resume, or a failure found inside a call, from the loop */
  int fail;         /* that failure's code (0: none) */
  unsigned queued : 1; /* later is in the loop's queue */
  unsigned ready : 1;  /* handshake done */
  unsigned dead : 1;   /* failed, or closed: OpenSSL says nothing more */
} tls_conn;

static tls_conn *of(nm_tcp *s) { return (tls_conn *)s->filter; }

/* ---- debug output (tls.setDebug) ---- */

static void tls_say(const SSL *ssl, const char *fmt, const char *a, const char *b) {
  const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
  fprintf(stderr, "TLS %s: ", name != NULL ? name : "-");
  fprintf(stderr, fmt, a, b);
  fputc('\n', stderr);
}

/* Why OpenSSL failed: the verification result if that is what failed,
 * else the first error of the queue. */
static void tls_say_error(tls_conn *t) {
  long v = SSL_get_verify_result(t->ssl);
  unsigned long e = ERR_peek_error();
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  if (v != X509_V_OK)
    tls_say(t->ssl, "failed: certificate verification: %s%s", X509_verify_cert_error_string(v), "");
  else
    tls_say(t->ssl, "failed: %s%s", e != 0 ? buf : "connection closed", "");
}

static void tls_info_cb(const SSL *ssl, int where, int ret) {
  if (nm_tls_debug >= 1 && (where & SSL_CB_ALERT))
    tls_say(ssl, "%s alert: %s", (where & SSL_CB_READ) ? "received" : "sent",
            SSL_alert_desc_string_long(ret));
  else if (nm_tls_debug >= 2 && (where & SSL_CB_LOOP))
    tls_say(ssl, "handshake: %s%s", SSL_state_string_long(ssl), "");
}

static const char *content_name(int type) {
  switch (type) {
    case SSL3_RT_CHANGE_CIPHER_SPEC: return "change_cipher_spec";
    case SSL3_RT_ALERT: return "alert";
    case SSL3_RT_HANDSHAKE: return "handshake";
    case SSL3_RT_APPLICATION_DATA: return "application_data";
    default: return NULL; /* record headers, inner content types */
  }
}

static void tls_msg_cb(int write_p, int version, int type, const void *buf, size_t len, SSL *ssl,
                       void *arg) {
  (void)version, (void)arg;
  const char *name = content_name(type);
  if (nm_tls_debug < 3 || name == NULL) return;
  char what[64];
  if (type == SSL3_RT_HANDSHAKE && len > 0)
    snprintf(what, sizeof what, "%s %u, %zu bytes", name, *(const unsigned char *)buf, len);
  else
    snprintf(what, sizeof what, "%s, %zu bytes", name, len);
  tls_say(ssl, "%s %s", write_p ? "sent" : "received", what);
}

void nm_tls_ctx_debug(SSL_CTX *c) {
  SSL_CTX_set_info_callback(c, tls_info_cb);
  SSL_CTX_set_msg_callback(c, tls_msg_cb);
}

/* ---- writing below ---- */

/* What the write BIO holds goes to the wire, completing `sends` sends of
 * the user.  Returns 0 or a libuv error. */
static int tls_flush(tls_conn *t, unsigned sends) {
  size_t n = BIO_ctrl_pending(t->wbio);
  if (n == 0) return 0;
  char *p = malloc(n);
  if (p == NULL) return UV_ENOMEM;
  if (BIO_read(t->wbio, p, (int)n) != (int)n) {
    free(p);
    return UV_ENOMEM;
  }
  return nm_tcp_write(t->s, p, n, sends);
}

/* The connection fails with code: the alert OpenSSL may have written goes
 * out, then the FIN; the user's ended(code).  From the loop only. */
static void tls_fail(tls_conn *t, int code) {
  if (t->dead) return;
  if (nm_tls_debug >= 1 && code != 0) tls_say_error(t);
  ERR_clear_error();
  if (t->s->phase == NM_CONNECTED) (void)tls_flush(t, 0);
  t->dead = 1;
  if (t->s->user != NULL) nm_tcp_end(t->s, code, 1);
}

static void later_cb(nm_defer *d);

static void tls_later(tls_conn *t) {
  if (t->queued) return;
  t->queued = 1;
  nm_defer_push(nm_tcp_ctx(t->s), &t->later, later_cb);
}

/* A failure found inside a call of the user: reported from the loop. */
static void tls_fail_later(tls_conn *t, int code) {
  if (t->fail == 0) t->fail = code;
  tls_later(t);
}

/* The code a failed SSL call ends the connection with. */
static int tls_code(tls_conn *t) {
  if (!t->ready) return NM_ERR_TLS_HANDSHAKE;
  /* TLS 1.3: the server checks the client's certificate after the client
   * finished its handshake; its refusal is still a handshake failure. */
  int r = ERR_GET_REASON(ERR_peek_error());
  if (ERR_GET_LIB(ERR_peek_error()) == ERR_LIB_SSL && r > SSL_AD_REASON_OFFSET) {
    switch (r - SSL_AD_REASON_OFFSET) {
      case SSL_AD_BAD_CERTIFICATE: case SSL_AD_UNSUPPORTED_CERTIFICATE:
      case SSL_AD_CERTIFICATE_REVOKED: case SSL_AD_CERTIFICATE_EXPIRED:
      case SSL_AD_CERTIFICATE_UNKNOWN: case SSL_AD_UNKNOWN_CA: case SSL_AD_ACCESS_DENIED:
      case SSL_AD_CERTIFICATE_REQUIRED:
        return NM_ERR_TLS_HANDSHAKE;
    }
  }
  return NM_ERR_TLS_DATA;
}

/* Encrypts p[0..n) and writes it below, slice by slice; the last slice
 * completes one send of the user.  Stops early (*done < n, at a slice
 * boundary) when SSL_write must wait for OpenSSL to read (a renegotiation
 * the peer started).  Returns 0, or the code to fail with. */
static int tls_write(tls_conn *t, const char *p, size_t n, size_t *done) {
  *done = 0;
  ERR_clear_error();
  while (*done < n) {
    size_t k, want = n - *done < TLS_SLICE ? n - *done : TLS_SLICE;
    if (!SSL_write_ex(t->ssl, p + *done, want, &k)) {
      int e = SSL_get_error(t->ssl, 0);
      if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) return tls_code(t);
      return tls_flush(t, 0) == 0 ? 0 : -1;
    }
    *done += k; /* no partial writes: k == want */
    if (tls_flush(t, *done == n) != 0) return -1;
  }
  return 0;
}

/* The sends that waited, in order, as far as OpenSSL takes them.  From
 * the loop only. */
static void tls_write_waiting(tls_conn *t) {
  while (t->head != NULL && !t->dead) {
    tls_send *w = t->head;
    size_t done;
    int code = tls_write(t, w->p + w->off, w->n - w->off, &done);
    if (code != 0) {
      tls_fail(t, code);
      return;
    }
    w->off += done;
    if (w->off < w->n) return; /* still waiting for the renegotiation */
    t->head = w->next;
    if (t->head == NULL) t->tail = &t->head;
    free(w);
  }
}

static int tls_wait(tls_conn *t, const char *p, size_t n) {
  tls_send *w = malloc(sizeof *w + n);
  if (w == NULL) return UV_ENOMEM;
  w->next = NULL;
  w->n = n;
  w->off = 0;
  memcpy(w->p, p, n);
  *t->tail = w;
  t->tail = &w->next;
  return 0;
}

/* ---- reading ---- */

/* Decrypts what was read and hands it up, as long as the user is there and
 * does not hold: what stays in the read BIO waits for resume, so a held
 * socket decrypts nothing more.  From the loop only. */
static void tls_deliver(tls_conn *t) {
  nm_tcp *s = t->s;
  char *buf = nm_tcp_ctx(s)->readbuf; /* free: the layer's read was copied into rbio */
  while (s->user != NULL && !nm_tcp_held(s) && !t->dead) {
    size_t got = 0, k;
    int e = SSL_ERROR_NONE, code = 0;
    ERR_clear_error();
    while (got < NM_READBUF_SIZE) {
      if (!SSL_read_ex(t->ssl, buf + got, NM_READBUF_SIZE - got, &k)) {
        e = SSL_get_error(t->ssl, 0);
        if (e == SSL_ERROR_SSL || e == SSL_ERROR_SYSCALL) code = tls_code(t);
        break;
      }
      got += k;
    }
    /* Reading may have made OpenSSL answer: a KeyUpdate, a renegotiation. */
    if (tls_flush(t, 0) != 0) {
      tls_fail(t, -1);
      return;
    }
    if (got > 0) nm_tcp_up_receive(s, buf, got);
    if (s->user == NULL || t->dead) return;
    if (e == SSL_ERROR_NONE) continue; /* the buffer was full */
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
      tls_write_waiting(t); /* a renegotiation may have held them up */
      /* The peer's FIN without close_notify: a normal end, as for TCP. */
      if (s->eof && s->user != NULL && !nm_tcp_held(s) && !t->dead) nm_tcp_end(s, 0, 1);
      return;
    }
    if (e == SSL_ERROR_ZERO_RETURN) { /* close_notify: answered at close */
      nm_tcp_end(s, 0, 1);
      return;
    }
    if (code == 0) code = NM_ERR_TLS_DATA;
    tls_fail(t, code);
    return;
  }
}

/* Runs the handshake as far as what was read allows.  When it completes,
 * the sends made meanwhile go out, then the user learns it is connected. */
static void tls_handshake(tls_conn *t) {
  nm_tcp *s = t->s;
  ERR_clear_error();
  int r = SSL_do_handshake(t->ssl);
  int e = r == 1 ? SSL_ERROR_NONE : SSL_get_error(t->ssl, r);
  if (e != SSL_ERROR_NONE && e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
    tls_fail(t, NM_ERR_TLS_HANDSHAKE);
    return;
  }
  if (tls_flush(t, 0) != 0) {
    tls_fail(t, -1);
    return;
  }
  if (e != SSL_ERROR_NONE) {
    if (s->eof) tls_fail(t, NM_ERR_TLS_HANDSHAKE); /* the peer closed during it */
    return;
  }
  t->ready = 1;
  nm_tcp_filter_reads(s, 0); /* from now on a hold stops reading */
  if (nm_tls_debug >= 1)
    tls_say(t->ssl, "connected: %s %s", SSL_get_version(t->ssl), SSL_get_cipher_name(t->ssl));
  tls_write_waiting(t);
  if (!t->dead) nm_tcp_up_connected(s);
}

static void tls_pump(tls_conn *t) {
  if (!t->ready) tls_handshake(t);
  if (t->ready && t->s->user != NULL) tls_deliver(t);
}

static void later_cb(nm_defer *d) {
  tls_conn *t = nm_container_of(d, tls_conn, later);
  t->queued = 0;
  if (t->fail != 0) {
    tls_fail(t, t->fail);
    return;
  }
  if (t->ready && !t->dead) tls_deliver(t);
}

/* ---- the filter's ops ---- */

static void tls_on_connected(nm_tcp *s) {
  nm_tcp_filter_reads(s, 1); /* the handshake goes on even if the user holds */
  tls_handshake(of(s));      /* the ClientHello */
}

static void tls_on_read(nm_tcp *s, const char *p, size_t n) {
  tls_conn *t = of(s);
  if (t->dead || t->fail != 0) return;
  if (BIO_write(t->rbio, p, (int)n) != (int)n) { /* n <= NM_READBUF_SIZE */
    tls_fail(t, -1);
    return;
  }
  tls_pump(t);
}

static void tls_on_eof(nm_tcp *s) {
  tls_conn *t = of(s);
  if (!t->dead && t->fail == 0) tls_pump(t);
}

/* One send of the user (inside its call: no Lua may run, failures are
 * reported from the loop). */
static int tls_on_send(nm_tcp *s, const char *p, size_t n) {
  tls_conn *t = of(s);
  if (t->dead || t->fail != 0) return UV_EPIPE;
  if (!t->ready || t->head != NULL) return tls_wait(t, p, n);
  size_t done;
  int code = tls_write(t, p, n, &done);
  if (code == 0 && done < n) { /* the rest waits for the renegotiation */
    if (tls_wait(t, p + done, n - done) == 0) return 0;
    if (done == 0) return UV_ENOMEM; /* nothing went: only this send fails */
    code = -1;
  }
  if (code == 0) return 0;
  tls_fail_later(t, code); /* part of it may have gone: the stream is lost */
  return done == 0 ? UV_EPIPE : 0;
}

static void tls_on_resume(nm_tcp *s) {
  tls_conn *t = of(s);
  if (t->ready && !t->dead) tls_later(t);
}

/* A local close: close_notify before the FIN.  Sends still waiting (the
 * handshake never completed) are dropped: nothing can encrypt them. */
static void tls_on_shutdown(nm_tcp *s) {
  tls_conn *t = of(s);
  if (!t->ready || t->dead || t->fail != 0) return;
  ERR_clear_error();
  SSL_shutdown(t->ssl);
  ERR_clear_error();
  (void)tls_flush(t, 0);
  t->dead = 1;
}

static void tls_on_release(nm_tcp *s) {
  tls_conn *t = of(s);
  if (t->queued) nm_defer_cancel(nm_tcp_ctx(s), &t->later);
  while (t->head != NULL) {
    tls_send *w = t->head;
    t->head = w->next;
    free(w);
  }
  SSL_free(t->ssl);
  free(t);
}

static const nm_tcp_filter_ops tls_ops = {tls_on_connected, tls_on_read,    tls_on_send,
                                          tls_on_resume,    tls_on_shutdown, tls_on_release,
                                          tls_on_eof};

/* ---- attaching ---- */

/* SNI for a name; the name or address the certificate must match (used
 * when the SSL_CTX verifies). */
static int tls_set_host(SSL *ssl, const char *host) {
  X509_VERIFY_PARAM *vp = SSL_get0_param(ssl);
  struct in_addr ip;
  if (nm_parse_ip4(host, &ip) == 0) /* no SNI for an address (RFC 6066) */
    return X509_VERIFY_PARAM_set1_ip_asc(vp, host) == 1 ? 0 : UV_EINVAL;
  if (SSL_set_tlsext_host_name(ssl, host) != 1) return UV_EINVAL;
  X509_VERIFY_PARAM_set_hostflags(vp, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
  return X509_VERIFY_PARAM_set1_host(vp, host, 0) == 1 ? 0 : UV_EINVAL;
}

int nm_tls_attach(nm_ctx *ctx, nm_tcp *s, const char *hostname) {
  SSL_CTX *c = nm_tls_ctx(ctx);
  if (c == NULL) return UV_ENOMEM;
  tls_conn *t = calloc(1, sizeof *t);
  SSL *ssl = SSL_new(c);
  BIO *r = BIO_new(BIO_s_mem()), *w = BIO_new(BIO_s_mem());
  int rc = t == NULL || ssl == NULL || r == NULL || w == NULL ? UV_ENOMEM : 0;
  if (rc == 0) {
    BIO_set_mem_eof_return(r, -1); /* empty: "retry", not end of file */
    SSL_set_bio(ssl, r, w);
    r = w = NULL;
    SSL_set_connect_state(ssl);
    rc = tls_set_host(ssl, hostname);
  }
  ERR_clear_error();
  if (rc != 0) {
    BIO_free(r);
    BIO_free(w);
    SSL_free(ssl);
    free(t);
    return rc;
  }
  t->f.ops = &tls_ops;
  t->s = s;
  t->ssl = ssl;
  t->rbio = SSL_get_rbio(ssl);
  t->wbio = SSL_get_wbio(ssl);
  t->tail = &t->head;
  nm_tcp_set_filter(s, &t->f);
  return 0;
}
