/* root.h - the device's flash file system: a directory of the host, the
 * root.  Device file names (file.*, node.compile, ...) are
 * resolved in it through a sandbox; dofile, loadfile and require resolve
 * relative names against it too. */
#ifndef NM_ROOT_H
#define NM_ROOT_H

#include <sys/stat.h>

#include "core/nm.h"

/* SPIFFS's limit on a name (FS_OBJ_NAME_LEN in the firmware). */
#define NM_FS_NAME_MAX 31

/* The root directory: --fs DIR, else "." (the current directory). */
const char *nm_root(nm_ctx *ctx);
/* Was the root named with --fs?  (file.format() erases only that.) */
int nm_root_explicit(nm_ctx *ctx);

/* A device name resolved inside the root: dirfd is the directory that
 * holds it, last its final component (no symbolic link at the time of the
 * walk; it may not exist).  Use *at() calls with AT_SYMLINK_NOFOLLOW /
 * O_NOFOLLOW on it. */
typedef struct nm_rpath {
  int dirfd;
  char *last;
} nm_rpath;

/* Resolves name (as the firmware takes it: "a/b.txt", "/FLASH/a.txt") in
 * the root.  Refused as -ENOENT: absolute names, empty or "."/".."
 * components, and symbolic links (in any component) that lead outside the
 * root; -ENAMETOOLONG over NM_FS_NAME_MAX bytes.  Each step is relative to
 * an open directory and never follows a link blindly, so renaming or
 * relinking directories meanwhile cannot lead it out.  With mkdirs, missing
 * directories on the way are created (writes to "dir/name").  Returns 0 or
 * -errno; on 0, release with nm_rpath_free. */
int nm_root_resolve(nm_ctx *ctx, const char *name, int mkdirs, nm_rpath *p);
void nm_rpath_free(nm_rpath *p);

/* open(2) of a device name through the sandbox; regular files only.
 * Returns the descriptor (close-on-exec) or -errno. */
int nm_root_open(nm_ctx *ctx, const char *name, int flags, mode_t mode);
/* The name as SPIFFS would store it ("/FLASH/" dropped), or NULL. */
const char *nm_root_name(const char *name);

/* Calls fn(arg, name, size) for every file that a device name reaches:
 * regular files, and links inside the root to them, named "dir/file", whose
 * names fit NM_FS_NAME_MAX.  Stops at fn's first non-zero return and
 * returns it; -errno if the root cannot be read. */
int nm_root_each(nm_ctx *ctx, int (*fn)(void *arg, const char *name, long long size), void *arg);
/* Removes everything inside the root (links themselves, never what they
 * point to).  0 or -errno. */
int nm_root_erase(nm_ctx *ctx);

/* Host path of a script name for dofile/loadfile/require: an absolute name
 * as it is, a relative one joined to the root.  Pushes it; returns it. */
const char *nm_root_hostpath(lua_State *L, const char *name);
/* Loads the file at host path as a chunk named "@chunkname" (like
 * luaL_loadfilex, skipping a first '#' line).  Lua status, message on
 * error. */
int nm_root_loadfile(lua_State *L, const char *path, const char *chunkname, const char *mode);
/* The same for a device name, through the sandbox (node.compile). */
int nm_root_loadname(lua_State *L, const char *name);
/* The runtime: dofile, loadfile and require (".lc", then ".lua") resolve
 * relative names against the root. */
void nm_root_install(lua_State *L);

#endif
