/* dns_impl.h - what the two halves of the resolver share: dns_ares.c runs
 * c-ares inside the loop, dns.c is the Lua side (net.dns, sock:dns) and the
 * server configuration.  Nothing outside these two files includes this. */
#ifndef NM_DNS_IMPL_H
#define NM_DNS_IMPL_H

#include <stdint.h>

#include "dns.h"

/* Every try waits NM_DNS_TIMEOUT_MS, doubled on each round over the
 * servers, and c-ares makes NM_DNS_TRIES rounds: with both servers silent
 * a lookup fails after 2 * 1.25 * (1 + 2) = 7.5 s, inside SPEC 6's 10 s. */
#define NM_DNS_TIMEOUT_MS 1250
#define NM_DNS_TRIES 2

/* A server as set: the text exactly as given, and what it means. */
typedef struct nm_dns_server {
  char text[24];   /* "a.b.c.d" or "a.b.c.d:port"; "" when not set */
  struct in_addr addr;
  uint16_t port;   /* 53 unless given */
} nm_dns_server;

typedef struct nm_chan nm_chan;

/* The resolver of one context, created on first use (ctx->dns). */
typedef struct nm_dns {
  nm_obj obj;
  nm_ctx *ctx;
  nm_chan *cur;            /* channel for new lookups; NULL until needed */
  nm_link chans;           /* every open channel: cur and retired ones */
  nm_link reqs;            /* requests not yet delivered nor cancelled */
  nm_dns_server servers[2];
  char *resolv_conf;       /* the resolv.conf this resolver read */
} nm_dns;

struct nm_dns_req {
  nm_link link;            /* in dns->reqs until delivered or cancelled */
  nm_defer defer;          /* queued once the answer is known */
  nm_ctx *ctx;
  nm_chan *ch;             /* the channel, while c-ares holds the request */
  nm_dns_cb cb;
  void *arg;
  int status;
  struct in_addr addr;
  int ref;                 /* Lua requests (dns.c): the anchored object */
  uint8_t in_ares;         /* c-ares has not called back yet */
  uint8_t queued;          /* defer is in the context's queue */
  uint8_t cancelled;       /* c-ares still holds it; freed when it calls back */
  uint8_t localhost;       /* RFC 6761 name: 127.0.0.1 if the hosts file lacks it */
  uint8_t sock;            /* Lua requests: sock:dns (else resolve) */
  unsigned epoch;          /* sock:dns: the socket's close() count at the start */
};

/* The resolver of ctx, created (servers read from resolv.conf) on first
 * use; NULL only when out of memory. */
nm_dns *nm_dns_get(nm_ctx *ctx);
/* dns->servers changed: lookups started from now on use the new ones. */
void nm_dns_servers_changed(nm_dns *dns);
/* Parses "a.b.c.d" or "a.b.c.d:port" (not 0.0.0.0, port 1-65535). */
int nm_dns_parse_server(const char *s, nm_dns_server *out);
/* Reads the first two IPv4 nameserver lines of path into servers. */
void nm_dns_read_resolv_conf(const char *path, nm_dns_server servers[2]);

#endif
