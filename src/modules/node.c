/* node.c - NodeMCU's `node` module: here what event-driven scripts lean on
 * (docs/modules/node.md): task.post, setonerror, heap, uptime, chipid,
 * restart; the rest of the chip in node/. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/nm.h"
#include "node/node.h"

enum { PRIO_LOW = 0, PRIO_MEDIUM = 1, PRIO_HIGH = 2, NPRIO = 3 };

/* One FIFO of posted functions per priority.  Every task gets a sequence
 * number, so a drain runs only what was posted before it started. */
typedef struct {
  int *refs;
  uint64_t *seqs;
  size_t head, len, cap;
} task_fifo;

struct nm_tasks {
  nm_obj obj;
  nm_ctx *ctx;
  task_fifo q[NPRIO];
  uint64_t next_seq;
  nm_defer defer;
  int queued; /* defer is in the context's queue */
};

static void tasks_kill(nm_obj *o) {
  struct nm_tasks *t = nm_container_of(o, struct nm_tasks, obj);
  nm_obj_unregister(&t->obj);
  if (t->queued) nm_defer_cancel(t->ctx, &t->defer);
  t->ctx->state[NM_STATE_NODE] = NULL;
  for (int p = 0; p < NPRIO; p++) {
    free(t->q[p].refs);
    free(t->q[p].seqs);
  }
  free(t);
}

static int fifo_push(task_fifo *f, int ref, uint64_t seq) {
  if (f->len == f->cap) {
    size_t cap = f->cap ? f->cap * 2 : 16;
    int *refs = malloc(cap * sizeof *refs);
    uint64_t *seqs = malloc(cap * sizeof *seqs);
    if (refs == NULL || seqs == NULL) {
      free(refs);
      free(seqs);
      return -1;
    }
    for (size_t i = 0; i < f->len; i++) {
      refs[i] = f->refs[(f->head + i) % f->cap];
      seqs[i] = f->seqs[(f->head + i) % f->cap];
    }
    free(f->refs);
    free(f->seqs);
    f->refs = refs;
    f->seqs = seqs;
    f->head = 0;
    f->cap = cap;
  }
  size_t i = (f->head + f->len++) % f->cap;
  f->refs[i] = ref;
  f->seqs[i] = seq;
  return 0;
}

/* The highest priority whose oldest task was posted before `limit`. */
static int next_prio(struct nm_tasks *t, uint64_t limit) {
  for (int p = PRIO_HIGH; p >= PRIO_LOW; p--)
    if (t->q[p].len > 0 && t->q[p].seqs[t->q[p].head] < limit) return p;
  return -1;
}

static void drain_cb(nm_defer *d) {
  struct nm_tasks *t = nm_container_of(d, struct nm_tasks, defer);
  nm_ctx *ctx = t->ctx;
  uint64_t limit = t->next_seq;
  t->queued = 0;
  int p;
  while (ctx->state[NM_STATE_NODE] == t && (p = next_prio(t, limit)) >= 0) {
    task_fifo *f = &t->q[p];
    int ref = f->refs[f->head];
    f->head = (f->head + 1) % f->cap;
    f->len--;
    nm_emit(ctx, ref, 0, 0, nm_push_integer, &p);
    if (!ctx->closed) nm_unref(ctx->L, ref); /* from libuv: must not raise */
  }
  if (ctx->state[NM_STATE_NODE] == t && next_prio(t, UINT64_MAX) >= 0 && !t->queued) {
    t->queued = 1; /* what the tasks posted runs on the next turn */
    nm_defer_push(ctx, &t->defer, drain_cb);
  }
}

static struct nm_tasks *tasks_get(lua_State *L, nm_ctx *ctx) {
  if (ctx->state[NM_STATE_NODE] != NULL) return ctx->state[NM_STATE_NODE];
  struct nm_tasks *t = calloc(1, sizeof *t);
  if (t == NULL) luaL_error(L, "out of memory");
  t->ctx = ctx;
  nm_obj_register(ctx, &t->obj, tasks_kill);
  ctx->state[NM_STATE_NODE] = t;
  return t;
}

void node_post(lua_State *L, int prio) {
  nm_ctx *ctx = nm_ctx_get(L);
  struct nm_tasks *t = tasks_get(L, ctx);
  int ref = luaL_ref(L, LUA_REGISTRYINDEX);
  if (fifo_push(&t->q[prio], ref, t->next_seq++) != 0) {
    luaL_unref(L, LUA_REGISTRYINDEX, ref);
    luaL_error(L, "out of memory");
    return;
  }
  if (!t->queued) {
    t->queued = 1;
    nm_defer_push(ctx, &t->defer, drain_cb);
  }
}

/* node.task.post([priority,] fn) */
static int node_task_post(lua_State *L) {
  int n = 1;
  long long prio = PRIO_MEDIUM;
  if (lua_type(L, 1) == LUA_TNUMBER) {
    if (!nm_tointeger(L, 1, &prio) || prio < PRIO_LOW || prio > PRIO_HIGH)
      return luaL_argerror(L, 1, "invalid priority");
    n = 2;
  }
  luaL_argcheck(L, lua_type(L, n) == LUA_TFUNCTION, n, "invalid function");
  lua_pushvalue(L, n);
  node_post(L, (int)prio);
  return 0;
}

/* node.setonerror([fn]): fn(message_with_traceback) instead of exiting. */
static int node_setonerror(lua_State *L) {
  int t = lua_type(L, 1);
  luaL_argcheck(L, t == LUA_TFUNCTION || t == LUA_TNIL || t == LUA_TNONE, 1,
                "function or nil expected");
  nm_ctx *ctx = nm_ctx_get(L);
  nm_unanchor(L, &ctx->onerror_ref);
  if (t == LUA_TFUNCTION) ctx->onerror_ref = nm_anchor(L, 1);
  return 0;
}

/* node.heap(): the memory the host could still give, in bytes. */
static int node_heap(lua_State *L) {
  long long avail = -1;
  FILE *f = fopen("/proc/meminfo", "r");
  if (f != NULL) {
    char line[128];
    while (fgets(line, sizeof line, f) != NULL)
      if (sscanf(line, "MemAvailable: %lld kB", &avail) == 1) {
        avail *= 1024;
        break;
      }
    fclose(f);
  }
  if (avail < 0) avail = (long long)sysconf(_SC_AVPHYS_PAGES) * sysconf(_SC_PAGESIZE);
  lua_pushinteger(L, (lua_Integer)avail);
  return 1;
}

/* node.uptime(): microseconds since start, and the overflow count the
 * firmware returns second (always 0 here: 2^53 us is 285 years). */
static int node_uptime(lua_State *L) {
  nm_ctx *ctx = nm_ctx_get(L);
  lua_pushinteger(L, (lua_Integer)((uv_hrtime() - ctx->start_ns) / 1000));
  lua_pushinteger(L, 0);
  return 2;
}

/* node.chipid(): a number that is stable for this host (from the machine
 * id, else the host id), in the firmware's range. */
static int node_chipid(lua_State *L) {
  char id[64] = "";
  FILE *f = fopen("/etc/machine-id", "r");
  if (f != NULL) {
    if (fgets(id, sizeof id, f) == NULL) id[0] = '\0';
    fclose(f);
  }
  uint32_t h = 2166136261u; /* FNV-1a */
  if (id[0] != '\0') {
    for (const char *p = id; *p != '\0' && *p != '\n'; p++) h = (h ^ (uint8_t)*p) * 16777619u;
  } else {
    h = (uint32_t)gethostid();
  }
  lua_pushinteger(L, (lua_Integer)(h & 0xFFFFFF));
  return 1;
}

/* node.restart(): the runtime starts the script over in a fresh state once
 * the current callback returns. */
static int node_restart(lua_State *L) { return nm_restart(L, "node.restart", 0, NM_BOOT_SW_RESTART); }

int luaopen_node(lua_State *L) {
  static const luaL_Reg funcs[] = {{"setonerror", node_setonerror}, {"heap", node_heap},
                                   {"uptime", node_uptime},         {"chipid", node_chipid},
                                   {"restart", node_restart},       {NULL, NULL}};
  static const luaL_Reg task_funcs[] = {{"post", node_task_post}, {NULL, NULL}};
  nm_ctx_get(L);
  nm_newlib(L, funcs);
  node_console_open(L);
  node_info_open(L);
  node_lfs_open(L);
  nm_newlib(L, task_funcs);
  lua_pushinteger(L, PRIO_LOW);
  lua_setfield(L, -2, "LOW_PRIORITY");
  lua_pushinteger(L, PRIO_MEDIUM);
  lua_setfield(L, -2, "MEDIUM_PRIORITY");
  lua_pushinteger(L, PRIO_HIGH);
  lua_setfield(L, -2, "HIGH_PRIORITY");
  lua_setfield(L, -2, "task");
  return 1;
}
