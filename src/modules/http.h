/* http.h - the http module in four parts:
 *   http_multi.c  libcurl's multi interface driven by the loop (a uv_poll
 *                 per socket, one uv_timer), or by a blocking wait for the
 *                 ESP32's synchronous calls;
 *   http_req.c    one request and its redirects: URL, headers, body, TLS
 *                 settings, what libcurl reports, the result code;
 *   http.c        the module table and the one-shot calls of both
 *                 firmwares (ESP8266 and ESP32 forms);
 *   http_conn.c   the ESP32's connection objects (http.createConnection).
 * libcurl never calls Lua: its callbacks only store bytes and flags in the
 * request; what Lua must hear is delivered after libcurl returned, through
 * nm_emit (or a protected call in a synchronous request).
 * docs/modules/http.md describes the behaviour, docs/DIFFERENCES.md ("http")
 * the decisions and the measurement behind libcurl. */
#ifndef NM_HTTP_H
#define NM_HTTP_H

#include <curl/curl.h>

#include "core/nm.h"
#include "net/dns.h"

#if LIBCURL_VERSION_NUM < 0x075500
#error "netmcu's http module needs libcurl 7.85 or later (CURLOPT_PROTOCOLS_STR, CURLOPT_PREREQFUNCTION)"
#endif

/* Which firmware's rules a request follows (limits, defaults, codes). */
enum http_flavor { HTTP_ESP8266 = 0, HTTP_ESP32 = 1 };

/* The firmware's numbers. */
#define HTTP_ERROR (-1)             /* ESP8266: every failure; ESP32: ESP_FAIL */
#define HTTP_E32_MAX_REDIRECT (-0x7001)
#define HTTP_E32_CONNECT (-0x7002)
#define HTTP_E32_WRITE_DATA (-0x7003)
#define HTTP_E32_FETCH_HEADER (-0x7004)
#define HTTP_DELAYACK (-99)         /* ESP32: a data callback's "wait for ack()" */
#define HTTP_8266_MAX_RESPONSE 8191 /* ESP8266: BUFFER_SIZE_MAX less its NUL */
#define HTTP_8266_TIMEOUT_MS 60000  /* ESP8266: HTTP_REQUEST_TIMEOUT_MS */
#define HTTP_8266_REDIRECTS 20      /* ESP8266: REDIRECTION_FOLLOW_MAX */
#define HTTP_E32_TIMEOUT_MS 10000
#define HTTP_E32_REDIRECTS 10
#define HTTP_E32_ONESHOT_MAX (16u << 20) /* host limit: a one-shot body in memory */
#define HTTP_HEAD_MAX (64u << 10)   /* host limit: response header bytes */
#define HTTP_PENDING_MAX (64u << 10) /* stream: bytes held before libcurl pauses */

typedef struct {
  char *p;
  size_t len, cap;
} http_buf;
int http_buf_add(http_buf *b, const char *s, size_t n); /* -1: out of memory */
void http_buf_free(http_buf *b);

typedef struct http_req http_req;
typedef struct http_multi http_multi;

/* A request's events, delivered by its owner's deliver(). */
enum { HTTP_EV_CONNECT = 1, HTTP_EV_HEADERS = 2, HTTP_EV_DATA = 4, HTTP_EV_DONE = 8 };

typedef struct http_owner_ops {
  /* Runs outside libcurl, from the loop or a synchronous wait; may call
   * Lua, may free the request. */
  void (*deliver)(http_req *r);
  /* The multi is going away (shutdown, collection): release r without
   * calling Lua. */
  void (*drop)(http_req *r);
} http_owner_ops;

struct http_req {
  nm_link link;  /* in hm->reqs */
  nm_link dirty; /* in hm->dirty while events wait */
  http_multi *hm;
  const http_owner_ops *ops;
  void *owner;   /* connection object, or the synchronous caller's flag */
  void *frame;   /* connection: the synchronous request() waiting for it */
  int ref;       /* one-shot: the callback; connection: the object's anchor */
  CURL *easy;
  nm_dns_req *dns;
  struct curl_slist *hdrs, *connect_to;
  /* the request */
  int flavor, stream;
  char *url; /* this hop */
  char host[128]; /* of url (the firmware's limit: 127 characters) */
  int port;
  char *method;
  char *body;
  size_t bodylen;
  int hasbody;
  char *ca; /* PEM to verify against (ESP32 `cert`), or NULL */
  size_t calen;
  long timeout_ms;  /* ESP32: connect and inactivity */
  int max_redirects, redirects;
  size_t limit;     /* one-shot: most response bytes kept */
  uint64_t deadline; /* ESP32: ms (hm clock) by which data must come */
  /* this hop's response */
  long status;
  http_buf head; /* header lines of the response being read */
  http_buf data; /* body (one-shot) or bytes not delivered yet (stream) */
  size_t received;
  unsigned ev;
  unsigned prereq : 1, headers_done : 1, redirect : 1, too_big : 1;
  unsigned paused : 1, held : 1, done : 1, alive : 1, attached : 1;
  int code; /* when done: the status, or a negative code */
};

struct http_multi {
  nm_obj obj;
  nm_ctx *ctx;
  CURLM *m;
  uv_timer_t timer; /* async: libcurl's timeout */
  uv_timer_t idle;  /* async: the ESP32 inactivity deadlines */
  nm_link reqs, dirty, polls;
  nm_defer defer;
  int deferred, stepping, doomed, sync;
  int closed; /* timers closed, while going */
  http_multi **backref; /* cleared when the multi goes */
  lua_State *L;         /* sync: the caller's thread */
};

/* ---- http_multi.c ---- */
http_multi *http_multi_new(nm_ctx *ctx, int sync, http_multi **backref);
/* Drops every request (owner's drop()), closes every connection. */
void http_multi_free(http_multi *hm);
/* libcurl takes r's easy handle; 0, or -1 if it refused. */
int http_multi_add(http_multi *hm, http_req *r);
/* Adds events to r and makes sure they are delivered. */
void http_multi_dirty(http_req *r, unsigned ev);
/* sync: drives the transfers until *flag is set. */
void http_multi_wait(http_multi *hm, const int *flag);
/* ms on the clock deadlines use; arms the inactivity check. */
uint64_t http_multi_now(http_multi *hm);
void http_multi_watch(http_multi *hm, http_req *r);

/* ---- http_req.c ---- */
http_req *http_req_new(http_multi *hm, int flavor, int stream);
void http_req_free(http_req *r);
/* Parses url into r (and checks it): 0, or -1 for a URL the firmware could
 * not request. */
int http_req_seturl(http_req *r, const char *url);
/* ESP8266 headers: raw lines ("Name: value\r\n..."), each sent as given
 * (but Connection, which is always "close"). */
int http_req_rawheaders(http_req *r, const char *s, size_t len);
/* Header lists: add "Name: value" (value NULL: only delete), delete every
 * line of a name, look one up.  -1 when out of memory. */
int http_hdr_add(struct curl_slist **l, const char *name, size_t nlen, const char *value, size_t vlen);
int http_hdr_del(struct curl_slist **l, const char *name, size_t nlen);
int http_hdr_has(const struct curl_slist *l, const char *name);
/* A name that is an HTTP token and a value without CR, LF or NUL. */
int http_header_ok(const char *name, size_t nlen, const char *value, size_t vlen);
/* Starts the first hop (DNS, then libcurl).  A request that cannot start
 * finishes with a failure code, delivered later. */
void http_req_start(http_req *r);
/* From http_multi.c: libcurl finished a hop. */
void http_req_hop_done(http_req *r, CURLcode rc);
/* Ends r now with code (an abort by the script or a timeout). */
void http_req_abort(http_req *r, int code);
/* stream: resume reading after the script took the data. */
void http_req_resume(http_req *r);
/* Pushes the firmware's header table (names lower-cased, last one wins). */
void http_push_headers(lua_State *L, const http_buf *head);

/* ---- http.c ---- */
/* The ESP32's options table (createConnection, get, post, put). */
typedef struct {
  long timeout_ms;
  int max_redirects; /* -1: not given */
  long bufsz;
  int async;
  const char *cert; /* valid while the table is on the stack */
  size_t certlen;
  int headers; /* stack index of the headers table, or 0 */
} http_opts;
/* Reads the table at idx (nil: defaults); raises the ESP32's
 * "bad option NAME to 'fn' (...)" for a value of the wrong type or range. */
void http_opts_parse(lua_State *L, int idx, http_opts *o);
/* Adds the table's string pairs to l (replacing names already there; the
 * parse checked them); -1 when out of memory. */
int http_opts_headers(lua_State *L, int idx, struct curl_slist **l);

/* The module's per-loop state (ctx->state[NM_STATE_HTTP]). */
typedef struct nm_http {
  nm_obj obj;
  nm_ctx *ctx;
  http_multi *shared; /* every asynchronous one-shot request */
  int dispatch_ref;   /* http_conn.c's protected event call */
  /* The TLS policy of https requests: what the tls module's
   * tls.cert.verify()/tls.cert.auth() set (nm_http_set_tls).  At boot:
   * no verification, as the firmware. */
  int verify;
  char *ca_pem, *cert_pem, *key_pem; /* NULL: system CA store / no client cert */
  size_t ca_len, cert_len, key_len;
} nm_http;
nm_http *nm_http_get(lua_State *L);
/* Applies the TLS policy (or r->ca) to r's easy handle. */
void http_apply_tls(nm_http *h, http_req *r);

/* For the tls module: tls.cert.verify(true|false|PEM) and tls.cert.auth.
 * verify=0 turns verification off; ca_pem NULL means the system's CA store.
 * The strings are copied.  Returns 0, or -1 when out of memory. */
int nm_http_set_tls(lua_State *L, int verify, const char *ca_pem, size_t ca_len,
                    const char *cert_pem, size_t cert_len, const char *key_pem, size_t key_len);

/* ---- http_conn.c ---- */
void http_conn_open(lua_State *L);
int http_conn_create(lua_State *L);
int http_conn_dispatch(lua_State *L);
/* The ESP32's method numbers and names. */
extern const char *const http_methods[];
#define HTTP_METHOD_COUNT 17

#endif
