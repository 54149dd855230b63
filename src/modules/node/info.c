/* info.c - the rest of the chip's node calls: info, bootreason,
 * random, cpu frequency, stripdebug, osprint, egc, the partition table,
 * flash figures, dsleep, startup options, compile. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "core/root.h"
#include "modules/file/file.h"
#include "node.h"

#define NODE_VERSION_MAJOR 3 /* the firmware release the API follows */
#define NODE_VERSION_MINOR 0
#define NODE_VERSION_REVISION 0
#define FLASH_ID 0x1640ef      /* a 4 MB Winbond part, as on most modules */
#define FLASH_SIZE (4u << 20)
#define FLASH_SPEED 40000000
#define NODE_SLEEP_FOREVER 1000000000000000ull /* us: ~31 years */
#define EGC_NOT_ACTIVE 0
#define EGC_ON_ALLOC_FAILURE 1
#define EGC_ON_MEM_LIMIT 2
#define EGC_ALWAYS 4

/* What node calls set, per Lua state (each life starts from the chip's
 * defaults, as after a reset). */
typedef struct {
  int cpufreq;
  int strip;     /* the firmware's stripdefault: 0-2 (node.stripdebug() - 1) */
  int egc_mode, egc_limit;
  int osprint;
  const char *warned[4]; /* deprecation notes given */
} node_settings;

static const char settings_key = 's';

static node_settings *settings(lua_State *L) {
  lua_pushlightuserdata(L, (void *)&settings_key);
  lua_rawget(L, LUA_REGISTRYINDEX);
  node_settings *s = lua_touserdata(L, -1);
  lua_pop(L, 1);
  if (s != NULL) return s;
  lua_pushlightuserdata(L, (void *)&settings_key);
  s = lua_newuserdata(L, sizeof *s);
  s->cpufreq = 80;
  s->strip = 1; /* LUAI_OPTIMIZE_DEBUG */
  s->egc_mode = EGC_ALWAYS;
  s->egc_limit = 4096;
  s->osprint = 0;
  memset(s->warned, 0, sizeof s->warned);
  lua_rawset(L, LUA_REGISTRYINDEX);
  return s;
}

void node_deprecated(lua_State *L, const char *what, const char *when) {
  node_settings *s = settings(L);
  size_t i = 0; /* one note per API */
  while (i < 4 && s->warned[i] != NULL && s->warned[i] != what) i++;
  if (i < 4 && s->warned[i] == what) return;
  if (i < 4) s->warned[i] = what;
  fprintf(stderr, "Warning, deprecated API! %s. It will be removed %s. See documentation for details.\n",
          what, when);
}

static void set_int(lua_State *L, const char *k, lua_Integer v) {
  lua_pushinteger(L, v);
  lua_setfield(L, -2, k);
}

static void set_str(lua_State *L, const char *k, const char *v) {
  lua_pushstring(L, v);
  lua_setfield(L, -2, k);
}

static lua_Integer chip_id(lua_State *L) {
  lua_getfield(L, LUA_REGISTRYINDEX, "_LOADED");
  lua_getfield(L, -1, "node");
  lua_getfield(L, -1, "chipid");
  lua_Integer id = 0;
  if (lua_isfunction(L, -1) && lua_pcall(L, 0, 1, 0) == 0) id = lua_tointeger(L, -1);
  lua_pop(L, 3);
  return id;
}

/* node.info([group]) */
static int node_info(lua_State *L) {
  static const char *const groups[] = {"lfs", "hw", "sw_version", "build_config", "legacy", NULL};
  int g = luaL_checkoption(L, 1, "legacy", groups);
  if (g == 0) return node_lfs_config(L);
  if (g == 1) {
    lua_createtable(L, 0, 5);
    set_int(L, "chip_id", chip_id(L));
    set_int(L, "flash_id", FLASH_ID);
    set_int(L, "flash_size", FLASH_SIZE / 1024);
    set_int(L, "flash_mode", 0);
    set_int(L, "flash_speed", FLASH_SPEED);
  } else if (g == 2) {
    lua_createtable(L, 0, 7);
    set_int(L, "node_version_major", NODE_VERSION_MAJOR);
    set_int(L, "node_version_minor", NODE_VERSION_MINOR);
    set_int(L, "node_version_revision", NODE_VERSION_REVISION);
    set_str(L, "git_branch", "netmcu");
    set_str(L, "git_commit_id", NETMCU_VERSION);
    set_str(L, "git_release", "netmcu " NETMCU_VERSION);
    set_str(L, "git_commit_dts", "000000000000");
  } else if (g == 3) {
    lua_createtable(L, 0, 4);
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "ssl");
    set_int(L, "lfs_size", node_lfs_size(L));
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    for (const nm_module *m = nm_modules; m->name != NULL; m++) {
      if (m != nm_modules) luaL_addchar(&b, ',');
      luaL_addstring(&b, m->name);
    }
    luaL_pushresult(&b);
    lua_setfield(L, -2, "modules");
    set_str(L, "number_type", "float");
  } else {
    node_deprecated(L, "node.info() without parameter", "in the next version");
    lua_pushinteger(L, NODE_VERSION_MAJOR);
    lua_pushinteger(L, NODE_VERSION_MINOR);
    lua_pushinteger(L, NODE_VERSION_REVISION);
    lua_pushinteger(L, chip_id(L));
    lua_pushinteger(L, FLASH_ID);
    lua_pushinteger(L, FLASH_SIZE / 1024);
    lua_pushinteger(L, 0);
    lua_pushinteger(L, FLASH_SPEED);
    return 8;
  }
  return 1;
}

/* node.bootreason(): the raw code, and the extended reason of this life. */
static int node_bootreason(lua_State *L) {
  int reason = nm_ctx_get(L)->boot_reason;
  int raw = reason == NM_BOOT_POWER_ON ? 1 : reason == NM_BOOT_SW_WATCHDOG ? 4 : 2;
  lua_pushinteger(L, raw);
  lua_pushinteger(L, reason);
  return 2;
}

static uint64_t random64(void) {
  uint64_t v;
  if (getrandom(&v, sizeof v, 0) != (ssize_t)sizeof v) { /* never on Linux */
    v = ((uint64_t)rand() << 32) ^ (uint64_t)rand() ^ uv_hrtime();
  }
  return v;
}

/* Uniform in [0, range) without modulo bias (range > 0). */
static uint64_t random_below(uint64_t range) {
  uint64_t limit = UINT64_MAX - UINT64_MAX % range;
  uint64_t v;
  while ((v = random64()) >= limit) {
  }
  return v % range;
}

/* node.random([[l,] u]): true random numbers from the host. */
static int node_random(lua_State *L) {
  lua_Integer l = 1, u;
  switch (lua_gettop(L)) {
  case 0:
    lua_pushnumber(L, (lua_Number)(random64() >> 11) * (1.0 / 9007199254740992.0));
    return 1;
  case 1:
    u = nm_checkinteger(L, 1);
    break;
  case 2:
    l = nm_checkinteger(L, 1);
    u = nm_checkinteger(L, 2);
    break;
  default:
    return luaL_error(L, "wrong number of arguments");
  }
  luaL_argcheck(L, l <= u, 2, "interval is empty");
  uint64_t range = (uint64_t)u - (uint64_t)l + 1;
  uint64_t v = range == 0 ? random64() : random_below(range);
  lua_pushinteger(L, (lua_Integer)((uint64_t)l + v));
  return 1;
}

/* node.getcpufreq() */
static int node_getcpufreq(lua_State *L) {
  lua_pushinteger(L, settings(L)->cpufreq);
  return 1;
}

/* node.setcpufreq(mhz): 160, anything else is 80 (as the firmware). */
static int node_setcpufreq(lua_State *L) {
  lua_Integer f = nm_checkinteger(L, 1);
  node_settings *s = settings(L);
  s->cpufreq = f == 160 ? 160 : 80;
  lua_pushinteger(L, s->cpufreq);
  return 1;
}

/* node.stripdebug([level [, function]]) */
static int node_stripdebug(lua_State *L) {
  int n = lua_gettop(L);
  node_settings *s = settings(L);
  lua_settop(L, 2);
  int level = 0;
  if (!lua_isnil(L, 1)) {
    level = (int)nm_checkinteger(L, 1);
    luaL_argcheck(L, level > 0 && level < 4, 1, "Invalid strip level");
  }
  if (lua_type(L, 2) == LUA_TNUMBER) {
    lua_Integer scope = nm_checkinteger(L, 2);
    lua_Debug ar;
    if (scope > 0 && lua_getstack(L, (int)scope, &ar)) {
      lua_pop(L, 1);
      lua_getinfo(L, "f", &ar);
    }
  }
  int isfunc = lua_isfunction(L, 2);
  luaL_argcheck(L, n < 2 || isfunc, 2, "not a valid function");
  if (isfunc) { /* a loaded function cannot lose its debug info here */
    lua_pushinteger(L, 0);
    return 1;
  }
  if (level > 0) s->strip = level - 1;
  lua_pushinteger(L, s->strip + 1);
  return 1;
}

/* node.osprint(on): the SDK's debug output; the host has none. */
static int node_osprint(lua_State *L) {
  settings(L)->osprint = lua_toboolean(L, 1);
  return 0;
}

/* node.egc.setmode(mode [, limit]) */
static int egc_setmode(lua_State *L) {
  lua_Integer mode = nm_checkinteger(L, 1);
  lua_Integer limit = lua_isnoneornil(L, 2) ? 0 : nm_checkinteger(L, 2);
  luaL_argcheck(L, mode >= 0 && mode <= (EGC_ON_ALLOC_FAILURE | EGC_ON_MEM_LIMIT | EGC_ALWAYS), 1,
                "invalid mode");
  luaL_argcheck(L, !(mode & EGC_ON_MEM_LIMIT) || limit != 0, 1, "limit must be non-zero");
  node_settings *s = settings(L);
  s->egc_mode = (int)mode;
  s->egc_limit = (int)limit;
  /* the host's nearest: collect eagerly when the device would always */
  lua_gc(L, LUA_GCSETPAUSE, (mode & EGC_ALWAYS) ? 100 : 200);
  return 0;
}

/* node.egc.meminfo(): bytes the Lua state holds, twice. */
static int egc_meminfo(lua_State *L) {
  lua_Integer used = (lua_Integer)lua_gc(L, LUA_GCCOUNT, 0) * 1024 + lua_gc(L, LUA_GCCOUNTB, 0);
  lua_pushinteger(L, used);
  lua_pushinteger(L, used);
  return 2;
}

/* node.getpartitiontable() */
static int node_getpartitiontable(lua_State *L) {
  long long rem, used, total = 0;
  file_usage(nm_ctx_get(L), &rem, &used, &total);
  lua_createtable(L, 0, 4);
  lua_Integer lfs = node_lfs_size(L);
  set_int(L, "lfs_addr", lfs ? NODE_LFS_ADDR : 0);
  set_int(L, "lfs_size", lfs);
  set_int(L, "spiffs_addr", FILE_SPIFFS_ADDR);
  set_int(L, "spiffs_size", (lua_Integer)total);
  return 1;
}

/* node.setpartitiontable(t): the flash layout of a host is its root. */
static int node_setpartitiontable(lua_State *L) {
  luaL_argcheck(L, lua_istable(L, 1), 1, "must be table");
  return luaL_error(L, "node.setpartitiontable: not meaningful on a host "
                       "(the file system is the --fs directory, LFS the --lfs one)");
}

static int node_flashid(lua_State *L) {
  lua_pushinteger(L, FLASH_ID);
  return 1;
}

static int node_flashsize(lua_State *L) {
  lua_pushinteger(L, FLASH_SIZE);
  return 1;
}

/* node.dsleep([us [, option [, instant]]]): the chip sleeps and wakes up
 * with a reset; the runtime ends this life and starts the script again
 * after us (0: never wakes by itself, as without the RST wiring). */
static int node_dsleep(lua_State *L) {
  if (lua_type(L, 1) != LUA_TNUMBER) return 0; /* no time: sets the option only */
  lua_Number us = lua_tonumber(L, 1);
  uint64_t delay = !(us > 0) || us >= NODE_SLEEP_FOREVER ? NODE_SLEEP_FOREVER : (uint64_t)us;
  return nm_restart(L, "node.dsleep", delay, NM_BOOT_DEEP_SLEEP);
}

/* node.dsleepMax(): the SDK's figure for a typical RTC clock (~3.3 h). */
static int node_dsleepmax(lua_State *L) {
  lua_pushnumber(L, 11811160064.0);
  return 1;
}

static int node_sleep(lua_State *L) { return luaL_error(L, "node.sleep() is unavailable"); }

static int node_restore(lua_State *L) {
  (void)L;
  return 0;
}

/* node.startup([t]) and node.startupcommand(s): the options of the next
 * boot, kept for the life of the process; the runtime always starts the
 * script it was given (see docs/DIFFERENCES.md). */
static struct {
  char *command;
  int banner, frequency, delay_mount;
} startup = {NULL, 1, 80, 0};

static int set_command(const char *cmd, size_t l) {
  char *c = malloc(l + 1);
  if (c == NULL) return -1;
  memcpy(c, cmd, l + 1);
  free(startup.command);
  startup.command = c;
  return 0;
}

static int node_startupcommand(lua_State *L) {
  size_t l;
  const char *cmd = luaL_checklstring(L, 1, &l);
  lua_pushboolean(L, set_command(cmd, l) == 0);
  return 1;
}

static int node_startup(lua_State *L) {
  if (lua_gettop(L) > 0) {
    luaL_checktype(L, 1, LUA_TTABLE);
    int n = 0;
    lua_pushnil(L);
    while (lua_next(L, 1) != 0) {
      if (lua_type(L, -2) == LUA_TSTRING) {
        const char *k = lua_tostring(L, -2);
        n++;
        if (strcmp(k, "command") == 0) {
          size_t l;
          const char *cmd = luaL_checklstring(L, -1, &l);
          if (set_command(cmd, l) != 0) return luaL_error(L, "failed to set command");
        } else if (strcmp(k, "banner") == 0) {
          startup.banner = lua_toboolean(L, -1);
        } else if (strcmp(k, "frequency") == 0) {
          startup.frequency = lua_tointeger(L, -1) == 160 ? 160 : 80;
        } else if (strcmp(k, "delay_mount") == 0) {
          startup.delay_mount = lua_toboolean(L, -1);
        }
      }
      lua_pop(L, 1);
    }
    if (n == 0) { /* {} resets everything */
      free(startup.command);
      startup.command = NULL;
      startup.banner = 1;
      startup.frequency = 80;
      startup.delay_mount = 0;
    }
  }
  lua_createtable(L, 0, 4);
  if (startup.command != NULL) set_str(L, "command", startup.command);
  lua_pushboolean(L, startup.banner);
  lua_setfield(L, -2, "banner");
  lua_pushboolean(L, startup.delay_mount);
  lua_setfield(L, -2, "delay_mount");
  set_int(L, "frequency", startup.frequency);
  return 1;
}

typedef struct {
  int fd, failed;
} dump_state;

static int dump_writer(lua_State *L, const void *p, size_t sz, void *ud) {
  dump_state *d = ud;
  (void)L;
  const char *s = p;
  while (sz > 0 && !d->failed) {
    ssize_t w = write(d->fd, s, sz);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) d->failed = 1;
    else {
      s += w;
      sz -= (size_t)w;
    }
  }
  return d->failed;
}

/* node.compile("name.lua"): name.lc beside it, loadable by dofile and
 * require; debug information goes at node.stripdebug(3). */
static int node_compile(lua_State *L) {
  size_t len;
  const char *name = file_checkname(L, 1, 0);
  len = strlen(name);
  if (len < 4 || strcmp(name + len - 4, ".lua") != 0) return luaL_error(L, "not a .lua file");
  lua_pushlstring(L, name, len - 4);
  lua_pushliteral(L, ".lc");
  lua_concat(L, 2);
  const char *out = lua_tostring(L, -1);
  if (nm_root_loadname(L, name) != 0) return lua_error(L);
  int fd = nm_root_open(nm_ctx_get(L), out, O_WRONLY | O_CREAT | O_TRUNC, 0666);
  if (fd < 0) return luaL_error(L, "cannot open/write to file");
  dump_state d = {fd, 0};
#if LUA_VERSION_NUM >= 503
  int rc = lua_dump(L, dump_writer, &d, settings(L)->strip >= 2);
#else
  int rc = lua_dump(L, dump_writer, &d);
#endif
  if (close(fd) != 0) rc = 1;
  if (rc != 0 || d.failed) return luaL_error(L, "writing to file failed");
  return 0;
}

void node_info_open(lua_State *L) {
  static const luaL_Reg funcs[] = {
      {"info", node_info},
      {"bootreason", node_bootreason},
      {"random", node_random},
      {"getcpufreq", node_getcpufreq},
      {"setcpufreq", node_setcpufreq},
      {"stripdebug", node_stripdebug},
      {"osprint", node_osprint},
      {"getpartitiontable", node_getpartitiontable},
      {"setpartitiontable", node_setpartitiontable},
      {"flashid", node_flashid},
      {"flashsize", node_flashsize},
      {"dsleep", node_dsleep},
      {"dsleepMax", node_dsleepmax},
      {"sleep", node_sleep},
      {"restore", node_restore},
      {"startup", node_startup},
      {"startupcommand", node_startupcommand},
      {"compile", node_compile},
      {NULL, NULL}};
  static const luaL_Reg egc[] = {{"setmode", egc_setmode}, {"meminfo", egc_meminfo}, {NULL, NULL}};
  settings(L);
  nm_setfuncs(L, funcs, 0);
  lua_pushinteger(L, 80);
  lua_setfield(L, -2, "CPU80MHZ");
  lua_pushinteger(L, 160);
  lua_setfield(L, -2, "CPU160MHZ");
  nm_newlib(L, egc);
  set_int(L, "NOT_ACTIVE", EGC_NOT_ACTIVE);
  set_int(L, "ON_ALLOC_FAILURE", EGC_ON_ALLOC_FAILURE);
  set_int(L, "ON_MEM_LIMIT", EGC_ON_MEM_LIMIT);
  set_int(L, "ALWAYS", EGC_ALWAYS);
  lua_setfield(L, -2, "egc");
}
