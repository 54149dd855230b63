/* sjson.h - internals of the sjson module, shared by its three files:
 * sjson.c (the Lua API: options, decoder and encoder objects), decode.c
 * (the incremental JSON parser) and encode.c (the resumable encoder). */
#ifndef NM_SJSON_H
#define NM_SJSON_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "core/nm.h"

#define SJ_DECODER "sjson.decoder"
#define SJ_ENCODER "sjson.encoder"
#define SJ_DEFAULT_DEPTH 20

/* ---- growable byte buffer (malloc'd, owned by a userdata's __gc) ---- */
typedef struct sj_buf {
  char *p;
  size_t len, cap;
} sj_buf;

/* Room for extra more bytes; raises "not enough memory" on failure. */
void sj_buf_grow(lua_State *L, sj_buf *b, size_t extra);
static inline void sj_buf_reserve(lua_State *L, sj_buf *b, size_t extra) {
  if (b->cap - b->len < extra) sj_buf_grow(L, b, extra);
}
static inline void sj_buf_add(lua_State *L, sj_buf *b, const char *s, size_t n) {
  if (n == 0) return;
  sj_buf_reserve(L, b, n);
  memcpy(b->p + b->len, s, n);
  b->len += n;
}
void sj_buf_free(sj_buf *b);

/* ---- decoder ---- */

/* Where a parse stands, per open container and at the top level. */
enum sj_state {
  SJ_A_FIRST,  /* after '[': a value or ']' */
  SJ_A_VALUE,  /* after ',' in an array: a value */
  SJ_A_COMMA,  /* after an array element: ',' or ']' */
  SJ_O_FIRST,  /* after '{': a key or '}' */
  SJ_O_KEY,    /* after ',' in an object: a key */
  SJ_O_COLON,  /* after a key: ':' */
  SJ_O_VALUE,  /* after ':': a value */
  SJ_O_COMMA,  /* after a member: ',' or '}' */
  SJ_T_START,  /* top level, nothing yet */
  SJ_T_SCALAR, /* top level after a scalar (never completes, as jsonsl) */
};

/* A token cut by the end of a write(), carried to the next one. */
enum sj_tok { SJ_TOK_NONE, SJ_TOK_STRING, SJ_TOK_NUMBER, SJ_TOK_LITERAL };

typedef struct sj_frame {
  lua_Integer n;     /* elements so far (arrays) */
  unsigned char st;  /* enum sj_state */
  unsigned char obj; /* an object (else an array) */
} sj_frame;

typedef struct sj_dec {
  int depth;          /* jsonsl's levels: tokens may sit at levels 1..depth-1 */
  int level;          /* open containers */
  int nsaved;         /* decoder object: Lua stack slots kept between writes */
  unsigned char top;  /* enum sj_state at level 0 */
  unsigned char complete, failed, busy;
  unsigned char use_meta;  /* tables get a metatable: insert with __newindex */
  unsigned char checkpath; /* the metatable has checkpath: keep the path */
  unsigned char tok;       /* enum sj_tok being carried */
  unsigned char tok_key;   /* the carried string is an object key */
  unsigned char tok_esc;   /* the carried string's escape state (decode.c) */
  unsigned char tok_st;    /* number grammar state / literal kind */
  int tok_len;             /* number or literal: bytes so far */
  sj_buf carry;            /* the carried token's bytes */
  sj_buf scratch;          /* escaped strings are decoded here */
  sj_frame frames[];       /* depth entries */
} sj_dec;

/* While a write runs, the Lua stack holds from base+1: */
enum {
  SJ_SLOT_NULL = 1, /* what JSON null decodes to */
  SJ_SLOT_META,     /* metatable for new tables, or nil */
  SJ_SLOT_PATH,     /* checkpath's path table, or nil */
  SJ_SLOT_RESULT,   /* the root table once made (and wanted) */
  SJ_SLOT_FIRST     /* then each open container, with its pending key */
};

/* Parses s[0..len) into the stack above base.  Raises "JSON parse error:
 * <jsonsl's name>" on bad text (d->failed is set first). */
void sj_decode_feed(lua_State *L, sj_dec *d, int base, const char *s, size_t len);

/* ---- encoder ---- */

typedef struct sj_eframe {
  lua_Integer n, i; /* arrays: length and elements written; objects: members written */
  unsigned char obj;
} sj_eframe;

typedef struct sj_enc {
  int depth, level;
  unsigned char busy, failed, has_null;
  sj_buf out;     /* encoded text not yet read */
  size_t out_pos; /* ... from here */
  sj_eframe frames[];
} sj_enc;

/* While a read runs, the Lua stack holds from base+1 the null string (or
 * nil), then each open table and its last key (nil for arrays). */
#define SJ_ESLOT_NULL 1
#define SJ_ESLOT_FIRST 2

/* Pushes a frame for the table on top of the stack (it stays there, with
 * a nil key above it) and writes its opening bracket; raises "encoder
 * stack overflow" beyond depth. */
void sj_encode_open(lua_State *L, sj_enc *e);
/* Encodes until want bytes wait in e->out or the document is done. */
void sj_encode_run(lua_State *L, sj_enc *e, int base, size_t want);

#endif
