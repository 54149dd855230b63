/* decode.c - sjson's incremental JSON parser.
 *
 * Text comes in chunks of any size (decoder:write); the parser keeps its
 * place between them in sj_dec: one small frame per open container, and
 * the bytes of a token (string, number, literal) that a chunk cut, so the
 * memory it holds is the open containers plus at most one token, whatever
 * the document's length.  Lua tables are built as the text goes, directly
 * on the Lua stack: each open container (and its pending key) sits above
 * `base` (sjson.h), so inserting a value is one rawset.
 *
 * The accepted language and the error names are those of jsonsl as the
 * firmware's sjson uses it ("JSON parse error: STRAY_TOKEN", ...), with
 * its depth rule: a token at nesting level L (the root container is level
 * 1, what it holds level 2, ...) needs L < depth.  Where jsonsl accepts
 * invalid text, netmcu is strict (docs/DIFFERENCES.md). */
#include <errno.h>
#include <math.h>
#include <stdlib.h>

#include "sjson.h"

/* Character classes. */
enum {
  C_END = 2, /* ends a number or literal (jsonsl's Special_Endings) */
  C_STR = 4, /* stops the plain run of a string: '"', '\\', 0x00-0x13 */
  C_ESC = 8, /* may follow a backslash */
};
#define CTL4 C_STR, C_STR, C_STR, C_STR
static const unsigned char cls[256] = {
  CTL4, CTL4, /* 0x00-0x07 */
  C_STR, C_STR | C_END, C_STR | C_END, C_STR, /* 0x08-0x0b: \t \n end a token */
  C_STR, C_STR | C_END, C_STR, C_STR,         /* 0x0c-0x0f: \r too */
  CTL4,                                       /* 0x10-0x13: jsonsl passes 0x14-0x1f */
  [' '] = C_END, ['"'] = C_END | C_STR | C_ESC, [','] = C_END, [':'] = C_END,
  ['['] = C_END, [']'] = C_END, ['{'] = C_END, ['}'] = C_END,
  ['\\'] = C_END | C_STR | C_ESC, ['/'] = C_ESC, ['b'] = C_ESC, ['f'] = C_ESC,
  ['n'] = C_ESC, ['r'] = C_ESC, ['t'] = C_ESC, ['u'] = C_ESC,
};
#undef CTL4

/* Numbers and literals longer than this are refused (INVALID_NUMBER /
 * SPECIAL_EXPECTED): a carried token stays small.  Far beyond any real
 * number: a double needs at most ~770 significant digits to be exact. */
#define SJ_NUMBER_MAX 4096

static void sj_fail(lua_State *L, sj_dec *d, const char *what) {
  d->failed = 1;
  luaL_error(L, "JSON parse error: %s", what);
}

static unsigned char *cur_state(sj_dec *d) {
  return d->level > 0 ? &d->frames[d->level - 1].st : &d->top;
}

/* ---- inserting values ---- */

static void sj_set(lua_State *L, sj_dec *d, int t) {
  if (d->use_meta) lua_settable(L, t);
  else lua_rawset(L, t);
}

static void sj_seti(lua_State *L, sj_dec *d, lua_Integer n) {
  if (!d->use_meta) {
    lua_rawseti(L, -2, n);
    return;
  }
#if LUA_VERSION_NUM >= 503
  lua_seti(L, -2, n);
#else
  lua_pushinteger(L, n);
  lua_insert(L, -2);
  lua_settable(L, -3);
#endif
}

/* The scalar on top is complete: into its container (a top-level scalar
 * is dropped, as jsonsl's sjson does). */
static void sj_value(lua_State *L, sj_dec *d) {
  if (d->level == 0) {
    lua_pop(L, 1);
    d->top = SJ_T_SCALAR;
    return;
  }
  sj_frame *f = &d->frames[d->level - 1];
  if (f->obj) {
    sj_set(L, d, -3);
    f->st = SJ_O_COMMA;
  } else {
    sj_seti(L, d, ++f->n);
    f->st = SJ_A_COMMA;
  }
}

/* Which of jsonsl's errors a value starting in state st gets; NULL if it
 * may start.  kind: 's' string, 'c' container, 'v' number or literal. */
static const char *sj_value_error(int st, int kind) {
  switch (st) {
    case SJ_A_FIRST: case SJ_A_VALUE: case SJ_O_VALUE: return NULL;
    case SJ_T_START: return kind == 's' ? "STRING_OUTSIDE_CONTAINER" : NULL;
    case SJ_O_FIRST: return kind == 's' ? NULL : "HKEY_EXPECTED";
    case SJ_O_KEY: return kind == 's' ? NULL : kind == 'c' ? "CANT_INSERT" : "HKEY_EXPECTED";
    case SJ_O_COLON: return kind == 's' ? "MISSING_TOKEN" : "CANT_INSERT";
    case SJ_O_COMMA: return kind == 's' ? "STRAY_TOKEN" : kind == 'c' ? "CANT_INSERT" : "HKEY_EXPECTED";
    case SJ_T_SCALAR: return kind == 's' ? "STRING_OUTSIDE_CONTAINER" : "CANT_INSERT";
    default: return "CANT_INSERT"; /* SJ_A_COMMA */
  }
}

static void sj_check_start(lua_State *L, sj_dec *d, int kind) {
  const char *err = sj_value_error(*cur_state(d), kind);
  if (err != NULL) sj_fail(L, d, err);
  if (d->level + 1 > d->depth - 1) sj_fail(L, d, "LEVELS_EXCEEDED");
}

/* ---- containers ---- */

/* checkpath(table, path) of the metatable for the new table on top, at
 * level lvl; path[lvl-1] is set to its key in its parent first. */
static int sj_checkpath(lua_State *L, int base, int lvl, sj_frame *parent, lua_Integer idx) {
  if (lvl > 1) {
    lua_pushinteger(L, lvl - 1);
    if (parent->obj) lua_pushvalue(L, -3); /* [.. T_p, K, new, lvl-1] */
    else lua_pushinteger(L, idx);
    lua_rawset(L, base + SJ_SLOT_PATH);
  }
  lua_getfield(L, base + SJ_SLOT_META, "checkpath");
  if (lua_isnil(L, -1)) {
    lua_pop(L, 1);
    return 1;
  }
  lua_pushvalue(L, -2);
  lua_pushvalue(L, base + SJ_SLOT_PATH);
  lua_call(L, 2, 1);
  int want = lua_toboolean(L, -1);
  lua_pop(L, 1);
  return want;
}

/* A new table, inserted into its container at once (before what it holds,
 * the order the firmware's __newindex and checkpath see). */
static void sj_open(lua_State *L, sj_dec *d, int base, int obj) {
  sj_check_start(L, d, 'c');
  int lvl = d->level + 1;
  sj_frame *parent = lvl > 1 ? &d->frames[lvl - 2] : NULL;
  lua_Integer idx = parent != NULL && !parent->obj ? ++parent->n : 0;
  lua_createtable(L, 0, 0);
  if (d->use_meta) {
    lua_pushvalue(L, base + SJ_SLOT_META);
    lua_setmetatable(L, -2);
  }
  if (!d->checkpath || sj_checkpath(L, base, lvl, parent, idx)) {
    if (parent == NULL) {
      lua_pushvalue(L, -1);
      lua_replace(L, base + SJ_SLOT_RESULT);
    } else if (parent->obj) { /* [.. T_p, K, new] */
      lua_pushvalue(L, -2);
      lua_pushvalue(L, -2);
      sj_set(L, d, -5);
    } else { /* [.. T_p, new] */
      lua_pushinteger(L, idx);
      lua_pushvalue(L, -2);
      sj_set(L, d, -4);
    }
  }
  d->frames[lvl - 1] = (sj_frame){0, obj ? SJ_O_FIRST : SJ_A_FIRST, (unsigned char)obj};
  d->level = lvl;
}

/* jsonsl's verdict on a closing bracket in state st (NULL: it closes). */
static const char *sj_close_error(int st, int c) {
  switch (st) {
    case SJ_A_FIRST: case SJ_A_COMMA: return c == ']' ? NULL : "BRACKET_MISMATCH";
    case SJ_O_FIRST: case SJ_O_COMMA: return c == '}' ? NULL : "BRACKET_MISMATCH";
    case SJ_A_VALUE: case SJ_O_KEY: return "TRAILING_COMMA";
    case SJ_O_COLON: case SJ_O_VALUE: return c == '}' ? "VALUE_EXPECTED" : "BRACKET_MISMATCH";
    default: return "BRACKET_MISMATCH"; /* top level */
  }
}

static void sj_close(lua_State *L, sj_dec *d, int base, int c) {
  const char *err = sj_close_error(*cur_state(d), c);
  if (err != NULL) sj_fail(L, d, err);
  int lvl = d->level--;
  if (d->checkpath) { /* path[lvl] = nil */
    lua_pushinteger(L, lvl);
    lua_pushnil(L);
    lua_rawset(L, base + SJ_SLOT_PATH);
  }
  if (lvl == 1) {
    lua_pop(L, 1);
    d->complete = 1;
    return;
  }
  sj_frame *parent = &d->frames[lvl - 2];
  lua_pop(L, parent->obj ? 2 : 1); /* the table, and its key */
  parent->st = parent->obj ? SJ_O_COMMA : SJ_A_COMMA;
}

/* ---- strings ---- */

/* Skips the plain bytes of a string (not '"', '\\', 0x00-0x13) from p:
 * 8 at a time while a word holds none of them (the bit tricks of "Bit
 * Twiddling Hacks": a byte below 0x14, or equal to '"' or '\\'). */
static const char *sj_skip_plain(const char *p, const char *end) {
  const uint64_t ones = 0x0101010101010101u, highs = 0x8080808080808080u;
  while (end - p >= 8) {
    uint64_t w, q, b;
    memcpy(&w, p, 8);
    q = w ^ (ones * '"');
    b = w ^ (ones * '\\');
    if ((((w - ones * 0x14) & ~w) | ((q - ones) & ~q) | ((b - ones) & ~b)) & highs) break;
    p += 8;
  }
  while (p < end && !(cls[(unsigned char)*p] & C_STR)) p++;
  return p;
}

/* The string checks, in the order of the text, shared by the scanner and
 * the decoder below so that an error is the same however the text is cut:
 * a control character 0x00-0x13 is WEIRD_WHITESPACE (jsonsl's table lets
 * 0x14-0x1f through); after a backslash only jsonsl's escapes; after \u
 * four hex digits, a quote among them being UESCAPE_TOOSHORT. */
static int sj_hexval(int c) {
  if (c >= '0' && c <= '9') return c - '0';
  c |= 0x20;
  return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

static void sj_check_hex(lua_State *L, sj_dec *d, int c) {
  if (c == '"') sj_fail(L, d, "UESCAPE_TOOSHORT");
  if (sj_hexval(c) < 0) sj_fail(L, d, "ESCAPE_INVALID");
}

/* From p, finds the closing quote of a string a chunk boundary cut, with
 * the checks above.  *esc carries where an escape stands between chunks:
 * 0 none, 1 after the backslash, 2-5 that many hex digits of \u still to
 * come.  Returns the quote, or NULL at end. */
static const char *sj_str_scan(lua_State *L, sj_dec *d, const char *p, const char *end,
                               unsigned char *esc) {
  for (; p < end; p++) {
    unsigned char c = (unsigned char)*p;
    if (*esc > 1) {
      sj_check_hex(L, d, c);
      *esc = *esc == 2 ? 0 : (unsigned char)(*esc - 1);
    } else if (*esc == 1) {
      if (!(cls[c] & C_ESC)) sj_fail(L, d, "ESCAPE_INVALID");
      *esc = c == 'u' ? 5 : 0;
    } else if (c == '\\') {
      *esc = 1;
    } else if (c == '"') {
      return p;
    } else if (cls[c] & C_STR) {
      sj_fail(L, d, "WEIRD_WHITESPACE");
    } else {
      p = sj_skip_plain(p, end) - 1;
    }
  }
  return NULL;
}

static void sj_put_utf8(lua_State *L, sj_buf *b, unsigned cp) {
  char o[4];
  size_t n;
  if (cp < 0x80) {
    o[0] = (char)cp, n = 1;
  } else if (cp < 0x800) {
    o[0] = (char)(0xc0 | cp >> 6), o[1] = (char)(0x80 | (cp & 0x3f)), n = 2;
  } else if (cp < 0x10000) {
    o[0] = (char)(0xe0 | cp >> 12), o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
    o[2] = (char)(0x80 | (cp & 0x3f)), n = 3;
  } else {
    o[0] = (char)(0xf0 | cp >> 18), o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3f)), o[3] = (char)(0x80 | (cp & 0x3f)), n = 4;
  }
  sj_buf_add(L, b, o, n);
}

/* Four hex digits at p (checked), or -1 if the text ends first. */
static int sj_hex4(lua_State *L, sj_dec *d, const char *p, const char *end) {
  int v = 0;
  for (int i = 0; i < 4; i++, p++) {
    if (p == end) return -1;
    sj_check_hex(L, d, (unsigned char)*p);
    v = v << 4 | sj_hexval((unsigned char)*p);
  }
  return v;
}

/* \uXXXX with p after the 'u': a surrogate pair becomes one UTF-8
 * sequence, a lone surrogate '?' (as in the firmware).  Returns what
 * follows, or NULL if the text ends before that is known. */
static const char *sj_uescape(lua_State *L, sj_dec *d, const char *p, const char *end) {
  int cp = sj_hex4(L, d, p, end);
  if (cp < 0) return NULL;
  p += 4;
  if (cp >= 0xd800 && cp < 0xdc00) { /* a second \u may complete it */
    if (end - p < 6 && memchr(p, '"', (size_t)(end - p)) == NULL) return NULL;
    if (end - p >= 6 && p[0] == '\\' && p[1] == 'u') {
      int lo = 0; /* -1 if not four hex digits: the loop below checks them */
      for (int i = 2; i < 6 && lo >= 0; i++) {
        int h = sj_hexval((unsigned char)p[i]);
        lo = h < 0 ? -1 : lo << 4 | h;
      }
      if (lo >= 0xdc00 && lo < 0xe000) {
        sj_put_utf8(L, &d->scratch, 0x10000 + (((unsigned)cp - 0xd800) << 10) + ((unsigned)lo - 0xdc00));
        return p + 6;
      }
    }
  }
  if (cp >= 0xd800 && cp < 0xe000) sj_buf_add(L, &d->scratch, "?", 1);
  else sj_put_utf8(L, &d->scratch, (unsigned)cp);
  return p;
}

/* Decodes string content from s, with the checks above, into the scratch
 * buffer; at the closing quote pushes the string and returns the quote.
 * Returns NULL (nothing pushed) if the text ends first. */
static const char *sj_str_decode(lua_State *L, sj_dec *d, const char *s, const char *end) {
  static const char simple[] = {['b'] = '\b', ['f'] = '\f', ['n'] = '\n', ['r'] = '\r', ['t'] = '\t',
                                ['"'] = '"', ['\\'] = '\\', ['/'] = '/'};
  sj_buf *b = &d->scratch;
  b->len = 0;
  for (;;) {
    const char *p = sj_skip_plain(s, end);
    sj_buf_add(L, b, s, (size_t)(p - s));
    if (p == end) return NULL;
    unsigned char c = (unsigned char)*p;
    if (c == '"') {
      lua_pushlstring(L, b->p, b->len);
      if (b->cap > 65536) sj_buf_free(b); /* do not keep a huge one */
      return p;
    }
    if (c != '\\') sj_fail(L, d, "WEIRD_WHITESPACE");
    if (p + 1 == end) return NULL;
    c = (unsigned char)p[1];
    if (!(cls[c] & C_ESC)) sj_fail(L, d, "ESCAPE_INVALID");
    if (c == 'u') {
      if ((s = sj_uescape(L, d, p + 2, end)) == NULL) return NULL;
    } else {
      sj_buf_add(L, b, &simple[c], 1);
      s = p + 2;
    }
  }
}

/* A string is complete (on top): a key, or a value. */
static void sj_string_done(lua_State *L, sj_dec *d, int key) {
  if (key) d->frames[d->level - 1].st = SJ_O_COLON;
  else sj_value(L, d);
}

/* A string starting at the quote p.  Returns where parsing goes on, or
 * NULL if the chunk ended inside it (it is carried). */
static const char *sj_string(lua_State *L, sj_dec *d, const char *p, const char *end) {
  sj_check_start(L, d, 's');
  int st = *cur_state(d);
  int key = st == SJ_O_FIRST || st == SJ_O_KEY;
  const char *s = ++p;
  p = sj_skip_plain(p, end);
  if (p < end && *p == '"') { /* the common case: no escape */
    lua_pushlstring(L, s, (size_t)(p - s));
  } else if ((p = sj_str_decode(L, d, s, end)) == NULL) {
    unsigned char esc = 0;
    sj_str_scan(L, d, s, end, &esc); /* where the cut left an escape */
    d->tok = SJ_TOK_STRING;
    d->tok_key = (unsigned char)key;
    d->tok_esc = esc;
    d->carry.len = 0;
    sj_buf_add(L, &d->carry, s, (size_t)(end - s));
    return NULL;
  }
  sj_string_done(L, d, key);
  return p + 1;
}

/* ---- numbers and literals ---- */

enum { N_START, N_MINUS, N_ZERO, N_INT, N_DOT, N_FRAC, N_E, N_ESIGN, N_EXP, N_BAD };

static int sj_num_step(int st, int c) {
  int digit = c >= '0' && c <= '9';
  switch (st) {
    case N_START: return c == '-' ? N_MINUS : c == '0' ? N_ZERO : digit ? N_INT : N_BAD;
    case N_MINUS: return c == '0' ? N_ZERO : digit ? N_INT : N_BAD;
    case N_ZERO: return c == '.' ? N_DOT : (c | 0x20) == 'e' ? N_E : N_BAD;
    case N_INT: return digit ? N_INT : c == '.' ? N_DOT : (c | 0x20) == 'e' ? N_E : N_BAD;
    case N_DOT: return digit ? N_FRAC : N_BAD;
    case N_FRAC: return digit ? N_FRAC : (c | 0x20) == 'e' ? N_E : N_BAD;
    case N_E: return c == '+' || c == '-' ? N_ESIGN : digit ? N_EXP : N_BAD;
    case N_ESIGN: case N_EXP: return digit ? N_EXP : N_BAD;
    default: return N_BAD;
  }
}

/* Runs the number grammar from p until a byte that ends a token (returned)
 * or end (NULL); raises on a byte the grammar refuses. */
static const char *sj_num_scan(lua_State *L, sj_dec *d, const char *p, const char *end) {
  for (; p < end && !(cls[(unsigned char)*p] & C_END); p++) {
    d->tok_st = (unsigned char)sj_num_step(d->tok_st, (unsigned char)*p);
    if (d->tok_st == N_BAD || ++d->tok_len > SJ_NUMBER_MAX) sj_fail(L, d, "INVALID_NUMBER");
  }
  return p < end ? p : NULL;
}

/* Pushes the number s..e (checked, and followed by a byte that is not part
 * of a number, so strtod stops at e): an integer where Lua 5.3+ would read
 * one (lua_stringtonumber), else a float; one beyond a double's range is
 * refused. */
static void sj_push_number(lua_State *L, sj_dec *d, const char *s, const char *e, int st) {
  if (st != N_ZERO && st != N_INT && st != N_FRAC && st != N_EXP) sj_fail(L, d, "INVALID_NUMBER");
  if (st == N_ZERO || st == N_INT) {
    const char *q = s + (*s == '-');
    if (e - q <= 18) {
      lua_Integer v = 0;
      for (; q < e; q++) v = v * 10 + (*q - '0');
#if LUA_VERSION_NUM >= 503
      lua_pushinteger(L, *s == '-' ? -v : v);
#else
      lua_pushnumber(L, (lua_Number)(*s == '-' ? -v : v));
#endif
      return;
    }
#if LUA_VERSION_NUM >= 503
    uint64_t v = 0, lim = *s == '-' ? (uint64_t)1 << 63 : ((uint64_t)1 << 63) - 1;
    for (; q < e && v <= (lim - (uint64_t)(*q - '0')) / 10; q++) v = v * 10 + (uint64_t)(*q - '0');
    if (q == e) {
      lua_pushinteger(L, *s == '-' ? (lua_Integer)(0 - v) : (lua_Integer)v);
      return;
    }
#endif
  }
  errno = 0;
  double x = strtod(s, NULL);
  if (isinf(x)) sj_fail(L, d, "INVALID_NUMBER");
  lua_pushnumber(L, (lua_Number)x);
}

static const char *const sj_lits[] = {"true", "false", "null"};

static void sj_push_literal(lua_State *L, int base, int which) {
  if (which == 2) lua_pushvalue(L, base + SJ_SLOT_NULL);
  else lua_pushboolean(L, which == 0);
}

/* Matches literal bytes from p until a byte that ends a token (returned)
 * or end (NULL). */
static const char *sj_lit_scan(lua_State *L, sj_dec *d, const char *p, const char *end) {
  const char *lit = sj_lits[d->tok_st];
  for (; p < end && !(cls[(unsigned char)*p] & C_END); p++) {
    if (lit[d->tok_len] == '\0' || *p != lit[d->tok_len]) sj_fail(L, d, "SPECIAL_EXPECTED");
    d->tok_len++;
  }
  return p < end ? p : NULL;
}

static void sj_literal_done(lua_State *L, sj_dec *d, int base) {
  if (sj_lits[d->tok_st][d->tok_len] != '\0') sj_fail(L, d, "SPECIAL_INCOMPLETE");
  sj_push_literal(L, base, d->tok_st);
  sj_value(L, d);
}

/* Anything else at p: a number, a literal, or an error.  Returns where
 * parsing goes on, or NULL if the token is carried. */
static const char *sj_special(lua_State *L, sj_dec *d, int base, const char *p, const char *end) {
  unsigned char c = (unsigned char)*p;
  int num = c == '-' || (c >= '0' && c <= '9');
  int lit = c == 't' ? 0 : c == 'f' ? 1 : c == 'n' ? 2 : -1;
  if (!num && lit < 0) {
    if (c == '\\') sj_fail(L, d, "ESCAPE_OUTSIDE_STRING");
    sj_fail(L, d, c == 0 ? "FOUND_NULL_BYTE" : c < 0x20 ? "WEIRD_WHITESPACE" : "SPECIAL_EXPECTED");
  }
  sj_check_start(L, d, 'v');
  const char *s = p;
  d->tok_len = 0;
  if (num) {
    d->tok_st = N_START;
    p = sj_num_scan(L, d, p, end);
    if (p != NULL) {
      sj_push_number(L, d, s, p, d->tok_st);
      sj_value(L, d);
      return p;
    }
    d->tok = SJ_TOK_NUMBER;
  } else {
    d->tok_st = (unsigned char)lit;
    p = sj_lit_scan(L, d, p, end);
    if (p != NULL) {
      sj_literal_done(L, d, base);
      return p;
    }
    d->tok = SJ_TOK_LITERAL;
  }
  d->carry.len = 0;
  sj_buf_add(L, &d->carry, s, (size_t)(end - s));
  return NULL;
}

/* Goes on with the token the previous chunk cut.  Returns where parsing
 * goes on in this chunk, or NULL if it is still not complete. */
static const char *sj_resume(lua_State *L, sj_dec *d, int base, const char *p, const char *end) {
  const char *q;
  switch (d->tok) {
    case SJ_TOK_STRING: q = sj_str_scan(L, d, p, end, &d->tok_esc); break;
    case SJ_TOK_NUMBER: q = sj_num_scan(L, d, p, end); break;
    default: q = sj_lit_scan(L, d, p, end); break;
  }
  sj_buf_add(L, &d->carry, p, (size_t)((q ? q : end) - p));
  if (q == NULL) return NULL;
  int tok = d->tok;
  d->tok = SJ_TOK_NONE;
  sj_buf *c = &d->carry;
  if (tok == SJ_TOK_STRING) {
    sj_buf_add(L, c, "\"", 1); /* the quote, so the decoder sees the end */
    if (sj_str_decode(L, d, c->p, c->p + c->len) == NULL) /* (the scan checked it all) */
      sj_fail(L, d, "UESCAPE_TOOSHORT");
    sj_string_done(L, d, d->tok_key);
    q++; /* the quote */
  } else if (tok == SJ_TOK_NUMBER) {
    sj_buf_add(L, c, "", 1); /* strtod stops at the NUL */
    sj_push_number(L, d, c->p, c->p + c->len - 1, d->tok_st);
    sj_value(L, d);
  } else {
    sj_literal_done(L, d, base);
  }
  if (c->cap > 65536) sj_buf_free(c);
  c->len = 0;
  return q;
}

/* ---- structure ---- */

static void sj_comma(lua_State *L, sj_dec *d) {
  unsigned char *st = cur_state(d);
  if (*st == SJ_A_COMMA) *st = SJ_A_VALUE;
  else if (*st == SJ_O_COMMA) *st = SJ_O_KEY;
  else if (*st == SJ_T_SCALAR) *st = SJ_T_START; /* jsonsl goes on, never completing */
  else sj_fail(L, d, "STRAY_TOKEN");
}

static void sj_colon(lua_State *L, sj_dec *d) {
  unsigned char *st = cur_state(d);
  if (*st != SJ_O_COLON) sj_fail(L, d, "STRAY_TOKEN");
  *st = SJ_O_VALUE;
}

void sj_decode_feed(lua_State *L, sj_dec *d, int base, const char *s, size_t len) {
  const char *p = s, *end = s + len;
  if (d->tok != SJ_TOK_NONE && (p = sj_resume(L, d, base, p, end)) == NULL) return;
  while (p < end && !d->complete) {
    unsigned char c = (unsigned char)*p;
    switch (c) {
      case ' ': case '\t': case '\n': case '\r': p++; break;
      case '"': p = sj_string(L, d, p, end); break;
      case '{': case '[': sj_open(L, d, base, c == '{'); p++; break;
      case '}': case ']': sj_close(L, d, base, c); p++; break;
      case ',': sj_comma(L, d); p++; break;
      case ':': sj_colon(L, d); p++; break;
      default: p = sj_special(L, d, base, p, end); break;
    }
    if (p == NULL) return;
  }
}
