/* uv_server.c - the raw C peer: the benchmark servers written directly on
 * libuv, the way its documentation writes them.
 *   uv_server http PORT   HTTP/1.1 "hello" (keep-alive, pipelining, close)
 *   uv_server echo PORT   TCP echo (malloc'd read buffer written back)
 *   uv_server udp PORT    UDP echo */
#define _GNU_SOURCE
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <uv.h>

static uv_loop_t *loop;

/* ---- HTTP ---- */

static const char RESP_KEEP[] =
    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 6\r\n\r\nhello\n";
static const char RESP_CLOSE[] =
    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 6\r\n"
    "Connection: close\r\n\r\nhello\n";
static const char RESP_400[] =
    "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";

typedef struct {
  uv_tcp_t h;
  char *buf; /* unparsed bytes */
  size_t len, cap;
  int closing;
} http_conn;

static void http_closed(uv_handle_t *h) {
  http_conn *c = (http_conn *)h;
  free(c->buf);
  free(c);
}

static void http_shut_cb(uv_shutdown_t *req, int status) {
  (void)status;
  uv_close((uv_handle_t *)req->handle, http_closed);
  free(req);
}

static void write_done(uv_write_t *req, int status) {
  (void)status;
  free(req);
}

static void http_send(http_conn *c, const char *p, size_t n) {
  uv_buf_t b = uv_buf_init((char *)p, (unsigned)n); /* static: no copy */
  uv_write_t *req = malloc(sizeof *req);
  if (uv_write(req, (uv_stream_t *)&c->h, &b, 1, write_done) != 0) free(req);
}

static void http_close(http_conn *c) {
  c->closing = 1;
  uv_read_stop((uv_stream_t *)&c->h);
  uv_shutdown_t *req = malloc(sizeof *req);
  if (uv_shutdown(req, (uv_stream_t *)&c->h, http_shut_cb) != 0) {
    free(req);
    uv_close((uv_handle_t *)&c->h, http_closed);
  }
}

/* Connection header value of the head [p, p+n), lowercased into out. */
static void conn_header(const char *p, size_t n, char *out, size_t outsz) {
  out[0] = 0;
  const char *end = p + n;
  for (const char *q = p; q + 13 < end; q++) {
    if (q[0] == '\r' && q[1] == '\n' && strncasecmp(q + 2, "connection:", 11) == 0) {
      q += 13;
      while (q < end && (*q == ' ' || *q == '\t')) q++;
      size_t i = 0;
      while (q < end && i + 1 < outsz && *q != '\r' && *q != ' ') out[i++] = (char)(*q++ | 0x20);
      out[i] = 0;
      return;
    }
  }
}

/* Handles every complete request in the buffer; returns 0 to go on. */
static int http_parse(http_conn *c) {
  size_t off = 0;
  for (;;) {
    char *p = c->buf + off;
    char *e = memmem(p, c->len - off, "\r\n\r\n", 4);
    if (e == NULL) break;
    size_t hl = (size_t)(e - p) + 4;
    /* request line: METHOD SP target SP HTTP/1.x CRLF */
    char *sp1 = memchr(p, ' ', hl), *crlf = memmem(p, hl, "\r\n", 2);
    int ok = sp1 != NULL && sp1 > p && crlf - p >= 10 && memcmp(crlf - 8, "HTTP/1.", 7) == 0 &&
             crlf[-9] == ' ' && crlf - 9 > sp1;
    if (!ok) {
      http_send(c, RESP_400, sizeof RESP_400 - 1);
      http_close(c);
      return 1;
    }
    char conn[16];
    conn_header(p, hl, conn, sizeof conn);
    int keep = (crlf[-1] == '1' && strcmp(conn, "close") != 0) || strcmp(conn, "keep-alive") == 0;
    off += hl;
    if (!keep) {
      http_send(c, RESP_CLOSE, sizeof RESP_CLOSE - 1);
      http_close(c);
      return 1;
    }
    http_send(c, RESP_KEEP, sizeof RESP_KEEP - 1);
  }
  memmove(c->buf, c->buf + off, c->len - off);
  c->len -= off;
  return 0;
}

static void http_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b) {
  http_conn *c = (http_conn *)h;
  (void)hint;
  if (c->cap - c->len < 4096) {
    c->cap = c->cap ? c->cap * 2 : 8192;
    c->buf = realloc(c->buf, c->cap);
  }
  *b = uv_buf_init(c->buf + c->len, (unsigned)(c->cap - c->len));
}

static void http_read(uv_stream_t *st, ssize_t n, const uv_buf_t *b) {
  http_conn *c = (http_conn *)st;
  (void)b;
  if (n < 0) {
    if (!c->closing) uv_close((uv_handle_t *)st, http_closed);
    c->closing = 1;
    return;
  }
  c->len += (size_t)n;
  http_parse(c);
}

static void http_accept(uv_stream_t *srv, int status) {
  if (status < 0) return;
  http_conn *c = calloc(1, sizeof *c);
  uv_tcp_init(loop, &c->h);
  if (uv_accept(srv, (uv_stream_t *)&c->h) != 0) {
    uv_close((uv_handle_t *)&c->h, http_closed);
    return;
  }
  uv_tcp_nodelay(&c->h, 1);
  uv_read_start((uv_stream_t *)&c->h, http_alloc, http_read);
}

/* ---- TCP echo: libuv's echo example, with the read buffers recycled
 * through a free list (a buffer is busy until its write completed) ---- */

#define ECHO_BUF (64 * 1024)

typedef struct echo_wr {
  uv_write_t req;
  uv_buf_t buf;
  struct echo_wr *next; /* in the free list */
  char data[ECHO_BUF];
} echo_wr;

static echo_wr *echo_free;

static void echo_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b) {
  (void)h;
  (void)hint;
  echo_wr *w = echo_free;
  if (w != NULL) echo_free = w->next;
  else w = malloc(sizeof *w);
  *b = uv_buf_init(w->data, ECHO_BUF);
}

static void echo_release(char *base) {
  echo_wr *w = (echo_wr *)(base - offsetof(echo_wr, data));
  w->next = echo_free;
  echo_free = w;
}

static void echo_written(uv_write_t *req, int status) {
  (void)status;
  echo_release(((echo_wr *)req)->buf.base);
}

static void echo_closed(uv_handle_t *h) { free(h); }

static void echo_read(uv_stream_t *st, ssize_t n, const uv_buf_t *b) {
  if (n > 0) {
    echo_wr *w = (echo_wr *)(b->base - offsetof(echo_wr, data));
    w->buf = uv_buf_init(b->base, (unsigned)n);
    if (uv_write(&w->req, st, &w->buf, 1, echo_written) != 0) echo_release(b->base);
    return;
  }
  if (b->base != NULL) echo_release(b->base);
  if (n < 0) uv_close((uv_handle_t *)st, echo_closed);
}

static void echo_accept(uv_stream_t *srv, int status) {
  if (status < 0) return;
  uv_tcp_t *c = malloc(sizeof *c);
  uv_tcp_init(loop, c);
  if (uv_accept(srv, (uv_stream_t *)c) != 0) {
    uv_close((uv_handle_t *)c, echo_closed);
    return;
  }
  uv_tcp_nodelay(c, 1);
  uv_read_start((uv_stream_t *)c, echo_alloc, echo_read);
}

/* ---- UDP echo ---- */

static char udp_buf[65536];

typedef struct {
  uv_udp_send_t req;
  char data[];
} udp_wr;

static void udp_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b) {
  (void)h;
  (void)hint;
  *b = uv_buf_init(udp_buf, sizeof udp_buf);
}

static void udp_sent(uv_udp_send_t *req, int status) {
  (void)status;
  free(req);
}

static void udp_recv(uv_udp_t *h, ssize_t n, const uv_buf_t *b, const struct sockaddr *addr,
                     unsigned flags) {
  (void)flags;
  if (n <= 0 || addr == NULL) return;
  uv_buf_t out = uv_buf_init(b->base, (unsigned)n);
  if (uv_udp_try_send(h, &out, 1, addr) == n) return;
  udp_wr *w = malloc(sizeof *w + (size_t)n); /* kernel busy: queue a copy */
  memcpy(w->data, b->base, (size_t)n);
  out = uv_buf_init(w->data, (unsigned)n);
  uv_udp_send(&w->req, h, &out, 1, addr, udp_sent);
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: uv_server http|echo|udp PORT\n");
    return 2;
  }
  loop = uv_default_loop();
  struct sockaddr_in sa;
  uv_ip4_addr("127.0.0.1", atoi(argv[2]), &sa);
  static uv_tcp_t tsrv;
  static uv_udp_t usrv;
  int rc;
  if (strcmp(argv[1], "udp") == 0) {
    uv_udp_init(loop, &usrv);
    rc = uv_udp_bind(&usrv, (struct sockaddr *)&sa, 0);
    if (rc == 0) rc = uv_udp_recv_start(&usrv, udp_alloc, udp_recv);
  } else {
    int http = strcmp(argv[1], "http") == 0;
    uv_tcp_init(loop, &tsrv);
    rc = uv_tcp_bind(&tsrv, (struct sockaddr *)&sa, 0);
    if (rc == 0) rc = uv_listen((uv_stream_t *)&tsrv, 4096, http ? http_accept : echo_accept);
  }
  if (rc != 0) {
    fprintf(stderr, "uv_server: %s\n", uv_strerror(rc));
    return 1;
  }
  return uv_run(loop, UV_RUN_DEFAULT);
}
