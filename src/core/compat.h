/* compat.h - the differences between Lua 5.1/LuaJIT, 5.2, 5.3 and 5.4 that
 * netmcu touches, kept in one place so the rest of the code is version-free. */
#ifndef NM_COMPAT_H
#define NM_COMPAT_H

#include <lua.h>
#include <lauxlib.h>
#include <lualib.h>

#if LUA_VERSION_NUM >= 504
/* One user value slot holds the callback table. */
#define nm_newuserdata(L, sz) lua_newuserdatauv((L), (sz), 1)
#define nm_getuservalue(L, i) ((void)lua_getiuservalue((L), (i), 1))
#define nm_setuservalue(L, i) ((void)lua_setiuservalue((L), (i), 1))
#elif LUA_VERSION_NUM >= 502
#define nm_newuserdata(L, sz) lua_newuserdata((L), (sz))
#define nm_getuservalue(L, i) ((void)lua_getuservalue((L), (i)))
#define nm_setuservalue(L, i) lua_setuservalue((L), (i))
#else
/* 5.1 and LuaJIT: the environment table of a userdata is its user value.
 * A new userdata inherits the running function's environment, so netmcu
 * always gives it a fresh table at creation (see nm_obj_new). */
#define nm_newuserdata(L, sz) lua_newuserdata((L), (sz))
#define nm_getuservalue(L, i) lua_getfenv((L), (i))
#define nm_setuservalue(L, i) lua_setfenv((L), (i))
#define NM_UV_IS_FENV 1
#endif

#if LUA_VERSION_NUM < 502
#define nm_rawlen(L, i) lua_objlen((L), (i))
void nm_setfuncs(lua_State *L, const luaL_Reg *l, int nup);
#define nm_newlib(L, l) (lua_newtable(L), nm_setfuncs((L), (l), 0))
#else
#define nm_rawlen(L, i) lua_rawlen((L), (i))
#define nm_setfuncs luaL_setfuncs
#define nm_newlib luaL_newlib
#endif

/* The main thread, on which errors at shutdown are handled. */
lua_State *nm_mainthread(lua_State *L);

/* Integer arguments, refusing fractions on every version (5.1 and LuaJIT
 * have no integer subtype and would truncate 1.5 silently).  Returns 1 and
 * stores the value if the argument at idx is a number with an integral value
 * that fits in a long long, or a string that converts to one ("8266", as
 * the firmware's luaL_checkinteger takes it); 0 otherwise ("80x", "1.5"). */
int nm_tointeger(lua_State *L, int idx, long long *out);
/* luaL_checkinteger with nm_tointeger's rule, on every version: raises
 * "number expected, got ..." or "number has no integer representation". */
long long nm_checkinteger(lua_State *L, int idx);
/* lua_isnumber: a number, or a string that converts to one (no embedded
 * NUL).  Where the firmware tells arguments apart by it. */
int nm_isnumber(lua_State *L, int idx);

/* Traceback of L from level, appended below msg; pushes the result. */
void nm_traceback(lua_State *L, lua_State *L1, const char *msg, int level);

#endif
