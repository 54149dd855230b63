/* compat.c - see compat.h. */
#include <math.h>

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

int nm_tointeger(lua_State *L, int idx, long long *out) {
  if (lua_type(L, idx) != LUA_TNUMBER) return 0;
#if LUA_VERSION_NUM >= 503
  if (lua_isinteger(L, idx)) {
    *out = (long long)lua_tointeger(L, idx);
    return 1;
  }
#endif
  lua_Number n = lua_tonumber(L, idx);
  if (!(n >= -9007199254740992.0 && n <= 9007199254740992.0) || floor(n) != n)
    return 0; /* NaN, infinities, fractions and huge values */
  *out = (long long)n;
  return 1;
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
