/* dns.c - PLACEHOLDER until the c-ares resolver lands (issue 4): answers
 * IPv4 literals only, on a later loop turn, and fails every name. */
#include <stdlib.h>

#include "dns.h"

struct nm_dns_req {
  nm_defer defer;
  nm_ctx *ctx;
  nm_dns_cb cb;
  void *arg;
  int status;
  struct in_addr addr;
};

static void answer(nm_defer *d) {
  nm_dns_req *r = nm_container_of(d, nm_dns_req, defer);
  r->cb(r->arg, r->status, r->status == 0 ? &r->addr : NULL);
  free(r);
}

nm_dns_req *nm_dns_lookup(nm_ctx *ctx, const char *name, nm_dns_cb cb, void *arg) {
  nm_dns_req *r = calloc(1, sizeof *r);
  if (r == NULL) return NULL;
  r->ctx = ctx;
  r->cb = cb;
  r->arg = arg;
  r->status = nm_parse_ip4(name, &r->addr) == 0 ? 0 : UV_EAI_NONAME;
  nm_defer_push(ctx, &r->defer, answer);
  return r;
}

void nm_dns_cancel(nm_dns_req *r) {
  nm_defer_cancel(r->ctx, &r->defer);
  free(r);
}

int nm_sock_dns(lua_State *L) { return luaL_error(L, "dns: not available yet"); }

void nm_dns_open(lua_State *L) { lua_newtable(L); }
