/* sjson.c - NodeMCU's sjson module: encode/decode, the streaming
 * decoder (write/result) and encoder (read), sjson.NULL, with the
 * firmware's options and error messages.  The parser is decode.c, the
 * encoder encode.c; this file holds their Lua objects.
 *
 * A streaming decoder or encoder keeps its Lua values between calls in its
 * user value: [1..4] the fixed slots of sjson.h, then the stack of open
 * tables; each call pushes them, works on the stack, and stores them back.
 * A call that raises a Lua error from inside (a __newindex, a checkpath or
 * a function value that raises, or re-enters the object) leaves the
 * object unusable: later calls raise "JSON parse error: previous call"
 * (decoder) or "sjson.encoder: previous read failed" (encoder). */
#include <stdlib.h>

#include "sjson.h"

void sj_buf_grow(lua_State *L, sj_buf *b, size_t extra) {
  size_t need = b->len + extra, cap = b->cap ? b->cap : 256;
  if (need < b->len) luaL_error(L, "not enough memory");
  while (cap < need) {
    if (cap > SIZE_MAX / 2) luaL_error(L, "not enough memory");
    cap *= 2;
  }
  char *p = realloc(b->p, cap);
  if (p == NULL) luaL_error(L, "not enough memory");
  b->p = p;
  b->cap = cap;
}

void sj_buf_free(sj_buf *b) {
  free(b->p);
  b->p = NULL;
  b->len = b->cap = 0;
}

/* opts.depth as the firmware reads it: 0 or absent gives 20, and it is
 * kept within 4..1000. */
static int sj_opt_depth(lua_State *L, int opts) {
  long long n = 0;
  if (lua_type(L, opts) == LUA_TTABLE) {
    lua_getfield(L, opts, "depth");
    if (!nm_tointeger(L, -1, &n)) n = 0;
    lua_pop(L, 1);
  }
  if (n == 0) n = SJ_DEFAULT_DEPTH;
  return n < 4 ? 4 : n > 1000 ? 1000 : (int)n;
}

/* Room for the open tables and their keys, and what a step pushes. */
static void sj_checkstack(lua_State *L, int depth) {
  luaL_checkstack(L, 2 * depth + 16, "sjson: nesting too deep");
}

/* ---- decoder ---- */

static sj_dec *sj_dec_new(lua_State *L, int depth) {
  size_t sz = sizeof(sj_dec) + (size_t)depth * sizeof(sj_frame);
  sj_dec *d = nm_newuserdata(L, sz);
  memset(d, 0, sz);
  luaL_getmetatable(L, SJ_DECODER);
  lua_setmetatable(L, -2);
  d->depth = depth;
  d->top = SJ_T_START;
  return d;
}

/* Pushes the fixed slots (sjson.h) from the options at opts: without a
 * table, null decodes to sjson.NULL; with one, to opts.null (nil if
 * absent, as in the firmware). */
static void sj_dec_push_opts(lua_State *L, sj_dec *d, int opts) {
  if (lua_type(L, opts) != LUA_TTABLE) {
    lua_pushlightuserdata(L, NULL);
    lua_pushnil(L);
    lua_pushnil(L);
    lua_pushnil(L);
    return;
  }
  lua_getfield(L, opts, "null");
  lua_getfield(L, opts, "metatable");
  if (!lua_isnil(L, -1) && !lua_istable(L, -1)) luaL_argerror(L, opts, "metatable must be a table");
  d->use_meta = !lua_isnil(L, -1);
  if (d->use_meta) {
    lua_getfield(L, -1, "checkpath");
    d->checkpath = !lua_isnil(L, -1);
    lua_pop(L, 1);
  }
  if (d->checkpath) lua_newtable(L);
  else lua_pushnil(L);
  lua_pushnil(L);
}

/* ---- the state of the one-shot calls ----
 * sjson.decode and sjson.encode reuse one parser or encoder state (kept in
 * their upvalue, with frames for the deepest documents): a call takes it
 * out and puts it back when it returns.  A call made meanwhile (from a
 * function value, a metamethod) finds none and makes its own; a call that
 * raises never puts its state back, so no state is ever shared by two
 * calls.  For small documents this halves what a call allocates. */
#define SJ_MAX_DEPTH 1000
enum { SJ_CACHE_DEC = 1, SJ_CACHE_ENC };

static void *sj_take(lua_State *L, int which, size_t size, const char *tname) {
  lua_rawgeti(L, lua_upvalueindex(1), which);
  void *p = lua_touserdata(L, -1);
  if (p != NULL) {
    lua_pushnil(L);
    lua_rawseti(L, lua_upvalueindex(1), which);
    return p;
  }
  lua_pop(L, 1);
  p = nm_newuserdata(L, size);
  memset(p, 0, size);
  luaL_getmetatable(L, tname);
  lua_setmetatable(L, -2);
  return p;
}

static void sj_put_back(lua_State *L, int idx, int which) {
  lua_pushvalue(L, idx);
  lua_rawseti(L, lua_upvalueindex(1), which);
}

static int sjson_decode(lua_State *L) {
  size_t len;
  const char *s = luaL_checklstring(L, 1, &len);
  lua_settop(L, 2);
  int depth = sj_opt_depth(L, 2);
  sj_dec *d = sj_take(L, SJ_CACHE_DEC, sizeof(sj_dec) + SJ_MAX_DEPTH * sizeof(sj_frame), SJ_DECODER);
  sj_buf carry = d->carry, scratch = d->scratch; /* kept for the next call */
  memset(d, 0, sizeof *d);
  d->carry = carry;
  d->scratch = scratch;
  d->depth = depth;
  d->top = SJ_T_START;
  int base = lua_gettop(L);
  sj_dec_push_opts(L, d, 2);
  sj_checkstack(L, d->depth);
  sj_decode_feed(L, d, base, s, len);
  if (!d->complete) return luaL_error(L, "Incomplete JSON object passed to sjson.decode");
  sj_put_back(L, base, SJ_CACHE_DEC);
  lua_pushvalue(L, base + SJ_SLOT_RESULT);
  return 1;
}

static int sjson_decoder(lua_State *L) {
  lua_settop(L, 1);
  sj_dec *d = sj_dec_new(L, sj_opt_depth(L, 1));
  lua_createtable(L, SJ_SLOT_RESULT + 4, 0);
  sj_dec_push_opts(L, d, 1);
  for (int i = SJ_SLOT_RESULT; i >= 1; i--) lua_rawseti(L, 3, i);
  nm_setuservalue(L, 2);
  return 1;
}

/* Stores the stack above base (the user value's copy) back into it. */
static void sj_dec_save(lua_State *L, sj_dec *d, int base) {
  int n = lua_gettop(L) - base; /* fixed slots + open tables and keys */
  for (int i = n; i >= SJ_SLOT_RESULT; i--) lua_rawseti(L, base, i);
  for (int i = n + 1; i <= SJ_SLOT_RESULT + d->nsaved; i++) { /* drop stale ones */
    lua_pushnil(L);
    lua_rawseti(L, base, i);
  }
  d->nsaved = n - SJ_SLOT_RESULT;
  lua_settop(L, base);
}

static int sj_dec_result(lua_State *L) {
  nm_getuservalue(L, 1);
  lua_rawgeti(L, -1, SJ_SLOT_RESULT);
  return 1;
}

static int sjson_decoder_write(lua_State *L) {
  sj_dec *d = luaL_checkudata(L, 1, SJ_DECODER);
  size_t len;
  const char *s = luaL_checklstring(L, 2, &len);
  if (d->failed || (d->busy && !d->complete)) {
    d->failed = 1;
    return luaL_error(L, "JSON parse error: previous call");
  }
  if (d->complete) return sj_dec_result(L);
  d->busy = 1;
  lua_settop(L, 2);
  nm_getuservalue(L, 1);
  int base = lua_gettop(L);
  sj_checkstack(L, d->depth);
  for (int i = 1; i <= SJ_SLOT_RESULT + d->nsaved; i++) lua_rawgeti(L, base, i);
  sj_decode_feed(L, d, base, s, len);
  sj_dec_save(L, d, base);
  d->busy = 0;
  if (!d->complete) return 0;
  sj_buf_free(&d->carry); /* nothing more to parse */
  sj_buf_free(&d->scratch);
  return sj_dec_result(L);
}

static int sjson_decoder_result(lua_State *L) {
  sj_dec *d = luaL_checkudata(L, 1, SJ_DECODER);
  if (!d->complete) return luaL_error(L, "decode not complete");
  return sj_dec_result(L);
}

static int sjson_decoder_gc(lua_State *L) {
  sj_dec *d = luaL_checkudata(L, 1, SJ_DECODER);
  sj_buf_free(&d->carry);
  sj_buf_free(&d->scratch);
  return 0;
}

/* ---- encoder ---- */

static sj_enc *sj_enc_new(lua_State *L, int depth) {
  size_t sz = sizeof(sj_enc) + (size_t)depth * sizeof(sj_eframe);
  sj_enc *e = nm_newuserdata(L, sz);
  memset(e, 0, sz);
  luaL_getmetatable(L, SJ_ENCODER);
  lua_setmetatable(L, -2);
  e->depth = depth;
  return e;
}

/* Pushes the null string of the options (or nil), then the table to
 * encode with its frame opened.  Expects (table, opts, encoder) at 1..3. */
static void sj_enc_start(lua_State *L, sj_enc *e) {
  if (lua_type(L, 2) == LUA_TTABLE) lua_getfield(L, 2, "null");
  else lua_pushnil(L);
  e->has_null = lua_type(L, -1) == LUA_TSTRING;
  lua_pushvalue(L, 1);
  sj_encode_open(L, e);
}

static int sjson_encode(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 2);
  int depth = sj_opt_depth(L, 2);
  sj_enc *e = sj_take(L, SJ_CACHE_ENC, sizeof(sj_enc) + SJ_MAX_DEPTH * sizeof(sj_eframe), SJ_ENCODER);
  sj_buf out = e->out; /* kept for the next call */
  memset(e, 0, sizeof *e);
  e->out = out;
  e->out.len = 0;
  e->depth = depth;
  int base = lua_gettop(L);
  sj_checkstack(L, e->depth);
  sj_enc_start(L, e);
  sj_encode_run(L, e, base, SIZE_MAX);
  lua_pushlstring(L, e->out.p, e->out.len);
  if (e->out.cap > (1 << 20)) sj_buf_free(&e->out);
  sj_put_back(L, base, SJ_CACHE_ENC);
  return 1;
}

static int sjson_encoder(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 2);
  sj_enc *e = sj_enc_new(L, sj_opt_depth(L, 2));
  sj_checkstack(L, e->depth);
  lua_createtable(L, 2 * (e->depth < 8 ? e->depth : 8) + 1, 0);
  sj_enc_start(L, e); /* null, table, key at 5..7 */
  for (int i = 3; i >= 1; i--) lua_rawseti(L, 4, i);
  nm_setuservalue(L, 3);
  return 1;
}

/* Encodes until want bytes wait (or the end), on the user value's stack. */
static void sj_enc_fill(lua_State *L, sj_enc *e, size_t want) {
  int before = e->level;
  e->busy = 1;
  nm_getuservalue(L, 1);
  int base = lua_gettop(L);
  sj_checkstack(L, e->depth);
  for (int i = 1; i <= SJ_ESLOT_FIRST - 1 + 2 * before; i++) lua_rawgeti(L, base, i);
  sj_encode_run(L, e, base, want);
  int n = lua_gettop(L) - base;
  for (int i = n; i >= SJ_ESLOT_FIRST; i--) lua_rawseti(L, base, i);
  for (int i = n + 1; i <= SJ_ESLOT_FIRST - 1 + 2 * before; i++) {
    lua_pushnil(L);
    lua_rawseti(L, base, i);
  }
  lua_settop(L, base - 1);
  e->busy = 0;
}

static int sjson_encoder_read(lua_State *L) {
  sj_enc *e = luaL_checkudata(L, 1, SJ_ENCODER);
  lua_Integer size = 1024;
  if (lua_type(L, 2) == LUA_TNUMBER) {
    long long n;
    size = nm_tointeger(L, 2, &n) ? (lua_Integer)n : (lua_Integer)lua_tonumber(L, 2);
    if (size < 1) size = 1;
  }
  if (e->failed || e->busy) {
    e->failed = 1;
    return luaL_error(L, "sjson.encoder: previous read failed");
  }
  lua_settop(L, 1);
  size_t pending = e->out.len - e->out_pos;
  if (pending < (size_t)size && e->level > 0) sj_enc_fill(L, e, (size_t)size);
  pending = e->out.len - e->out_pos;
  if (pending == 0) return 0;
  size_t n = pending < (size_t)size ? pending : (size_t)size;
  lua_pushlstring(L, e->out.p + e->out_pos, n);
  e->out_pos += n;
  if (e->out_pos == e->out.len) {
    e->out.len = e->out_pos = 0;
    if (e->level == 0 || e->out.cap > 65536) sj_buf_free(&e->out);
  } else if (e->out_pos > e->out.len / 2) {
    memmove(e->out.p, e->out.p + e->out_pos, e->out.len - e->out_pos);
    e->out.len -= e->out_pos;
    e->out_pos = 0;
  }
  return 1;
}

static int sjson_encoder_gc(lua_State *L) {
  sj_enc *e = luaL_checkudata(L, 1, SJ_ENCODER);
  sj_buf_free(&e->out);
  return 0;
}

int luaopen_sjson(lua_State *L) {
  static const luaL_Reg dec_methods[] = {
    {"write", sjson_decoder_write}, {"result", sjson_decoder_result}, {NULL, NULL}};
  static const luaL_Reg enc_methods[] = {{"read", sjson_encoder_read}, {NULL, NULL}};
  static const luaL_Reg funcs[] = {{"encode", sjson_encode}, {"decode", sjson_decode},
                                   {"encoder", sjson_encoder}, {"decoder", sjson_decoder},
                                   {NULL, NULL}};
  nm_class(L, SJ_DECODER, dec_methods, sjson_decoder_gc);
  nm_class(L, SJ_ENCODER, enc_methods, sjson_encoder_gc);
  lua_newtable(L);
  lua_newtable(L); /* the one-shot calls' states, upvalue of every function */
  nm_setfuncs(L, funcs, 1);
  lua_pushlightuserdata(L, NULL);
  lua_setfield(L, -2, "NULL");
  return 1;
}
