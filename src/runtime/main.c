/* main.c - the netmcu runtime (docs/runtime.md): runs a script with every
 * module as a global, then the event loop, the way the firmware runs
 * init.lua. */
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "core/root.h"
#include "device.h"
#include "runtime.h"

#ifndef NETMCU_VERSION
#define NETMCU_VERSION "dev"
#endif

static const char *progname = "netmcu";

static void usage(FILE *f) {
  fprintf(f,
          "usage: %s [options] [script [args...]]\n"
          "Runs a NodeMCU Lua script with every netmcu module (net, tmr, node,\n"
          "file, wifi, ...) as a global on this host, then serves events until\n"
          "nothing is active.\n"
          "  -e chunk  run the string chunk before the script\n"
          "  -         read the script from standard input\n"
          "  -v        print the version and exit\n"
          "  -h        print this help and exit\n"
          "  --        stop handling options\n" DEVICE_USAGE
          "Exit status: 0 when nothing is left to do, 1 on an uncaught Lua\n"
          "error, 130 on SIGINT, 143 on SIGTERM, 129 on SIGHUP.  See netmcu(1).\n",
          progname);
}

static void report(lua_State *L) {
  const char *msg = lua_tostring(L, -1);
  if (msg == NULL) msg = "(error object is not a string)";
  fprintf(stderr, "%s: %s\n", progname, msg);
  fflush(stderr);
  lua_pop(L, 1);
}

static int docall(lua_State *L, int nargs) {
  int base = lua_gettop(L) - nargs;
  lua_pushcfunction(L, nm_msgh);
  lua_insert(L, base);
  int rc = lua_pcall(L, nargs, 0, base);
  lua_remove(L, base);
  return rc;
}

/* A module as `require` would load it, also made a global. */
static void open_module(lua_State *L, const char *name, lua_CFunction open) {
  lua_pushcfunction(L, open);
  lua_pushstring(L, name);
  lua_call(L, 1, 1);
  lua_getfield(L, LUA_REGISTRYINDEX, "_LOADED");
  lua_pushvalue(L, -2);
  lua_setfield(L, -2, name);
  lua_pop(L, 1);
  lua_setglobal(L, name);
}

/* Users should not need `ulimit -n` to hold many connections. */
static void raise_fd_limit(void) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
}

/* Every read becomes a Lua string (up to NM_READBUF_SIZE) that the
 * collector frees in batches; with glibc's default 128 KiB trim threshold
 * each batch handed the heap top back to the kernel and the next reads
 * faulted it in again (a third of the CPU of a TCP echo): keep up to 8 MiB
 * of it.  Setting a threshold turns glibc's self-raising mmap threshold off,
 * so strings over 128 KiB (a 256 KiB read) would each be mmap'd and faulted
 * in page by page: serve up to 1 MiB from the heap. */
static void tune_malloc(void) {
#ifdef M_TRIM_THRESHOLD
  mallopt(M_TRIM_THRESHOLD, 8 << 20);
  mallopt(M_MMAP_THRESHOLD, 1 << 20);
#endif
}

/* arg table as lua.c builds it: arg[0] the script, arg[1..] its args. */
static void create_arg_table(lua_State *L, char **argv, int argc, int script) {
  lua_createtable(L, argc - script - 1, script + 1);
  for (int i = 0; i < argc; i++) {
    lua_pushstring(L, argv[i]);
    lua_rawseti(L, -2, i - script);
  }
  lua_setglobal(L, "arg");
}

/* What to run, from the command line. */
typedef struct {
  int argc;
  char **argv;
  int script;       /* index of the script in argv, argc if none */
  char *stdin_text; /* the script read from standard input ("-") */
  size_t stdin_len;
  int boot_reason;  /* node.bootreason() of the next life */
  uint64_t sleep_us; /* to sleep before the next life (deep sleep) */
  nm_ctx *ctx;      /* of the running life */
  int status;       /* of the running life */
} job;

#define RESTART (-1)

/* A script from standard input is read as luaL_loadfile reads a file: a
 * UTF-8 byte-order mark and a first line starting with '#' are skipped
 * (the line's newline is kept, so line numbers stay right). */
static int load_script(lua_State *L, const job *j) {
  if (j->stdin_text == NULL) return luaL_loadfile(L, j->argv[j->script]);
  const char *p = j->stdin_text;
  size_t n = j->stdin_len;
#if LUA_VERSION_NUM >= 502 /* 5.1 keeps it (LuaJIT's lexer skips it itself) */
  if (n >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0) {
    p += 3;
    n -= 3;
  }
#endif
  if (n > 0 && p[0] == '#') {
    const char *nl = memchr(p, '\n', n);
    size_t skip = nl != NULL ? (size_t)(nl - p) : n;
    p += skip;
    n -= skip;
  }
  return luaL_loadbuffer(L, p, n, "=stdin");
}

/* The error on top of L ends this life with status 1 -- unless a signal
 * interrupted the code (then 128 + signal, nothing printed). */
static void fail(lua_State *L, job *j) {
  if (j->ctx != NULL && j->ctx->stop_signal) {
    lua_pop(L, 1);
    j->status = 128 + j->ctx->stop_signal;
    return;
  }
  report(L);
  j->status = 1;
}

/* One life, in protected mode (as lua.c's pmain), so that running out of
 * memory anywhere -- even opening the libraries -- is an error reported
 * with exit status 1, not a panic. */
static int pmain(lua_State *L) {
  job *j = lua_touserdata(L, 1);
  luaL_openlibs(L);
  nm_dialect_open(L); /* unpack, loadstring, package.loaders on 5.3/5.4 */
  nm_ctx *ctx = nm_ctx_get(L);
  j->ctx = ctx;
  nm_signals_attach(ctx); /* before the modules open: tmr's watchdog asks */
  device_apply(ctx); /* before the modules open: they find the device */
  for (const nm_module *m = nm_modules; m->name != NULL; m++) open_module(L, m->name, m->open);
  nm_root_install(L);
  ctx->can_restart = 1;
  ctx->boot_reason = j->boot_reason;
  create_arg_table(L, j->argv, j->argc, j->script == j->argc ? 0 : j->script);

  /* -e chunks, in order, then the script with its arguments as `...`. */
  for (int i = 1; i < j->script; i++) {
    if (strcmp(j->argv[i], "-e") != 0) continue;
    const char *chunk = j->argv[++i];
    if (luaL_loadbuffer(L, chunk, strlen(chunk), "=(command line)") != 0 || docall(L, 0) != 0) {
      fail(L, j);
      return 0;
    }
  }
  if (j->script < j->argc) {
    if (load_script(L, j) != 0) {
      fail(L, j);
      return 0;
    }
    int nargs = j->argc - j->script - 1;
    luaL_checkstack(L, nargs, "too many arguments");
    for (int i = j->script + 1; i < j->argc; i++) lua_pushstring(L, j->argv[i]);
    /* An error is reported even after node.restart() (issue 18): the main
     * chunk's error always ends the runtime. */
    if (docall(L, nargs) != 0) {
      fail(L, j);
      return 0;
    }
  }

  /* The loop, through the same call a stock interpreter uses. */
  if (!ctx->restart && !ctx->stop_signal) {
    lua_pushcfunction(L, nm_net_run);
    if (lua_pcall(L, 0, 0, 0) != 0) {
      fail(L, j);
      return 0;
    }
  }
  j->status = ctx->stop_signal ? 128 + ctx->stop_signal : ctx->restart ? RESTART : 0;
  if (ctx->restart) {
    j->boot_reason = ctx->restart_reason;
    j->sleep_us = ctx->restart_delay_us;
  }
  return 0;
}

/* Last resort: a Lua error outside any protected call (none is known). */
static int on_panic(lua_State *L) {
  const char *msg = lua_tostring(L, -1);
  fprintf(stderr, "%s: unprotected error: %s\n", progname, msg != NULL ? msg : "?");
  fflush(stdout);
  exit(1);
}

/* One life of the script: a fresh Lua state, the script, the loop.
 * Returns the exit status, or RESTART after node.restart(). */
static int run_once(job *j) {
  lua_State *L = luaL_newstate();
  if (L == NULL) {
    fprintf(stderr, "%s: cannot create Lua state: not enough memory\n", progname);
    return 1;
  }
  lua_atpanic(L, on_panic);
  j->ctx = NULL;
  j->status = 1;
#if LUA_VERSION_NUM < 502 /* lua_pushcfunction would allocate unprotected */
  int rc = lua_cpcall(L, pmain, j);
#else
  lua_pushcfunction(L, pmain);
  lua_pushlightuserdata(L, j);
  int rc = lua_pcall(L, 1, 0, 0);
#endif
  if (rc != 0) fail(L, j); /* out of memory in pmain itself */
  nm_signals_detach();
  if (j->ctx != NULL) {
    nm_interrupt_done(j->ctx); /* no hook may fire in the finalizers */
    nm_shutdown(j->ctx);
  }
  lua_close(L);
  fflush(stdout);
  return j->status;
}

/* All of f, or NULL if it cannot be read (a directory, a closed
 * descriptor, out of memory): never an empty script instead. */
static char *read_all(FILE *f, size_t *len) {
  size_t cap = 4096, n = 0;
  char *buf = malloc(cap);
  size_t got;
  while (buf != NULL && (got = fread(buf + n, 1, cap - n, f)) > 0) {
    n += got;
    if (n == cap) {
      char *bigger = realloc(buf, cap *= 2);
      if (bigger == NULL) free(buf);
      buf = bigger;
    }
  }
  if (buf != NULL && ferror(f)) {
    free(buf);
    buf = NULL;
  }
  *len = n;
  return buf;
}

int main(int argc, char **argv) {
  job j = {argc, argv, argc, NULL, 0, NM_BOOT_POWER_ON, 0, NULL, 0};
  int have_chunk = 0, dv;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
      usage(stdout);
      return 0;
    } else if (strcmp(a, "-v") == 0 || strcmp(a, "--version") == 0) {
      printf("netmcu %s (%s, libuv %s)\n", NETMCU_VERSION, LUA_RELEASE, uv_version_string());
      return 0;
    } else if (strcmp(a, "-e") == 0) {
      if (++i == argc) {
        fprintf(stderr, "%s: '-e' needs an argument\n", progname);
        usage(stderr);
        return 1;
      }
      have_chunk = 1;
    } else if ((dv = device_option(argc, argv, &i)) != 0) {
      if (dv < 0) {
        usage(stderr);
        return 1;
      }
    } else if (strcmp(a, "--") == 0) {
      if (i + 1 < argc) j.script = i + 1;
      break;
    } else if (a[0] == '-' && a[1] != '\0') {
      fprintf(stderr, "%s: unrecognized option '%s'\n", progname, a);
      usage(stderr);
      return 1;
    } else {
      j.script = i;
      break;
    }
  }
  if (j.script == argc && !have_chunk) {
    fprintf(stderr, "%s: no script given\n", progname);
    usage(stderr);
    return 1;
  }
  if (j.script < argc && strcmp(argv[j.script], "-") == 0) {
    /* kept, so node.restart() can run it again */
    j.stdin_text = read_all(stdin, &j.stdin_len);
    if (j.stdin_text == NULL) {
      fprintf(stderr, "%s: cannot read the script from stdin\n", progname);
      return 1;
    }
  }

  if (device_setup() != 0) return 1;
  nm_stdout_open();
  setvbuf(stdout, NULL, _IOLBF, 0); /* like the device's serial console */
  raise_fd_limit();
  tune_malloc();
  nm_signals_install();
  nm_run_allow_from(pmain);
  int status;
  while ((status = run_once(&j)) == RESTART) {
    /* Deep sleep: nothing runs until the wake-up; a signal now ends the
     * process at once (no life is attached to the handlers). */
    struct timespec ts = {(time_t)(j.sleep_us / 1000000), (long)(j.sleep_us % 1000000) * 1000};
    while (nanosleep(&ts, &ts) != 0) {
    }
  }
  free(j.stdin_text);
  return status;
}
