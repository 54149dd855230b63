/* root.c - the root directory that stands for the device's flash,
 * the sandbox that keeps device names inside it, and the
 * dofile/loadfile/require that resolve relative names against it. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "root.h"

const char *nm_root(nm_ctx *ctx) { return ctx->fs_root != NULL ? ctx->fs_root : "."; }

int nm_root_explicit(nm_ctx *ctx) { return ctx->fs_root != NULL; }

/* ---- the sandbox ---- */

#define MAX_LINKS 40 /* as the kernel's path walk */

const char *nm_root_name(const char *name) {
  if (strncmp(name, "/FLASH/", 7) == 0) name += 7; /* the firmware's drive prefix */
  if (name[0] == '\0' || name[0] == '/') return NULL;
  for (const char *p = name;;) {
    const char *e = strchr(p, '/');
    size_t n = e ? (size_t)(e - p) : strlen(p);
    if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.')) return NULL;
    if (e == NULL) break;
    p = e + 1;
  }
  return name;
}

/* The directories walked so far: [0] is the root. */
typedef struct {
  int *fd;
  size_t n, cap;
} dirstack;

static int ds_push(dirstack *d, int fd) {
  if (d->n == d->cap) {
    size_t cap = d->cap ? d->cap * 2 : 8;
    int *p = realloc(d->fd, cap * sizeof *p);
    if (p == NULL) {
      close(fd);
      return -ENOMEM;
    }
    d->fd = p;
    d->cap = cap;
  }
  d->fd[d->n++] = fd;
  return 0;
}

static void ds_free(dirstack *d) {
  for (size_t i = 0; i < d->n; i++) close(d->fd[i]);
  free(d->fd);
}

/* Replaces the component comp (in directory dir), a symbolic link, by its
 * target in front of the rest of the path.  An absolute target leads out. */
static int expand_link(int dir, const char *comp, char **path, const char *rest, int *links) {
  if (++*links > MAX_LINKS) return -ELOOP;
  char target[PATH_MAX];
  ssize_t n = readlinkat(dir, comp, target, sizeof target - 1);
  if (n < 0) return errno == EINVAL ? -ENOENT : -errno; /* replaced meanwhile */
  target[n] = '\0';
  if (n == 0 || target[0] == '/') return -ENOENT;
  size_t rl = strlen(rest);
  char *np = malloc((size_t)n + 1 + rl + 1);
  if (np == NULL) return -ENOMEM;
  memcpy(np, target, (size_t)n);
  np[n] = '/';
  memcpy(np + n + 1, rest, rl + 1);
  free(*path);
  *path = np;
  return 0;
}

static int is_link(int dir, const char *comp) {
  struct stat st;
  return fstatat(dir, comp, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode);
}

/* One step: enter the directory comp of top, or find it is a link. */
static int enter_dir(dirstack *d, const char *comp, int mkdirs, char **path, const char *rest,
                     int *links) {
  int top = d->fd[d->n - 1];
  for (int tries = 0; tries < 2; tries++) {
    int fd = openat(top, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd >= 0) return ds_push(d, fd);
    int e = errno;
    if ((e == ELOOP || e == ENOTDIR) && is_link(top, comp))
      return expand_link(top, comp, path, rest, links);
    if (e != ENOENT || !mkdirs) return -e;
    if (mkdirat(top, comp, 0777) != 0 && errno != EEXIST) return -errno;
  }
  return -ENOENT;
}

/* Walks path (a malloc'd string, replaced as links expand) from the root. */
static int walk(dirstack *d, char **path, int mkdirs, nm_rpath *p) {
  int links = 0;
  size_t pos = 0;
  for (;;) {
    char *s = *path + pos;
    while (*s == '/') s++;
    if (*s == '\0') return -EISDIR; /* ended on a directory (a link to one) */
    char *e = strchr(s, '/');
    size_t n = e ? (size_t)(e - s) : strlen(s);
    char comp[NAME_MAX + 1];
    if (n > NAME_MAX) return -ENAMETOOLONG;
    memcpy(comp, s, n);
    comp[n] = '\0';
    const char *rest = s + n;
    while (*rest == '/') rest++;
    pos = (size_t)(rest - *path);
    if (strcmp(comp, ".") == 0) continue;
    if (strcmp(comp, "..") == 0) {
      if (d->n == 1) return -ENOENT; /* above the root */
      close(d->fd[--d->n]);
      continue;
    }
    int rc, top = d->fd[d->n - 1];
    if (*rest != '\0') {
      size_t before = d->n;
      rc = enter_dir(d, comp, mkdirs, path, rest, &links);
      if (rc != 0) return rc;
      if (d->n == before) pos = 0; /* a link: walk its target from here */
      continue;
    }
    if (is_link(top, comp)) {
      if ((rc = expand_link(top, comp, path, rest, &links)) != 0) return rc;
      pos = 0;
      continue;
    }
    p->last = strdup(comp);
    if (p->last == NULL) return -ENOMEM;
    p->dirfd = top;
    d->n--; /* handed over */
    return 0;
  }
}

int nm_root_resolve(nm_ctx *ctx, const char *name, int mkdirs, nm_rpath *p) {
  p->dirfd = -1;
  p->last = NULL;
  name = nm_root_name(name);
  if (name == NULL) return -ENOENT;
  if (strlen(name) > NM_FS_NAME_MAX) return -ENAMETOOLONG;
  dirstack d = {NULL, 0, 0};
  int root = open(nm_root(ctx), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (root < 0) return -errno;
  int rc = ds_push(&d, root);
  char *path = strdup(name);
  if (rc == 0 && path == NULL) rc = -ENOMEM;
  if (rc == 0) rc = walk(&d, &path, mkdirs, p);
  free(path);
  ds_free(&d);
  return rc;
}

void nm_rpath_free(nm_rpath *p) {
  if (p->dirfd >= 0) close(p->dirfd);
  free(p->last);
  p->dirfd = -1;
  p->last = NULL;
}

int nm_root_open(nm_ctx *ctx, const char *name, int flags, mode_t mode) {
  for (int tries = 0; tries < 3; tries++) {
    nm_rpath p;
    int rc = nm_root_resolve(ctx, name, (flags & O_CREAT) != 0, &p);
    if (rc != 0) return rc;
    /* O_NONBLOCK: a FIFO planted in the root must not hang the loop */
    int fd = openat(p.dirfd, p.last, flags | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK, mode);
    int e = errno;
    nm_rpath_free(&p);
    if (fd < 0) {
      if (e == ELOOP) continue; /* became a link meanwhile: walk again */
      return -e;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
      close(fd);
      return -ENOENT;
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    return fd;
  }
  return -ELOOP;
}

/* ---- listing and erasing ---- */

typedef struct {
  nm_ctx *ctx;
  int (*fn)(void *, const char *, long long);
  void *arg;
  char name[NM_FS_NAME_MAX + 2];
} each_state;

/* The directory dirfd (closed here) holds the names after prefix len. */
static int each_dir(each_state *es, int fd, size_t len) {
  DIR *dir = fdopendir(fd);
  if (dir == NULL) {
    close(fd);
    return 0;
  }
  int rc = 0;
  struct dirent *de;
  while (rc == 0 && (de = readdir(dir)) != NULL) {
    size_t n = strlen(de->d_name);
    if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0) continue;
    if (len + n > NM_FS_NAME_MAX) continue; /* no device name reaches it */
    memcpy(es->name + len, de->d_name, n + 1);
    struct stat st;
    if (fstatat(fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
    if (S_ISREG(st.st_mode)) {
      rc = es->fn(es->arg, es->name, (long long)st.st_size);
    } else if (S_ISLNK(st.st_mode)) {
      nm_rpath p; /* listed only if it stays inside */
      if (nm_root_resolve(es->ctx, es->name, 0, &p) == 0) {
        if (fstatat(p.dirfd, p.last, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode))
          rc = es->fn(es->arg, es->name, (long long)st.st_size);
        nm_rpath_free(&p);
      }
    } else if (S_ISDIR(st.st_mode) && len + n + 2 <= NM_FS_NAME_MAX) {
      int sub = openat(fd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (sub >= 0) {
        es->name[len + n] = '/';
        rc = each_dir(es, sub, len + n + 1);
      }
    }
  }
  closedir(dir);
  return rc;
}

int nm_root_each(nm_ctx *ctx, int (*fn)(void *arg, const char *name, long long size), void *arg) {
  each_state es = {ctx, fn, arg, ""};
  int fd = open(nm_root(ctx), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return -errno;
  return each_dir(&es, fd, 0);
}

static int erase_dir(int fd, int depth) {
  DIR *dir = fdopendir(fd);
  if (dir == NULL) {
    close(fd);
    return -errno;
  }
  int rc = 0;
  struct dirent *de;
  while ((de = readdir(dir)) != NULL) {
    if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0) continue;
    if (unlinkat(fd, de->d_name, 0) == 0) continue;
    if (errno != EISDIR && errno != EPERM) {
      rc = -errno;
      continue;
    }
    int sub = depth < 64 ? openat(fd, de->d_name,
                                  O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
                         : -1;
    if (sub < 0 || erase_dir(sub, depth + 1) != 0 ||
        unlinkat(fd, de->d_name, AT_REMOVEDIR) != 0)
      rc = -EIO;
  }
  closedir(dir);
  return rc;
}

int nm_root_erase(nm_ctx *ctx) {
  int fd = open(nm_root(ctx), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return -errno;
  return erase_dir(fd, 0);
}

/* ---- dofile, loadfile, require ---- */

const char *nm_root_hostpath(lua_State *L, const char *name) {
  nm_ctx *ctx = nm_ctx_get(L);
  if (name[0] == '/' || ctx->fs_root == NULL) return lua_pushfstring(L, "%s", name);
  return lua_pushfstring(L, "%s/%s", ctx->fs_root, name);
}

typedef struct {
  FILE *f;
  int first;
  char buf[4096];
} reader_state;

static const char *file_reader(lua_State *L, void *ud, size_t *size) {
  reader_state *r = ud;
  (void)L;
  if (r->first) { /* a first line starting with '#' is skipped (keep its \n) */
    r->first = 0;
    int c = getc(r->f);
    if (c == '#') {
      while ((c = getc(r->f)) != EOF && c != '\n') {
      }
      if (c == '\n') {
        r->buf[0] = '\n';
        *size = 1;
        return r->buf;
      }
    } else if (c != EOF) {
      ungetc(c, r->f);
    }
  }
  *size = fread(r->buf, 1, sizeof r->buf, r->f);
  return *size > 0 ? r->buf : NULL;
}

/* Loads the stream f (closed here) as the chunk "@chunkname". */
static int load_stream(lua_State *L, FILE *f, const char *chunkname, const char *mode) {
  reader_state *r = malloc(sizeof *r);
  if (r == NULL) {
    fclose(f);
    lua_pushliteral(L, "not enough memory");
    return LUA_ERRMEM;
  }
  r->f = f;
  r->first = 1;
  lua_pushfstring(L, "@%s", chunkname);
#if LUA_VERSION_NUM >= 502
  int rc = lua_load(L, file_reader, r, lua_tostring(L, -1), mode);
#else
  (void)mode;
  int rc = lua_load(L, file_reader, r, lua_tostring(L, -1));
#endif
  int bad = ferror(f);
  fclose(f);
  free(r);
  lua_remove(L, -2);
  if (rc == 0 && bad) {
    lua_pop(L, 1);
    lua_pushfstring(L, "cannot read %s", chunkname);
    return LUA_ERRFILE;
  }
  return rc;
}

int nm_root_loadfile(lua_State *L, const char *path, const char *chunkname, const char *mode) {
  FILE *f = fopen(path, "rb");
  if (f == NULL) {
    lua_pushfstring(L, "cannot open %s: %s", chunkname, strerror(errno));
    return LUA_ERRFILE;
  }
  return load_stream(L, f, chunkname, mode);
}

int nm_root_loadname(lua_State *L, const char *name) {
  int fd = nm_root_open(nm_ctx_get(L), name, O_RDONLY, 0);
  FILE *f = fd >= 0 ? fdopen(fd, "rb") : NULL;
  if (f == NULL) {
    if (fd >= 0) close(fd);
    lua_pushfstring(L, "cannot open %s: %s", name, strerror(fd < 0 ? -fd : errno));
    return LUA_ERRFILE;
  }
  return load_stream(L, f, name, NULL);
}

/* dofile([name]): the original for stdin. */
static int root_dofile(lua_State *L) {
  const char *name = luaL_optstring(L, 1, NULL);
  if (name == NULL) {
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_call(L, 0, LUA_MULTRET);
    return lua_gettop(L) - 1;
  }
  lua_settop(L, 1);
  const char *path = nm_root_hostpath(L, name);
  if (nm_root_loadfile(L, path, name, NULL) != 0) return lua_error(L);
  lua_call(L, 0, LUA_MULTRET);
  return lua_gettop(L) - 2;
}

/* loadfile([name [, mode [, env]]]) */
static int root_loadfile(lua_State *L) {
  const char *name = luaL_optstring(L, 1, NULL);
  if (name == NULL) {
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
    return lua_gettop(L);
  }
  const char *mode = luaL_optstring(L, 2, NULL);
  int env = lua_isnone(L, 3) ? 0 : 3;
  const char *path = nm_root_hostpath(L, name);
  if (nm_root_loadfile(L, path, name, mode) != 0) {
    lua_pushnil(L);
    lua_insert(L, -2);
    return 2;
  }
#if LUA_VERSION_NUM >= 502
  if (env) {
    lua_pushvalue(L, env);
    if (lua_setupvalue(L, -2, 1) == NULL) lua_pop(L, 1);
  }
#else
  (void)env;
#endif
  return 1;
}

/* package searcher: name.lc, then name.lua, in the root (as the firmware's
 * LUA_PATH_DEFAULT "?.lc;?.lua"). */
static int root_searcher(lua_State *L) {
  const char *mod = luaL_checkstring(L, 1);
  luaL_Buffer msg;
  lua_settop(L, 1);
  const char *base = luaL_gsub(L, mod, ".", "/"); /* 2 */
  luaL_buffinit(L, &msg);
  static const char *const ext[] = {".lc", ".lua"};
  for (int i = 0; i < 2; i++) {
    const char *name = lua_pushfstring(L, "%s%s", base, ext[i]);
    const char *path = nm_root_hostpath(L, name);
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
      lua_pop(L, 2);
      lua_pushfstring(L, "\n\tno file '%s' in the root", name);
      luaL_addvalue(&msg);
      continue;
    }
    fclose(f);
    if (nm_root_loadfile(L, path, name, NULL) != 0)
      return luaL_error(L, "error loading module '%s' from file '%s':\n\t%s", mod, name,
                        lua_tostring(L, -1));
    lua_pushstring(L, name);
    return 2;
  }
  luaL_pushresult(&msg);
  return 1;
}

static void wrap_global(lua_State *L, const char *name, lua_CFunction f) {
  lua_getglobal(L, name);
  lua_pushcclosure(L, f, 1);
  lua_setglobal(L, name);
}

void nm_root_install(lua_State *L) {
  wrap_global(L, "dofile", root_dofile);
  wrap_global(L, "loadfile", root_loadfile);
  lua_getglobal(L, "package");
  if (!lua_istable(L, -1)) {
    lua_pop(L, 1);
    return;
  }
#if LUA_VERSION_NUM >= 502
  lua_getfield(L, -1, "searchers");
#else
  lua_getfield(L, -1, "loaders");
#endif
  if (lua_istable(L, -1)) { /* after the preload searcher */
    int n = (int)nm_rawlen(L, -1);
    for (int i = n; i >= 2; i--) {
      lua_rawgeti(L, -1, i);
      lua_rawseti(L, -2, i + 1);
    }
    lua_pushcfunction(L, root_searcher);
    lua_rawseti(L, -2, 2);
  }
  lua_pop(L, 2);
}
