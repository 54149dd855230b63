/* udp.h - UDP sockets, interfaces and multicast (SPEC 7). */
#ifndef NM_UDP_H
#define NM_UDP_H

#include "nm.h"

#define NM_UDP_SOCKET "net.udpsocket"

/* Registers the net.udpsocket metatable. */
void nm_udp_open(lua_State *L);
/* Pushes a new UDP socket object. */
int nm_udp_create(lua_State *L);

/* net.ifinfo(index|name), net.multicastJoin/Leave(if_ip, group) */
int nm_ifinfo(lua_State *L);
int nm_multicast_join(lua_State *L);
int nm_multicast_leave(lua_State *L);

#endif
