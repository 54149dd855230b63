/* struct.c - NodeMCU's struct module: Roberto Ierusalimschy's struct
 * library as the firmware adapted it (pack, unpack, size), with the same
 * format language and error messages.
 *
 * "Native" sizes, alignment and byte order are the ESP8266's, not the
 * host's, so that a binary format a script builds is the one the device
 * builds: short 2, int/long/size_t 4, float 4, double 8 bytes, little
 * endian, native alignment 8.  Integers are 64 bits wide (the firmware's
 * 32-bit lua_Integer truncates what it packs); sizes up to 32 bytes are
 * accepted as on the device, the bytes beyond the eighth being the sign
 * extension.  Derived from Roberto's library (MIT; notice at the end). */
#include <ctype.h>
#include <limits.h>
#include <stdint.h>
#include <string.h>

#include "core/nm.h"

#define ST_MAXINTSIZE 32
#define ST_MAXALIGN 8

enum { ST_BIG = 0, ST_LITTLE = 1 };

typedef struct {
  int endian;
  int align;
} st_header;

static void st_defaults(st_header *h) {
  h->endian = ST_LITTLE; /* the ESP8266's */
  h->align = 1;
}

static int st_host_little(void) {
  const uint16_t one = 1;
  return *(const unsigned char *)&one == 1;
}

static int st_getnum(lua_State *L, const char **fmt, int df) {
  if (!isdigit((unsigned char)**fmt)) return df;
  int a = 0;
  do {
    if (a > INT_MAX / 10 || a * 10 > INT_MAX - (**fmt - '0')) luaL_error(L, "integral size overflow");
    a = a * 10 + *((*fmt)++) - '0';
  } while (isdigit((unsigned char)**fmt));
  return a;
}

static size_t st_optsize(lua_State *L, char opt, const char **fmt) {
  switch (opt) {
    case 'B': case 'b': return 1;
    case 'H': case 'h': return 2;
    case 'L': case 'l': return 4;
    case 'T': return 4;
    case 'f': return 4;
    case 'd': return 8;
    case 'x': return 1;
    case 'c': return (size_t)st_getnum(L, fmt, 1);
    case 'i': case 'I': {
      int sz = st_getnum(L, fmt, 4);
      if (sz > ST_MAXINTSIZE)
        luaL_error(L, "integral size %d is larger than limit of %d", sz, ST_MAXINTSIZE);
      return (size_t)sz;
    }
    default: return 0; /* the others need no alignment */
  }
}

/* Bytes needed to align an item of size at position len. */
static size_t st_toalign(size_t len, const st_header *h, int opt, size_t size) {
  if (size == 0 || opt == 'c') return 0;
  if (size > (size_t)h->align) size = (size_t)h->align;
  return (size - (len & (size - 1))) & (size - 1);
}

static void st_control(lua_State *L, int opt, const char **fmt, st_header *h) {
  switch (opt) {
    case ' ': return;
    case '>': h->endian = ST_BIG; return;
    case '<': h->endian = ST_LITTLE; return;
    case '!': {
      int a = st_getnum(L, fmt, ST_MAXALIGN);
      if (a <= 0 || (a & (a - 1)) != 0) luaL_error(L, "alignment %d is not a power of 2", a);
      h->align = a;
      return;
    }
    default: {
      const char *msg = lua_pushfstring(L, "invalid format option '%c'", opt);
      luaL_argerror(L, 1, msg);
    }
  }
}

/* An integer argument as 64 bits (two's complement). */
static uint64_t st_checkint(lua_State *L, int arg) {
#if LUA_VERSION_NUM >= 503
  return (uint64_t)luaL_checkinteger(L, arg);
#else
  lua_Number n = luaL_checknumber(L, arg);
  if (n >= 0 && n < 18446744073709551616.0) return (uint64_t)n;
  if (n < 0 && n >= -9223372036854775808.0) return (uint64_t)(int64_t)n;
  luaL_argerror(L, arg, "number has no integer representation");
  return 0;
#endif
}

static void st_putinteger(lua_State *L, luaL_Buffer *b, int arg, int endian, size_t size) {
  uint64_t v = st_checkint(L, arg);
  char buf[ST_MAXINTSIZE];
  char fill = (int64_t)v < 0 ? (char)0xff : 0;
  for (size_t i = 0; i < size; i++) {
    char byte = i < 8 ? (char)(v >> (8 * i)) : fill;
    buf[endian == ST_LITTLE ? i : size - 1 - i] = byte;
  }
  luaL_addlstring(b, buf, size);
}

/* Float bytes from host order to the requested one (or back). */
static void st_order(char *p, size_t size, int endian) {
  if ((endian == ST_LITTLE) == st_host_little()) return;
  for (size_t i = 0; i < size / 2; i++) {
    char t = p[i];
    p[i] = p[size - 1 - i];
    p[size - 1 - i] = t;
  }
}

static void st_packone(lua_State *L, luaL_Buffer *b, int opt, size_t *size, int *arg,
                       const char **fmt, st_header *h) {
  switch (opt) {
    case 'b': case 'B': case 'h': case 'H': case 'l': case 'L':
    case 'T': case 'i': case 'I':
      st_putinteger(L, b, (*arg)++, h->endian, *size);
      break;
    case 'x': luaL_addchar(b, '\0'); break;
    case 'f': {
      float f = (float)luaL_checknumber(L, (*arg)++);
      st_order((char *)&f, 4, h->endian);
      luaL_addlstring(b, (char *)&f, 4);
      break;
    }
    case 'd': {
      double d = luaL_checknumber(L, (*arg)++);
      st_order((char *)&d, 8, h->endian);
      luaL_addlstring(b, (char *)&d, 8);
      break;
    }
    case 'c': case 's': {
      size_t l;
      const char *s = luaL_checklstring(L, *arg, &l);
      if (*size == 0) *size = l;
      luaL_argcheck(L, l >= *size, *arg, "string too short");
      (*arg)++;
      luaL_addlstring(b, s, *size);
      if (opt == 's') {
        luaL_addchar(b, '\0');
        (*size)++;
      }
      break;
    }
    default: st_control(L, opt, fmt, h);
  }
}

static int struct_pack(lua_State *L) {
  const char *fmt = luaL_checkstring(L, 1);
  st_header h;
  int arg = 2;
  size_t total = 0;
  st_defaults(&h);
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  while (*fmt != '\0') {
    int opt = *fmt++;
    size_t size = st_optsize(L, (char)opt, &fmt);
    size_t pad = st_toalign(total, &h, opt, size);
    total += pad;
    while (pad-- > 0) luaL_addchar(&b, '\0');
    st_packone(L, &b, opt, &size, &arg, &fmt, &h);
    total += size;
  }
  luaL_pushresult(&b);
  return 1;
}

static uint64_t st_getinteger(const unsigned char *p, int endian, int issigned, size_t size) {
  uint64_t v = 0;
  size_t n = size < 8 ? size : 8; /* the low 8 bytes */
  for (size_t i = 0; i < n; i++) {
    unsigned char byte = endian == ST_LITTLE ? p[i] : p[size - 1 - i];
    v |= (uint64_t)byte << (8 * i);
  }
  if (issigned && n > 0 && n < 8 && (v >> (8 * n - 1)) & 1) v |= ~(uint64_t)0 << (8 * n);
  return v;
}

static void st_pushinteger(lua_State *L, uint64_t v, int issigned) {
#if LUA_VERSION_NUM >= 503
  (void)issigned;
  lua_pushinteger(L, (lua_Integer)v);
#else
  lua_pushnumber(L, issigned ? (lua_Number)(int64_t)v : (lua_Number)v);
#endif
}

/* c0: the length is the value unpacked just before, which is dropped. */
static size_t st_c0_size(lua_State *L, size_t pos, size_t ld) {
  if (lua_gettop(L) <= 3 || lua_type(L, -1) != LUA_TNUMBER)
    luaL_error(L, "format `c0' needs a previous size");
  lua_Number n = lua_tonumber(L, -1);
  lua_pop(L, 1);
  luaL_argcheck(L, n >= 0 && n <= (lua_Number)(ld - pos), 2, "data string too short");
  return (size_t)n;
}

static void st_unpackone(lua_State *L, int opt, size_t *size, size_t pos, const char *data,
                         size_t ld, const char **fmt, st_header *h) {
  switch (opt) {
    case 'b': case 'B': case 'h': case 'H': case 'l': case 'L':
    case 'T': case 'i': case 'I': {
      int issigned = islower(opt);
      st_pushinteger(L, st_getinteger((const unsigned char *)data + pos, h->endian, issigned, *size),
                     issigned);
      break;
    }
    case 'x': break;
    case 'f': {
      float f;
      memcpy(&f, data + pos, 4);
      st_order((char *)&f, 4, h->endian);
      lua_pushnumber(L, f);
      break;
    }
    case 'd': {
      double d;
      memcpy(&d, data + pos, 8);
      st_order((char *)&d, 8, h->endian);
      lua_pushnumber(L, d);
      break;
    }
    case 'c':
      if (*size == 0) *size = st_c0_size(L, pos, ld);
      lua_pushlstring(L, data + pos, *size);
      break;
    case 's': {
      const char *e = memchr(data + pos, '\0', ld - pos);
      if (e == NULL) luaL_error(L, "unfinished string in data");
      *size = (size_t)(e - (data + pos)) + 1;
      lua_pushlstring(L, data + pos, *size - 1);
      break;
    }
    default: st_control(L, opt, fmt, h);
  }
}

static int struct_unpack(lua_State *L) {
  st_header h;
  const char *fmt = luaL_checkstring(L, 1);
  size_t ld;
  const char *data = luaL_checklstring(L, 2, &ld);
  lua_Integer off = luaL_optinteger(L, 3, 1);
  luaL_argcheck(L, off >= 1 && (size_t)(off - 1) <= ld, 3, "offset out of range");
  size_t pos = (size_t)off - 1;
  st_defaults(&h);
  lua_settop(L, 3); /* results start above slot 3 */
  while (*fmt) {
    int opt = *fmt++;
    size_t size = st_optsize(L, (char)opt, &fmt);
    pos += st_toalign(pos, &h, opt, size);
    luaL_argcheck(L, pos <= ld && size <= ld - pos, 2, "data string too short");
    luaL_checkstack(L, 2, "too many results");
    st_unpackone(L, opt, &size, pos, data, ld, &fmt, &h);
    pos += size;
  }
  lua_pushinteger(L, (lua_Integer)pos + 1);
  return lua_gettop(L) - 3;
}

static int struct_size(lua_State *L) {
  st_header h;
  const char *fmt = luaL_checkstring(L, 1);
  size_t pos = 0;
  st_defaults(&h);
  while (*fmt) {
    int opt = *fmt++;
    size_t size = st_optsize(L, (char)opt, &fmt);
    pos += st_toalign(pos, &h, opt, size);
    if (opt == 's')
      luaL_argerror(L, 1, "option 's' has no fixed size");
    else if (opt == 'c' && size == 0)
      luaL_argerror(L, 1, "option 'c0' has no fixed size");
    if (!isalnum(opt)) st_control(L, opt, &fmt, &h);
    pos += size;
  }
  lua_pushinteger(L, (lua_Integer)pos);
  return 1;
}

int luaopen_struct(lua_State *L) {
  static const luaL_Reg funcs[] = {
    {"pack", struct_pack}, {"unpack", struct_unpack}, {"size", struct_size}, {NULL, NULL}};
  nm_newlib(L, funcs);
  return 1;
}

/******************************************************************************
* Copyright (C) 2010-2012 Lua.org, PUC-Rio.  All rights reserved.
*
* Permission is hereby granted, free of charge, to any person obtaining
* a copy of this software and associated documentation files (the
* "Software"), to deal in the Software without restriction, including
* without limitation the rights to use, copy, modify, merge, publish,
* distribute, sublicense, and/or sell copies of the Software, and to
* permit persons to whom the Software is furnished to do so, subject to
* the following conditions:
*
* The above copyright notice and this permission notice shall be
* included in all copies or substantial portions of the Software.
*
* THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND,
* EXPRESS OR IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF
* MERCHANTABILITY, FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT.
* IN NO EVENT SHALL THE AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY
* CLAIM, DAMAGES OR OTHER LIABILITY, WHETHER IN AN ACTION OF CONTRACT,
* TORT OR OTHERWISE, ARISING FROM, OUT OF OR IN CONNECTION WITH THE
* SOFTWARE OR THE USE OR OTHER DEALINGS IN THE SOFTWARE.
******************************************************************************/
