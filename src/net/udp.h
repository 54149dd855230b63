/* udp.h - UDP sockets, interfaces and multicast (SPEC 7). */
#ifndef NM_UDP_H
#define NM_UDP_H

#include "core/nm.h"

#define NM_UDP_SOCKET "net.udpsocket"

/* Registers the net.udpsocket metatable. */
void nm_udp_open(lua_State *L);
/* Pushes a new UDP socket object. */
int nm_udp_create(lua_State *L);

/* net.ifinfo(index|name), net.multicastJoin/Leave(if_ip, group) */
int nm_ifinfo(lua_State *L);
int nm_multicast_join(lua_State *L);
int nm_multicast_leave(lua_State *L);

/* ---- between udp_socket.c and iface.c ----
 * Multicast membership is global (SPEC 7): iface.c keeps the list of
 * groups joined and the list of open UDP sockets in ctx->mcast, and applies
 * every membership to every socket, those open at the join and those bound
 * later.  A UDP socket embeds one of these while it has an OS socket. */
typedef struct nm_mcast_sock {
  nm_link link; /* in ctx->mcast's socket list; self-linked when out */
  uv_udp_t *h;
} nm_mcast_sock;

/* A newly created OS socket joins the global memberships (best effort: a
 * membership whose interface is gone is skipped) and the socket list.
 * Returns 0 or a libuv error (out of memory, or a socket option refused). */
int nm_mcast_attach(nm_ctx *ctx, nm_mcast_sock *m, uv_udp_t *h);
/* The socket is closing: it leaves the list (its memberships go with it). */
void nm_mcast_detach(nm_mcast_sock *m);

#endif
