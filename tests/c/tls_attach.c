/* tests/c/tls_attach.c - TLS for a C client of the connection layer, as
 * mqtt or websocket use it: nm_tls_attach (src/modules/tls.h) on an
 * nm_tcp with a C user and no Lua socket, against tests/tls/peer.c.
 * Prints TAP; built and run by tests/tls_attach.sh, which passes the
 * directory with the certificates and the peer binary. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/nm.h"
#include "modules/tls.h"
#include "net/tcp.h"

static int tests, failures;
static const char *dir;

static void ok(int cond, const char *name) {
  tests++;
  if (!cond) failures++;
  printf("%sok %d - %s\n", cond ? "" : "not ", tests, name);
  fflush(stdout);
}

typedef struct client {
  nm_tcp_user u;
  nm_tcp *s;
  int connected, sent, ended, code;
  char got[64];
  size_t ngot;
} client;

static client *of(nm_tcp_user *u) { return nm_container_of(u, client, u); }

static void cl_connected(nm_tcp *s) {
  client *c = of(s->user);
  c->connected++;
  nm_tcp_send(s, "ping", 4);
}

static void cl_receive(nm_tcp *s, const char *p, size_t n) {
  client *c = of(s->user);
  if (c->ngot + n <= sizeof c->got) memcpy(c->got + c->ngot, p, n);
  c->ngot += n;
  if (c->ngot == 4) nm_tcp_close(s);
}

static int cl_sent(nm_tcp *s) {
  of(s->user)->sent++;
  return 1;
}

static void cl_ended(nm_tcp *s, nm_tcp_user *u, int code) {
  (void)s;
  of(u)->ended++;
  of(u)->code = code;
}

static const nm_tcp_user_ops cl_ops = {NULL, cl_connected, cl_receive, cl_sent, cl_ended};

/* Starts the peer in mode with cert; returns its port (0 if it failed). */
static int peer(const char *mode, const char *cert, const char *out) {
  char cmd[1024], path[600];
  snprintf(path, sizeof path, "%s/%s", dir, out);
  snprintf(cmd, sizeof cmd, "%s/peer %s %s/%s.pem %s/%s.key %s </dev/null >/dev/null 2>&1 &", dir,
           mode, dir, cert, dir, cert, path);
  if (system(cmd) != 0) return 0;
  snprintf(path, sizeof path, "%s/%s.port", dir, out);
  for (int i = 0; i < 250; i++) { /* 5 s */
    FILE *f = fopen(path, "r");
    int port = 0;
    if (f != NULL && fscanf(f, "%d", &port) == 1) {
      fclose(f);
      return port;
    }
    if (f != NULL) fclose(f);
    usleep(20000);
  }
  return 0;
}

static int result_has(const char *out, const char *want) {
  char path[600], line[256] = "";
  snprintf(path, sizeof path, "%s/%s", dir, out);
  for (int i = 0; i < 250; i++) {
    FILE *f = fopen(path, "r");
    if (f != NULL) {
      int got = fgets(line, sizeof line, f) != NULL;
      fclose(f);
      if (got) break;
    }
    usleep(20000);
  }
  if (strstr(line, want) == NULL) printf("# peer said: %s\n", line);
  return strstr(line, want) != NULL;
}

static void open_client(nm_ctx *ctx, client *c) {
  memset(c, 0, sizeof *c);
  c->u.ops = &cl_ops;
  c->s = nm_tcp_new(ctx, &c->u);
}

int main(int argc, char **argv) {
  if (argc < 2) return 2;
  dir = argv[1];
  lua_State *L = luaL_newstate();
  luaL_openlibs(L);
  lua_pushcfunction(L, luaopen_net);
  lua_call(L, 0, 1);
  lua_setglobal(L, "net");
  lua_pushcfunction(L, luaopen_tls);
  lua_call(L, 0, 1);
  lua_setglobal(L, "tls");
  nm_ctx *ctx = nm_ctx_get(L);
  client c;

  /* 1: a whole exchange by name, no Lua object involved */
  int port = peer("echo", "server", "p1");
  open_client(ctx, &c);
  ok(port > 0 && nm_tls_attach(ctx, c.s, "localhost") == 0, "nm_tls_attach on a new connection");
  ok(nm_tcp_connect(c.s, "localhost", (uint16_t)port) == 0, "then nm_tcp_connect by name");
  nm_run(ctx, L);
  ok(c.connected == 1, "connected() once, after the handshake");
  ok(c.ngot == 4 && memcmp(c.got, "ping", 4) == 0, "plaintext both ways");
  ok(c.sent == 1 && c.ended == 0, "sent() once; a local close calls no ended()");
  ok(result_has("p1", "close_notify 4 sni=localhost"), "the peer: SNI, 4 bytes, close_notify");

  /* 2: the current tls.cert settings apply: a wrong name fails */
  char lua[700];
  snprintf(lua, sizeof lua,
           "local f = io.open('%s/ca.pem'); tls.cert.verify(f:read('*a')); f:close()", dir);
  ok(luaL_dostring(L, lua) == 0, "tls.cert.verify(CA) from Lua");
  port = peer("echo", "wrongname", "p2");
  open_client(ctx, &c);
  nm_tls_attach(ctx, c.s, "localhost");
  nm_tcp_connect(c.s, "127.0.0.1", (uint16_t)port);
  nm_run(ctx, L);
  ok(c.connected == 0 && c.ended == 1 && c.code == NM_ERR_TLS_HANDSHAKE,
     "verification on: a wrong name ends with NM_ERR_TLS_HANDSHAKE, never connected");

  /* 3: a host name TLS cannot carry: refused, the connection untouched */
  char longname[300];
  memset(longname, 'a', sizeof longname - 1);
  longname[sizeof longname - 1] = '\0';
  open_client(ctx, &c);
  ok(nm_tls_attach(ctx, c.s, longname) == UV_EINVAL && c.s->filter == NULL,
     "a 299-byte name: UV_EINVAL, no filter set");
  nm_tcp_abort(c.s);
  nm_run(ctx, L);
  lua_close(L);
  printf("1..%d\n", tests);
  return failures != 0;
}
