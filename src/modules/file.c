/* file.c - NodeMCU's `file` module on the root directory: both
 * models (file objects, and the legacy calls that act on the last opened
 * file), and the file-system calls.  Every name goes through the sandbox
 * of core/root.c.  File I/O is synchronous, as on the device. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "core/root.h"
#include "modules/file/file.h"

static const char state_key = 'f';

file_state *file_state_get(lua_State *L) {
  lua_pushlightuserdata(L, (void *)&state_key);
  lua_rawget(L, LUA_REGISTRYINDEX);
  file_state *st = lua_touserdata(L, -1);
  lua_pop(L, 1);
  if (st != NULL) return st;
  lua_pushlightuserdata(L, (void *)&state_key);
  st = lua_newuserdata(L, sizeof *st);
  st->nopen = 0;
  st->default_ref = LUA_NOREF;
  st->rtc_ref = LUA_NOREF;
  lua_rawset(L, LUA_REGISTRYINDEX);
  return st;
}

/* The firmware's check: the base name (after the last '/' or ':') at most
 * 31 bytes (the whole name for stat), and no '\0' inside. */
const char *file_checkname(lua_State *L, int idx, int whole) {
  size_t len;
  const char *name = luaL_checklstring(L, idx, &len);
  const char *base = name;
  if (!whole) {
    const char *s = strrchr(name, '/');
    if (s == NULL) s = strrchr(name, ':');
    if (s != NULL) base = s + 1;
  }
  luaL_argcheck(L, strlen(base) <= NM_FS_NAME_MAX && strlen(name) == len, idx, "filename invalid");
  return name;
}

/* file.exists(name) */
static int file_exists(lua_State *L) {
  const char *name = file_checkname(L, 1, 0);
  struct stat st;
  lua_pushboolean(L, file_stat_name(nm_ctx_get(L), name, &st) == 0);
  return 1;
}

/* file.remove(name): nil, whatever happened (as the firmware). */
static int file_remove(lua_State *L) {
  const char *name = file_checkname(L, 1, 0);
  nm_rpath p;
  if (nm_root_resolve(nm_ctx_get(L), name, 0, &p) == 0) {
    struct stat st;
    if (fstatat(p.dirfd, p.last, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode))
      unlinkat(p.dirfd, p.last, 0);
    nm_rpath_free(&p);
  }
  return 0;
}

/* SPIFFS refuses to rename onto an existing name. */
static int rename_noreplace(nm_rpath *from, nm_rpath *to) {
#ifdef RENAME_NOREPLACE
  if (renameat2(from->dirfd, from->last, to->dirfd, to->last, RENAME_NOREPLACE) == 0) return 0;
  if (errno != ENOSYS && errno != EINVAL) return -1;
#endif
  struct stat st;
  if (fstatat(to->dirfd, to->last, &st, AT_SYMLINK_NOFOLLOW) == 0) return -1;
  return renameat(from->dirfd, from->last, to->dirfd, to->last);
}

/* file.rename(old, new): true or false. */
static int file_rename(lua_State *L) {
  const char *from = file_checkname(L, 1, 0);
  const char *to = file_checkname(L, 2, 0);
  nm_ctx *ctx = nm_ctx_get(L);
  nm_rpath a, b;
  int ok = 0;
  struct stat st;
  if (file_stat_name(ctx, from, &st) == 0 && nm_root_resolve(ctx, from, 0, &a) == 0) {
    if (nm_root_resolve(ctx, to, 1, &b) == 0) {
      ok = rename_noreplace(&a, &b) == 0;
      nm_rpath_free(&b);
    }
    nm_rpath_free(&a);
  }
  lua_pushboolean(L, ok);
  return 1;
}

static void set_int(lua_State *L, const char *k, lua_Integer v) {
  lua_pushinteger(L, v);
  lua_setfield(L, -2, k);
}

static void set_bool(lua_State *L, const char *k, int v) {
  lua_pushboolean(L, v);
  lua_setfield(L, -2, k);
}

/* file.stat(name): a table, or nil. */
static int file_stat(lua_State *L) {
  const char *name = file_checkname(L, 1, 1);
  nm_ctx *ctx = nm_ctx_get(L);
  struct stat st;
  nm_rpath p;
  if (file_stat_name(ctx, name, &st) != 0) {
    lua_pushnil(L);
    return 1;
  }
  int rdonly = 0;
  if (nm_root_resolve(ctx, name, 0, &p) == 0) {
    rdonly = faccessat(p.dirfd, p.last, W_OK, AT_SYMLINK_NOFOLLOW) != 0; /* no link followed */
    nm_rpath_free(&p);
  }
  lua_createtable(L, 0, 8);
  set_int(L, "size", (lua_Integer)st.st_size);
  lua_pushstring(L, nm_root_name(name));
  lua_setfield(L, -2, "name");
  set_bool(L, "is_dir", 0);
  set_bool(L, "is_rdonly", rdonly);
  set_bool(L, "is_hidden", 0);
  set_bool(L, "is_sys", 0);
  set_bool(L, "is_arch", 0);
  struct tm tm;
  time_t t = st.st_mtime;
  gmtime_r(&t, &tm);
  lua_createtable(L, 0, 6);
  set_int(L, "year", tm.tm_year + 1900);
  set_int(L, "mon", tm.tm_mon + 1);
  set_int(L, "day", tm.tm_mday);
  set_int(L, "hour", tm.tm_hour);
  set_int(L, "min", tm.tm_min);
  set_int(L, "sec", tm.tm_sec);
  lua_setfield(L, -2, "time");
  return 1;
}

typedef struct {
  lua_State *L;
  int pattern; /* stack index of the pattern, 0 for none */
  int status;
  long long used;
} list_state;

static int list_one(void *arg, const char *name, long long size) {
  list_state *ls = arg;
  lua_State *L = ls->L;
  if (ls->pattern) { /* pcall(string.match, name, pattern), as the firmware */
    lua_pushvalue(L, 3);
    lua_pushstring(L, name);
    lua_pushvalue(L, ls->pattern);
    if ((ls->status = lua_pcall(L, 2, 1, 0)) != 0) return 1;
    int hit = !lua_isnil(L, -1);
    lua_pop(L, 1);
    if (!hit) return 0;
  }
  lua_pushinteger(L, (lua_Integer)size);
  lua_setfield(L, 2, name);
  return 0;
}

/* file.list([pattern]): {name = size}. */
static int file_list(lua_State *L) {
  lua_settop(L, 1);
  const char *pattern = luaL_optstring(L, 1, NULL);
  lua_newtable(L); /* 2 */
  list_state ls = {L, pattern ? 1 : 0, 0, 0};
  if (pattern) {
    lua_getglobal(L, "string");
    lua_getfield(L, -1, "match"); /* 4 -> 3 */
    lua_remove(L, -2);
    luaL_checkstack(L, 8, NULL);
    if (!lua_isfunction(L, 3)) return luaL_error(L, "string.match is not available");
  }
  int rc = nm_root_each(nm_ctx_get(L), list_one, &ls);
  if (ls.status != 0) return lua_error(L); /* the pattern's error */
  if (rc < 0) return 0;                     /* the firmware: nothing when no dir */
  lua_settop(L, 2);
  return 1;
}

static int add_size(void *arg, const char *name, long long size) {
  (void)name;
  ((list_state *)arg)->used += size;
  return 0;
}

int file_usage(nm_ctx *ctx, long long *remaining, long long *used, long long *total) {
  list_state ls = {NULL, 0, 0, 0};
  struct statvfs vfs;
  if (nm_root_each(ctx, add_size, &ls) < 0 || statvfs(nm_root(ctx), &vfs) != 0) return -1;
  /* what SPIFFS would hold: the files, and the free space, within the
   * firmware's 31-bit figures */
  long long lim = 0x7FFFFFFF;
  long long avail = (long long)vfs.f_bavail * (long long)vfs.f_frsize;
  *used = ls.used < lim ? ls.used : lim;
  *remaining = avail < lim - *used ? avail : lim - *used;
  *total = *used + *remaining;
  return 0;
}

/* file.fsinfo(): remaining, used, total bytes. */
static int file_fsinfo(lua_State *L) {
  long long rem, used, total;
  if (file_usage(nm_ctx_get(L), &rem, &used, &total) != 0)
    return luaL_error(L, "file system failed");
  lua_pushinteger(L, (lua_Integer)rem);
  lua_pushinteger(L, (lua_Integer)used);
  lua_pushinteger(L, (lua_Integer)total);
  return 3;
}

/* file.fscfg(): the flash address and size of the file system. */
static int file_fscfg(lua_State *L) {
  long long rem, used, total;
  if (file_usage(nm_ctx_get(L), &rem, &used, &total) != 0) total = 0;
  lua_pushinteger(L, FILE_SPIFFS_ADDR);
  lua_pushinteger(L, (lua_Integer)total);
  return 2;
}

/* file.format(): erases the root, only when --fs named it. */
static int file_format(lua_State *L) {
  nm_ctx *ctx = nm_ctx_get(L);
  if (!nm_root_explicit(ctx))
    return luaL_error(L, "file.format: the root is the current directory; "
                         "netmcu erases only a root named with --fs DIR");
  lua_settop(L, 0);
  file_close_default(L);
  if (nm_root_erase(ctx) != 0) return luaL_error(L, "Failed to format file system");
  return 0;
}

/* file.on("rtc", [fn]): kept; SPIFFS has no time stamps to set. */
static int file_on(lua_State *L) {
  static const char *const events[] = {"rtc", NULL};
  luaL_checkoption(L, 1, "rtc", events);
  int t = lua_type(L, 2);
  if (t != LUA_TFUNCTION && t != LUA_TNIL && t != LUA_TNONE)
    return luaL_error(L, "Callback should be function or nil");
  file_state *st = file_state_get(L);
  luaL_unref(L, LUA_REGISTRYINDEX, st->rtc_ref);
  st->rtc_ref = LUA_NOREF;
  if (t == LUA_TFUNCTION) {
    lua_pushvalue(L, 2);
    st->rtc_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  }
  return 0;
}

int file_stat_name(nm_ctx *ctx, const char *name, struct stat *st) {
  nm_rpath p;
  int rc = nm_root_resolve(ctx, name, 0, &p);
  if (rc != 0) return rc;
  if (fstatat(p.dirfd, p.last, st, AT_SYMLINK_NOFOLLOW) != 0) rc = -errno;
  else if (!S_ISREG(st->st_mode)) rc = -ENOENT;
  nm_rpath_free(&p);
  return rc;
}

int luaopen_file(lua_State *L) {
  static const luaL_Reg funcs[] = {
      {"list", file_list},         {"exists", file_exists},
      {"remove", file_remove},     {"rename", file_rename},
      {"stat", file_stat},         {"fsinfo", file_fsinfo},
      {"fscfg", file_fscfg},       {"format", file_format},
      {"on", file_on},             {NULL, NULL}};
  nm_ctx_get(L);
  file_state_get(L);
  nm_newlib(L, funcs);
  file_obj_open(L); /* open, close, read, ... and the file objects */
  return 1;
}
