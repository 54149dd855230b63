/* obj.c - the Lua side shared by every netmcu object: creation, callbacks
 * kept in the user value, anchoring while active, fetching a callback from
 * a libuv callback, and the argument checks. */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "nm.h"

static int class_tostring(lua_State *L) {
  lua_getmetatable(L, 1);
  lua_getfield(L, -1, "__name");
  lua_pushfstring(L, "%s: %p", lua_tostring(L, -1), lua_touserdata(L, 1));
  return 1;
}

/* The class's gc with its argument checked as every method checks it:
 * scripts reach it with anything (getmetatable(o).__gc("x"), o.__gc(x)).
 * Upvalues: the type name, the gc. */
static int class_gc(lua_State *L) {
  luaL_checkudata(L, 1, lua_tostring(L, lua_upvalueindex(1)));
  return lua_tocfunction(L, lua_upvalueindex(2))(L);
}

/* obj:__gc() (NM_GC_METHOD): the gc, then the callbacks go, as the
 * firmware's net_delete unrefs them; the object stays usable. */
static int class_delete(lua_State *L) {
  lua_settop(L, 1);
  class_gc(L);
  lua_settop(L, 1);
  nm_cb_clear(L, 1);
  return 0;
}

static void push_gc(lua_State *L, const char *tname, lua_CFunction gc, lua_CFunction f) {
  lua_pushstring(L, tname);
  lua_pushcfunction(L, gc);
  lua_pushcclosure(L, f, 2);
}

void nm_class_upvalue(lua_State *L, const char *tname, const luaL_Reg *methods) {
  luaL_getmetatable(L, tname);
  lua_getfield(L, -1, "__index");
  for (const luaL_Reg *m = methods; m->name != NULL; m++) {
    if (m->func == NULL) continue; /* obj:__gc(), made by nm_class */
    lua_pushvalue(L, -2);
    lua_pushcclosure(L, m->func, 1);
    lua_setfield(L, -2, m->name);
  }
  lua_pop(L, 2);
}

void nm_class(lua_State *L, const char *tname, const luaL_Reg *methods, lua_CFunction gc) {
  if (luaL_newmetatable(L, tname)) {
    lua_pushstring(L, tname); /* 5.1 and 5.2 do not set __name themselves */
    lua_setfield(L, -2, "__name");
    lua_newtable(L);
    for (const luaL_Reg *m = methods; m->name != NULL; m++) {
      if (m->func == NULL)
        push_gc(L, tname, gc, class_delete);
      else
        lua_pushcfunction(L, m->func);
      lua_setfield(L, -2, m->name);
    }
    lua_setfield(L, -2, "__index");
    push_gc(L, tname, gc, class_gc);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, class_tostring);
    lua_setfield(L, -2, "__tostring");
  }
  lua_pop(L, 1);
}

#if LUA_VERSION_NUM >= 503
/* The user value holds the callback table, or — while a single slot is set,
 * the common case of a connection with only `receive` — that function
 * itself, its slot kept in the tail's inline_slot.  That saves a table
 * (~150 bytes) per connection.  5.1 and 5.2 need a table there. */
#define NM_CB_INLINE 1
#endif

_Static_assert(NM_CB_MAX <= 16, "nm_ud_tail.set has a bit per slot");

/* The tail of the object at idx (after the size given to nm_obj_new). */
static nm_ud_tail *ud_tail(lua_State *L, int idx) {
  return (nm_ud_tail *)((char *)lua_touserdata(L, idx) + nm_rawlen(L, idx) - sizeof(nm_ud_tail));
}

void *nm_obj_new(lua_State *L, size_t sz, const char *tname) {
  sz = nm_ud_tail_offset(sz) + sizeof(nm_ud_tail);
  void *p = nm_newuserdata(L, sz);
  memset(p, 0, sz);
  luaL_getmetatable(L, tname);
  lua_setmetatable(L, -2);
#ifdef NM_UV_IS_FENV
  lua_createtable(L, 0, 0);
  nm_setuservalue(L, -2);
#endif
  return p;
}

#ifndef NM_CB_INLINE
/* Pushes the callback table of the object at idx, creating it if create is
 * set; returns 0 (nothing pushed) if there is none. */
static int cb_table(lua_State *L, int idx, int create) {
  nm_getuservalue(L, idx);
  if (lua_istable(L, -1)) return 1;
  lua_pop(L, 1);
  if (!create) return 0;
  idx = idx < 0 ? lua_gettop(L) + idx + 1 : idx;
  lua_createtable(L, 0, 2);
  lua_pushvalue(L, -1);
  nm_setuservalue(L, idx);
  return 1;
}
#endif

void nm_cb_set(lua_State *L, int idx, int slot) {
  idx = idx < 0 ? lua_gettop(L) + idx + 1 : idx;
  nm_ud_tail *tail = ud_tail(L, idx);
  int clear = lua_isnil(L, -1);
  if (clear)
    tail->set &= (uint16_t)~(1u << slot);
  else
    tail->set |= (uint16_t)(1u << slot);
#ifdef NM_CB_INLINE
  unsigned char *one = &tail->inline_slot;
  nm_getuservalue(L, idx); /* v, uv */
  int t = lua_type(L, -1);
  if (t == LUA_TNIL || (t != LUA_TTABLE && *one == slot)) {
    lua_pop(L, 1); /* none yet, or only this slot: v takes its place */
    nm_setuservalue(L, idx);
    *one = clear ? 0 : (unsigned char)slot;
    return;
  }
  if (t != LUA_TTABLE) { /* the function of another slot */
    if (clear) {
      lua_pop(L, 2);
      return;
    }
    lua_createtable(L, 0, 2); /* v, fn, table */
    lua_insert(L, -2);
    lua_rawseti(L, -2, *one);
    lua_pushvalue(L, -1);
    nm_setuservalue(L, idx);
    *one = 0;
  }
  lua_insert(L, -2); /* table, v */
  lua_rawseti(L, -2, slot);
  lua_pop(L, 1);
#else
  if (!cb_table(L, idx, !lua_isnil(L, -1))) {
    lua_pop(L, 1); /* clearing a slot of an object that has none */
    return;
  }
  lua_insert(L, -2);
  lua_rawseti(L, -2, slot);
  lua_pop(L, 1);
#endif
}

int nm_cb_get(lua_State *L, int idx, int slot) {
#ifdef NM_CB_INLINE
  idx = idx < 0 ? lua_gettop(L) + idx + 1 : idx;
  nm_getuservalue(L, idx);
  int t = lua_type(L, -1);
  if (t == LUA_TTABLE) {
    lua_rawgeti(L, -1, slot);
    lua_remove(L, -2);
    return lua_type(L, -1);
  }
  if (t != LUA_TNIL && ud_tail(L, idx)->inline_slot == slot) return t;
  lua_pop(L, 1);
  lua_pushnil(L);
  return LUA_TNIL;
#else
  if (!cb_table(L, idx, 0)) {
    lua_pushnil(L);
    return LUA_TNIL;
  }
  lua_rawgeti(L, -1, slot);
  lua_remove(L, -2);
  return lua_type(L, -1);
#endif
}

void nm_cb_clear(lua_State *L, int idx) {
  idx = idx < 0 ? lua_gettop(L) + idx + 1 : idx;
  nm_ud_tail *tail = ud_tail(L, idx);
  tail->set = 0;
  tail->inline_slot = 0;
#ifdef NM_UV_IS_FENV
  nm_getuservalue(L, idx); /* emptied in place: the user value stays a table */
  lua_pushnil(L);
  while (lua_next(L, -2) != 0) {
    lua_pop(L, 1);
    lua_pushvalue(L, -1);
    lua_pushnil(L);
    lua_rawset(L, -4);
  }
  lua_pop(L, 1);
#else
  lua_pushnil(L);
  nm_setuservalue(L, idx);
#endif
}

int nm_cb_on(lua_State *L, const char *const names[], const int slots[]) {
  const char *name = luaL_checkstring(L, 2);
  int i = 0;
  while (names[i] != NULL && strcmp(names[i], name) != 0) i++;
  if (names[i] == NULL) return luaL_error(L, "invalid callback name");
  int t = lua_type(L, 3);
  if (t != LUA_TFUNCTION && t != LUA_TNIL) /* a missing one too, as on the device */
    return luaL_error(L, "invalid callback function");
  lua_settop(L, 3);
  nm_cb_set(L, 1, slots[i]);
  return 0;
}

int nm_anchor(lua_State *L, int idx) {
  lua_pushvalue(L, idx);
  return luaL_ref(L, LUA_REGISTRYINDEX);
}

void nm_unanchor(lua_State *L, int *ref) {
  if (*ref == LUA_NOREF || *ref == LUA_REFNIL) return;
  nm_unref(L, *ref);
  *ref = LUA_NOREF;
}

/* luaL_unref allocates when the registry's free-list entry has to be
 * created again, so it may raise "not enough memory": outside a protected
 * call that is a panic (issue 18, tests/faults_alloc.sh).  nm_unref and
 * nm_ref run through lua_pcall of this C function, fetched from the
 * registry (pushing one would allocate on 5.1): regop(ref) unrefs,
 * regop(true, v) refs v. */
static const char regop_key = 'u';

static int regop_f(lua_State *L) {
  if (lua_type(L, 1) == LUA_TBOOLEAN) {
    lua_pushinteger(L, luaL_ref(L, LUA_REGISTRYINDEX));
    return 1;
  }
  luaL_unref(L, LUA_REGISTRYINDEX, (int)lua_tointeger(L, 1));
  return 0;
}

void nm_obj_init(lua_State *L) {
  lua_pushlightuserdata(L, (void *)&regop_key);
  lua_pushcfunction(L, regop_f);
  lua_rawset(L, LUA_REGISTRYINDEX);
}

int nm_ref(lua_State *L, int idx) {
  int ref = LUA_NOREF;
  idx = idx < 0 ? lua_gettop(L) + idx + 1 : idx;
  if (!lua_checkstack(L, 4)) return ref;
  lua_pushlightuserdata(L, (void *)&regop_key);
  lua_rawget(L, LUA_REGISTRYINDEX);
  lua_pushboolean(L, 1);
  lua_pushvalue(L, idx);
  if (lua_pcall(L, 2, 1, 0) == 0) ref = (int)lua_tointeger(L, -1);
  lua_pop(L, 1);
  return ref;
}

void nm_ref_reserve(lua_State *L, int *slot) {
  if (*slot != LUA_NOREF) return;
  lua_pushboolean(L, 0);
  *slot = luaL_ref(L, LUA_REGISTRYINDEX);
}

int nm_ref_fill(lua_State *L, int idx, int *slot) {
  int ref = *slot;
  lua_pushvalue(L, idx);
  lua_rawseti(L, LUA_REGISTRYINDEX, ref); /* an existing key: cannot fail */
  *slot = LUA_NOREF;
  return ref;
}

void nm_unref(lua_State *L, int ref) {
  if (ref == LUA_NOREF || ref == LUA_REFNIL) return;
  if (!lua_checkstack(L, 3)) return;
  lua_pushlightuserdata(L, (void *)&regop_key);
  lua_rawget(L, LUA_REGISTRYINDEX);
  lua_pushinteger(L, ref);
  if (lua_pcall(L, 1, 0, 0) != 0) lua_pop(L, 1); /* out of memory: ref kept */
}

void nm_bind_attach(lua_State *L, int idx, nm_bind *b, void *state) {
  b->ref = nm_anchor(L, idx);
  b->state = state;
}

int nm_bind_release(nm_bind *b) {
  int ref = b->state != NULL ? b->ref : LUA_NOREF;
  b->state = NULL;
  b->ref = LUA_NOREF;
  return ref;
}

void nm_bind_detach(lua_State *L, nm_bind *b) {
  int ref = nm_bind_release(b);
  nm_unanchor(L, &ref);
}

int nm_optcallback_fail(lua_State *L) { return luaL_error(L, "invalid callback function"); }

/* ---- argument checks ---- */

long long nm_checkrange(lua_State *L, int idx, long long lo, long long hi) {
  long long v;
  if (!nm_tointeger(L, idx, &v)) {
    const char *msg = lua_pushfstring(L, "integer expected, got %s",
                                      lua_type(L, idx) == LUA_TNUMBER
                                          ? "a non-integer number"
                                          : luaL_typename(L, idx));
    luaL_argerror(L, idx, msg);
  }
  if (v < lo || v > hi) {
    char buf[96];
    snprintf(buf, sizeof buf, "out of range [%lld-%lld]", lo, hi);
    luaL_argerror(L, idx, buf);
  }
  return v;
}

int nm_checkport(lua_State *L, int idx) {
  long long v;
  if (!nm_tointeger(L, idx, &v) || v < 0 || v > 65535)
    luaL_argerror(L, idx, "invalid port (integer 0-65535 expected)");
  return (int)v;
}

/* inet_pton accepts only a.b.c.d with decimal parts 0-255 (no leading
 * zero tricks, no shorthand): a malformed address is an error, never a
 * guess (docs/modules/net.md). */
int nm_parse_ip4(const char *s, struct in_addr *out) {
  return inet_pton(AF_INET, s, out) == 1 ? 0 : -1;
}

const char *nm_tocstring(lua_State *L, int idx) {
  size_t len;
  if (lua_type(L, idx) != LUA_TSTRING) return NULL;
  const char *s = lua_tolstring(L, idx, &len);
  return strlen(s) == len ? s : NULL;
}

int nm_checkip4(lua_State *L, int idx, struct in_addr *out) {
  const char *s = nm_tocstring(L, idx);
  return s != NULL ? nm_parse_ip4(s, out) : -1;
}

void nm_push_ip4(lua_State *L, const struct in_addr *addr) {
  char buf[INET_ADDRSTRLEN];
  inet_ntop(AF_INET, addr, buf, sizeof buf);
  lua_pushstring(L, buf);
}

void nm_push_ip_or_nil(lua_State *L, void *in_addr_or_null) {
  if (in_addr_or_null != NULL)
    nm_push_ip4(L, in_addr_or_null);
  else
    lua_pushnil(L);
}

int nm_push_sockaddr(lua_State *L, const struct sockaddr *sa) {
  if (sa == NULL || sa->sa_family != AF_INET) {
    lua_pushnil(L);
    lua_pushnil(L);
    return 2;
  }
  const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;
  lua_pushinteger(L, ntohs(sin->sin_port));
  nm_push_ip4(L, &sin->sin_addr);
  return 2;
}
