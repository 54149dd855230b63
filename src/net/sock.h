/* sock.h - what the TCP server, TCP socket and UDP socket methods share:
 * addresses from arguments, ttl, getaddr/getpeer. */
#ifndef NM_SOCK_H
#define NM_SOCK_H

#include "core/nm.h"

/* sa = ip:port (ip in network order). */
void nm_sockaddr4(struct sockaddr_in *sa, struct in_addr ip, int port);

/* The optional `[port][, ip]` of listen() at idx, each of which may also be
 * nil: an integer port (default 0: any) and a dotted-quad ip (default
 * 0.0.0.0: every interface), else "invalid IP address".  Fills sa and
 * returns the index of the first argument after them. */
int nm_check_listen_addr(lua_State *L, int idx, struct sockaddr_in *sa);

/* sock:ttl([n]) on the OS socket of h (NULL when the object has none):
 * returns the current IP TTL, or sets it to n (1-255), also as the
 * multicast TTL if mcast is set.  Without an OS socket raises "socket is
 * not open/bound yet".  Returns 1 (the TTL pushed). */
int nm_sock_ttl(lua_State *L, const uv_handle_t *h, int mcast);

/* Pushes port, ip of the local (peer 0) or remote (peer 1) address of h's
 * OS socket, or nil, nil (h NULL, no socket, not IPv4).  Returns 2. */
int nm_sock_name(lua_State *L, const uv_handle_t *h, int peer);

#endif
