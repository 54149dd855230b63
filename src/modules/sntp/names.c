/* names.c - the server list of sntp.sync(): names as given ("host" or,
 * as a netmcu extension, "host:port"), copied out of Lua. */
#include <stdlib.h>
#include <string.h>

#include "core/nm.h"
#include "sntp.h"

void names_free(name_list *l) {
  for (size_t i = 0; i < l->n; i++) free(l->host[i]);
  l->n = 0;
}

/* Appends host:port; 0, or -1 when out of memory. */
int names_add(name_list *l, const char *host, size_t len, uint16_t port) {
  char *h = malloc(len + 1);
  if (h == NULL) return -1;
  memcpy(h, host, len);
  h[len] = '\0';
  l->host[l->n] = h;
  l->port[l->n++] = port;
  return 0;
}

int names_copy(name_list *to, const name_list *from) {
  names_free(to);
  for (size_t i = 0; i < from->n; i++)
    if (names_add(to, from->host[i], strlen(from->host[i]), from->port[i]) != 0) return -1;
  return 0;
}

/* "host" or "host:port" (a netmcu extension, for servers on other ports). */
static void add_name(lua_State *L, name_list *l, const char *s, size_t len) {
  uint16_t port = NTP_PORT;
  if (memchr(s, '\0', len) != NULL) { /* "host\0x" is not "host" */
    names_free(l);
    luaL_argerror(L, 1, "invalid server name");
  }
  const char *colon = memchr(s, ':', len);
  if (colon != NULL) {
    char *end;
    long p = strtol(colon + 1, &end, 10);
    if (colon[1] < '0' || colon[1] > '9' || end != s + len || p < 1 || p > 65535) {
      names_free(l);
      luaL_argerror(L, 1, "invalid port (integer 1-65535 expected)");
    }
    port = (uint16_t)p;
    len = (size_t)(colon - s);
  }
  if (names_add(l, s, len, port) != 0) {
    names_free(l);
    luaL_error(L, "out of memory");
  }
}

/* The servers of sync's first argument, checked before anything starts.
 * Returns 0 for nil (use the last ones). */
int check_servers(lua_State *L, name_list *l) {
  size_t len;
  if (lua_isnoneornil(L, 1)) return 0;
  if (!lua_istable(L, 1)) {
    const char *s = luaL_checklstring(L, 1, &len);
    if (len > MAX_NAME) luaL_error(L, "need <128 hostname");
    add_name(L, l, s, len);
    return 1;
  }
  size_t n = nm_rawlen(L, 1);
  if (n == 0) luaL_argerror(L, 1, "no server in the list");
  if (n > MAX_SERVERS) luaL_argerror(L, 1, "too many servers (32 at most)");
  for (size_t i = 1; i <= n; i++) {
    lua_rawgeti(L, 1, (int)i);
    int t = lua_type(L, -1);
    if (t != LUA_TSTRING && t != LUA_TNUMBER) {
      names_free(l);
      luaL_argerror(L, 1, "server names expected");
    }
    const char *s = lua_tolstring(L, -1, &len);
    add_name(L, l, s, len); /* a name too long fails the sync with code 1, as on the device */
    lua_pop(L, 1);
  }
  return 1;
}

