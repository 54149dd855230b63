/* dialect.c - the firmware's Lua on the runtime's 5.3 and 5.4 builds.
 * NodeMCU's own Lua 5.3 (app/lua53/luaconf.h of the ESP8266 firmware,
 * components/lua/lua-5.3 of the ESP32 one) keeps three things of 5.1 for
 * older scripts, and no more: LUA_COMPAT_UNPACK (the global unpack),
 * LUA_COMPAT_LOADSTRING (loadstring, the same function as load) and
 * LUA_COMPAT_LOADERS (package.loaders, the same table as
 * package.searchers, so a loader inserted into either is used).  Third-party
 * scripts call them.  Lua 5.1 and LuaJIT have them already.  Only the
 * runtime does this: a stock interpreter that loads net.so keeps its own
 * globals. */
#include "core/nm.h"

void nm_dialect_open(lua_State *L) {
#if LUA_VERSION_NUM >= 503
  lua_getglobal(L, "table");
  if (lua_istable(L, -1)) {
    lua_getfield(L, -1, "unpack");
    lua_setglobal(L, "unpack");
  }
  lua_getglobal(L, "load");
  lua_setglobal(L, "loadstring");
  lua_getglobal(L, "package");
  if (lua_istable(L, -1)) {
    lua_getfield(L, -1, "searchers");
    lua_setfield(L, -2, "loaders");
  }
  lua_pop(L, 2);
#else
  (void)L;
#endif
}
