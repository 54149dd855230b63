/* udp_socket.c - PLACEHOLDER until UDP lands (issue 3). */
#include "udp.h"

void nm_udp_open(lua_State *L) { (void)L; }
int nm_udp_create(lua_State *L) { return luaL_error(L, "UDP: not available yet"); }
int nm_ifinfo(lua_State *L) { return luaL_error(L, "ifinfo: not available yet"); }
int nm_multicast_join(lua_State *L) { return luaL_error(L, "multicast: not available yet"); }
int nm_multicast_leave(lua_State *L) { return luaL_error(L, "multicast: not available yet"); }
