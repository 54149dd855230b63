/* node.h - the parts of the node module: node.c (tasks, setonerror, heap,
 * uptime, chipid, restart), console.c (print, output, input and the
 * interpreter), info.c (info, compile, and the chip's other calls), lfs.c
 * (node.LFS from --lfs DIR). */
#ifndef NM_NODE_H
#define NM_NODE_H

#include "core/nm.h"

enum { NODE_PRIO_LOW = 0, NODE_PRIO_MEDIUM = 1, NODE_PRIO_HIGH = 2 };

/* Posts the function on top of the stack (popped) as a node.task at prio;
 * raises on memory errors. */
void node_post(lua_State *L, int prio);

/* Each adds its functions to the node table on top of the stack. */
void node_console_open(lua_State *L);
void node_info_open(lua_State *L);
void node_lfs_open(lua_State *L);

/* A completed line (or several) for the Lua interpreter, as node.input()
 * and uart 0 with run_input give it. */
void node_console_input(lua_State *L, const char *s, size_t n);
/* Output of the interpreter and print: to node.output's function if one
 * is set (and to standard output too with serial_debug), else standard
 * output. */
void node_console_write(lua_State *L, const char *s, size_t n);

/* LFS (lfs.c): node.info("lfs") pushed; the size of the LFS region, 0
 * without one. */
#define NODE_LFS_ADDR 0x80000
int node_lfs_config(lua_State *L);
lua_Integer node_lfs_size(lua_State *L);

/* The firmware's "Warning, deprecated API!" note, once per state. */
void node_deprecated(lua_State *L, const char *what, const char *when);

#endif
