/* lfs.c - the Lua Flash Store (node.LFS, node.flashindex) served from a
 * directory of Lua modules: --lfs DIR, or the directory that
 * node.LFS.reload() named.  Each module is DIR/<name>.lc or .lua. */
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/root.h"
#include "node.h"

#define LFS_SIZE 0x40000      /* the region a default build gives LFS */
#define LFS_MAPPED 0x40200000 /* where the ESP8266 maps flash */

/* The image node.LFS.reload() flashed: it outlives restarts, as flash. */
static char *lfs_reloaded;

static const char *lfs_dir(lua_State *L) {
  return lfs_reloaded != NULL ? lfs_reloaded : nm_ctx_get(L)->lfs_dir;
}

static int module_name(const char *s, size_t l) {
  return l > 0 && l < 200 && strchr(s, '/') == NULL && s[0] != '.' && strlen(s) == l;
}

/* The module file's name in the LFS directory (.lc before .lua), pushed;
 * 0 if there is none. */
static int find_module(lua_State *L, const char *dir, const char *name) {
  static const char *const ext[] = {".lc", ".lua"};
  for (int i = 0; i < 2; i++) {
    const char *path = lua_pushfstring(L, "%s/%s%s", dir, name, ext[i]);
    struct stat st;
    if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) return 1;
    lua_pop(L, 1);
  }
  return 0;
}

static const char cache_key = 'l';

/* node.LFS.get(name), node.flashindex(name): the module's function, or
 * nil.  Loaded once per life (the image does not change under it). */
static int lfs_get(lua_State *L) {
  lua_settop(L, 1);
  const char *dir = lfs_dir(L);
  size_t l;
  const char *name = lua_type(L, 1) == LUA_TSTRING ? lua_tolstring(L, 1, &l) : NULL;
  if (dir == NULL || name == NULL || !module_name(name, l)) {
    lua_pushnil(L);
    return 1;
  }
  lua_pushlightuserdata(L, (void *)&cache_key);
  lua_rawget(L, LUA_REGISTRYINDEX);
  if (!lua_istable(L, -1)) {
    lua_pop(L, 1);
    lua_newtable(L);
    lua_pushlightuserdata(L, (void *)&cache_key);
    lua_pushvalue(L, -2);
    lua_rawset(L, LUA_REGISTRYINDEX);
  }
  lua_getfield(L, 2, name);
  if (!lua_isnil(L, -1) || !find_module(L, dir, name)) return 1;
  const char *path = lua_tostring(L, -1);
  const char *base = strrchr(path, '/') + 1;
  if (nm_root_loadfile(L, path, base, NULL) != 0) return lua_error(L);
  lua_pushvalue(L, -1);
  lua_setfield(L, 2, name);
  return 1;
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Calls fn on the sorted module names; returns their count, -1 if the
 * directory cannot be read.  total gets the bytes of their files. */
static int each_module(const char *dir, void (*fn)(void *, const char *), void *arg,
                       long long *total) {
  DIR *d = opendir(dir);
  if (d == NULL) return -1;
  char **names = NULL;
  size_t n = 0, cap = 0;
  struct dirent *de;
  *total = 0;
  while ((de = readdir(d)) != NULL) {
    size_t l = strlen(de->d_name);
    size_t base = l > 4 && strcmp(de->d_name + l - 4, ".lua") == 0 ? l - 4
                  : l > 3 && strcmp(de->d_name + l - 3, ".lc") == 0 ? l - 3 : 0;
    struct stat st;
    if (base == 0 || de->d_name[0] == '.' || fstatat(dirfd(d), de->d_name, &st, 0) != 0 ||
        !S_ISREG(st.st_mode))
      continue;
    *total += (long long)st.st_size;
    if (n == cap) {
      char **p = realloc(names, (cap = cap ? cap * 2 : 16) * sizeof *p);
      if (p == NULL) break;
      names = p;
    }
    if ((names[n] = strndup(de->d_name, base)) != NULL) n++;
  }
  closedir(d);
  if (n > 0) qsort(names, n, sizeof *names, cmp_str);
  int count = 0;
  for (size_t i = 0; i < n; i++) {
    if (i == 0 || strcmp(names[i], names[i - 1]) != 0) { /* x.lc and x.lua: one */
      if (fn != NULL) fn(arg, names[i]);
      count++;
    }
  }
  for (size_t i = 0; i < n; i++) free(names[i]);
  free(names);
  return count;
}

static void add_name(void *arg, const char *name) {
  lua_State *L = arg;
  lua_pushstring(L, name);
  lua_rawseti(L, -2, (int)nm_rawlen(L, -2) + 1);
}

/* node.LFS.list(): the sorted module names, or nil without an LFS. */
static int lfs_list(lua_State *L) {
  const char *dir = lfs_dir(L);
  long long total;
  if (dir == NULL) return 0;
  lua_newtable(L);
  if (each_module(dir, add_name, L, &total) < 0) lua_pushnil(L);
  return 1;
}

lua_Integer node_lfs_size(lua_State *L) { return lfs_dir(L) != NULL ? LFS_SIZE : 0; }

int node_lfs_config(lua_State *L) {
  const char *dir = lfs_dir(L);
  long long used = 0;
  if (dir != NULL) each_module(dir, NULL, NULL, &used);
  lua_createtable(L, 0, 4);
  lua_pushinteger(L, dir ? LFS_MAPPED + NODE_LFS_ADDR : 0);
  lua_setfield(L, -2, "lfs_mapped");
  lua_pushinteger(L, dir ? NODE_LFS_ADDR : 0);
  lua_setfield(L, -2, "lfs_base");
  lua_pushinteger(L, node_lfs_size(L));
  lua_setfield(L, -2, "lfs_size");
  lua_pushinteger(L, (lua_Integer)(used < LFS_SIZE ? used : LFS_SIZE));
  lua_setfield(L, -2, "lfs_used");
  return 1;
}

/* node.LFS.reload(image): image is a directory of modules in the root;
 * the device restarts with it as its LFS.  A string says what is wrong. */
static int lfs_reload(lua_State *L) {
  const char *img = luaL_checkstring(L, 1);
  nm_ctx *ctx = nm_ctx_get(L);
  nm_rpath p;
  struct stat st;
  int found = nm_root_resolve(ctx, img, 0, &p) == 0;
  if (found) {
    found = fstatat(p.dirfd, p.last, &st, AT_SYMLINK_NOFOLLOW) == 0;
    nm_rpath_free(&p);
  }
  if (!found) {
    lua_pushliteral(L, "No LFS partition allocated");
    return 1;
  }
  if (!S_ISDIR(st.st_mode)) {
    lua_pushfstring(L, "%s: netmcu loads LFS from a directory of Lua modules", img);
    return 1;
  }
  if (!ctx->can_restart) return nm_restart(L, "node.LFS.reload", 0, NM_BOOT_SW_RESTART);
  char *dir = strdup(lua_pushfstring(L, "%s/%s", nm_root(ctx), nm_root_name(img)));
  if (dir == NULL) return luaL_error(L, "out of memory");
  free(lfs_reloaded);
  lfs_reloaded = dir;
  return nm_restart(L, "node.LFS.reload", 0, NM_BOOT_SW_RESTART);
}

static int lfs_reload_deprecated(lua_State *L) {
  node_deprecated(L, "node.flashreload", "soon. Use node.LFS interface instead");
  return lfs_reload(L);
}

/* node.LFS.config, node.LFS.time, node.LFS.<module> */
static int lfs_index(lua_State *L) {
  const char *k = lua_tostring(L, 2);
  if (k != NULL && strcmp(k, "config") == 0) return node_lfs_config(L);
  if (k != NULL && strcmp(k, "time") == 0) {
    struct stat st;
    const char *dir = lfs_dir(L);
    if (dir == NULL || stat(dir, &st) != 0) return 0;
    lua_pushinteger(L, (lua_Integer)st.st_mtime);
    return 1;
  }
  lua_pushcfunction(L, lfs_get);
  lua_pushvalue(L, 2);
  lua_call(L, 1, 1);
  return 1;
}

void node_lfs_open(lua_State *L) {
  static const luaL_Reg funcs[] = {
      {"get", lfs_get}, {"list", lfs_list}, {"reload", lfs_reload}, {NULL, NULL}};
  nm_newlib(L, funcs);
  lua_createtable(L, 0, 1);
  lua_pushcfunction(L, lfs_index);
  lua_setfield(L, -2, "__index");
  lua_setmetatable(L, -2);
  lua_setfield(L, -2, "LFS");
  lua_pushcfunction(L, lfs_get);
  lua_setfield(L, -2, "flashindex");
  lua_pushcfunction(L, lfs_reload_deprecated);
  lua_setfield(L, -2, "flashreload");
}
