/* console.c - the device's serial console on a host: print and
 * the interpreter's output go to node.output's function (the telnet
 * pattern) or to standard output; node.input (and uart 0 with run_input)
 * feed the interpreter, one line per task, as the firmware's lua.c does. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "node.h"

#define PIPE_T "node.pipe"
#define PIPE_MAX (4u << 20)  /* output held for a reader; beyond, dropped */
#define INPUT_MAX (1u << 20) /* input not yet run */
#define PIPE_REC 256         /* the firmware's pipe record size (nrec) */

typedef struct {
  char *p;
  size_t start, end, cap;
} pbuf;

static size_t pb_len(const pbuf *b) { return b->end - b->start; }

static int pb_reserve(pbuf *b, size_t n, size_t max) {
  size_t len = pb_len(b);
  if (len + n > max) return -1;
  if (b->end + n <= b->cap) return 0;
  if (b->start > 0) { /* slide down first */
    memmove(b->p, b->p + b->start, len);
    b->start = 0;
    b->end = len;
    if (b->end + n <= b->cap) return 0;
  }
  size_t cap = b->cap ? b->cap : 256;
  while (cap < len + n) cap *= 2;
  char *p = realloc(b->p, cap);
  if (p == NULL) return -1;
  b->p = p;
  b->cap = cap;
  return 0;
}

static int pb_append(pbuf *b, const char *s, size_t n, size_t max) {
  if (pb_reserve(b, n, max) != 0) return -1;
  memcpy(b->p + b->end, s, n);
  b->end += n;
  return 0;
}

static void pb_consume(pbuf *b, size_t n) {
  b->start += n;
  if (b->start == b->end) b->start = b->end = 0;
}

/* The firmware's pipe (docs/modules/pipe.md), as node.output's readers see
 * it: one buffer, read from the front. */
typedef struct {
  pbuf b;
} nm_pipe;

enum { MODE_PROBE, MODE_STRING, MODE_PIPE };

typedef struct {
  int fn_ref, pipe_ref; /* node.output's function and its pipe */
  nm_pipe *pipe;
  int serial_debug;
  int mode;              /* how the function takes its output (below) */
  int posted, in_cb, written;
  pbuf in;               /* node.input's text not yet run */
  int in_posted;
  int ml_ref;            /* the lines of an incomplete chunk */
} console;

static const char console_key = 'c';

static int console_gc(lua_State *L) {
  console *c = lua_touserdata(L, 1);
  free(c->in.p);
  c->in.p = NULL;
  return 0;
}

static console *console_get(lua_State *L) {
  lua_pushlightuserdata(L, (void *)&console_key);
  lua_rawget(L, LUA_REGISTRYINDEX);
  console *c = lua_touserdata(L, -1);
  lua_pop(L, 1);
  if (c != NULL) return c;
  lua_pushlightuserdata(L, (void *)&console_key);
  c = lua_newuserdata(L, sizeof *c);
  memset(c, 0, sizeof *c);
  c->fn_ref = c->pipe_ref = c->ml_ref = LUA_NOREF;
  c->serial_debug = 1;
  lua_createtable(L, 0, 1);
  lua_pushcfunction(L, console_gc);
  lua_setfield(L, -2, "__gc");
  lua_setmetatable(L, -2);
  lua_rawset(L, LUA_REGISTRYINDEX);
  return c;
}

/* ---- output ---- */

static int console_deliver(lua_State *L);

static void post(lua_State *L, lua_CFunction f, int prio) {
  lua_pushcfunction(L, f);
  node_post(L, prio);
}

static void pipe_written(lua_State *L, console *c) {
  c->written = 1;
  if (!c->posted && !c->in_cb) {
    c->posted = 1;
    post(L, console_deliver, NODE_PRIO_MEDIUM);
  }
}

void node_console_write(lua_State *L, const char *s, size_t n) {
  console *c = console_get(L);
  if (c->fn_ref == LUA_NOREF || c->serial_debug) {
    fwrite(s, 1, n, stdout);
    if (c->fn_ref == LUA_NOREF) return;
  }
  if (n == 0 || pb_append(&c->pipe->b, s, n, PIPE_MAX) != 0) return;
  pipe_written(L, c);
}

/* The firmware's message handler for readers, keeping the probe's mark. */
static const char probe_key = 'p';
static int probe_msgh(lua_State *L) {
  if (lua_touserdata(L, 1) == (void *)&probe_key) return 1;
  return nm_msgh(L);
}
static int probe_method(lua_State *L) {
  lua_pushlightuserdata(L, (void *)&probe_key);
  return lua_error(L);
}

static const char *const pipe_methods[] = {"read", "readline", "unread", "reader", "nrec", NULL};

/* Older firmware (and the ESP32's) call the output function with a string;
 * the ESP8266's current one with a pipe to read.  The first delivery offers
 * a string on which the pipe's methods, for the length of the call, throw
 * a mark: a function that uses them is a pipe reader, and is then called
 * with the pipe; one that does not has taken its string.  Returns 1 for a
 * pipe reader. */
static int probe_call(lua_State *L, console *c, nm_pipe *pipe, size_t len) {
  lua_getglobal(L, "string");
  int strtab = lua_gettop(L);
  if (!lua_istable(L, strtab)) return 1;
  for (int i = 0; pipe_methods[i] != NULL; i++) {
    lua_getfield(L, strtab, pipe_methods[i]); /* saved */
    lua_pushcfunction(L, probe_method);
    lua_setfield(L, strtab, pipe_methods[i]);
  }
  lua_pushcfunction(L, probe_msgh);
  lua_rawgeti(L, LUA_REGISTRYINDEX, c->fn_ref);
  lua_pushlstring(L, pipe->b.p + pipe->b.start, len);
  int rc = lua_pcall(L, 1, 0, -3);
  for (int i = 0; pipe_methods[i] != NULL; i++) { /* put the saved ones back */
    lua_pushvalue(L, strtab + 1 + i);
    lua_setfield(L, strtab, pipe_methods[i]);
  }
  if (rc != 0 && lua_touserdata(L, -1) == (void *)&probe_key) return 1;
  if (c->pipe == pipe) { /* (unless it called node.output itself) */
    c->mode = MODE_STRING;
    pb_consume(&pipe->b, len);
  }
  if (rc != 0) nm_report_error(nm_ctx_get(L), lua_tostring(L, -1));
  return 0;
}

/* A task: the output function gets what was written since. */
static int console_deliver(lua_State *L) {
  console *c = console_get(L);
  c->posted = 0;
  if (c->fn_ref == LUA_NOREF) return 0;
  lua_settop(L, 0);
  lua_rawgeti(L, LUA_REGISTRYINDEX, c->pipe_ref); /* 1: held while it runs */
  nm_pipe *pipe = c->pipe;
  size_t len = pb_len(&pipe->b);
  if (len == 0) return 0;
  if (c->mode == MODE_PROBE && !probe_call(L, c, pipe, len)) return 0;
  lua_settop(L, 1);
  if (c->pipe != pipe) return 0;
  if (c->mode == MODE_PROBE) c->mode = MODE_PIPE;
  lua_pushcfunction(L, nm_msgh);
  lua_rawgeti(L, LUA_REGISTRYINDEX, c->fn_ref);
  if (c->mode == MODE_STRING) { /* what it prints meanwhile comes next turn */
    lua_pushlstring(L, pipe->b.p + pipe->b.start, len);
    pb_consume(&pipe->b, len);
    if (lua_pcall(L, 1, 0, 2) != 0) nm_report_error(nm_ctx_get(L), lua_tostring(L, -1));
    return 0;
  }
  lua_pushvalue(L, 1);
  c->in_cb = 1;
  c->written = 0;
  int rc = lua_pcall(L, 1, 1, 2);
  if (c->pipe != pipe) return 0; /* node.output changed meanwhile */
  c->in_cb = 0;
  if (rc != 0) {
    nm_report_error(nm_ctx_get(L), lua_tostring(L, -1));
    return 0;
  }
  /* The pipe's rule: true reposts (if anything is left), false does not,
   * nil reposts if the reader was written to while it ran. */
  int repost = lua_isboolean(L, -1) ? lua_toboolean(L, -1) : c->written;
  if (repost && pb_len(&pipe->b) > 0 && !c->posted) {
    c->posted = 1;
    post(L, console_deliver, NODE_PRIO_MEDIUM);
  }
  return 0;
}

static int pipe_gc(lua_State *L) {
  nm_pipe *p = luaL_checkudata(L, 1, PIPE_T);
  free(p->b.p);
  p->b.p = NULL;
  p->b.start = p->b.end = p->b.cap = 0;
  return 0;
}

/* node.output([fn [, serial_debug]]) */
static int node_output(lua_State *L) {
  console *c = console_get(L);
  int debug = !(lua_type(L, 2) == LUA_TNUMBER && lua_tonumber(L, 2) == 0);
  luaL_unref(L, LUA_REGISTRYINDEX, c->fn_ref);
  luaL_unref(L, LUA_REGISTRYINDEX, c->pipe_ref);
  c->fn_ref = c->pipe_ref = LUA_NOREF;
  c->pipe = NULL;
  c->serial_debug = 1;
  if (lua_type(L, 1) != LUA_TFUNCTION) return 0;
  nm_pipe *p = lua_newuserdata(L, sizeof *p);
  memset(p, 0, sizeof *p);
  luaL_getmetatable(L, PIPE_T);
  lua_setmetatable(L, -2);
  c->pipe_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  c->pipe = p;
  lua_pushvalue(L, 1);
  c->fn_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  c->serial_debug = debug;
  c->mode = MODE_PROBE;
  c->written = c->in_cb = 0;
  return 0;
}

/* print(...): as Lua's, through the console. */
static int console_print(lua_State *L) {
  console *c = console_get(L);
  int n = lua_gettop(L);
  if (c->fn_ref == LUA_NOREF) { /* the print it replaced */
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, n, 0);
    return 0;
  }
  luaL_Buffer b;
  lua_getglobal(L, "tostring");
  luaL_buffinit(L, &b);
  for (int i = 1; i <= n; i++) {
    lua_pushvalue(L, n + 1);
    lua_pushvalue(L, i);
    lua_call(L, 1, 1);
    if (!lua_isstring(L, -1)) return luaL_error(L, "'tostring' must return a string to 'print'");
    if (i > 1) luaL_addchar(&b, '\t');
    luaL_addvalue(&b);
  }
  luaL_addchar(&b, '\n');
  luaL_pushresult(&b);
  size_t len;
  const char *s = lua_tolstring(L, -1, &len);
  node_console_write(L, s, len);
  return 0;
}

/* ---- the pipe's methods ---- */

static nm_pipe *check_pipe(lua_State *L) { return luaL_checkudata(L, 1, PIPE_T); }

/* size, or a delimiter ("c" dropped, "c+" kept); nil: "\n" dropped */
static int pipe_arg(lua_State *L, int idx, size_t *n, int *delim, int *keep) {
  *delim = -1;
  *keep = 0;
  if (lua_type(L, idx) == LUA_TNUMBER) {
    long long v;
    luaL_argcheck(L, nm_tointeger(L, idx, &v) && v > 0, idx, "invalid chunk size");
    *n = (size_t)v;
    return 0;
  }
  *n = (size_t)-1;
  if (lua_isnoneornil(L, idx)) {
    *delim = '\n';
    return 0;
  }
  size_t l;
  const char *s = lua_tolstring(L, idx, &l);
  luaL_argcheck(L, s != NULL && (l == 1 || (l == 2 && s[1] == '+')), idx, "invalid delimiter");
  *delim = (unsigned char)s[0];
  *keep = l == 2;
  return 0;
}

static int pipe_read_at(lua_State *L, nm_pipe *p, int idx) {
  size_t n, len = pb_len(&p->b);
  int delim, keep;
  pipe_arg(L, idx, &n, &delim, &keep);
  if (len == 0) {
    lua_pushnil(L);
    return 1;
  }
  const char *s = p->b.p + p->b.start;
  size_t used = n < len ? n : len, want = used;
  if (delim >= 0) {
    const char *e = memchr(s, delim, len);
    used = want = e ? (size_t)(e - s) + 1 : len;
    if (e != NULL && !keep) want--;
  }
  lua_pushlstring(L, s, want);
  pb_consume(&p->b, used);
  return 1;
}

/* pobj:read([size | delimiter]) */
static int pipe_read(lua_State *L) { return pipe_read_at(L, check_pipe(L), 2); }

static int pipe_reader_next(lua_State *L) {
  nm_pipe *p = luaL_checkudata(L, lua_upvalueindex(1), PIPE_T);
  return pipe_read_at(L, p, lua_upvalueindex(2));
}

/* pobj:reader([size | delimiter]): an iterator */
static int pipe_reader(lua_State *L) {
  size_t n;
  int d, k;
  check_pipe(L);
  pipe_arg(L, 2, &n, &d, &k);
  lua_settop(L, 2);
  lua_pushcclosure(L, pipe_reader_next, 2);
  return 1;
}

/* pobj:unread(s): back to the front */
static int pipe_unread(lua_State *L) {
  nm_pipe *p = check_pipe(L);
  size_t l;
  const char *s = lua_tolstring(L, 2, &l);
  luaL_argcheck(L, s != NULL, 2, "must be a string");
  if (l == 0) return 0;
  if (p->b.start < l) {
    if (pb_reserve(&p->b, l, (size_t)-1) != 0) return luaL_error(L, "out of memory");
    size_t len = pb_len(&p->b);
    memmove(p->b.p + l, p->b.p + p->b.start, len);
    p->b.start = l;
    p->b.end = l + len;
  }
  p->b.start -= l;
  memcpy(p->b.p + p->b.start, s, l);
  return 0;
}

/* pobj:write(s) */
static int pipe_write(lua_State *L) {
  nm_pipe *p = check_pipe(L);
  size_t l;
  const char *s = lua_tolstring(L, 2, &l);
  luaL_argcheck(L, s != NULL, 2, "must be a string");
  if (l == 0) return 0;
  if (pb_append(&p->b, s, l, PIPE_MAX) != 0) return luaL_error(L, "pipe full");
  console *c = console_get(L);
  if (c->pipe == p) pipe_written(L, c);
  return 0;
}

/* pobj:nrec(): records of up to PIPE_REC bytes */
static int pipe_nrec(lua_State *L) {
  nm_pipe *p = check_pipe(L);
  lua_pushinteger(L, (lua_Integer)((pb_len(&p->b) + PIPE_REC - 1) / PIPE_REC));
  return 1;
}

/* ---- input: the interpreter ---- */

static int console_step(lua_State *L);

void node_console_input(lua_State *L, const char *s, size_t n) {
  console *c = console_get(L);
  if (n == 0 || n > INPUT_MAX) return;
  if (pb_len(&c->in) + n > INPUT_MAX) /* a line that never ends: dropped */
    c->in.start = c->in.end = 0;
  if (pb_append(&c->in, s, n, INPUT_MAX) != 0) return;
  if (!c->in_posted) {
    c->in_posted = 1;
    post(L, console_step, NODE_PRIO_LOW);
  }
}

/* node.input(str) */
static int node_input(lua_State *L) {
  size_t n;
  const char *s = luaL_checklstring(L, 1, &n);
  if (n > INPUT_MAX) return luaL_error(L, "input too long");
  node_console_input(L, s, n);
  return 0;
}

/* lua.c's incomplete(): a syntax error at the end of the text */
static int incomplete(lua_State *L, int status) {
  size_t l;
  const char *msg = lua_tolstring(L, -1, &l);
  if (status != LUA_ERRSYNTAX || msg == NULL) return 0;
  return (l >= 5 && strcmp(msg + l - 5, "<eof>") == 0) ||
         (l >= 7 && strcmp(msg + l - 7, "'<eof>'") == 0);
}

/* print(...) of the values from base up, as lua.c's l_print */
static void print_values(lua_State *L, int base) {
  int n = lua_gettop(L) - base + 1;
  if (n <= 0) return;
  lua_getglobal(L, "print");
  lua_insert(L, base);
  if (lua_pcall(L, n, 0, 0) != 0) {
    fprintf(stderr, "error calling 'print' (%s)\n", lua_tostring(L, -1));
    lua_pop(L, 1);
  }
}

/* lua.c's dojob(): the line on top joins a pending chunk, or starts one
 * ("=expr" is "return expr"); a complete chunk runs, its results or its
 * error are printed, and then the prompt. */
static void dojob(lua_State *L, console *c) {
  int base = lua_gettop(L);
  if (c->ml_ref != LUA_NOREF) {
    lua_rawgeti(L, LUA_REGISTRYINDEX, c->ml_ref);
    lua_pushliteral(L, "\n");
    lua_pushvalue(L, base);
    lua_concat(L, 3);
    luaL_unref(L, LUA_REGISTRYINDEX, c->ml_ref);
    c->ml_ref = LUA_NOREF;
  } else if (lua_tostring(L, base)[0] == '=') {
    lua_pushfstring(L, "return %s", lua_tostring(L, base) + 1);
  } else {
    lua_pushvalue(L, base);
  }
  size_t l;
  const char *b = lua_tolstring(L, -1, &l);
  int status = luaL_loadbuffer(L, b, l, "=stdin");
  if (incomplete(L, status) && l <= INPUT_MAX) {
    lua_pop(L, 1);
    c->ml_ref = luaL_ref(L, LUA_REGISTRYINDEX); /* the text so far */
  } else {
    if (status != 0 && l > INPUT_MAX) { /* a chunk that never ends: dropped */
      lua_pop(L, 1);
      lua_pushliteral(L, "stdin: chunk too long");
    }
    int fn = lua_gettop(L);
    if (status == 0) {
      lua_pushcfunction(L, nm_msgh);
      lua_insert(L, fn);
      status = lua_pcall(L, 0, LUA_MULTRET, fn);
      lua_remove(L, fn);
    }
    if (status != 0 && !lua_isnil(L, -1)) {
      lua_pushliteral(L, "Lua error: ");
      lua_insert(L, -2);
    }
    print_values(L, base + 2);
  }
  lua_settop(L, base);
  const char *pv = c->ml_ref != LUA_NOREF ? "_PROMPT2" : "_PROMPT";
  lua_getglobal(L, pv);
  const char *prompt = lua_tostring(L, -1);
  if (prompt == NULL) prompt = c->ml_ref != LUA_NOREF ? ">> " : "> ";
  node_console_write(L, prompt, strlen(prompt));
}

/* A task: runs the next complete line, as the firmware's stdin reader. */
static int console_step(lua_State *L) {
  console *c = console_get(L);
  c->in_posted = 0;
  size_t len = pb_len(&c->in);
  const char *s = c->in.p + c->in.start;
  const char *nl = len ? memchr(s, '\n', len) : NULL;
  if (nl == NULL) return 0;
  lua_settop(L, 0);
  lua_pushlstring(L, s, (size_t)(nl - s));
  pb_consume(&c->in, (size_t)(nl - s) + 1);
  if (pb_len(&c->in) > 0 && memchr(c->in.p + c->in.start, '\n', pb_len(&c->in)) && !c->in_posted) {
    c->in_posted = 1; /* the next line on a later turn */
    post(L, console_step, NODE_PRIO_LOW);
  }
  dojob(L, c);
  return 0;
}

void node_console_open(lua_State *L) {
  static const luaL_Reg methods[] = {{"read", pipe_read},   {"reader", pipe_reader},
                                     {"unread", pipe_unread}, {"write", pipe_write},
                                     {"nrec", pipe_nrec},   {NULL, NULL}};
  nm_class(L, PIPE_T, methods, pipe_gc);
  console_get(L);
  lua_pushcfunction(L, node_output);
  lua_setfield(L, -2, "output");
  lua_pushcfunction(L, node_input);
  lua_setfield(L, -2, "input");
  /* print goes through the console (node.output) */
  lua_getglobal(L, "print");
  if (lua_isfunction(L, -1) && lua_tocfunction(L, -1) != console_print) {
    lua_pushcclosure(L, console_print, 1);
    lua_setglobal(L, "print");
  } else {
    lua_pop(L, 1);
  }
}
