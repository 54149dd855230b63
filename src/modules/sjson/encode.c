/* encode.c - sjson's encoder: Lua values to JSON text, resumable.
 *
 * The walk keeps an explicit stack (sj_enc.frames, with each open table
 * and its last key on the Lua stack above `base`) instead of recursing, so
 * encoder:read(n) can stop after n bytes and go on later: the memory it
 * holds is one chunk plus the open tables, whatever the output's length.
 * sjson.encode runs the same walk to the end.
 *
 * Output as the firmware's: a table whose keys are all positive integers
 * (an empty one too) is an array up to its largest key, holes as null;
 * any other is an object, number keys written as strings; integers as
 * integers, other numbers with "%.19g" (the firmware's double-precision
 * format), NaN and infinities as null; functions are called (up to 10
 * times) and their result encoded; nil and userdata are null. */
#include <math.h>
#include <stdio.h>

#include "sjson.h"

/* An array's largest key may exceed twice its element count by this much
 * before encoding refuses it (each hole costs 5 bytes of output). */
#define SJ_SPARSE_SLACK 1000

static const char hexd[] = "0123456789abcdef";

/* Bytes a JSON string cannot hold as they are. */
static const unsigned char needs_esc[256] = {
  1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
  1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
  ['"'] = 1, ['\\'] = 1,
};

static size_t sj_escape(char *o, unsigned char c) {
  o[0] = '\\';
  switch (c) {
    case '"': o[1] = '"'; return 2;
    case '\\': o[1] = '\\'; return 2;
    case '\b': o[1] = 'b'; return 2;
    case '\f': o[1] = 'f'; return 2;
    case '\n': o[1] = 'n'; return 2;
    case '\r': o[1] = 'r'; return 2;
    case '\t': o[1] = 't'; return 2;
    default:
      o[1] = 'u', o[2] = '0', o[3] = '0', o[4] = hexd[c >> 4], o[5] = hexd[c & 15];
      return 6;
  }
}

static void sj_put_string(lua_State *L, sj_buf *b, const char *s, size_t len) {
  const char *e = s + len;
  sj_buf_reserve(L, b, len + 2);
  b->p[b->len++] = '"';
  while (s < e) {
    const char *run = s;
    while (s < e && !needs_esc[(unsigned char)*s]) s++;
    sj_buf_add(L, b, run, (size_t)(s - run));
    if (s == e) break;
    char esc[6];
    sj_buf_add(L, b, esc, sj_escape(esc, (unsigned char)*s++));
  }
  sj_buf_add(L, b, "\"", 1);
}

static void sj_put_int(lua_State *L, sj_buf *b, long long v) {
  char tmp[24], *q = tmp + sizeof tmp;
  unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
  do *--q = (char)('0' + u % 10); while ((u /= 10) != 0);
  if (v < 0) *--q = '-';
  sj_buf_add(L, b, q, (size_t)(tmp + sizeof tmp - q));
}

static void sj_put_number(lua_State *L, sj_buf *b, int idx) {
#if LUA_VERSION_NUM >= 503
  if (lua_isinteger(L, idx)) {
    sj_put_int(L, b, (long long)lua_tointeger(L, idx));
    return;
  }
#endif
  double x = (double)lua_tonumber(L, idx);
  if (!isfinite(x)) {
    sj_buf_add(L, b, "null", 4); /* ECMA-262 24.5.2, as the firmware */
  } else if (x == floor(x) && fabs(x) < 9.2e18) {
    /* what "%.19g" prints for these, without printf's cost */
    if (x == 0 && signbit(x)) sj_buf_add(L, b, "-0", 2);
    else sj_put_int(L, b, (long long)x);
  } else {
    char tmp[40];
    int n = snprintf(tmp, sizeof tmp, "%.19g", x);
    sj_buf_add(L, b, tmp, (size_t)n);
  }
}

/* An array (1) with *n its largest key, or an object (0). */
static int sj_is_array(lua_State *L, int t, lua_Integer *n) {
  lua_Integer max = 0, count = 0;
  lua_pushnil(L);
  while (lua_next(L, t)) {
    lua_pop(L, 1);
    long long k;
    if (!nm_tointeger(L, -1, &k) || k < 1) {
      lua_pop(L, 1);
      return 0;
    }
    if (k > max) max = (lua_Integer)k;
    count++;
  }
  if (max / 2 > count + SJ_SPARSE_SLACK / 2)
    luaL_error(L, "Cannot serialise table: excessively sparse array");
  *n = max;
  return 1;
}

void sj_encode_open(lua_State *L, sj_enc *e) {
  if (e->level >= e->depth) luaL_error(L, "encoder stack overflow");
  lua_Integer n = 0;
  int obj = !sj_is_array(L, lua_gettop(L), &n);
  e->frames[e->level++] = (sj_eframe){n, 0, (unsigned char)obj};
  lua_pushnil(L); /* the key slot */
  sj_buf_add(L, &e->out, obj ? "{" : "[", 1);
}

/* The value on top: written and popped, or a table opened (it stays). */
static void sj_encode_value(lua_State *L, sj_enc *e, int base) {
  sj_buf *b = &e->out;
  for (int k = 0; k < 10 && lua_type(L, -1) == LUA_TFUNCTION; k++) lua_call(L, 0, 1);
  int t = lua_type(L, -1);
  switch (t) {
    case LUA_TTABLE: sj_encode_open(L, e); return;
    case LUA_TSTRING:
      if (e->has_null && lua_rawequal(L, -1, base + SJ_ESLOT_NULL)) {
        sj_buf_add(L, b, "null", 4);
      } else {
        size_t len;
        const char *s = lua_tolstring(L, -1, &len);
        sj_put_string(L, b, s, len);
      }
      break;
    case LUA_TNUMBER: sj_put_number(L, b, -1); break;
    case LUA_TBOOLEAN:
      if (lua_toboolean(L, -1)) sj_buf_add(L, b, "true", 4);
      else sj_buf_add(L, b, "false", 5);
      break;
    case LUA_TNIL: case LUA_TLIGHTUSERDATA: case LUA_TUSERDATA: sj_buf_add(L, b, "null", 4); break;
    default: luaL_error(L, "Cannot encode type %d", t);
  }
  lua_pop(L, 1);
}

/* An object's key: a string, or a number written as Lua writes it. */
static void sj_put_key(lua_State *L, sj_buf *b, int idx) {
  int t = lua_type(L, idx);
  if (t != LUA_TSTRING && t != LUA_TNUMBER) luaL_error(L, "Cannot encode type %d", t);
  lua_pushvalue(L, idx); /* lua_tolstring converts a number in place */
  size_t len;
  const char *s = lua_tolstring(L, -1, &len);
  sj_put_string(L, b, s, len);
  lua_pop(L, 1);
  sj_buf_add(L, b, ":", 1);
}

/* The next element or member of frame f (table at slot t, key at t+1)
 * pushed; 0 (nothing pushed) at its end. */
static int sj_next(lua_State *L, sj_enc *e, sj_eframe *f, int t) {
  sj_buf *b = &e->out;
  if (!f->obj) {
    if (f->i >= f->n) return 0;
    if (f->i++ > 0) sj_buf_add(L, b, ",", 1);
    lua_rawgeti(L, t, f->i);
    return 1;
  }
  lua_pushvalue(L, t + 1);
  if (!lua_next(L, t)) return 0;
  if (f->i++ > 0) sj_buf_add(L, b, ",", 1);
  sj_put_key(L, b, -2);
  lua_pushvalue(L, -2);
  lua_replace(L, t + 1);
  lua_remove(L, -2);
  return 1;
}

void sj_encode_run(lua_State *L, sj_enc *e, int base, size_t want) {
  sj_buf *b = &e->out;
  while (e->level > 0 && b->len - e->out_pos < want) {
    sj_eframe *f = &e->frames[e->level - 1];
    int t = base + SJ_ESLOT_FIRST + 2 * (e->level - 1);
    if (sj_next(L, e, f, t)) {
      sj_encode_value(L, e, base);
      continue;
    }
    sj_buf_add(L, b, f->obj ? "}" : "]", 1);
    lua_settop(L, t - 1);
    e->level--;
  }
}
