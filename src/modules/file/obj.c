/* obj.c - file.open and the file objects, in the firmware's two models:
 * methods of the object (fd:read()) and legacy calls (file.read()) that
 * act on the last opened file. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "core/root.h"
#include "file.h"

#define FILE_OBJ "file.obj"

typedef struct {
  int fd; /* -1 once closed */
} file_ud;

/* The firmware's modes (fs_mode2flag); anything else reads. */
static int mode_flags(const char *mode) {
  static const struct {
    const char *m;
    int flags;
  } modes[] = {{"w", O_WRONLY | O_CREAT | O_TRUNC}, {"a", O_WRONLY | O_CREAT | O_APPEND},
               {"r+", O_RDWR},                       {"w+", O_RDWR | O_CREAT | O_TRUNC},
               {"a+", O_RDWR | O_CREAT | O_APPEND}};
  for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++)
    if (strcmp(mode, modes[i].m) == 0) return modes[i].flags;
  return O_RDONLY;
}

/* Pushes a new file object for name, or nil.  SPIFFS holds at most
 * FILE_MAX_OPEN files open; as the device's emergency collector would,
 * a full collection first closes the ones the script dropped. */
static file_ud *push_open(lua_State *L, file_state *st, const char *name, int flags) {
  if (st->nopen >= FILE_MAX_OPEN) lua_gc(L, LUA_GCCOLLECT, 0);
  file_ud *ud = st->nopen < FILE_MAX_OPEN ? lua_newuserdata(L, sizeof *ud) : NULL;
  if (ud == NULL) {
    lua_pushnil(L);
    return NULL;
  }
  ud->fd = -1;
  luaL_getmetatable(L, FILE_OBJ);
  lua_setmetatable(L, -2);
  int fd = nm_root_open(nm_ctx_get(L), name, flags, 0666);
  if (fd < 0) {
    lua_pop(L, 1);
    lua_pushnil(L);
    return NULL;
  }
  ud->fd = fd;
  st->nopen++;
  return ud;
}

static void ud_close(lua_State *L, file_ud *ud) {
  if (ud->fd < 0) return;
  close(ud->fd);
  ud->fd = -1;
  file_state_get(L)->nopen--;
}

/* file.open(name [, mode]) */
static int file_open(lua_State *L) {
  const char *name = file_checkname(L, 1, 0);
  const char *mode = luaL_optstring(L, 2, "r");
  file_state *st = file_state_get(L);
  nm_unref(L, st->default_ref); /* collectable if dropped */
  st->default_ref = LUA_NOREF;
  if (push_open(L, st, name, mode_flags(mode)) != NULL)
    st->default_ref = nm_ref(L, -1); /* after the open: must not raise */
  return 1;
}

/* The file of a call: the object given as self, else the default one. */
static file_ud *get_file(lua_State *L, int *argpos) {
  if (lua_type(L, 1) == LUA_TUSERDATA) {
    *argpos = 2;
    return luaL_checkudata(L, 1, FILE_OBJ);
  }
  *argpos = 1;
  file_state *st = file_state_get(L);
  if (st->default_ref == LUA_NOREF) return NULL;
  lua_rawgeti(L, LUA_REGISTRYINDEX, st->default_ref);
  file_ud *ud = lua_touserdata(L, -1);
  lua_pop(L, 1); /* the registry keeps it */
  return ud;
}

static int need_open(lua_State *L, file_ud *ud) {
  if (ud == NULL || ud->fd < 0) return luaL_error(L, "open a file first");
  return ud->fd;
}

int file_close_default(lua_State *L) {
  file_state *st = file_state_get(L);
  if (st->default_ref == LUA_NOREF) return 0;
  lua_rawgeti(L, LUA_REGISTRYINDEX, st->default_ref);
  ud_close(L, lua_touserdata(L, -1));
  lua_pop(L, 1);
  luaL_unref(L, LUA_REGISTRYINDEX, st->default_ref);
  st->default_ref = LUA_NOREF;
  return 0;
}

/* file.close(), fd:close() */
static int file_close(lua_State *L) {
  if (lua_type(L, 1) != LUA_TUSERDATA) return file_close_default(L);
  file_ud *ud = luaL_checkudata(L, 1, FILE_OBJ);
  ud_close(L, ud);
  file_state *st = file_state_get(L);
  if (st->default_ref != LUA_NOREF) { /* it was the legacy calls' file too */
    lua_rawgeti(L, LUA_REGISTRYINDEX, st->default_ref);
    if (lua_rawequal(L, 1, -1)) {
      luaL_unref(L, LUA_REGISTRYINDEX, st->default_ref);
      st->default_ref = LUA_NOREF;
    }
    lua_pop(L, 1);
  }
  return 0;
}

static int file_gc(lua_State *L) {
  ud_close(L, luaL_checkudata(L, 1, FILE_OBJ));
  return 0;
}

static ssize_t read_some(int fd, char *p, size_t n) {
  ssize_t r;
  while ((r = read(fd, p, n)) < 0 && errno == EINTR) {
  }
  return r;
}

/* The firmware's g_read: up to n bytes, ending after end_char if that
 * comes first; nil at the end of the file. */
static int g_read(lua_State *L, uint32_t n, int end_char, int fd) {
  luaL_Buffer b;
  char p[FILE_READ_CHUNK];
  luaL_buffinit(L, &b);
  for (uint32_t j = 0; j < n;) {
    size_t want = n - j < sizeof p ? n - j : sizeof p;
    ssize_t got = read_some(fd, p, want);
    if (got <= 0) {
      if (j > 0) break;
      lua_pushnil(L);
      return 1;
    }
    size_t take = (size_t)got;
    const char *e = end_char >= 0 ? memchr(p, end_char, take) : NULL;
    if (e != NULL) {
      take = (size_t)(e - p) + 1;
      lseek(fd, (off_t)take - got, SEEK_CUR); /* back to after end_char */
    }
    luaL_addlstring(&b, p, take);
    j += (uint32_t)take;
    if (take < want) break;
  }
  luaL_pushresult(&b);
  return 1;
}

/* file.read([n_or_char]), fd:read([n_or_char]) */
static int file_read(lua_State *L) {
  int pos;
  file_ud *ud = get_file(L, &pos);
  uint32_t n = FILE_READ_CHUNK;
  int end_char = -1;
  if (lua_type(L, pos) == LUA_TNUMBER) {
    n = (uint32_t)nm_checkinteger(L, pos); /* unsigned, as the firmware */
  } else if (lua_isstring(L, pos)) {
    size_t el;
    const char *end = lua_tolstring(L, pos, &el);
    if (el != 1) return luaL_error(L, "wrong arg range");
    end_char = (unsigned char)end[0];
  }
  return g_read(L, n, end_char, need_open(L, ud));
}

/* file.readline(), fd:readline(): up to 1024 bytes, '\n' included. */
static int file_readline(lua_State *L) {
  int pos;
  file_ud *ud = get_file(L, &pos);
  return g_read(L, FILE_READ_CHUNK, '\n', need_open(L, ud));
}

static int write_all(int fd, const char *s, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, s, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return -1;
    s += w;
    n -= (size_t)w;
  }
  return 0;
}

static int do_write(lua_State *L, int newline) {
  int pos;
  file_ud *ud = get_file(L, &pos);
  int fd = need_open(L, ud);
  size_t l;
  const char *s = luaL_checklstring(L, pos, &l);
  int ok = write_all(fd, s, l) == 0 && (!newline || write_all(fd, "\n", 1) == 0);
  if (ok) lua_pushboolean(L, 1);
  else lua_pushnil(L);
  return 1;
}

/* file.write(s), fd:write(s): true or nil. */
static int file_write(lua_State *L) { return do_write(L, 0); }
/* file.writeline(s), fd:writeline(s): s and '\n'. */
static int file_writeline(lua_State *L) { return do_write(L, 1); }

/* file.seek([whence [, offset]]): the new position, or nil. */
static int file_seek(lua_State *L) {
  static const char *const names[] = {"set", "cur", "end", NULL};
  static const int whence[] = {SEEK_SET, SEEK_CUR, SEEK_END};
  int pos;
  file_ud *ud = get_file(L, &pos);
  int fd = need_open(L, ud);
  int op = luaL_checkoption(L, pos, "cur", names);
  lua_Integer off = lua_isnoneornil(L, pos + 1) ? 0 : nm_checkinteger(L, pos + 1);
  off_t r = lseek(fd, (off_t)off, whence[op]);
  if (r < 0) lua_pushnil(L);
  else lua_pushinteger(L, (lua_Integer)r);
  return 1;
}

/* file.flush(), fd:flush(): writes go straight to the host's kernel, so
 * nothing is held back. */
static int file_flush(lua_State *L) {
  int pos;
  file_ud *ud = get_file(L, &pos);
  need_open(L, ud);
  lua_pushboolean(L, 1);
  return 1;
}

/* file.getcontents(name): the contents; nothing if the file is missing
 * (and nil if it is empty), as the firmware. */
static int file_getcontents(lua_State *L) {
  const char *name = file_checkname(L, 1, 0);
  lua_settop(L, 1);
  file_ud *ud = push_open(L, file_state_get(L), name, O_RDONLY);
  if (ud == NULL) return 0;
  g_read(L, UINT32_MAX >> 1, -1, ud->fd);
  ud_close(L, ud);
  return 1;
}

/* file.putcontents(name, contents): true, or nil. */
static int file_putcontents(lua_State *L) {
  const char *name = file_checkname(L, 1, 0);
  size_t l;
  const char *s = luaL_checklstring(L, 2, &l);
  file_ud *ud = push_open(L, file_state_get(L), name, O_RDWR | O_CREAT | O_TRUNC);
  if (ud == NULL) return 1;
  int ok = write_all(ud->fd, s, l) == 0;
  ud_close(L, ud);
  if (ok) lua_pushboolean(L, 1);
  else lua_pushnil(L);
  return 1;
}

void file_obj_open(lua_State *L) {
  static const luaL_Reg methods[] = {
      {"close", file_close}, {"read", file_read},   {"readline", file_readline},
      {"write", file_write}, {"writeline", file_writeline}, {"seek", file_seek},
      {"flush", file_flush}, {NULL, NULL}};
  static const luaL_Reg funcs[] = {{"open", file_open},
                                   {"getcontents", file_getcontents},
                                   {"putcontents", file_putcontents},
                                   {NULL, NULL}};
  nm_class(L, FILE_OBJ, methods, file_gc);
  nm_setfuncs(L, methods, 0); /* the legacy calls: the same functions */
  nm_setfuncs(L, funcs, 0);
}
