/* modules.c - the module table built from NM_MODULES (modules.h). */
#include "modules.h"

#define NM_MODULE_ENTRY(name) {#name, luaopen_##name},
const nm_module nm_modules[] = {NM_MODULES(NM_MODULE_ENTRY){NULL, NULL}};
#undef NM_MODULE_ENTRY

void nm_preload_modules(lua_State *L) {
  lua_getglobal(L, "package");
  if (!lua_istable(L, -1)) {
    lua_pop(L, 1);
    return;
  }
  lua_getfield(L, -1, "preload");
  if (lua_istable(L, -1)) {
    for (const nm_module *m = nm_modules; m->name != NULL; m++) {
      if (m->open == luaopen_net) continue;
      lua_pushcfunction(L, m->open);
      lua_setfield(L, -2, m->name);
    }
  }
  lua_pop(L, 2);
}
