/* uart.c - NodeMCU's `uart` module.  UART 0 is the console:
 * uart.write(0, ...) writes standard output, uart.on("data", ...) reads
 * standard input on the loop, in the firmware's modes (a count, an end
 * character, "whatever came", or lines for the interpreter); UART 1, which
 * only transmits, writes standard error.  Standard input may be a tty, a
 * pipe, a socket, a file, /dev/null or closed. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "core/nm.h"
#include "modules/node/node.h"

#define NUM_UART 2
#define MAXINPUT 256 /* LUA_MAXINPUT: the firmware's line and chunk buffer */
enum { PARITY_NONE = 0, PARITY_EVEN = 1, PARITY_ODD = 2 };
enum { STOPBITS_1 = 1, STOPBITS_2 = 2, STOPBITS_1_5 = 3 };
enum { DIR_RX = 0, DIR_TX = 1 };
enum { IN_NONE, IN_STREAM, IN_FILE, IN_EOF };

typedef struct {
  nm_obj obj;
  nm_ctx *ctx;
  int cb_ref;   /* the "data" callback (a registry reference), or LUA_NOREF */
  int err_ref;  /* the ESP32's "error" callback */
  int feed_ref; /* C function: a line to the interpreter */
  int data_len; /* >0: that many bytes; 0: what came; <0: up to end_char */
  int end_char, run_input;
  int kind, handle_open, reading, req_busy, dead;
  union {
    uv_handle_t h;
    uv_stream_t s;
    uv_pipe_t pipe;
    uv_tty_t tty;
    uv_tcp_t tcp;
  } in;
  uv_fs_t req;
  int fd;
  char rbuf[4096];
  char line[MAXINPUT];
  size_t pos;
  char last;
  struct {
    lua_Integer baud, databits, parity, stopbits;
  } cfg[NUM_UART];
  int echo, alt;
} uart_state;

static void state_free(uart_state *u) {
  if (u->dead && !u->handle_open && !u->req_busy) free(u);
}

static void in_close_cb(uv_handle_t *h) {
  uart_state *u = h->data;
  u->handle_open = 0;
  state_free(u);
}

static void in_close(uart_state *u) {
  if (u->handle_open && !uv_is_closing(&u->in.h)) uv_close(&u->in.h, in_close_cb);
  if (u->req_busy) uv_cancel((uv_req_t *)&u->req);
  if (u->kind == IN_FILE && !u->req_busy && u->fd >= 0) {
    close(u->fd);
    u->fd = -1;
  }
}

static void uart_kill(nm_obj *o) {
  uart_state *u = nm_container_of(o, uart_state, obj);
  nm_obj_unregister(&u->obj);
  u->ctx->state[NM_STATE_UART] = NULL;
  u->dead = 1;
  in_close(u);
  state_free(u);
}

static int feed(lua_State *L) {
  size_t n;
  const char *s = luaL_checklstring(L, 1, &n);
  node_console_input(L, s, n);
  return 0;
}

static uart_state *uart_get(lua_State *L) {
  nm_ctx *ctx = nm_ctx_get(L);
  uart_state *u = ctx->state[NM_STATE_UART];
  if (u != NULL) return u;
  lua_pushcfunction(L, feed);
  int feed_ref = luaL_ref(L, LUA_REGISTRYINDEX); /* may raise: before the calloc */
  u = calloc(1, sizeof *u);
  if (u == NULL) {
    nm_unref(L, feed_ref);
    luaL_error(L, "out of memory");
  }
  u->feed_ref = feed_ref;
  u->ctx = ctx;
  u->cb_ref = u->err_ref = LUA_NOREF;
  u->fd = -1;
  u->run_input = 1;
  u->echo = 1;
  for (int i = 0; i < NUM_UART; i++) {
    u->cfg[i].baud = 115200;
    u->cfg[i].databits = 8;
    u->cfg[i].parity = PARITY_NONE;
    u->cfg[i].stopbits = STOPBITS_1;
  }
  nm_obj_register(ctx, &u->obj, uart_kill);
  ctx->state[NM_STATE_UART] = u;
  return u;
}

/* ---- standard input ---- */

typedef struct {
  const char *p;
  size_t n;
} chunk;

static void push_chunk(lua_State *L, void *arg) {
  chunk *c = arg;
  lua_pushlstring(L, c->p, c->n);
}

static void emit(uart_state *u, int ref, const char *p, size_t n) {
  chunk c = {p, n};
  nm_emit(u->ctx, ref, 0, 0, push_chunk, &c);
}

/* The firmware's input_readline() with run_input: CR, LF and their pairs
 * end a line; BS and DEL take a character back; a line too long for the
 * buffer is dropped.  The callback gets each line (without its end), the
 * interpreter each non-empty one. */
static void line_char(uart_state *u, char ch) {
  if ((ch == '\r' && u->last == '\n') || (ch == '\n' && u->last == '\r')) {
    u->last = 0;
    return;
  }
  if (ch == 0x7f || ch == '\b') {
    if (u->pos > 0) u->pos--;
    u->last = 0;
    return;
  }
  u->last = ch;
  if (ch == '\r' || ch == '\n') {
    size_t n = u->pos;
    u->pos = 0;
    emit(u, u->cb_ref, u->line, n);
    if (n == 0) { /* an empty line: the firmware answers with the prompt */
      fputs("> ", stdout);
      fflush(stdout);
      return;
    }
    u->line[n] = '\n';
    emit(u, u->feed_ref, u->line, n + 1);
    return;
  }
  if (u->pos + 1 >= MAXINPUT) u->pos = 0;
  u->line[u->pos++] = ch;
}

static void uart_bytes(uart_state *u, const char *p, size_t n) {
  for (size_t i = 0; i < n && u->cb_ref != LUA_NOREF && nm_lua_ok(u->ctx); i++) {
    if (u->run_input) {
      line_char(u, p[i]);
    } else if (u->data_len == 0) { /* all that came, at once */
      emit(u, u->cb_ref, p + i, n - i);
      return;
    } else {
      u->line[u->pos++] = p[i];
      if (u->pos >= MAXINPUT || (u->data_len > 0 && u->pos >= (size_t)u->data_len) ||
          (u->data_len < 0 && p[i] == (char)u->end_char)) {
        size_t k = u->pos;
        u->pos = 0;
        emit(u, u->cb_ref, u->line, k);
      }
    }
  }
}

/* End of standard input (the device never sees one): what is held is
 * delivered, as if the line or count had ended. */
static void uart_eof(uart_state *u) {
  if (u->pos > 0 && u->cb_ref != LUA_NOREF) {
    if (u->run_input) line_char(u, '\n');
    else {
      size_t k = u->pos;
      u->pos = 0;
      emit(u, u->cb_ref, u->line, k);
    }
  }
  u->pos = 0;
  u->reading = 0;
  in_close(u);
  u->kind = IN_EOF;
}

static void stream_read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *buf) {
  uart_state *u = s->data;
  if (n > 0) uart_bytes(u, buf->base, (size_t)n);
  else if (n < 0) uart_eof(u);
}

static void file_read_cb(uv_fs_t *req);

static void file_read_next(uart_state *u) {
  uv_buf_t b = uv_buf_init(u->rbuf, sizeof u->rbuf);
  if (uv_fs_read(&u->ctx->loop, &u->req, u->fd, &b, 1, -1, file_read_cb) == 0) u->req_busy = 1;
  else uart_eof(u);
}

static void file_read_cb(uv_fs_t *req) {
  uart_state *u = req->data;
  ssize_t n = req->result;
  uv_fs_req_cleanup(req);
  u->req_busy = 0;
  if (u->dead) {
    if (u->fd >= 0) close(u->fd);
    u->fd = -1;
    state_free(u);
    return;
  }
  if (n == UV_ECANCELED) return; /* the callback went: resumes with the next */
  if (n > 0) uart_bytes(u, u->rbuf, (size_t)n);
  if (n <= 0) uart_eof(u);
  else if (u->reading) file_read_next(u);
}

/* Opens standard input (a duplicate of it: closing ours leaves fd 0 to
 * the next life) the way its type allows. */
static void in_open(uart_state *u) {
  uv_loop_t *loop = &u->ctx->loop;
  uv_handle_type t = uv_guess_handle(0);
  int fd = t == UV_UNKNOWN_HANDLE ? -1 : dup(0);
  int rc = -1;
  u->kind = IN_EOF;
  if (fd < 0) return;
  if (t == UV_TTY) rc = uv_tty_init(loop, &u->in.tty, fd, 1);
  else if (t == UV_NAMED_PIPE && (rc = uv_pipe_init(loop, &u->in.pipe, 0)) == 0) {
    u->handle_open = 1;
    rc = uv_pipe_open(&u->in.pipe, fd);
  } else if (t == UV_TCP && (rc = uv_tcp_init(loop, &u->in.tcp)) == 0) {
    u->handle_open = 1;
    rc = uv_tcp_open(&u->in.tcp, fd);
  } else if (t == UV_FILE) {
    u->fd = fd;
    u->req.data = u;
    u->kind = IN_FILE;
    return;
  }
  if (rc == 0 || u->handle_open) {
    u->handle_open = 1;
    u->in.h.data = u;
  }
  if (rc != 0) { /* a failed open leaves fd ours */
    close(fd);
    if (u->handle_open) uv_close(&u->in.h, in_close_cb);
    return;
  }
  u->kind = IN_STREAM;
}

/* Reading goes on while a "data" callback is set, and keeps the loop
 * alive, as a serial bridge expects. */
static void in_update(uart_state *u) {
  int want = u->cb_ref != LUA_NOREF;
  if (want && u->kind == IN_NONE) in_open(u);
  if (want == u->reading || u->kind == IN_EOF) return;
  u->reading = want;
  if (u->kind == IN_FILE) {
    if (want && !u->req_busy) file_read_next(u);
    else if (!want && u->req_busy) uv_cancel((uv_req_t *)&u->req);
  } else if (want) {
    if (uv_read_start(&u->in.s, nm_readbuf_alloc_cb, stream_read_cb) != 0) uart_eof(u);
  } else {
    uv_read_stop(&u->in.s);
  }
}

/* ---- the API ---- */

static int check_id(lua_State *L, int idx) {
  lua_Integer id = nm_checkinteger(L, idx);
  if (id < 0 || id >= NUM_UART) luaL_error(L, "uart %d does not exist", (int)id);
  return (int)id;
}

/* uart.on([id,] "data", [n | end_char], [fn], [run_input]); the ESP32's
 * form names the UART first and has an "error" event too (a host's
 * standard input has no framing errors: it is kept, and never fires). */
static int uart_on(lua_State *L) {
  int base = 1;
  if (lua_type(L, 1) == LUA_TNUMBER) {
    if (check_id(L, 1) != 0) return luaL_error(L, "uart 1 cannot receive");
    base = 2;
  }
  const char *method = lua_tostring(L, base);
  int is_error = base == 2 && method != NULL && strcmp(method, "error") == 0;
  luaL_argcheck(L, method != NULL && (strcmp(method, "data") == 0 || is_error), base,
                "method not supported");
  uart_state *u = uart_get(L);
  if (is_error) {
    nm_unanchor(L, &u->err_ref);
    if (lua_isfunction(L, base + 1)) u->err_ref = nm_anchor(L, base + 1);
    return 0;
  }
  int stack = base + 1, data_len = -1, end_char = 0, run_input = 1;
  if (lua_type(L, stack) == LUA_TNUMBER) {
    lua_Integer n = nm_checkinteger(L, stack);
    luaL_argcheck(L, n >= 0 && n < MAXINPUT, stack, "wrong arg range");
    data_len = (int)n;
    stack++;
  } else if (lua_isstring(L, stack)) {
    size_t el;
    const char *end = lua_tolstring(L, stack, &el);
    if (el != 1) return luaL_error(L, "wrong arg range");
    end_char = (unsigned char)end[0];
    stack++;
  }
  nm_unanchor(L, &u->cb_ref);
  if (lua_isfunction(L, stack)) {
    if (lua_type(L, stack + 1) == LUA_TNUMBER && lua_tonumber(L, stack + 1) == 0) run_input = 0;
    u->cb_ref = nm_anchor(L, stack);
    u->data_len = data_len;
    u->end_char = end_char;
    u->run_input = run_input;
  } else {
    u->run_input = 1;
  }
  u->pos = 0;
  in_update(u);
  return 0;
}

/* uart.write(id, data1 [, data2, ...]): strings, or bytes as numbers. */
static int uart_write(lua_State *L) {
  int id = check_id(L, 1);
  int n = lua_gettop(L);
  for (int i = 2; i <= n; i++) { /* all checked before any is written */
    if (lua_type(L, i) == LUA_TNUMBER) {
      lua_Integer b = nm_checkinteger(L, i);
      if (b < 0 || b > 255) return luaL_error(L, "invalid number");
    } else {
      luaL_checktype(L, i, LUA_TSTRING);
    }
  }
  FILE *out = id == 0 ? stdout : stderr;
  for (int i = 2; i <= n; i++) {
    if (lua_type(L, i) == LUA_TNUMBER) {
      putc((int)lua_tointeger(L, i), out);
    } else {
      size_t l;
      const char *s = lua_tolstring(L, i, &l);
      fwrite(s, 1, l, out);
    }
  }
  fflush(out); /* a serial line has no buffer to wait in */
  return 0;
}

static const lua_Integer bauds[] = {300,    600,    1200,   2400,   4800,   9600,
                                    19200,  31250,  38400,  57600,  74880,  115200,
                                    230400, 256000, 460800, 921600, 1843200, 3686400};

/* uart.setup(id, baud, databits, parity, stopbits [, echo]): the baud rate
 * asked for (a rate the chip lacks becomes 9600, as the firmware). */
static int uart_setup(lua_State *L) {
  int id = check_id(L, 1);
  lua_Integer baud = nm_checkinteger(L, 2), bits = nm_checkinteger(L, 3);
  lua_Integer parity = nm_checkinteger(L, 4), stop = nm_checkinteger(L, 5);
  uart_state *u = uart_get(L);
  if (lua_type(L, 6) == LUA_TNUMBER) u->echo = lua_tonumber(L, 6) != 0;
  lua_Integer b = 9600;
  for (size_t i = 0; i < sizeof bauds / sizeof bauds[0]; i++)
    if (bauds[i] == baud) b = baud;
  u->cfg[id].baud = b;
  u->cfg[id].databits = bits >= 5 && bits <= 8 ? bits : 8;
  u->cfg[id].parity = parity == PARITY_EVEN || parity == PARITY_ODD ? parity : PARITY_NONE;
  u->cfg[id].stopbits = stop == STOPBITS_2 || stop == STOPBITS_1_5 ? stop : STOPBITS_1;
  lua_pushinteger(L, baud);
  return 1;
}

/* uart.getconfig(id): baud, databits, parity, stopbits */
static int uart_getconfig(lua_State *L) {
  int id = check_id(L, 1);
  uart_state *u = uart_get(L);
  lua_pushinteger(L, u->cfg[id].baud);
  lua_pushinteger(L, u->cfg[id].databits);
  lua_pushinteger(L, u->cfg[id].parity);
  lua_pushinteger(L, u->cfg[id].stopbits);
  return 4;
}

/* uart.alt(on): the pins UART 0 uses; kept, nothing to switch here. */
static int uart_alt(lua_State *L) {
  lua_Integer on = nm_checkinteger(L, 1);
  uart_get(L)->alt = on != 0;
  return 0;
}

/* uart.fifodepth([id [, dir]]): bytes waiting in the hardware FIFO, which
 * holds 128; transmitted bytes never wait here. */
static int uart_fifodepth(lua_State *L) {
  lua_Integer id = lua_isnoneornil(L, 1) ? 0 : nm_checkinteger(L, 1);
  if (id != 0 && id != 1) return luaL_argerror(L, 1, "Bad UART id; must be 0 or 1");
  lua_Integer dir = lua_isnoneornil(L, 2) ? DIR_RX : nm_checkinteger(L, 2);
  if (dir != DIR_RX && dir != DIR_TX) return luaL_argerror(L, 2, "Bad direction; must be DIR_RX or DIR_TX");
  int n = 0;
  if (id == 0 && dir == DIR_RX && ioctl(0, FIONREAD, &n) != 0) n = 0;
  lua_pushinteger(L, n < 128 ? n : 128);
  return 1;
}

int luaopen_uart(lua_State *L) {
  static const luaL_Reg funcs[] = {{"setup", uart_setup}, {"getconfig", uart_getconfig},
                                   {"write", uart_write}, {"on", uart_on},
                                   {"alt", uart_alt},     {"fifodepth", uart_fifodepth},
                                   {NULL, NULL}};
  static const struct {
    const char *name;
    int v;
  } consts[] = {{"STOPBITS_1", STOPBITS_1}, {"STOPBITS_1_5", STOPBITS_1_5},
                {"STOPBITS_2", STOPBITS_2}, {"PARITY_NONE", PARITY_NONE},
                {"PARITY_EVEN", PARITY_EVEN}, {"PARITY_ODD", PARITY_ODD},
                {"DIR_RX", DIR_RX},         {"DIR_TX", DIR_TX}};
  nm_ctx_get(L);
  nm_newlib(L, funcs);
  for (size_t i = 0; i < sizeof consts / sizeof consts[0]; i++) {
    lua_pushinteger(L, consts[i].v);
    lua_setfield(L, -2, consts[i].name);
  }
  return 1;
}
