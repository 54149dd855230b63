/* modshim.c - tmr.so and node.so for a stock interpreter: `require "tmr"`
 * loads net.so (which holds the one event loop and every module) and opens
 * tmr from there, so there is never a second copy of the loop, whatever
 * way the files are installed.  Built with -DNM_SHIM_NAME=tmr or node. */
#include <lauxlib.h>
#include <lua.h>

#define NM_CAT2(a, b) a##b
#define NM_CAT(a, b) NM_CAT2(a, b)
#define NM_STR2(a) #a
#define NM_STR(a) NM_STR2(a)

__attribute__((visibility("default"))) int NM_CAT(luaopen_, NM_SHIM_NAME)(lua_State *L);

int NM_CAT(luaopen_, NM_SHIM_NAME)(lua_State *L) {
  lua_getglobal(L, "require");
  lua_pushliteral(L, "net");
  lua_call(L, 1, 0); /* registers package.preload[NM_SHIM_NAME] */
  lua_getglobal(L, "package");
  lua_getfield(L, -1, "preload");
  lua_getfield(L, -1, NM_STR(NM_SHIM_NAME));
  if (!lua_isfunction(L, -1)) return luaL_error(L, "net did not provide " NM_STR(NM_SHIM_NAME));
  lua_pushliteral(L, NM_STR(NM_SHIM_NAME));
  lua_call(L, 1, 1);
  return 1;
}
