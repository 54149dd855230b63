/* websocket.c - the Lua side of NodeMCU's websocket module
 * (docs/modules/websocket.md): websocket.createClient and the client's
 * methods; the URL and the handshake request, as the firmware writes them
 * (app/websocket/websocketclient.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "net/secure.h"
#include "websocket.h"

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

static ws_ud *check_client(lua_State *L) { return luaL_checkudata(L, 1, WS_CLIENT); }

static int websocket_createClient(lua_State *L) {
  nm_ctx_get(L);
  nm_obj_new(L, sizeof(ws_ud), WS_CLIENT);
  return 1;
}

/* ws:on("connection"|"receive"|"close", function|nil) */
static int websocketclient_on(lua_State *L) {
  static const char *const names[] = {"connection", "receive", "close", NULL};
  check_client(L);
  int i = luaL_checkoption(L, 2, NULL, names);
  luaL_argcheck(L, lua_isnil(L, 3) || lua_isfunction(L, 3), 3, "function or nil");
  lua_settop(L, 3);
  nm_cb_set(L, 1, WS_CONNECTION + i);
  return 0;
}

static int header_ok(const char *s) { return strpbrk(s, "\r\n") == NULL; }

/* ws:config{headers = {name = value, ...}}: replaces the extra headers
 * (kept as a table of strings in the object). */
static int websocketclient_config(lua_State *L) {
  check_client(L);
  luaL_checktype(L, 2, LUA_TTABLE);
  lua_getfield(L, 2, "headers"); /* 3 */
  if (!lua_istable(L, 3)) return 0;
  lua_newtable(L); /* 4 */
  lua_pushnil(L);
  while (lua_next(L, 3) != 0) {
    if (lua_type(L, -2) != LUA_TSTRING || !lua_isstring(L, -1))
      return luaL_error(L, "invalid header");
    const char *k = lua_tostring(L, -2), *v = lua_tostring(L, -1);
    if (*k == '\0' || !header_ok(k) || !header_ok(v) || strchr(k, ':') != NULL)
      return luaL_error(L, "invalid header");
    lua_pushvalue(L, -2);
    lua_insert(L, -2);
    lua_rawset(L, 4);
  }
  nm_cb_set(L, 1, WS_HEADERS);
  return 0;
}

/* ---- the URL ---- */

typedef struct {
  int secure;
  char host[256];
  int port;
  const char *path;
} ws_url;

/* Splits url as the firmware does; 0 or its status code (-1 to -4). */
static int parse_url(const char *url, ws_url *u) {
  if (strncasecmp(url, "wss://", 6) == 0) {
    u->secure = 1;
    url += 6;
  } else if (strncasecmp(url, "ws://", 5) == 0) {
    u->secure = 0;
    url += 5;
  } else {
    return WS_BAD_PROTOCOL;
  }
  const char *slash = strchr(url, '/');
  size_t hl = slash != NULL ? (size_t)(slash - url) : strlen(url);
  if (hl >= sizeof u->host) return WS_HOST_TOO_LONG;
  memcpy(u->host, url, hl);
  u->host[hl] = '\0';
  u->path = slash != NULL ? slash : "/";
  u->port = u->secure ? 443 : 80;
  char *colon = strchr(u->host, ':');
  if (colon != NULL) {
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (end == colon + 1 || *end != '\0' || port <= 0 || port > 65535) return WS_BAD_PORT;
    u->port = (int)port;
    *colon = '\0';
  }
  return u->host[0] == '\0' ? WS_NO_HOST : 0;
}

/* ---- the handshake request ---- */

/* key: 24 base64 characters of 16 random bytes; accept: what the server
 * must answer, base64(SHA-1(key GUID)). */
static int make_keys(char key[25], char accept[29]) {
  unsigned char rnd[16], md[EVP_MAX_MD_SIZE];
  unsigned int mdlen = 0;
  char buf[24 + sizeof WS_GUID];
  if (RAND_bytes(rnd, sizeof rnd) != 1) return -1;
  EVP_EncodeBlock((unsigned char *)key, rnd, sizeof rnd);
  memcpy(buf, key, 24);
  memcpy(buf + 24, WS_GUID, sizeof WS_GUID - 1);
  if (EVP_Digest(buf, 24 + sizeof WS_GUID - 1, md, &mdlen, EVP_sha1(), NULL) != 1) return -1;
  EVP_EncodeBlock((unsigned char *)accept, md, mdlen);
  return 0;
}

typedef struct {
  char *p;
  size_t n, cap;
  int oom;
} strbuf;

static void sb_add(strbuf *b, const char *s) {
  size_t k = strlen(s);
  if (b->oom) return;
  if (b->n + k > b->cap) {
    size_t cap = b->cap * 2 > b->n + k ? b->cap * 2 : b->n + k + 256;
    char *p = realloc(b->p, cap);
    if (p == NULL) {
      b->oom = 1;
      return;
    }
    b->p = p;
    b->cap = cap;
  }
  memcpy(b->p + b->n, s, k);
  b->n += k;
}

static void sb_header(strbuf *b, const char *name, const char *value) {
  sb_add(b, name);
  sb_add(b, ": ");
  sb_add(b, value);
  sb_add(b, "\r\n");
}

static int is_one_of(const char *k, const char *const names[], int n) {
  for (int i = 0; i < n; i++)
    if (strcasecmp(k, names[i]) == 0) return 1;
  return 0;
}

/* The request (malloc'd, *n bytes), as the firmware orders it: its own
 * four headers, the extra ones (config) that do not repeat them, then the
 * defaults (User-Agent, Sec-WebSocket-Protocol) that the extra ones do not
 * set.  NULL if out of memory. */
static char *build_request(lua_State *L, const ws_url *u, const char *key, size_t *n) {
  static const char *const fixed[] = {"Upgrade", "Connection", "Sec-WebSocket-Key",
                                      "Sec-WebSocket-Version"};
  static const char *const dflt[] = {"User-Agent", "Sec-WebSocket-Protocol"};
  static const char *const dflt_value[] = {"ESP8266", "chat"};
  int set[2] = {0, 0};
  strbuf b = {NULL, 0, 0, 0};
  char port[16];
  snprintf(port, sizeof port, ":%d", u->port);
  sb_add(&b, "GET ");
  sb_add(&b, u->path);
  sb_add(&b, " HTTP/1.1\r\nHost: ");
  sb_add(&b, u->host);
  sb_add(&b, port);
  sb_add(&b, "\r\n");
  sb_header(&b, fixed[0], "websocket");
  sb_header(&b, fixed[1], "Upgrade");
  sb_header(&b, fixed[2], key);
  sb_header(&b, fixed[3], "13");
  nm_cb_get(L, 1, WS_HEADERS);
  if (lua_istable(L, -1)) {
    lua_pushnil(L);
    while (lua_next(L, -2) != 0) {
      const char *k = lua_tostring(L, -2);
      if (!is_one_of(k, fixed, 4)) sb_header(&b, k, lua_tostring(L, -1));
      for (int i = 0; i < 2; i++) set[i] |= strcasecmp(k, dflt[i]) == 0;
      lua_pop(L, 1);
    }
  }
  lua_pop(L, 1);
  for (int i = 0; i < 2; i++)
    if (!set[i]) sb_header(&b, dflt[i], dflt_value[i]);
  sb_add(&b, "\r\n");
  if (b.oom) {
    free(b.p);
    return NULL;
  }
  *n = b.n;
  return b.p;
}

/* ws:connect(url): errors in the URL reach `close` from the loop. */
static int websocketclient_connect(lua_State *L) {
  ws_ud *ud = check_client(L);
  const char *url = luaL_checkstring(L, 2);
  if (ud->c != NULL) return luaL_error(L, "Websocket already connecting or connected.");
  ws_url u;
  memset(&u, 0, sizeof u); /* read below even when the URL fails to parse */
  /* an embedded NUL: not a URL it can read (the prefix is not it) */
  int fail = nm_tocstring(L, 2) == NULL ? WS_BAD_PROTOCOL : parse_url(url, &u);
  if (!fail && u.secure && !nm_secure_available()) return luaL_error(L, "ssl not available");
  char key[25], accept[29];
  if (make_keys(key, accept) != 0) return luaL_error(L, "no random bytes for the key");
  size_t n = 0;
  char *req = NULL;
  if (!fail && (req = build_request(L, &u, key, &n)) == NULL) return luaL_error(L, "out of memory");
  int rc = ws_conn_start(L, 1, ud, fail, u.host, (uint16_t)u.port, u.secure, req, n, accept);
  if (rc != 0) return nm_raise_uv(L, rc);
  return 0;
}

/* ws:send(message[, opcode]) */
static int websocketclient_send(lua_State *L) {
  ws_ud *ud = check_client(L);
  if (!ws_conn_open(ud)) return luaL_error(L, "Websocket isn't connected.");
  size_t n;
  const char *msg = luaL_checklstring(L, 2, &n);
  int opcode = lua_isnoneornil(L, 3) ? 1 : (int)nm_checkrange(L, 3, 0, 15);
  int rc = ws_conn_send(ud, opcode, msg, n);
  if (rc != 0) return nm_raise_uv(L, rc);
  return 0;
}

static int websocketclient_close(lua_State *L) {
  ws_conn_close(check_client(L));
  return 0;
}

static int websocketclient_gc(lua_State *L) {
  ws_conn_gc(lua_touserdata(L, 1));
  return 0;
}

int luaopen_websocket(lua_State *L) {
  static const luaL_Reg methods[] = {{"on", websocketclient_on},
                                     {"config", websocketclient_config},
                                     {"connect", websocketclient_connect},
                                     {"send", websocketclient_send},
                                     {"close", websocketclient_close},
                                     {NULL, NULL}};
  static const luaL_Reg funcs[] = {{"createClient", websocket_createClient}, {NULL, NULL}};
  nm_ctx_get(L);
  nm_class(L, WS_CLIENT, methods, websocketclient_gc);
  nm_newlib(L, funcs);
  return 1;
}
