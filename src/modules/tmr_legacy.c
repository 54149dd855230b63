/* tmr_legacy.c - the static timer API that firmware before 2019 had and
 * many published programs still use: tmr.alarm, register, start,
 * stop, unregister, interval and state called on the module with a timer
 * id 0-6 (or a timer object) first.  Each runs the timer object's method
 * on one of seven hidden timers, with one warning per call site; with
 * --strict they are absent, so a call fails as on current firmware
 * ("attempt to call field 'alarm' (a nil value)"). */
#include <stdio.h>

#include "core/nm.h"

#define TMR_TIMER "tmr.timer"
#define NUM_TMR 7 /* static timers 0-6, as on the device */

/* Upvalues of every legacy function. */
#define UV_TMR lua_upvalueindex(1)     /* the tmr module table */
#define UV_STATIC lua_upvalueindex(2)  /* static timers by id, created on first use */

static int is_timer(lua_State *L, int idx) {
  if (lua_type(L, idx) != LUA_TUSERDATA || !lua_getmetatable(L, idx)) return 0;
  luaL_getmetatable(L, TMR_TIMER);
  int same = lua_rawequal(L, -1, -2);
  lua_pop(L, 2);
  return same;
}

/* Pushes static timer id, creating it with tmr.create() on first use. */
static void push_static(lua_State *L, int id) {
  lua_rawgeti(L, UV_STATIC, id);
  if (!lua_isnil(L, -1)) return;
  lua_pop(L, 1);
  lua_getfield(L, UV_TMR, "create");
  lua_call(L, 0, 1);
  lua_pushvalue(L, -1);
  lua_rawseti(L, UV_STATIC, id);
}

/* The mode of a static timer: the firmware's modes are SINGLE 0, AUTO 1,
 * SEMI 2, and 1 was also the "repeat" flag of the oldest API.  netmcu's
 * constants may differ (docs/DIFFERENCES.md): while its ALARM_AUTO is 2,
 * both 1 and 2 mean "repeat" here, since old programs write either `1` or
 * tmr.ALARM_AUTO.  (Timer objects passed to tmr.register(t, ...) came with
 * the constants: their mode is taken as it is.) */
static void translate_mode(lua_State *L) {
  long long mode;
  if (!nm_tointeger(L, 3, &mode) || (mode != 1 && mode != 2)) return;
  lua_getfield(L, UV_TMR, "ALARM_AUTO");
  long long autom = lua_tointeger(L, -1);
  lua_pop(L, 1);
  if (mode == 1 || autom == 2) lua_pushinteger(L, (lua_Integer)autom);
  else lua_getfield(L, UV_TMR, "ALARM_SEMI");
  lua_replace(L, 3);
}

/* A static timer calls its function with its id (the device did). */
static int static_callback(lua_State *L) {
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_pushvalue(L, lua_upvalueindex(2));
  lua_call(L, 1, 0);
  return 0;
}

/* Runs method t:<method>(...) of the timer now at index 1. */
static int call_method(lua_State *L, const char *method) {
  luaL_getmetatable(L, TMR_TIMER);
  lua_getfield(L, -1, "__index");
  lua_getfield(L, -1, method);
  lua_replace(L, -3);
  lua_pop(L, 1);
  lua_CFunction f = lua_tocfunction(L, -1);
  if (f != NULL && lua_getupvalue(L, -1, 1) == NULL) {
    /* Run it in this frame, so that its argument errors name this call
     * ("bad argument #2 to 'alarm'"), as on the device. */
    lua_pop(L, 1);
    return f(L);
  }
  if (f != NULL) lua_pop(L, 1); /* the upvalue */
  lua_insert(L, 1);
  lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
  return lua_gettop(L);
}

/* tmr.<method>(id|t, ...) -> t:<method>(...) */
static int legacy_call(lua_State *L, const char *method) {
  char form[48], instead[48];
  int timer = is_timer(L, 1);
  long long id = 0;
  if (!timer) {
    luaL_argcheck(L, lua_type(L, 1) == LUA_TNUMBER, 1, "timer object or numerical ID expected");
    luaL_argcheck(L, nm_tointeger(L, 1, &id) && id >= 0 && id < NUM_TMR, 1, "invalid timer index");
  }
  snprintf(form, sizeof form, "tmr.%s(%s, ...)", method, timer ? "t" : "id");
  snprintf(instead, sizeof instead, "%s:%s(...)", timer ? "t" : "tmr.create()", method);
  if (!timer && lua_type(L, 4) == LUA_TFUNCTION) { /* register, alarm */
    translate_mode(L);
    lua_pushvalue(L, 4);
    lua_pushvalue(L, 1);
    lua_pushcclosure(L, static_callback, 2);
    lua_replace(L, 4);
  }
  if (!timer) {
    push_static(L, (int)id);
    lua_replace(L, 1);
  }
  nm_legacy_warn(L, form, instead);
  return call_method(L, method);
}

#define LEGACY(name) \
  static int tmr_static_##name(lua_State *L) { return legacy_call(L, #name); }
LEGACY(alarm)
LEGACY(register)
LEGACY(start)
LEGACY(stop)
LEGACY(unregister)
LEGACY(interval)
LEGACY(state)

/* Adds the legacy functions to the tmr module table on top of the stack
 * (unless --strict). */
void nm_tmr_legacy_open(lua_State *L) {
  static const luaL_Reg funcs[] = {{"alarm", tmr_static_alarm},           {"register", tmr_static_register},
                                   {"start", tmr_static_start},           {"stop", tmr_static_stop},
                                   {"unregister", tmr_static_unregister}, {"interval", tmr_static_interval},
                                   {"state", tmr_static_state},           {NULL, NULL}};
  if (nm_opts.strict) return;
  lua_pushvalue(L, -1);
  lua_createtable(L, NUM_TMR, 0);
  nm_setfuncs(L, funcs, 2);
}
