/* http_conn.c - the ESP32 firmware's connection objects:
 * http.createConnection(url[, method][, options]), :on(), :request(),
 * :setmethod/:seturl/:setheader/:setbody, :ack(), :close().
 * Each object has its own libcurl multi, so a kept-alive connection
 * belongs to it (reused by its next request, closed by :close() or when
 * the object is collected).  Events reach Lua one at a time through
 * http_conn_dispatch, a C function called in protected mode: by nm_emit
 * for an asynchronous request, by lua_pcall inside a synchronous one. */
#include <stdlib.h>
#include <string.h>

#include "modules/http.h"

#define HTTP_CONN "http.connection"

const char *const http_methods[] = {"GET",    "POST",   "PUT",         "PATCH",   "DELETE", "HEAD",
                                    "NOTIFY", "SUBSCRIBE", "UNSUBSCRIBE", "OPTIONS", "COPY",   "MOVE",
                                    "LOCK",   "UNLOCK", "PROPFIND",    "PROPPATCH", "MKCOL", NULL};

/* User value slots of the callbacks, in the order of the event names. */
enum { SLOT_CONNECT = 1, SLOT_HEADERS, SLOT_DATA, SLOT_COMPLETE };
static const char *const event_names[] = {"connect", "headers", "data", "complete", NULL};

typedef struct {
  http_multi *hm; /* its connections; made at the first request */
  http_req *req;  /* the request in progress */
  char *url;
  int method;
  struct curl_slist *hdrs;
  char *body, *cert;
  size_t bodylen, certlen;
  int hasbody;
  long timeout_ms;
  int max_redirects, async;
  int in_cb, ack_pending;
} http_conn;

/* What a synchronous request() waits for. */
typedef struct {
  int done, code, alive, err_ref;
} sync_frame;

/* One event on its way to Lua (see http_conn_dispatch). */
typedef struct {
  http_conn *c;
  http_req *r;
  int slot, async, delay;
} conn_event;

static http_conn *check_conn(lua_State *L) { return luaL_checkudata(L, 1, HTTP_CONN); }

static void check_idle(lua_State *L, http_conn *c) {
  if (c->req != NULL || c->in_cb) luaL_error(L, "Cannot modify connection while a request is active");
}

/* ---- events ---- */

/* Protected: fetch the callback, push its arguments, call it, read a
 * DELAYACK it returns. */
int http_conn_dispatch(lua_State *L) {
  conn_event *e = lua_touserdata(L, 1);
  http_req *r = e->r;
  lua_rawgeti(L, LUA_REGISTRYINDEX, r->ref);
  if (nm_cb_get(L, -1, e->slot) != LUA_TFUNCTION) return 0;
  int fn = lua_gettop(L);
  switch (e->slot) {
  case SLOT_HEADERS:
    lua_pushinteger(L, r->status);
    http_push_headers(L, &r->head);
    break;
  case SLOT_DATA:
    lua_pushinteger(L, r->status);
    lua_pushlstring(L, r->data.p, r->data.len);
    r->data.len = 0;
    break;
  case SLOT_COMPLETE:
    lua_pushinteger(L, r->code);
    lua_pushboolean(L, r->alive);
    break;
  }
  /* As on the ESP32, during `complete` the connection counts as idle. */
  e->c->in_cb = e->slot != SLOT_COMPLETE;
  lua_call(L, lua_gettop(L) - fn, 1);
  e->c->in_cb = 0;
  if (lua_type(L, -1) == LUA_TNUMBER && lua_tointeger(L, -1) == HTTP_DELAYACK) {
    if (!e->async)
      return luaL_error(L, "Cannot delay acknowledgment of a callback when using synchronous callbacks");
    if (e->slot != SLOT_DATA) return luaL_error(L, "Cannot delay acknowledgment of callbacks other than 'data'");
    e->delay = 1;
  }
  return 0;
}

static void push_event(lua_State *L, void *arg) { lua_pushlightuserdata(L, arg); }

/* Calls the callback of slot; returns 0, or -1 after an error in a
 * synchronous request (which then ends, and request() raises it). */
static int conn_call(http_conn *c, http_req *r, int slot) {
  http_multi *hm = r->hm;
  nm_http *h = hm->ctx->state[NM_STATE_HTTP];
  conn_event e = {c, r, slot, !hm->sync, 0};
  if (h == NULL) return 0;
  if (!hm->sync) {
    nm_emit(hm->ctx, h->dispatch_ref, 0, 0, push_event, &e);
  } else {
    lua_State *L = hm->L;
    sync_frame *f = r->frame;
    lua_rawgeti(L, LUA_REGISTRYINDEX, h->dispatch_ref);
    lua_pushlightuserdata(L, &e);
    if (lua_pcall(L, 1, 0, 0) != 0) {
      c->in_cb = 0;
      /* libcurl's frames are below: nothing may raise (REFNIL: the message
       * could not be kept, out of memory) */
      if ((f->err_ref = nm_ref(L, -1)) == LUA_NOREF) f->err_ref = LUA_REFNIL;
      lua_pop(L, 1);
      http_req_abort(r, HTTP_ERROR);
      return -1;
    }
  }
  c->in_cb = 0;
  if (e.delay) {
    c->ack_pending = 1;
    r->held = 1;
  }
  return 0;
}

static void complete(http_conn *c, http_req *r) {
  nm_ctx *ctx = r->hm->ctx;
  sync_frame *f = r->frame;
  if (!r->done || r->code < 0) r->alive = 0;
  c->req = NULL; /* reusable from `complete` */
  c->ack_pending = 0;
  if (f == NULL || f->err_ref == LUA_NOREF) conn_call(c, r, SLOT_COMPLETE);
  if (f != NULL) {
    f->code = r->code;
    f->alive = r->alive;
    f->done = 1;
  }
  if (!ctx->closed) nm_unanchor(ctx->L, &r->ref);
  http_req_free(r);
}

static void conn_deliver(http_req *r) {
  http_conn *c = r->owner;
  sync_frame *f = r->frame;
  while (r->ev != 0 && !c->ack_pending) {
    int err = f != NULL && f->err_ref != LUA_NOREF;
    if (r->ev & HTTP_EV_CONNECT) {
      r->ev &= ~(unsigned)HTTP_EV_CONNECT;
      if (!err) conn_call(c, r, SLOT_CONNECT);
    } else if (r->ev & HTTP_EV_HEADERS) {
      r->ev &= ~(unsigned)HTTP_EV_HEADERS;
      if (!err) conn_call(c, r, SLOT_HEADERS);
    } else if (r->ev & HTTP_EV_DATA) {
      r->ev &= ~(unsigned)HTTP_EV_DATA;
      if (!err && r->data.len > 0) conn_call(c, r, SLOT_DATA);
    } else {
      r->ev = 0;
      complete(c, r); /* frees r */
      return;
    }
  }
  if (!c->ack_pending) http_req_resume(r); /* the script took what was pending */
}

static void conn_drop(http_req *r) {
  http_conn *c = r->owner;
  nm_ctx *ctx = r->hm->ctx;
  sync_frame *f = r->frame;
  if (c->req == r) c->req = NULL;
  if (f != NULL) {
    f->code = HTTP_ERROR;
    f->done = 1;
  }
  if (!ctx->closed) nm_unanchor(ctx->L, &r->ref);
  http_req_free(r);
}

static const http_owner_ops conn_ops = {conn_deliver, conn_drop};

/* ---- configuration ---- */

static int check_method(lua_State *L, int idx) {
  long long m;
  if (!nm_tointeger(L, idx, &m)) luaL_argerror(L, idx, "integer expected");
  if (m < 0 || m >= HTTP_METHOD_COUNT) luaL_error(L, "Bad HTTP method %d", (int)m);
  return (int)m;
}

static void set_str(lua_State *L, char **dst, size_t *dlen, const char *s, size_t n) {
  char *d = NULL;
  if (s != NULL) {
    if ((d = malloc(n + 1)) == NULL) luaL_error(L, "out of memory");
    memcpy(d, s, n);
    d[n] = '\0';
  }
  free(*dst);
  *dst = d;
  if (dlen != NULL) *dlen = n;
}

static void set_url(lua_State *L, http_conn *c, int idx) {
  size_t n;
  const char *url = luaL_checklstring(L, idx, &n);
  http_req probe; /* only parsed, to refuse a URL now, as the ESP32 does */
  memset(&probe, 0, sizeof probe);
  int bad = strlen(url) != n || http_req_seturl(&probe, url) != 0;
  free(probe.url);
  if (bad) luaL_error(L, "invalid URL");
  set_str(L, &c->url, NULL, url, n);
}

static void set_header(lua_State *L, http_conn *c, const char *name, size_t nlen, const char *v, size_t vlen) {
  if (http_hdr_del(&c->hdrs, name, nlen) != 0 || http_hdr_add(&c->hdrs, name, nlen, v, vlen) != 0)
    luaL_error(L, "out of memory");
}

/* http.createConnection([url][, method][, options]) */
int http_conn_create(lua_State *L) {
  lua_settop(L, 3);
  int method = 0, oi = 2;
  if (lua_type(L, 2) == LUA_TNUMBER) {
    method = check_method(L, 2);
    oi = 3;
  }
  luaL_argcheck(L, lua_isnil(L, oi) || lua_istable(L, oi), oi, "options must be nil or a table");
  if (!lua_isnil(L, 1)) luaL_checkstring(L, 1);
  http_opts o;
  http_opts_parse(L, oi, &o);
  http_conn *c = nm_obj_new(L, sizeof *c, HTTP_CONN);
  int self = lua_gettop(L);
  c->method = method;
  c->timeout_ms = o.timeout_ms;
  c->max_redirects = o.max_redirects < 0 ? HTTP_E32_REDIRECTS : o.max_redirects;
  c->async = o.async;
  if (!lua_isnil(L, 1)) set_url(L, c, 1);
  if (o.cert != NULL) set_str(L, &c->cert, &c->certlen, o.cert, o.certlen);
  set_header(L, c, "User-Agent", 10, "NodeMCU (ESP32)", 15);
  if (http_opts_headers(L, o.headers, &c->hdrs) != 0) luaL_error(L, "out of memory");
  lua_pushvalue(L, self);
  return 1;
}

/* conn:on(event[, fn]) -> conn */
static int httpconn_on(lua_State *L) {
  check_conn(L);
  int slot = luaL_checkoption(L, 2, NULL, event_names) + 1;
  int t = lua_type(L, 3);
  luaL_argcheck(L, t == LUA_TFUNCTION || t == LUA_TNIL || t == LUA_TNONE, 3, "invalid callback function");
  lua_settop(L, 3);
  nm_cb_set(L, 1, slot);
  lua_settop(L, 1);
  return 1;
}

static int httpconn_seturl(lua_State *L) {
  http_conn *c = check_conn(L);
  check_idle(L, c);
  set_url(L, c, 2);
  return 0;
}

static int httpconn_setmethod(lua_State *L) {
  http_conn *c = check_conn(L);
  check_idle(L, c);
  c->method = check_method(L, 2);
  return 0;
}

/* conn:setheader(name[, value]): nil removes it. */
static int httpconn_setheader(lua_State *L) {
  http_conn *c = check_conn(L);
  check_idle(L, c);
  size_t nlen, vlen = 0;
  const char *name = luaL_checklstring(L, 2, &nlen);
  const char *v = luaL_optlstring(L, 3, NULL, &vlen);
  if (!http_header_ok(name, nlen, v, vlen)) return luaL_error(L, "invalid header");
  set_header(L, c, name, nlen, v, vlen);
  return 0;
}

/* conn:setbody([data]), also under its first name, setpostdata. */
static int httpconn_setbody(lua_State *L) {
  http_conn *c = check_conn(L);
  check_idle(L, c);
  size_t n = 0;
  const char *s = luaL_optlstring(L, 2, NULL, &n);
  set_str(L, &c->body, &c->bodylen, s, n);
  c->hasbody = s != NULL;
  if (s == NULL)
    set_header(L, c, "Content-Type", 12, NULL, 0);
  else if (!http_hdr_has(c->hdrs, "Content-Type"))
    set_header(L, c, "Content-Type", 12, "application/x-www-form-urlencoded", 33);
  return 0;
}

/* ---- requests ---- */

static http_req *new_req(lua_State *L, http_conn *c) {
  nm_ctx *ctx = nm_ctx_get(L);
  if (c->hm == NULL) c->hm = http_multi_new(ctx, !c->async, &c->hm);
  if (c->hm == NULL) luaL_error(L, "out of memory");
  http_req *r = http_req_new(c->hm, HTTP_ESP32, 1);
  if (r == NULL) luaL_error(L, "out of memory");
  r->ops = &conn_ops;
  r->owner = c;
  r->timeout_ms = c->timeout_ms;
  r->max_redirects = c->max_redirects;
  int oom = http_req_seturl(r, c->url) != 0 || (r->method = strdup(http_methods[c->method])) == NULL;
  for (struct curl_slist *i = c->hdrs; i != NULL && !oom; i = i->next) {
    struct curl_slist *n = curl_slist_append(r->hdrs, i->data);
    oom = n == NULL;
    if (n != NULL) r->hdrs = n;
  }
  if (!oom && c->hasbody && (r->body = malloc(c->bodylen + 1)) != NULL) {
    memcpy(r->body, c->body, c->bodylen + 1);
    r->bodylen = c->bodylen;
    r->hasbody = 1;
  }
  if (!oom && c->cert != NULL && (r->ca = malloc(c->certlen)) != NULL) {
    memcpy(r->ca, c->cert, c->certlen);
    r->calen = c->certlen;
  }
  if (oom || (c->hasbody && !r->hasbody) || (c->cert != NULL && r->ca == NULL)) {
    http_req_free(r);
    luaL_error(L, "out of memory");
  }
  return r;
}

/* conn:request(): asynchronous: returns at once; synchronous (the ESP32's
 * default): makes every callback, then returns status, connected. */
static int httpconn_request(lua_State *L) {
  http_conn *c = check_conn(L);
  check_idle(L, c);
  if (c->url == NULL) return luaL_error(L, "invalid URL");
  lua_settop(L, 1);
  http_req *r = new_req(L, c);
  r->ref = nm_anchor(L, 1);
  c->req = r;
  if (c->async) {
    http_req_start(r);
    return 0;
  }
  http_multi *hm = c->hm;
  sync_frame f = {0, HTTP_ERROR, 0, LUA_NOREF};
  lua_State *prev = hm->L;
  r->frame = &f;
  hm->L = L;
  http_req_start(r);
  http_multi_wait(hm, &f.done);
  if (c->hm == hm) hm->L = prev;
  if (f.err_ref == LUA_REFNIL) return luaL_error(L, "not enough memory");
  if (f.err_ref != LUA_NOREF) {
    lua_rawgeti(L, LUA_REGISTRYINDEX, f.err_ref);
    nm_unref(L, f.err_ref);
    return lua_error(L);
  }
  lua_pushinteger(L, f.code);
  lua_pushboolean(L, f.alive);
  return 2;
}

/* conn:ack(): lets the events after a DELAYACK come. */
static int httpconn_ack(lua_State *L) {
  http_conn *c = check_conn(L);
  /* The ESP32 counts an asynchronous callback as pending while it runs. */
  if (c->in_cb && c->async) return luaL_error(L, "Cannot call ack() from within the callback itself");
  if (!c->ack_pending) return luaL_error(L, "No asynchronous callback pending");
  c->ack_pending = 0;
  if (c->req != NULL) {
    c->req->held = 0;
    if (c->req->deadline != 0) c->req->deadline = http_multi_now(c->req->hm) + (uint64_t)c->req->timeout_ms;
    http_multi_dirty(c->req, 0);
  }
  return 0;
}

/* conn:close(): aborts the request in progress (its `complete` follows
 * with -1), or closes the connection kept open. */
static int httpconn_close(lua_State *L) {
  http_conn *c = check_conn(L);
  if (c->req != NULL)
    http_req_abort(c->req, HTTP_ERROR);
  else if (c->hm != NULL)
    http_multi_free(c->hm); /* clears c->hm */
  return 0;
}

static int httpconn_gc(lua_State *L) {
  http_conn *c = lua_touserdata(L, 1);
  if (c->hm != NULL) http_multi_free(c->hm);
  curl_slist_free_all(c->hdrs);
  free(c->url);
  free(c->body);
  free(c->cert);
  c->hdrs = NULL;
  c->url = c->body = c->cert = NULL;
  return 0;
}

void http_conn_open(lua_State *L) {
  static const luaL_Reg methods[] = {{"on", httpconn_on},
                                     {"request", httpconn_request},
                                     {"setmethod", httpconn_setmethod},
                                     {"seturl", httpconn_seturl},
                                     {"setheader", httpconn_setheader},
                                     {"setbody", httpconn_setbody},
                                     {"setpostdata", httpconn_setbody},
                                     {"ack", httpconn_ack},
                                     {"close", httpconn_close},
                                     {NULL, NULL}};
  nm_class(L, HTTP_CONN, methods, httpconn_gc);
}
