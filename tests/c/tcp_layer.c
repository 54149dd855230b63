/* tests/c/tcp_layer.c - the connection layer (src/net/tcp.h) used from C,
 * as the tls, mqtt, http and websocket modules will: a C client (no Lua
 * socket object) with a filter between it and the wire, against a Lua
 * server of net on the same loop.  The filter is a toy with the shape of
 * TLS: a handshake ("HELLO\n", then "WELCOME\n" from the server), every
 * byte after it XORed with 0x5a both ways, and "BYE\n" before the FIN.
 * Prints TAP; built and run by tests/tcp_layer.sh. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/nm.h"
#include "net/tcp.h"

static int tests, failures;

static void ok(int cond, const char *name) {
  tests++;
  if (!cond) failures++;
  printf("%sok %d - %s\n", cond ? "" : "not ", tests, name);
  fflush(stdout);
}

/* ---- the filter ---- */

typedef struct xfilter {
  nm_tcp_filter f;
  int ready;            /* handshake done */
  char hs[16];          /* the server's handshake so far */
  size_t nhs;
  int connected_calls, sends, resumes, shutdowns, releases;
} xfilter;

static char *xor_copy(const char *p, size_t n) {
  char *c = malloc(n);
  for (size_t i = 0; i < n && c != NULL; i++) c[i] = (char)(p[i] ^ 0x5a);
  return c;
}

static int write_text(nm_tcp *s, const char *text) {
  char *c = malloc(strlen(text));
  memcpy(c, text, strlen(text));
  return nm_tcp_write(s, c, strlen(text), 0);
}

static void xf_connected(nm_tcp *s) {
  xfilter *x = (xfilter *)s->filter;
  x->connected_calls++;
  write_text(s, "HELLO\n"); /* the protocol's own record: completes no send */
}

static void xf_read(nm_tcp *s, const char *p, size_t n) {
  xfilter *x = (xfilter *)s->filter;
  while (!x->ready && n > 0) { /* the handshake, byte by byte */
    x->hs[x->nhs++] = *p++;
    n--;
    if (x->nhs == 8) {
      if (memcmp(x->hs, "WELCOME\n", 8) != 0) {
        nm_tcp_end(s, -10, 0);
        return;
      }
      x->ready = 1;
      nm_tcp_up_connected(s);
      if (s->user == NULL) return;
    }
  }
  if (n == 0) return;
  char *plain = xor_copy(p, n);
  nm_tcp_up_receive(s, plain, n);
  free(plain);
}

static int xf_send(nm_tcp *s, const char *p, size_t n) {
  xfilter *x = (xfilter *)s->filter;
  char *c = xor_copy(p, n);
  if (c == NULL) return UV_ENOMEM;
  x->sends++;
  return nm_tcp_write(s, c, n, 1);
}

static void xf_resume(nm_tcp *s) { ((xfilter *)s->filter)->resumes++; }

static void xf_shutdown(nm_tcp *s) {
  ((xfilter *)s->filter)->shutdowns++;
  write_text(s, "BYE\n");
}

static void xf_release(nm_tcp *s) { ((xfilter *)s->filter)->releases++; }

static const nm_tcp_filter_ops xf_ops = {xf_connected, xf_read,    xf_send, xf_resume,
                                         xf_shutdown,  xf_release, NULL /* eof: ended(0) */};

/* ---- the C client ---- */

typedef struct client {
  nm_tcp_user u;
  nm_tcp *s;
  uv_timer_t timer;
  int step;
  int resolved, connected, in_send, sent_inside, ended, end_code;
  int sent;               /* `sent` calls */
  int received_while_held;
  int held;
  char got[64];
  size_t ngot;
  int stop_when_connected;
} client;

static client *of(nm_tcp_user *u) { return nm_container_of(u, client, u); }

static void cl_resolved(nm_tcp *s, const struct in_addr *ip) {
  of(s->user)->resolved = ip != NULL && ip->s_addr == htonl(INADDR_LOOPBACK);
}

static void send_text(client *c, const char *text) {
  c->in_send = 1;
  if (nm_tcp_send(c->s, text, strlen(text)) != 0) printf("# send failed\n");
  c->in_send = 0;
}

static void cl_connected(nm_tcp *s) {
  client *c = of(s->user);
  c->connected++;
  if (c->stop_when_connected) { /* as a signal would: the runtime shuts down */
    nm_ctx *ctx = nm_tcp_ctx(s);
    ctx->stop_signal = 2;
    uv_stop(&ctx->loop);
    return;
  }
  send_text(c, "ping1");
  send_text(c, "ping2");
  send_text(c, "ping3");
}

static void unhold_cb(uv_timer_t *t) {
  client *c = t->data;
  c->held = 0;
  nm_tcp_unhold(c->s);
}

static void cl_receive(nm_tcp *s, const char *p, size_t n) {
  client *c = of(s->user);
  if (c->held) c->received_while_held = 1;
  if (c->ngot + n <= sizeof c->got) memcpy(c->got + c->ngot, p, n);
  c->ngot += n;
  if (c->ngot == 15 && c->step == 0) { /* every ping is back: hold, send more */
    c->step = 1;
    c->held = 1;
    nm_tcp_hold(s);
    send_text(c, "more");
    uv_timer_start(&c->timer, unhold_cb, 150, 0); /* its echo waits in the kernel */
  } else if (c->ngot == 19 && c->step == 1) {
    c->step = 2;
    nm_tcp_close(s); /* local close: no op of c runs any more */
    uv_close((uv_handle_t *)&c->timer, NULL);
  }
}

static int cl_sent(nm_tcp *s) {
  client *c = of(s->user);
  if (c->in_send) c->sent_inside = 1;
  c->sent++;
  return 1;
}

static void cl_ended(nm_tcp *s, nm_tcp_user *u, int code) {
  (void)s;
  of(u)->ended++;
  of(u)->end_code = code;
}

static const nm_tcp_user_ops cl_ops = {cl_resolved, cl_connected, cl_receive, cl_sent, cl_ended};

/* ---- the Lua side ---- */

static const char *server_lua =
    "srv = net.createServer()\n"
    "LOG, DISC = {}, nil\n"
    "srv:listen(0, '127.0.0.1', function(c)\n"
    "  local hs = ''\n"
    "  c:on('receive', function(s, d)\n"
    "    LOG[#LOG + 1] = d\n"
    "    if hs ~= 'HELLO\\n' then\n"
    "      hs = hs .. d\n"
    "      if hs == 'HELLO\\n' then s:send('WELCOME\\n') end\n"
    "    elseif d ~= 'BYE\\n' then s:send(d) end\n"
    "  end)\n"
    "  c:on('disconnection', function(s, code) DISC = code; srv:close() end)\n"
    "end)\n"
    "PORT = srv:getaddr()\n";

static const char *check_lua =
    "local function bxor(a, b)\n" /* no bit operators on every Lua */
    "  local r, p = 0, 1\n"
    "  for _ = 1, 8 do\n"
    "    local x, y = a % 2, b % 2\n"
    "    if x ~= y then r = r + p end\n"
    "    a, b, p = (a - x) / 2, (b - y) / 2, p * 2\n"
    "  end\n"
    "  return r\n"
    "end\n"
    "local x = {}\n"
    "for ch in ('ping1ping2ping3more'):gmatch('.') do x[#x + 1] = string.char(bxor(ch:byte(), 0x5a)) end\n"
    "return table.concat(LOG) == 'HELLO\\n' .. table.concat(x) .. 'BYE\\n', DISC\n";

static int run_lua(lua_State *L, const char *chunk, int nres) {
  if (luaL_loadstring(L, chunk) != 0 || lua_pcall(L, 0, nres, 0) != 0) {
    printf("# lua: %s\n", lua_tostring(L, -1));
    return -1;
  }
  return 0;
}

static nm_tcp *open_client(nm_ctx *ctx, client *c, xfilter *x, const char *host, int port) {
  memset(c, 0, sizeof *c);
  memset(x, 0, sizeof *x);
  c->u.ops = &cl_ops;
  x->f.ops = &xf_ops;
  uv_timer_init(&ctx->loop, &c->timer);
  c->timer.data = c;
  c->s = nm_tcp_new(ctx, &c->u);
  nm_tcp_set_filter(c->s, &x->f);
  if (nm_tcp_connect(c->s, host, (uint16_t)port) != 0) return NULL;
  return c->s;
}

int main(void) {
  lua_State *L = luaL_newstate();
  luaL_openlibs(L);
  lua_pushcfunction(L, luaopen_net);
  lua_call(L, 0, 1);
  lua_setglobal(L, "net");
  nm_ctx *ctx = nm_ctx_get(L);
  if (run_lua(L, server_lua, 0) != 0) return 1;
  lua_getglobal(L, "PORT");
  int port = (int)lua_tointeger(L, -1);
  lua_pop(L, 1);

  /* 1: a whole exchange by name, through the filter */
  client c;
  xfilter x;
  ok(open_client(ctx, &c, &x, "localhost", port) != NULL, "a C client connects by name");
  ok(nm_run(ctx, L) == 0, "the loop ran until nothing was left");
  ok(c.resolved, "resolved() with 127.0.0.1");
  ok(x.connected_calls == 1 && c.connected == 1, "the filter's handshake, then connected() once");
  ok(x.sends == 4, "each send went through the filter once");
  ok(c.sent == 4 && !c.sent_inside, "sent() once per send, never from inside nm_tcp_send");
  ok(c.ngot == 19 && memcmp(c.got, "ping1ping2ping3more", 19) == 0,
     "the echo came back decoded, in order");
  ok(x.resumes == 1 && !c.received_while_held, "nothing received while held; resume() at unhold");
  ok(x.shutdowns == 1, "the filter's last words before the FIN");
  ok(c.ended == 0, "a local close calls no op");
  ok(x.releases == 1, "the filter released with the connection");
  if (run_lua(L, check_lua, 2) == 0) {
    ok(lua_toboolean(L, -2), "the server saw HELLO, only encoded data, then BYE");
    ok(lua_isnumber(L, -1) && lua_tointeger(L, -1) == 0, "then a normal close");
    lua_pop(L, 2);
  }

  /* 2: a refused connect ends with ERR_RST through ended() */
  open_client(ctx, &c, &x, "127.0.0.1", port); /* the server is closed */
  uv_close((uv_handle_t *)&c.timer, NULL);
  nm_run(ctx, L);
  ok(c.ended == 1 && c.end_code == -9, "a refused connect: ended(-9)");
  ok(x.connected_calls == 0 && x.releases == 1, "no handshake; the filter released");

  /* 3: shutdown while connected: ended(NM_TCP_SHUTDOWN), nothing leaks */
  if (run_lua(L, server_lua, 0) != 0) return 1;
  lua_getglobal(L, "PORT");
  port = (int)lua_tointeger(L, -1);
  lua_pop(L, 1);
  open_client(ctx, &c, &x, "127.0.0.1", port);
  uv_close((uv_handle_t *)&c.timer, NULL);
  c.stop_when_connected = 1;
  nm_run(ctx, L);
  ok(c.connected == 1 && c.ended == 0, "connected, then the runtime stops");
  lua_close(L);
  ok(c.ended == 1 && c.end_code == NM_TCP_SHUTDOWN, "shutdown: ended(NM_TCP_SHUTDOWN)");
  ok(x.releases == 1, "shutdown: the filter released");
  printf("1..%d\n", tests);
  return failures != 0;
}
