/* compat.c - see compat.h. */
#include <math.h>
#include <string.h>

#include "compat.h"

#if LUA_VERSION_NUM < 502
void nm_setfuncs(lua_State *L, const luaL_Reg *l, int nup) {
  luaL_checkstack(L, nup, "too many upvalues");
  for (; l->name != NULL; l++) {
    for (int i = 0; i < nup; i++) lua_pushvalue(L, -nup);
    lua_pushcclosure(L, l->func, nup);
    lua_setfield(L, -(nup + 2), l->name);
  }
  lua_pop(L, nup);
}
#endif

lua_State *nm_mainthread(lua_State *L) {
#if LUA_VERSION_NUM >= 502
  lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_MAINTHREAD);
  lua_State *main = lua_tothread(L, -1);
  lua_pop(L, 1);
  return main;
#else
  return L; /* 5.1 keeps no handle on it; modules load on the main thread */
#endif
}

/* Pushes the number at idx, or the number a string there converts to as
 * in Lua ("8266", " 0x10 "; not with an embedded NUL), and returns 1;
 * returns 0 and pushes nothing for anything else. */
static int push_number(lua_State *L, int idx) {
  int t = lua_type(L, idx);
  if (t == LUA_TNUMBER) {
    lua_pushvalue(L, idx);
    return 1;
  }
  if (t != LUA_TSTRING) return 0;
  size_t len;
  const char *s = lua_tolstring(L, idx, &len);
  if (strlen(s) != len) return 0;
#if LUA_VERSION_NUM >= 503
  return lua_stringtonumber(L, s) == len + 1; /* "8266" stays an integer */
#else
  if (!lua_isnumber(L, idx)) return 0;
  lua_pushnumber(L, lua_tonumber(L, idx));
  return 1;
#endif
}

int nm_isnumber(lua_State *L, int idx) {
  if (!push_number(L, idx)) return 0;
  lua_pop(L, 1);
  return 1;
}

int nm_tointeger(lua_State *L, int idx, long long *out) {
  if (!push_number(L, idx)) return 0;
#if LUA_VERSION_NUM >= 503
  if (lua_isinteger(L, -1)) {
    *out = (long long)lua_tointeger(L, -1);
    lua_pop(L, 1);
    return 1;
  }
#endif
  lua_Number n = lua_tonumber(L, -1);
  lua_pop(L, 1);
  if (!(n >= -9007199254740992.0 && n <= 9007199254740992.0) || floor(n) != n)
    return 0; /* NaN, infinities, fractions and huge values */
  *out = (long long)n;
  return 1;
}

long long nm_checkinteger(lua_State *L, int idx) {
  long long v;
  if (nm_tointeger(L, idx, &v)) return v;
  if (lua_type(L, idx) != LUA_TNUMBER) luaL_checknumber(L, idx); /* "number expected, got ..." */
  return luaL_argerror(L, idx, "number has no integer representation");
}

void nm_traceback(lua_State *L, lua_State *L1, const char *msg, int level) {
#if LUA_VERSION_NUM >= 502 || defined(LUA_JITLIBNAME)
  luaL_traceback(L, L1, msg, level);
#else
  /* Lua 5.1: borrow debug.traceback if the debug library is loaded. */
  lua_getfield(L, LUA_REGISTRYINDEX, "_LOADED");
  lua_getfield(L, -1, "debug");
  lua_remove(L, -2);
  if (lua_istable(L, -1)) {
    lua_getfield(L, -1, "traceback");
    lua_remove(L, -2);
    if (lua_isfunction(L, -1)) {
      lua_pushstring(L, msg);
      lua_pushinteger(L, level + 1);
      if (lua_pcall(L, 2, 1, 0) == 0 && lua_isstring(L, -1)) return;
    }
  }
  lua_pop(L, 1);
  lua_pushstring(L, msg);
  (void)L1;
#endif
}
