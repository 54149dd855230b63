/* dns.h - name resolution inside the loop (SPEC 6), used by net.dns, by
 * sock:dns / udp:dns and by connect(port, name).  c-ares runs in the libuv
 * loop (dns_ares.c); the Lua side is dns.c; docs/DNS.md explains both. */
#ifndef NM_DNS_H
#define NM_DNS_H

#include "core/nm.h"

typedef struct nm_dns_req nm_dns_req;

/* status is 0 with addr set to the first IPv4 address (valid during the
 * call only), or a libuv error (UV_EAI_NONAME, UV_EAI_AGAIN, ...) with addr
 * NULL. */
typedef void (*nm_dns_cb)(void *arg, int status, const struct in_addr *addr);

/* Starts resolving name.  cb(arg, ...) runs exactly once from the loop,
 * never before this call returns (an IPv4 literal or an /etc/hosts name
 * is answered on a later loop turn), unless nm_dns_cancel is called first.
 * Returns the request, or NULL only when out of memory. */
nm_dns_req *nm_dns_lookup(nm_ctx *ctx, const char *name, nm_dns_cb cb, void *arg);

/* The callback of req will not run; its memory is released.  Also the way
 * to release a request still pending at shutdown: the resolver's kill()
 * never calls cb, and leaves each request of another owner allocated for
 * that owner's kill() to cancel. */
void nm_dns_cancel(nm_dns_req *req);

/* sock:dns(name, fn) for TCP and UDP sockets alike (the object is arg 1):
 * fn becomes the object's NM_CB_DNS callback, then fn(obj, ip|nil) runs
 * from the loop.  The object stays anchored while the answer is pending. */
int nm_sock_dns(lua_State *L);

/* Pushes the net.dns table. */
void nm_dns_open(lua_State *L);

#endif
