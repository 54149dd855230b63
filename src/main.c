/* main.c - the netmcu runtime (SPEC 9): runs a script with `net` and `tmr`
 * as globals, then the event loop, the way the firmware runs init.lua. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "nm.h"

#ifndef NETMCU_VERSION
#define NETMCU_VERSION "dev"
#endif

static const char *progname = "netmcu";

static void usage(FILE *f) {
  fprintf(f,
          "usage: %s [options] [script [args...]]\n"
          "Runs a NodeMCU Lua script with the net and tmr modules on this host,\n"
          "then serves events until nothing is active.\n"
          "  -e chunk  run the string chunk before the script\n"
          "  -         read the script from standard input\n"
          "  -v        print the version and exit\n"
          "  -h        print this help and exit\n"
          "  --        stop handling options\n"
          "Exit status: 0 when nothing is left to do, 1 on an uncaught Lua\n"
          "error, 130 on SIGINT, 143 on SIGTERM.  See netmcu(1).\n",
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

static void signal_cb(uv_signal_t *h, int signum) {
  nm_ctx *ctx = h->loop->data;
  if (ctx->stop_signal) _exit(128 + signum); /* second signal: at once */
  ctx->stop_signal = signum;
  uv_stop(h->loop);
}

static void watch_signal(nm_ctx *ctx, uv_signal_t *h, int signum) {
  uv_signal_init(&ctx->loop, h);
  uv_signal_start(h, signal_cb, signum);
  uv_unref((uv_handle_t *)h); /* a signal watcher is not work to wait for */
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

static int finish(lua_State *L, nm_ctx *ctx, int status) {
  nm_shutdown(ctx);
  lua_close(L);
  fflush(stdout);
  return status;
}

int main(int argc, char **argv) {
  int script = argc; /* index of the script in argv, argc if none */
  int have_chunk = 0;
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
    } else if (strcmp(a, "--") == 0) {
      if (i + 1 < argc) script = i + 1;
      break;
    } else if (a[0] == '-' && a[1] != '\0') {
      fprintf(stderr, "%s: unrecognized option '%s'\n", progname, a);
      usage(stderr);
      return 1;
    } else {
      script = i;
      break;
    }
  }
  if (script == argc && !have_chunk) {
    fprintf(stderr, "%s: no script given\n", progname);
    usage(stderr);
    return 1;
  }

  setvbuf(stdout, NULL, _IOLBF, 0); /* like the device's serial console */
  raise_fd_limit();
  lua_State *L = luaL_newstate();
  if (L == NULL) {
    fprintf(stderr, "%s: cannot create Lua state\n", progname);
    return 1;
  }
  luaL_openlibs(L);
  open_module(L, "net", luaopen_net);
  open_module(L, "tmr", luaopen_tmr);
  nm_ctx *ctx = nm_ctx_get(L);
  uv_signal_t sigint, sigterm;
  watch_signal(ctx, &sigint, SIGINT);
  watch_signal(ctx, &sigterm, SIGTERM);
  create_arg_table(L, argv, argc, script == argc ? 0 : script);

  /* -e chunks, in order, then the script with its arguments as `...`. */
  for (int i = 1; i < script; i++) {
    if (strcmp(argv[i], "-e") != 0) continue;
    const char *chunk = argv[++i];
    if (luaL_loadbuffer(L, chunk, strlen(chunk), "=(command line)") != 0 || docall(L, 0) != 0) {
      report(L);
      return finish(L, ctx, 1);
    }
  }
  if (script < argc) {
    const char *path = strcmp(argv[script], "-") == 0 ? NULL : argv[script];
    if (luaL_loadfile(L, path) != 0) {
      report(L);
      return finish(L, ctx, 1);
    }
    int nargs = argc - script - 1;
    luaL_checkstack(L, nargs, "too many arguments");
    for (int i = script + 1; i < argc; i++) lua_pushstring(L, argv[i]);
    if (docall(L, nargs) != 0) {
      report(L);
      return finish(L, ctx, 1);
    }
  }

  /* The loop, through the same call a stock interpreter uses. */
  lua_pushcfunction(L, nm_net_run);
  if (lua_pcall(L, 0, 0, 0) != 0) {
    report(L);
    return finish(L, ctx, 1);
  }
  int sig = ctx->stop_signal;
  return finish(L, ctx, sig ? 128 + sig : 0);
}
