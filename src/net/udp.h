/* udp.h - UDP sockets (udp_socket.c) and the multicast membership they all
 * share (multicast.c); docs/modules/net.md, net.udpsocket. */
#ifndef NM_UDP_H
#define NM_UDP_H

#include "core/nm.h"

#define NM_UDP_SOCKET "net.udpsocket"

/* Registers the net.udpsocket class. */
void nm_udpsocket_open(lua_State *L);
/* Pushes a new UDP socket object. */
int nm_udpsocket_create(lua_State *L);

/* net.multicastJoin/Leave(if_ip, group) (multicast.c) */
int net_multicastJoin(lua_State *L);
int net_multicastLeave(lua_State *L);
/* net.ifinfo(index|name) (ifinfo.c) */
int net_ifinfo(lua_State *L);

/* ---- between udp_socket.c and multicast.c ----
 * Multicast membership is global (docs/UDP.md): multicast.c keeps the list
 * of groups joined and the list of open UDP sockets, and applies every
 * membership to every socket, those open at the join and those bound
 * later.  A UDP socket embeds one of these while it has an OS socket. */
typedef struct nm_mcast_sock {
  nm_link link; /* in the socket list; self-linked when out */
  uv_udp_t *h;
} nm_mcast_sock;

/* A newly created OS socket joins the global memberships (best effort: a
 * membership whose interface is gone is skipped) and the socket list.
 * Returns 0 or a libuv error (out of memory, or a socket option refused). */
int nm_mcast_attach(nm_ctx *ctx, nm_mcast_sock *m, uv_udp_t *h);
/* The socket is closing: it leaves the list (its memberships go with it). */
void nm_mcast_detach(nm_mcast_sock *m);

#endif
