/* http.c - NodeMCU's http module: the ESP8266 firmware's calls
 * (get/post/put/delete/request with a callback(code, body, headers)) and
 * the ESP32 firmware's (createConnection, and get/post/put with an options
 * table, synchronous without a callback) on one table.  Where the two
 * spell http.get/post/put differently, the arguments decide (see
 * docs/modules/http.md, "Two firmwares, one table"). */
#include <stdlib.h>
#include <string.h>

#include "modules/http.h"

/* ---- the per-loop state ---- */

static void state_kill(nm_obj *o) {
  nm_http *h = nm_container_of(o, nm_http, obj);
  nm_obj_unregister(&h->obj);
  if (h->shared != NULL) http_multi_free(h->shared);
  if (!h->ctx->closed) nm_unref(h->ctx->L, h->dispatch_ref); /* shutdown: must not raise */
  free(h->ca_pem);
  free(h->cert_pem);
  free(h->key_pem);
  h->ctx->state[NM_STATE_HTTP] = NULL;
  free(h);
}

nm_http *nm_http_get(lua_State *L) {
  nm_ctx *ctx = nm_ctx_get(L);
  if (ctx->state[NM_STATE_HTTP] != NULL) return ctx->state[NM_STATE_HTTP];
  lua_pushcfunction(L, http_conn_dispatch);
  int ref = luaL_ref(L, LUA_REGISTRYINDEX);
  nm_http *h = calloc(1, sizeof *h);
  if (h == NULL) {
    luaL_unref(L, LUA_REGISTRYINDEX, ref);
    luaL_error(L, "out of memory");
  }
  h->ctx = ctx;
  h->dispatch_ref = ref;
  nm_obj_register(ctx, &h->obj, state_kill);
  ctx->state[NM_STATE_HTTP] = h;
  return h;
}

static char *dup_or_null(const char *s, size_t n, int *oom) {
  if (s == NULL) return NULL;
  char *d = malloc(n + 1);
  if (d == NULL) {
    *oom = 1;
    return NULL;
  }
  memcpy(d, s, n);
  d[n] = '\0';
  return d;
}

int nm_http_set_tls(lua_State *L, int verify, const char *ca_pem, size_t ca_len,
                    const char *cert_pem, size_t cert_len, const char *key_pem, size_t key_len) {
  nm_http *h = nm_http_get(L);
  int oom = 0;
  char *ca = dup_or_null(ca_pem, ca_len, &oom);
  char *cert = dup_or_null(cert_pem, cert_len, &oom);
  char *key = dup_or_null(key_pem, key_len, &oom);
  if (oom) {
    free(ca), free(cert), free(key);
    return -1;
  }
  free(h->ca_pem), free(h->cert_pem), free(h->key_pem);
  h->verify = verify;
  h->ca_pem = ca, h->ca_len = ca_len;
  h->cert_pem = cert, h->cert_len = cert_len;
  h->key_pem = key, h->key_len = key_len;
  return 0;
}

/* Verification is on when the request brings its own CA (the ESP32's
 * `cert`) or the tls module turned it on; then a failed chain or name
 * check fails the request (libcurl never proceeds unverified). */
void http_apply_tls(nm_http *h, http_req *r) {
  CURL *e = r->easy;
  const char *ca = r->ca;
  size_t calen = r->calen;
  int verify = ca != NULL;
  if (!verify && h != NULL && h->verify) {
    verify = 1;
    ca = h->ca_pem, calen = h->ca_len;
  }
  curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, verify ? 1L : 0L);
  curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, verify ? 2L : 0L);
  if (verify && ca != NULL) { /* these CAs only, not the system's too */
    struct curl_blob b = {(void *)ca, calen, CURL_BLOB_COPY};
    curl_easy_setopt(e, CURLOPT_CAINFO_BLOB, &b);
    curl_easy_setopt(e, CURLOPT_CAINFO, (char *)NULL);
    curl_easy_setopt(e, CURLOPT_CAPATH, (char *)NULL);
  }
  if (h != NULL && h->cert_pem != NULL && h->key_pem != NULL) {
    struct curl_blob c = {h->cert_pem, h->cert_len, CURL_BLOB_COPY};
    struct curl_blob k = {h->key_pem, h->key_len, CURL_BLOB_COPY};
    curl_easy_setopt(e, CURLOPT_SSLCERT_BLOB, &c);
    curl_easy_setopt(e, CURLOPT_SSLCERTTYPE, "PEM");
    curl_easy_setopt(e, CURLOPT_SSLKEY_BLOB, &k);
    curl_easy_setopt(e, CURLOPT_SSLKEYTYPE, "PEM");
  }
}

/* ---- the ESP32's options ---- */

static int opt_error(lua_State *L, const char *name, const char *msg) {
  lua_Debug ar;
  if (lua_getstack(L, 0, &ar) && lua_getinfo(L, "n", &ar) && ar.name != NULL)
    return luaL_error(L, "bad option %s to '%s' (%s)", name, ar.name, msg);
  return luaL_error(L, "bad option %s (%s)", name, msg);
}

/* Pushes field name of the table at idx if it is there: 1, else 0. */
static int opt_get(lua_State *L, int idx, const char *name, int type) {
  lua_getfield(L, idx, name);
  int t = lua_type(L, -1);
  if (t == LUA_TNIL) {
    lua_pop(L, 1);
    return 0;
  }
  if (t != type)
    opt_error(L, name, lua_pushfstring(L, "%s expected, got %s", lua_typename(L, type), lua_typename(L, t)));
  return 1;
}

static long long opt_int(lua_State *L, int idx, const char *name, long long dflt, long long lo, long long hi) {
  long long v = dflt;
  if (!opt_get(L, idx, name, LUA_TNUMBER)) return v;
  if (!nm_tointeger(L, -1, &v) || v < lo || v > hi)
    opt_error(L, name, lua_pushfstring(L, "must be an integer in range %d-%d", (int)lo, (int)hi));
  lua_pop(L, 1);
  return v;
}

/* Calls each(L, name, nlen, value, vlen, arg) for the string pairs of the
 * table at idx (the ESP32 skips other entries); stops at a non-zero. */
static int each_header(lua_State *L, int idx,
                       int (*each)(lua_State *, const char *, size_t, const char *, size_t, void *), void *arg) {
  lua_pushnil(L);
  while (lua_next(L, idx) != 0) {
    if (lua_type(L, -2) == LUA_TSTRING && lua_type(L, -1) == LUA_TSTRING) {
      size_t nlen, vlen;
      const char *n = lua_tolstring(L, -2, &nlen), *v = lua_tolstring(L, -1, &vlen);
      int rc = each(L, n, nlen, v, vlen, arg);
      if (rc != 0) {
        lua_pop(L, 2);
        return rc;
      }
    }
    lua_pop(L, 1);
  }
  return 0;
}

static int check_header(lua_State *L, const char *n, size_t nlen, const char *v, size_t vlen, void *arg) {
  (void)arg;
  if (!http_header_ok(n, nlen, v, vlen)) opt_error(L, "headers", lua_pushfstring(L, "invalid header '%s'", n));
  return 0;
}

void http_opts_parse(lua_State *L, int idx, http_opts *o) {
  memset(o, 0, sizeof *o);
  o->timeout_ms = HTTP_E32_TIMEOUT_MS;
  o->max_redirects = -1;
  o->bufsz = 512;
  if (lua_isnoneornil(L, idx)) return;
  if (idx < 0) idx = lua_gettop(L) + idx + 1;
  o->timeout_ms = (long)opt_int(L, idx, "timeout", HTTP_E32_TIMEOUT_MS, 1, 0x7fffffff);
  o->bufsz = (long)opt_int(L, idx, "bufsz", 512, 1, 0x7fffffff);
  o->max_redirects = (int)opt_int(L, idx, "max_redirects", -1, 0, 1000);
  if (opt_get(L, idx, "async", LUA_TBOOLEAN)) {
    o->async = lua_toboolean(L, -1);
    lua_pop(L, 1);
  }
  if (opt_get(L, idx, "cert", LUA_TSTRING)) {
    o->cert = lua_tolstring(L, -1, &o->certlen);
    lua_pop(L, 1); /* still referenced by the table */
  }
  if (opt_get(L, idx, "headers", LUA_TTABLE)) {
    lua_pop(L, 1);
    lua_getfield(L, idx, "headers");
    o->headers = lua_gettop(L); /* left on the stack for http_opts_headers */
    each_header(L, o->headers, check_header, NULL);
  }
}

static int add_header(lua_State *L, const char *n, size_t nlen, const char *v, size_t vlen, void *arg) {
  (void)L;
  struct curl_slist **l = arg;
  return http_hdr_del(l, n, nlen) != 0 || http_hdr_add(l, n, nlen, v, vlen) != 0 ? -1 : 0;
}

int http_opts_headers(lua_State *L, int idx, struct curl_slist **l) {
  return idx == 0 ? 0 : each_header(L, idx, add_header, l);
}

/* ---- one-shot requests ---- */

static void push_result(lua_State *L, void *arg) {
  http_req *r = arg;
  lua_pushinteger(L, r->code);
  if (r->flavor == HTTP_ESP8266 && r->code == HTTP_ERROR) {
    lua_pushnil(L);
    lua_pushnil(L);
    return;
  }
  if (r->code < 0)
    lua_pushliteral(L, "");
  else
    lua_pushlstring(L, r->data.p != NULL ? r->data.p : "", r->data.len);
  if (r->headers_done)
    http_push_headers(L, &r->head);
  else
    lua_pushnil(L);
}

static void oneshot_deliver(http_req *r) {
  if (!(r->ev & HTTP_EV_DONE)) {
    r->ev = 0;
    return;
  }
  nm_ctx *ctx = r->hm->ctx;
  int ref = r->ref;
  r->ref = LUA_NOREF;
  if (ref != LUA_NOREF) {
    nm_emit(ctx, ref, 0, 0, push_result, r);
    if (!ctx->closed) nm_unref(ctx->L, ref); /* from libuv: must not raise */
  }
  http_req_free(r);
}

static void oneshot_drop(http_req *r) {
  nm_ctx *ctx = r->hm->ctx;
  if (!ctx->closed) nm_unref(ctx->L, r->ref); /* from libuv or shutdown */
  http_req_free(r);
}

static const http_owner_ops oneshot_ops = {oneshot_deliver, oneshot_drop};

/* A synchronous one-shot: the caller waits for done. */
static void sync_deliver(http_req *r) {
  if (r->ev & HTTP_EV_DONE) *(int *)r->owner = 1;
  r->ev = 0;
}
static void sync_drop(http_req *r) { http_req_free(r); }
static const http_owner_ops sync_ops = {sync_deliver, sync_drop};

static http_multi *shared(lua_State *L, nm_http *h) {
  if (h->shared == NULL) h->shared = http_multi_new(h->ctx, 0, &h->shared);
  if (h->shared == NULL) luaL_error(L, "out of memory");
  return h->shared;
}

static int set_body(http_req *r, const char *s, size_t n) {
  r->body = malloc(n + 1);
  if (r->body == NULL) return -1;
  memcpy(r->body, s, n);
  r->body[n] = '\0';
  r->bodylen = n;
  r->hasbody = 1;
  return 0;
}

/* ESP8266: request(url, method, headers, body, fn) and its short forms.
 * A URL it cannot request gets code -1 (the firmware drops the request
 * silently, leaving the script waiting forever). */
static int req8266(lua_State *L, const char *method, int hi, int bi, int fi) {
  size_t ulen;
  const char *url = luaL_checklstring(L, 1, &ulen);
  nm_http *h = nm_http_get(L);
  http_multi *hm = shared(L, h);
  int ref = LUA_NOREF;
  if (lua_type(L, fi) == LUA_TFUNCTION) {
    lua_pushvalue(L, fi);
    ref = luaL_ref(L, LUA_REGISTRYINDEX);
  }
  http_req *r = http_req_new(hm, HTTP_ESP8266, 0);
  int oom = r == NULL || (r->method = strdup(method)) == NULL;
  if (!oom) {
    r->ops = &oneshot_ops;
    r->ref = ref;
    if (strlen(url) == ulen) http_req_seturl(r, url); /* else r->url stays NULL: -1 */
    size_t n;
    const char *s;
    if (lua_isstring(L, hi) && (s = lua_tolstring(L, hi, &n)) != NULL && http_req_rawheaders(r, s, n) != 0)
      oom = 1;
    if (bi != 0 && lua_isstring(L, bi) && (s = lua_tolstring(L, bi, &n)) != NULL && set_body(r, s, n) != 0)
      oom = 1;
  }
  if (oom) {
    if (r != NULL) http_req_free(r);
    luaL_unref(L, LUA_REGISTRYINDEX, ref);
    return luaL_error(L, "out of memory");
  }
  http_req_start(r);
  return 0;
}

static int http_request(lua_State *L) {
  size_t n;
  luaL_checkstring(L, 1);
  const char *method = luaL_checklstring(L, 2, &n);
  return req8266(L, strlen(method) == n ? method : "", 3, 4, 5); /* "": fails with -1 */
}
static int http_delete(lua_State *L) { return req8266(L, "DELETE", 2, 3, 4); }

/* ESP32: get(url[, options][, fn]), post/put(url, options, body[, fn]). */
static int req32(lua_State *L, const char *method, int oi, int bi, int fi) {
  size_t ulen;
  const char *url = luaL_checklstring(L, 1, &ulen);
  luaL_argcheck(L, lua_isnoneornil(L, oi) || lua_istable(L, oi), oi, "options must be nil or a table");
  size_t blen = 0;
  const char *body = bi != 0 ? luaL_checklstring(L, bi, &blen) : NULL;
  int async = lua_type(L, fi) == LUA_TFUNCTION;
  luaL_argcheck(L, async || lua_isnoneornil(L, fi), fi, "callback must be nil or a function");
  http_opts o;
  http_opts_parse(L, oi, &o);
  nm_http *h = nm_http_get(L);
  int ref = LUA_NOREF, done = 0;
  if (async) {
    lua_pushvalue(L, fi);
    ref = luaL_ref(L, LUA_REGISTRYINDEX);
  }
  http_multi *hm = async ? shared(L, h) : http_multi_new(h->ctx, 1, NULL);
  http_req *r = hm != NULL ? http_req_new(hm, HTTP_ESP32, 0) : NULL;
  int oom = r == NULL, badurl = 0;
  if (r != NULL) {
    r->ops = async ? &oneshot_ops : &sync_ops;
    r->owner = &done;
    r->timeout_ms = o.timeout_ms;
    if (o.max_redirects >= 0) r->max_redirects = o.max_redirects;
    badurl = strlen(url) != ulen || http_req_seturl(r, url) != 0;
    r->ca = dup_or_null(o.cert, o.certlen, &oom);
    r->calen = o.certlen;
    if ((r->method = strdup(method)) == NULL || http_opts_headers(L, o.headers, &r->hdrs) != 0 ||
        (body != NULL && set_body(r, body, blen) != 0))
      oom = 1;
    if (body != NULL && !http_hdr_has(r->hdrs, "Content-Type") &&
        http_hdr_add(&r->hdrs, "Content-Type", 12, "application/x-www-form-urlencoded", 33) != 0)
      oom = 1;
  }
  if (oom || badurl) {
    if (r != NULL) http_req_free(r);
    if (hm != NULL && !async) http_multi_free(hm);
    luaL_unref(L, LUA_REGISTRYINDEX, ref);
    return luaL_error(L, oom ? "out of memory" : "invalid URL");
  }
  r->ref = ref;
  http_req_start(r);
  if (async) return 0;
  http_multi_wait(hm, &done);
  push_result(L, r);
  http_multi_free(hm); /* frees r */
  return 3;
}

/* The forms of http.get/post/put: a string (or number) of headers, or nil
 * headers before a callback, is the ESP8266's; anything else the ESP32's. */
static int is8266(lua_State *L, int fi) {
  int t = lua_type(L, 2);
  return t == LUA_TSTRING || t == LUA_TNUMBER ||
         ((t == LUA_TNIL || t == LUA_TNONE) && lua_type(L, fi) == LUA_TFUNCTION);
}

static int http_get(lua_State *L) {
  if (is8266(L, 3)) return req8266(L, "GET", 2, 0, 3);
  if (lua_type(L, 2) == LUA_TFUNCTION) { /* get(url, fn) */
    lua_settop(L, 2);
    lua_pushnil(L);
    lua_insert(L, 2);
  }
  return req32(L, "GET", 2, 0, 3);
}
static int http_post(lua_State *L) {
  return is8266(L, 4) ? req8266(L, "POST", 2, 3, 4) : req32(L, "POST", 2, 3, 4);
}
static int http_put(lua_State *L) {
  return is8266(L, 4) ? req8266(L, "PUT", 2, 3, 4) : req32(L, "PUT", 2, 3, 4);
}

int luaopen_http(lua_State *L) {
  static const luaL_Reg funcs[] = {{"get", http_get},       {"post", http_post},
                                   {"put", http_put},       {"delete", http_delete},
                                   {"request", http_request}, {"createConnection", http_conn_create},
                                   {NULL, NULL}};
  static const struct {
    const char *name;
    int value;
  } consts[] = {{"OK", 0},     {"ERROR", HTTP_ERROR}, {"GET", 0},          {"POST", 1},  {"PUT", 2},
                {"DELETE", 4}, {"HEAD", 5},           {"DELAYACK", HTTP_DELAYACK}, {"ACKNOW", 0}};
  nm_http_get(L);
  http_conn_open(L);
  nm_newlib(L, funcs);
  for (size_t i = 0; i < sizeof consts / sizeof consts[0]; i++) {
    lua_pushinteger(L, consts[i].value);
    lua_setfield(L, -2, consts[i].name);
  }
  return 1;
}
