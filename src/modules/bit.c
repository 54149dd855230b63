/* bit.c - NodeMCU's bit module: bit operations on 32-bit integers, for
 * scripts written for the firmware's Lua 5.1 (which has no operators for
 * them).  Present on every Lua version netmcu builds for.
 *
 * On the device lua_Integer is 32 bits wide, so every argument is taken
 * modulo 2^32 and every result is a signed 32-bit value: bit.bnot(0) is -1
 * and bit.lshift(1, 31) is -2147483648 on every Lua version, as on the
 * device.  Shift counts and bit positions use their low 5 bits, as the
 * ESP8266's shift instructions do (C leaves wider shifts undefined). */
#include <math.h>
#include <stdint.h>

#include "core/nm.h"

/* An argument modulo 2^32.  Lua 5.3+ refuses a float without an integer
 * value (luaL_checkinteger, as the device's 5.3 build does); 5.1 and
 * LuaJIT truncate toward zero, as the device's (int) conversion. */
static uint32_t bit_arg(lua_State *L, int i) {
#if LUA_VERSION_NUM >= 503
  return (uint32_t)(lua_Unsigned)luaL_checkinteger(L, i);
#else
  lua_Number n = luaL_checknumber(L, i);
  if (!isfinite(n)) return 0;
  n = fmod(trunc(n), 4294967296.0);
  if (n < 0) n += 4294967296.0;
  return (uint32_t)n;
#endif
}

static unsigned bit_pos(lua_State *L, int i) { return bit_arg(L, i) & 31; }

static int bit_push(lua_State *L, uint32_t v) {
  lua_pushinteger(L, (lua_Integer)(int32_t)v);
  return 1;
}

static int bit_bnot(lua_State *L) { return bit_push(L, ~bit_arg(L, 1)); }

#define BIT_VARIADIC(name, op)                              \
  static int bit_##name(lua_State *L) {                     \
    int n = lua_gettop(L);                                  \
    uint32_t w = bit_arg(L, 1);                             \
    for (int i = 2; i <= n; i++) w op bit_arg(L, i);        \
    return bit_push(L, w);                                  \
  }
BIT_VARIADIC(band, &=)
BIT_VARIADIC(bor, |=)
BIT_VARIADIC(bxor, ^=)

static int bit_lshift(lua_State *L) {
  uint32_t v = bit_arg(L, 1);
  return bit_push(L, v << bit_pos(L, 2));
}

/* Logical: zeros come in at the top. */
static int bit_rshift(lua_State *L) {
  uint32_t v = bit_arg(L, 1);
  return bit_push(L, v >> bit_pos(L, 2));
}

/* Arithmetic: the sign bit is copied (written out: >> of a negative
 * signed value is implementation-defined in C). */
static int bit_arshift(lua_State *L) {
  uint32_t v = bit_arg(L, 1);
  unsigned n = bit_pos(L, 2);
  uint32_t r = v >> n;
  if ((v & 0x80000000u) && n > 0) r |= ~(0xffffffffu >> n);
  return bit_push(L, r);
}

static int bit_bit(lua_State *L) { return bit_push(L, 1u << bit_pos(L, 1)); }

static int bit_isset(lua_State *L) {
  uint32_t v = bit_arg(L, 1);
  lua_pushboolean(L, (v >> bit_pos(L, 2)) & 1);
  return 1;
}

static int bit_isclear(lua_State *L) {
  uint32_t v = bit_arg(L, 1);
  lua_pushboolean(L, !((v >> bit_pos(L, 2)) & 1));
  return 1;
}

static int bit_set(lua_State *L) {
  int n = lua_gettop(L);
  uint32_t v = bit_arg(L, 1);
  for (int i = 2; i <= n; i++) v |= 1u << bit_pos(L, i);
  return bit_push(L, v);
}

static int bit_clear(lua_State *L) {
  int n = lua_gettop(L);
  uint32_t v = bit_arg(L, 1);
  for (int i = 2; i <= n; i++) v &= ~(1u << bit_pos(L, i));
  return bit_push(L, v);
}

int luaopen_bit(lua_State *L) {
  static const luaL_Reg funcs[] = {
    {"bnot", bit_bnot},       {"band", bit_band},   {"bor", bit_bor},
    {"bxor", bit_bxor},       {"lshift", bit_lshift}, {"rshift", bit_rshift},
    {"arshift", bit_arshift}, {"bit", bit_bit},     {"set", bit_set},
    {"clear", bit_clear},     {"isset", bit_isset}, {"isclear", bit_isclear},
    {NULL, NULL}};
  nm_newlib(L, funcs);
  return 1;
}
