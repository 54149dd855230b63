/* dns.h - name resolution inside the loop (docs/DNS.md).  Two owners:
 *   resolver.c  c-ares driven by the libuv loop; owns the resolver, its
 *               servers and resolv.conf; serves lookups to C callers
 *               (connect by name, dns.c, modules);
 *   dns.c       the Lua side: net.dns.*, sock:dns / udp:dns, and the Lua
 *               requests (their anchors, their shutdown). */
#ifndef NM_DNS_H
#define NM_DNS_H

#include "core/nm.h"

/* ---- resolver.c ---- */

typedef struct nm_dns_req nm_dns_req;

/* status is 0 with addr set to the first IPv4 address (valid during the
 * call only), or a libuv error (UV_EAI_NONAME, UV_EAI_AGAIN, ...) with addr
 * NULL. */
typedef void (*nm_dns_cb)(void *arg, int status, const struct in_addr *addr);

/* Starts resolving name.  cb(arg, ...) runs exactly once from the loop,
 * never before this call returns (an IPv4 literal or an /etc/hosts name
 * is answered on a later loop turn), unless nm_dns_cancel is called first.
 * Returns the request, or NULL only when out of memory.  The caller owns
 * the request until cb runs: at shutdown its own kill() cancels it (the
 * resolver's kill() never calls cb nor frees a request). */
nm_dns_req *nm_dns_lookup(nm_ctx *ctx, const char *name, nm_dns_cb cb, void *arg);

/* The callback of req will not run; its memory is released. */
void nm_dns_cancel(nm_dns_req *req);

/* Is text a server setdnsserver accepts: "a.b.c.d" (not 0.0.0.0) or, as a
 * host extension, "a.b.c.d:port"? */
int nm_dns_server_ok(const char *text);
/* Server i (0 or 1) exactly as set, "" when there is none; NULL when out of
 * memory.  Defaults: the first two IPv4 nameserver lines of resolv.conf
 * ($NETMCU_RESOLV_CONF, else /etc/resolv.conf). */
const char *nm_dns_getserver(nm_ctx *ctx, int i);
/* Sets server i for the lookups started from now on.  Returns 0,
 * UV_EINVAL (not a server) or UV_ENOMEM. */
int nm_dns_setserver(nm_ctx *ctx, int i, const char *text);

/* ---- dns.c ---- */

/* sock:dns(name[, fn]) of a TCP or UDP socket object (arg 1, type checked
 * by the caller; its userdata starts with an nm_bind): fn becomes the
 * object's `dns` callback, then fn(obj, ip|nil) runs from the loop unless
 * the socket is closed meanwhile.  The object stays anchored while the
 * answer is pending. */
int nm_sock_dns(lua_State *L);

/* Pushes the net.dns table. */
void nm_dns_open(lua_State *L);

#endif
