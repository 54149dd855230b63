/* legacy.c - the runtime's options for the modules, and the warning that
 * legacy forms (the static timer API, positional
 * wifi.sta.config, ...) print once per call site. */
#include <stdio.h>

#include "nm.h"

nm_options nm_opts;

static const char warned_key = 'w'; /* registry: set of warned call sites */

/* Pushes "source:line" of the Lua code that called the running C function
 * ("?" when there is none, e.g. a call from C). */
static void push_call_site(lua_State *L) {
  lua_Debug ar;
  if (lua_getstack(L, 1, &ar) && lua_getinfo(L, "Sl", &ar) && ar.currentline > 0)
    lua_pushfstring(L, "%s:%d", ar.short_src, ar.currentline);
  else
    lua_pushliteral(L, "?");
}

void nm_warn_once(lua_State *L, const char *form, const char *msg) {
  lua_pushlightuserdata(L, (void *)&warned_key);
  lua_rawget(L, LUA_REGISTRYINDEX);
  if (!lua_istable(L, -1)) {
    lua_pop(L, 1);
    lua_newtable(L);
    lua_pushlightuserdata(L, (void *)&warned_key);
    lua_pushvalue(L, -2);
    lua_rawset(L, LUA_REGISTRYINDEX);
  }
  push_call_site(L);
  lua_pushfstring(L, "%s\n%s", lua_tostring(L, -1), form); /* site and form */
  lua_rawget(L, -3);
  int seen = lua_toboolean(L, -1);
  lua_pop(L, 1);
  if (!seen) {
    fprintf(stderr, "netmcu: %s: %s\n", lua_tostring(L, -1), msg);
    fflush(stderr);
    lua_pushfstring(L, "%s\n%s", lua_tostring(L, -1), form);
    lua_pushboolean(L, 1);
    lua_rawset(L, -4);
  }
  lua_pop(L, 2);
}

void nm_legacy_warn(lua_State *L, const char *form, const char *instead) {
  char msg[256];
  snprintf(msg, sizeof msg,
           "%s is a legacy form that current firmware removed; use %s (--strict makes it an error)",
           form, instead);
  nm_warn_once(L, form, msg);
}
