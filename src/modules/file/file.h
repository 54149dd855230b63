/* file.h - the parts of the file module (file.c: file-system calls;
 * obj.c: open and the file objects, both models). */
#ifndef NM_FILE_H
#define NM_FILE_H

#include <sys/stat.h>

#include "core/nm.h"

#define FILE_READ_CHUNK 1024      /* the firmware's default read size */
#define FILE_MAX_OPEN 4           /* SPIFFS_MAX_OPEN_FILES */
#define FILE_SPIFFS_ADDR 0x100000 /* where the firmware puts SPIFFS */

/* Per Lua state, in the registry (file objects reach it in __gc even
 * while the state closes). */
typedef struct file_state {
  int nopen;       /* open file objects (SPIFFS allows FILE_MAX_OPEN) */
  int default_ref; /* the last opened file: the legacy calls' file */
  int rtc_ref;     /* file.on("rtc") */
} file_state;

file_state *file_state_get(lua_State *L);
/* The firmware's name check ("filename invalid"); whole: the whole name
 * must fit, else its base name. */
const char *file_checkname(lua_State *L, int idx, int whole);
/* stat of a device name that is a regular file; 0 or -errno. */
int file_stat_name(nm_ctx *ctx, const char *name, struct stat *st);
/* The figures of file.fsinfo(); 0, or -1 if the root cannot be read. */
int file_usage(nm_ctx *ctx, long long *remaining, long long *used, long long *total);
/* file.close() of the legacy model. */
int file_close_default(lua_State *L);
/* Adds open, close, read, ... to the table on top; registers file.obj. */
void file_obj_open(lua_State *L);

#endif
