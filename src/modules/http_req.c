/* http_req.c - one HTTP request through libcurl, with the firmware's
 * redirects: each hop resolves its host with netmcu's resolver (so
 * net.dns.setdnsserver and /etc/hosts apply, as on the device), then
 * libcurl connects to that address (CURLOPT_CONNECT_TO) while the URL keeps
 * the name for the Host header, SNI and the certificate check.  Redirects
 * are followed here, not by libcurl, to keep the firmware's rules: status
 * 300-308 with a Location, same method, headers and body, up to a limit.
 * libcurl's callbacks only record; http_multi.c delivers. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "modules/http.h"

static void finish(http_req *r, int code) {
  if (r->done) return;
  r->code = code;
  r->done = 1;
  r->deadline = 0;
  http_multi_dirty(r, HTTP_EV_DONE);
}

/* The code of a failed hop: the ESP8266 only knows -1; the ESP32 tells
 * which step failed (esp_http_client's errors, negated). */
static int fail_code(http_req *r, CURLcode rc) {
  if (r->flavor == HTTP_ESP8266 || r->too_big) return HTTP_ERROR;
  if (!r->prereq) return HTTP_E32_CONNECT;
  if (!r->headers_done) return rc == CURLE_SEND_ERROR ? HTTP_E32_WRITE_DATA : HTTP_E32_FETCH_HEADER;
  return HTTP_ERROR;
}

/* ESP32: data must keep coming within the timeout. */
static void touch(http_req *r) {
  if (r->flavor != HTTP_ESP32 || r->timeout_ms <= 0 || r->done) return;
  r->deadline = http_multi_now(r->hm) + (uint64_t)r->timeout_ms;
  http_multi_watch(r->hm, r);
}

/* ---- libcurl's callbacks: record, never call Lua ---- */

static int prereq_cb(void *ud, char *ip, char *lip, int port, int lport) {
  http_req *r = ud;
  long fresh = 0;
  (void)ip, (void)lip, (void)port, (void)lport;
  r->prereq = 1;
  touch(r);
  curl_easy_getinfo(r->easy, CURLINFO_NUM_CONNECTS, &fresh);
  if (r->stream && fresh > 0) http_multi_dirty(r, HTTP_EV_CONNECT);
  return CURL_PREREQFUNC_OK;
}

static int has_location(const http_buf *head) {
  for (size_t i = 0; i + 9 <= head->len; i++)
    if ((i == 0 || head->p[i - 1] == '\n') && strncasecmp(head->p + i, "location:", 9) == 0) return 1;
  return 0;
}

/* The blank line: the response's status and headers are complete. */
static void headers_end(http_req *r) {
  long code = 0;
  curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &code);
  if (code >= 100 && code < 200) { /* interim; the real response follows */
    r->head.len = 0;
    return;
  }
  r->status = code;
  r->headers_done = 1;
  if (code >= 300 && code <= 308 && r->max_redirects > 0 && has_location(&r->head)) {
    r->redirect = 1; /* its body is read and dropped; libcurl resolves the
                        Location once the hop is done */
    return;
  }
  if (r->stream) http_multi_dirty(r, HTTP_EV_HEADERS);
}

static int count(http_req *r, size_t len) {
  r->received += len;
  if (r->received <= r->limit) return 0;
  r->too_big = 1;
  return -1;
}

static size_t header_cb(char *p, size_t size, size_t n, void *ud) {
  http_req *r = ud;
  size_t len = size * n;
  touch(r);
  if (!r->stream && count(r, len) != 0) return 0;
  if (len >= 5 && memcmp(p, "HTTP/", 5) == 0) { /* a status line: a new response */
    r->head.len = 0;
    r->headers_done = r->redirect = 0;
    return len;
  }
  if (r->headers_done) return len; /* trailers */
  if (len <= 2 && (p[0] == '\r' || p[0] == '\n')) {
    headers_end(r);
    return len;
  }
  if (r->head.len + len > HTTP_HEAD_MAX || http_buf_add(&r->head, p, len) != 0) {
    r->too_big = 1;
    return 0;
  }
  return len;
}

static size_t write_cb(char *p, size_t size, size_t n, void *ud) {
  http_req *r = ud;
  size_t len = size * n;
  if (r->redirect) return len;
  touch(r);
  if (r->stream) {
    /* Flow control: what the script has not taken yet stays bounded;
     * libcurl keeps this chunk and stops reading until resumed. */
    if (r->data.len >= HTTP_PENDING_MAX) {
      r->paused = 1;
      return CURL_WRITEFUNC_PAUSE;
    }
    if (http_buf_add(&r->data, p, len) != 0) return 0;
    http_multi_dirty(r, HTTP_EV_DATA);
    return len;
  }
  if (count(r, len) != 0 || http_buf_add(&r->data, p, len) != 0) {
    r->too_big = 1;
    return 0;
  }
  return len;
}

/* ---- hops ---- */

static void attach(http_req *r) {
  if (http_multi_add(r->hm, r) != 0) {
    finish(r, HTTP_ERROR);
    return;
  }
  r->attached = 1;
}

static void dns_cb(void *arg, int status, const struct in_addr *addr) {
  http_req *r = arg;
  r->dns = NULL;
  if (status != 0) {
    finish(r, r->flavor == HTTP_ESP32 ? HTTP_E32_CONNECT : HTTP_ERROR);
    return;
  }
  char ip[INET_ADDRSTRLEN], to[200];
  inet_ntop(AF_INET, addr, ip, sizeof ip);
  snprintf(to, sizeof to, "%s:%d:%s:%d", r->host, r->port, ip, r->port);
  struct curl_slist *l = curl_slist_append(NULL, to);
  if (l == NULL) {
    finish(r, HTTP_ERROR);
    return;
  }
  curl_easy_setopt(r->easy, CURLOPT_CONNECT_TO, l);
  curl_slist_free_all(r->connect_to); /* libcurl keeps the pointer: swap after */
  r->connect_to = l;
  attach(r);
}

static void hop_start(http_req *r) {
  struct in_addr a;
  curl_easy_setopt(r->easy, CURLOPT_URL, r->url);
  http_apply_tls(r->hm->ctx->state[NM_STATE_HTTP], r);
  curl_easy_setopt(r->easy, CURLOPT_CONNECT_TO, (struct curl_slist *)NULL);
  /* A synchronous request cannot wait for the loop's resolver: libcurl
   * resolves (getaddrinfo); an address needs no resolving at all. */
  if (r->hm->sync || nm_parse_ip4(r->host, &a) == 0) {
    attach(r);
    return;
  }
  r->dns = nm_dns_lookup(r->hm->ctx, r->host, dns_cb, r);
  if (r->dns == NULL) finish(r, HTTP_ERROR);
}

static void redirect(http_req *r) {
  char *to = NULL;
  if (r->redirects >= r->max_redirects) {
    finish(r, r->flavor == HTTP_ESP32 ? HTTP_E32_MAX_REDIRECT : HTTP_ERROR);
    return;
  }
  curl_easy_getinfo(r->easy, CURLINFO_REDIRECT_URL, &to);
  if (to == NULL || http_req_seturl(r, to) != 0) {
    finish(r, HTTP_ERROR);
    return;
  }
  r->redirects++;
  r->head.len = r->data.len = r->received = 0;
  r->prereq = r->headers_done = r->redirect = 0;
  r->status = 0;
  hop_start(r);
}

void http_req_hop_done(http_req *r, CURLcode rc) {
  if (r->stream && rc == CURLE_OK && !r->redirect) {
    /* Is the connection still open (kept by libcurl for the next
     * request)?  Asked before the handle leaves the multi. */
    curl_socket_t s = CURL_SOCKET_BAD;
    curl_easy_getinfo(r->easy, CURLINFO_ACTIVESOCKET, &s);
    r->alive = s != CURL_SOCKET_BAD;
  }
  curl_multi_remove_handle(r->hm->m, r->easy);
  r->attached = 0;
  r->deadline = 0;
  if (rc == CURLE_OK && r->redirect)
    redirect(r);
  else if (rc == CURLE_OK)
    finish(r, (int)r->status);
  else
    finish(r, fail_code(r, rc));
}

/* ---- the request's life ---- */

http_req *http_req_new(http_multi *hm, int flavor, int stream) {
  http_req *r = calloc(1, sizeof *r);
  if (r == NULL || (r->easy = curl_easy_init()) == NULL) {
    free(r);
    return NULL;
  }
  CURL *e = r->easy;
  r->hm = hm;
  r->flavor = flavor;
  r->stream = stream;
  r->ref = LUA_NOREF;
  r->max_redirects = flavor == HTTP_ESP32 ? HTTP_E32_REDIRECTS : HTTP_8266_REDIRECTS;
  r->timeout_ms = flavor == HTTP_ESP32 ? HTTP_E32_TIMEOUT_MS : HTTP_8266_TIMEOUT_MS;
  r->limit = flavor == HTTP_ESP32 ? HTTP_E32_ONESHOT_MAX : HTTP_8266_MAX_RESPONSE;
  nm_list_init(&r->dirty);
  nm_list_append(&hm->reqs, &r->link);
  curl_easy_setopt(e, CURLOPT_PRIVATE, r);
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(e, CURLOPT_PROXY, ""); /* no proxy from the environment */
  curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
  curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, header_cb);
  curl_easy_setopt(e, CURLOPT_HEADERDATA, r);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_cb);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
  curl_easy_setopt(e, CURLOPT_PREREQFUNCTION, prereq_cb);
  curl_easy_setopt(e, CURLOPT_PREREQDATA, r);
  if (!stream) curl_easy_setopt(e, CURLOPT_FORBID_REUSE, 1L);
  return r;
}

void http_req_free(http_req *r) {
  nm_list_remove(&r->link);
  nm_list_remove(&r->dirty);
  if (r->dns != NULL) nm_dns_cancel(r->dns);
  if (r->attached) curl_multi_remove_handle(r->hm->m, r->easy);
  curl_easy_cleanup(r->easy);
  curl_slist_free_all(r->hdrs);
  curl_slist_free_all(r->connect_to);
  free(r->url);
  free(r->method);
  free(r->body);
  free(r->ca);
  http_buf_free(&r->head);
  http_buf_free(&r->data);
  free(r);
}

static int method_ok(const char *m) {
  if (m == NULL || *m == '\0') return 0;
  size_t n = strlen(m);
  return http_header_ok(m, n, NULL, 0);
}

/* What libcurl would add on its own and the firmware does not send
 * (Accept, a form Content-Type, Expect) is removed; a one-shot's
 * User-Agent is the firmware's unless the script set one (a connection
 * object has its own list, from which the script may remove it: libcurl
 * then sends none); one-shot requests close. */
static int finish_headers(http_req *r) {
  struct curl_slist **l = &r->hdrs;
  const char *ua = r->flavor == HTTP_ESP32 ? "NodeMCU (ESP32)" : "ESP8266";
  if (!r->stream && !http_hdr_has(*l, "User-Agent") && http_hdr_add(l, "User-Agent", 10, ua, strlen(ua)) != 0)
    return -1;
  static const char *const drop[] = {"Accept", "Content-Type", "Expect"};
  for (size_t i = 0; i < sizeof drop / sizeof drop[0]; i++) {
    if (http_hdr_has(*l, drop[i])) continue;
    char line[32];
    snprintf(line, sizeof line, "%s:", drop[i]);
    struct curl_slist *n = curl_slist_append(*l, line);
    if (n == NULL) return -1;
    *l = n;
  }
  if (!r->stream && (http_hdr_del(l, "Connection", 10) != 0 || http_hdr_add(l, "Connection", 10, "close", 5) != 0))
    return -1;
  return 0;
}

void http_req_start(http_req *r) {
  CURL *e = r->easy;
  if (r->url == NULL || !method_ok(r->method) || finish_headers(r) != 0) {
    finish(r, HTTP_ERROR);
    return;
  }
  curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, r->method);
  if (strcmp(r->method, "HEAD") == 0) curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
  if (r->hasbody) {
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->bodylen);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, r->body);
  }
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, r->hdrs);
  if (r->flavor == HTTP_ESP32)
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, r->timeout_ms);
  else
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, r->timeout_ms);
  hop_start(r);
}

void http_req_abort(http_req *r, int code) {
  if (r->done) return;
  if (r->dns != NULL) {
    nm_dns_cancel(r->dns);
    r->dns = NULL;
  }
  if (r->attached) {
    curl_multi_remove_handle(r->hm->m, r->easy);
    r->attached = 0;
  }
  r->ev &= ~(unsigned)(HTTP_EV_CONNECT | HTTP_EV_HEADERS | HTTP_EV_DATA);
  r->data.len = 0;
  r->alive = 0;
  finish(r, code);
}

void http_req_resume(http_req *r) {
  if (!r->paused || !r->attached) return;
  r->paused = 0;
  /* libcurl may hand over the chunk it kept from inside this call. */
  curl_easy_pause(r->easy, CURLPAUSE_CONT);
}
