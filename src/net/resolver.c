/* resolver.c - c-ares driven by the libuv loop, the way Node.js does it:
 * c-ares reports each socket it wants watched through its socket-state
 * callback, a uv_poll_t per socket hands readiness back with
 * ares_process_fd, and one timer per channel, re-armed from ares_timeout(),
 * drives retries.  No threads, no blocking getaddrinfo.
 *
 * Answers are always delivered through the context's deferred-call queue:
 * callbacks are never synchronous (c-ares answers literals and hosts
 * file names before ares_gethostbyname returns), and Lua then never runs
 * inside a c-ares frame, so Lua may change servers from any callback.
 *
 * c-ares 1.18 refuses to change the servers of a channel with queries in
 * flight, so a server change retires the busy channel: it finishes what it
 * has, then closes, while new lookups go to a fresh channel.  (Node.js
 * refuses the change instead; NodeMCU scripts expect it to just work.)
 *
 * The resolver also owns its configuration: the two servers of
 * net.dns.setdnsserver and the resolv.conf they default to. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <ares.h>

#include "dns.h"

/* Every try waits NM_DNS_TIMEOUT_MS, doubled on each round over the
 * servers, and c-ares makes NM_DNS_TRIES rounds: with both servers silent
 * a lookup fails after 2 * 1.25 * (1 + 2) = 7.5 s, inside the 10 s that
 * docs/modules/net.md promises. */
#define NM_DNS_TIMEOUT_MS 1250
#define NM_DNS_TRIES 2

/* A server as set: the text exactly as given, and what it means. */
typedef struct nm_dns_server {
  char text[24];   /* "a.b.c.d" or "a.b.c.d:port"; "" when not set */
  struct in_addr addr;
  uint16_t port;   /* 53 unless given */
} nm_dns_server;

typedef struct nm_chan nm_chan;

/* The resolver of one context (ctx->state[NM_STATE_DNS]), created on
 * first use. */
typedef struct nm_dns {
  nm_obj obj;
  nm_ctx *ctx;
  nm_chan *cur;            /* channel for new lookups; NULL until needed */
  nm_link chans;           /* every open channel: cur and retired ones */
  nm_dns_server servers[2];
  char *resolv_conf;       /* the resolv.conf this resolver read */
} nm_dns;

struct nm_dns_req {
  nm_defer defer;          /* queued once the answer is known */
  nm_ctx *ctx;
  nm_chan *ch;             /* the channel, while c-ares holds the request */
  nm_dns_cb cb;
  void *arg;
  int status;
  struct in_addr addr;
  uint8_t in_ares;         /* c-ares has not called back yet */
  uint8_t queued;          /* defer is in the context's queue */
  uint8_t cancelled;       /* c-ares still holds it; freed when it calls back */
  uint8_t localhost;       /* RFC 6761 name: 127.0.0.1 if the hosts file lacks it */
};

struct nm_chan {
  nm_link link;          /* in dns->chans */
  nm_dns *dns;
  ares_channel ares;
  uv_timer_t timer;      /* referenced only while live > 0 */
  nm_link polls;         /* the sockets c-ares asked us to watch */
  int inflight;          /* requests c-ares has not called back yet */
  int live;              /* of those, the ones not cancelled */
  int retired;           /* servers changed: close once live is 0 */
};

typedef struct dns_poll {
  uv_poll_t h;           /* h.data: the channel */
  nm_link link;          /* in ch->polls */
  ares_socket_t fd;
} dns_poll;

static void chan_close(nm_chan *ch);

/* ---- loop liveness ----
 * Poll handles never keep the loop alive; the timer does while a request
 * that someone still waits for is in flight.  Cancelled requests may stay
 * in c-ares until they time out, but nobody waits for them. */

static void chan_update_ref(nm_chan *ch) {
  if (ch->live > 0)
    uv_ref((uv_handle_t *)&ch->timer);
  else
    uv_unref((uv_handle_t *)&ch->timer);
}

static void timer_cb(uv_timer_t *t);

/* Re-arm the timer for c-ares's next deadline (rounded up, so that it does
 * not wake just before c-ares considers a try expired). */
static void chan_arm(nm_chan *ch) {
  struct timeval tv;
  if (ares_timeout(ch->ares, NULL, &tv) != NULL) {
    uint64_t ms = (uint64_t)tv.tv_sec * 1000 + ((uint64_t)tv.tv_usec + 999) / 1000;
    uv_timer_start(&ch->timer, timer_cb, ms + 1, 0);
  } else {
    uv_timer_stop(&ch->timer);
  }
  chan_update_ref(ch);
}

/* After c-ares ran: a retired channel nobody waits for closes (its
 * cancelled requests, if any, go with it). */
static void chan_after(nm_chan *ch) {
  if (ch->retired && ch->live == 0)
    chan_close(ch);
  else
    chan_arm(ch);
}

static void timer_cb(uv_timer_t *t) {
  nm_chan *ch = t->data;
  ares_process_fd(ch->ares, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
  chan_after(ch);
}

/* ---- sockets ---- */

static void poll_cb(uv_poll_t *h, int status, int events) {
  nm_chan *ch = h->data;
  ares_socket_t fd = nm_container_of(h, dns_poll, h)->fd;
  if (status < 0) events = UV_READABLE | UV_WRITABLE; /* let c-ares meet the error */
  ares_process_fd(ch->ares, (events & UV_READABLE) ? fd : ARES_SOCKET_BAD,
                  (events & UV_WRITABLE) ? fd : ARES_SOCKET_BAD);
  chan_after(ch);
}

static void poll_closed_cb(uv_handle_t *h) {
  free(nm_container_of((uv_poll_t *)h, dns_poll, h));
}

static void poll_close(dns_poll *p) {
  nm_list_remove(&p->link);
  uv_close((uv_handle_t *)&p->h, poll_closed_cb);
}

static dns_poll *poll_find(nm_chan *ch, ares_socket_t fd) {
  for (nm_link *l = ch->polls.next; l != &ch->polls; l = l->next) {
    dns_poll *p = nm_container_of(l, dns_poll, link);
    if (p->fd == fd) return p;
  }
  return NULL;
}

static dns_poll *poll_new(nm_chan *ch, ares_socket_t fd) {
  dns_poll *p = calloc(1, sizeof *p);
  if (p == NULL) return NULL;
  if (uv_poll_init_socket(&ch->dns->ctx->loop, &p->h, fd) != 0) {
    free(p);
    return NULL; /* the query times out: c-ares then fails it */
  }
  p->h.data = ch;
  p->fd = fd;
  uv_unref((uv_handle_t *)&p->h);
  nm_list_append(&ch->polls, &p->link);
  return p;
}

/* c-ares tells which directions it wants on fd; none means it is about to
 * close fd, so the poll handle goes first. */
static void sock_state_cb(void *data, ares_socket_t fd, int readable, int writable) {
  nm_chan *ch = data;
  dns_poll *p = poll_find(ch, fd);
  if (!readable && !writable) {
    if (p != NULL) poll_close(p);
    return;
  }
  if (p == NULL && (p = poll_new(ch, fd)) == NULL) return;
  uv_poll_start(&p->h, (readable ? UV_READABLE : 0) | (writable ? UV_WRITABLE : 0), poll_cb);
}

/* ---- channels ---- */

static int chan_set_servers(nm_chan *ch, const nm_dns_server servers[2]) {
  struct ares_addr_port_node nodes[2], *head = NULL, **tail = &head;
  memset(nodes, 0, sizeof nodes);
  for (int i = 0; i < 2; i++) {
    if (servers[i].text[0] == '\0') continue;
    nodes[i].family = AF_INET;
    nodes[i].addr.addr4 = servers[i].addr;
    nodes[i].udp_port = nodes[i].tcp_port = servers[i].port;
    *tail = &nodes[i];
    tail = &nodes[i].next;
  }
  return ares_set_servers_ports(ch->ares, head);
}

/* Servers come from set_servers only; names are taken as given (no search
 * domains, as on the device); hosts file first, then DNS; server 0 is
 * always asked first. */
static int chan_init_ares(nm_chan *ch) {
  struct ares_options o;
  memset(&o, 0, sizeof o);
  o.flags = ARES_FLAG_NOALIASES;
  o.timeout = NM_DNS_TIMEOUT_MS;
  o.tries = NM_DNS_TRIES;
  o.ndots = 1;
  o.lookups = (char *)"fb";
  o.sock_state_cb = sock_state_cb;
  o.sock_state_cb_data = ch;
  o.resolvconf_path = ch->dns->resolv_conf;
  int mask = ARES_OPT_FLAGS | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_NDOTS |
             ARES_OPT_LOOKUPS | ARES_OPT_SOCK_STATE_CB | ARES_OPT_SERVERS |
             ARES_OPT_DOMAINS | ARES_OPT_NOROTATE | ARES_OPT_RESOLVCONF;
  return ares_init_options(&ch->ares, &o, mask);
}

static nm_chan *chan_new(nm_dns *dns) {
  nm_chan *ch = calloc(1, sizeof *ch);
  if (ch == NULL) return NULL;
  ch->dns = dns;
  nm_list_init(&ch->polls);
  if (chan_init_ares(ch) != ARES_SUCCESS) {
    free(ch);
    return NULL;
  }
  chan_set_servers(ch, dns->servers); /* fails only out of memory: lookups fail */
  uv_timer_init(&dns->ctx->loop, &ch->timer);
  ch->timer.data = ch;
  uv_unref((uv_handle_t *)&ch->timer);
  nm_list_append(&dns->chans, &ch->link);
  return ch;
}

static void chan_closed_cb(uv_handle_t *h) { free(h->data); }

/* ares_destroy calls back every request still in flight with
 * ARES_EDESTRUCTION (host_cb handles that without Lua) and reports each
 * socket closed, which closes its poll handle. */
static void chan_close(nm_chan *ch) {
  if (ch->dns->cur == ch) ch->dns->cur = NULL;
  ares_destroy(ch->ares);
  ch->ares = NULL;
  while (!nm_list_empty(&ch->polls))
    poll_close(nm_container_of(ch->polls.next, dns_poll, link));
  nm_list_remove(&ch->link);
  uv_close((uv_handle_t *)&ch->timer, chan_closed_cb);
}

/* dns->servers changed: lookups started from now on use the new ones. */
static void servers_changed(nm_dns *dns) {
  nm_chan *ch = dns->cur;
  if (ch == NULL) return; /* the next channel reads dns->servers */
  if (ch->inflight == 0) {
    if (chan_set_servers(ch, dns->servers) == ARES_SUCCESS) return;
    chan_close(ch);
    return;
  }
  ch->retired = 1;
  dns->cur = NULL;
  if (ch->live == 0) chan_close(ch); /* only cancelled requests left */
}

/* ---- servers ---- */

/* Only a decimal port 1-65535, nothing around it. */
static int parse_port(const char *s, uint16_t *out) {
  unsigned long v = 0;
  size_t n = strlen(s);
  if (n == 0 || n > 5 || strspn(s, "0123456789") != n) return -1;
  v = strtoul(s, NULL, 10);
  if (v == 0 || v > 65535) return -1;
  *out = (uint16_t)v;
  return 0;
}

/* Parses "a.b.c.d" or "a.b.c.d:port" (not 0.0.0.0, port 1-65535). */
static int parse_server(const char *s, nm_dns_server *out) {
  char host[INET_ADDRSTRLEN];
  size_t len = strlen(s);
  const char *colon = strchr(s, ':');
  size_t hlen = colon != NULL ? (size_t)(colon - s) : len;
  if (len >= sizeof out->text || hlen >= sizeof host) return -1;
  memcpy(host, s, hlen);
  host[hlen] = '\0';
  nm_dns_server srv;
  memset(&srv, 0, sizeof srv);
  srv.port = 53;
  if (nm_parse_ip4(host, &srv.addr) != 0 || srv.addr.s_addr == 0) return -1;
  if (colon != NULL && parse_port(colon + 1, &srv.port) != 0) return -1;
  memcpy(srv.text, s, len + 1);
  *out = srv;
  return 0;
}

/* As the C library reads it: "nameserver ADDR" lines, in order.  Entries
 * that are not IPv4 (IPv6 servers) are skipped: netmcu speaks IPv4. */
static void read_resolv_conf(const char *path, nm_dns_server servers[2]) {
  FILE *f = fopen(path, "r");
  if (f == NULL) return;
  char line[512];
  int n = 0;
  while (n < 2 && fgets(line, sizeof line, f) != NULL) {
    char key[16], val[64];
    if (sscanf(line, " %15s %63s", key, val) != 2 || strcmp(key, "nameserver") != 0) continue;
    if (strchr(val, ':') == NULL && parse_server(val, &servers[n]) == 0) n++;
  }
  fclose(f);
}

/* ---- the resolver of a context ---- */

static void dns_kill(nm_obj *o);

/* The resolver of ctx, created (servers read from resolv.conf) on first
 * use; NULL only when out of memory. */
static nm_dns *dns_get(nm_ctx *ctx) {
  if (ctx->state[NM_STATE_DNS] != NULL) return ctx->state[NM_STATE_DNS];
  nm_dns *dns = calloc(1, sizeof *dns);
  if (dns == NULL) return NULL;
  const char *path = getenv("NETMCU_RESOLV_CONF");
  dns->resolv_conf = strdup(path != NULL && *path != '\0' ? path : "/etc/resolv.conf");
  if (dns->resolv_conf == NULL || ares_library_init(ARES_LIB_INIT_ALL) != ARES_SUCCESS) {
    free(dns->resolv_conf);
    free(dns);
    return NULL;
  }
  dns->ctx = ctx;
  nm_list_init(&dns->chans);
  read_resolv_conf(dns->resolv_conf, dns->servers);
  nm_obj_register(ctx, &dns->obj, dns_kill);
  ctx->state[NM_STATE_DNS] = dns;
  return dns;
}

/* Shutdown: the channels close (c-ares calls back every request in flight
 * with ARES_EDESTRUCTION, which host_cb leaves alone); each request stays
 * allocated until its owner's kill cancels it (dns.h). */
static void dns_kill(nm_obj *o) {
  nm_dns *dns = nm_container_of(o, nm_dns, obj);
  nm_obj_unregister(&dns->obj);
  while (!nm_list_empty(&dns->chans)) chan_close(nm_container_of(dns->chans.next, nm_chan, link));
  dns->ctx->state[NM_STATE_DNS] = NULL;
  ares_library_cleanup();
  free(dns->resolv_conf);
  free(dns);
}

/* ---- requests ---- */

static void req_deliver_cb(nm_defer *d) {
  nm_dns_req *r = nm_container_of(d, nm_dns_req, defer);
  r->queued = 0;
  r->cb(r->arg, r->status, r->status == 0 ? &r->addr : NULL);
  free(r);
}

static void req_finish(nm_dns_req *r, int status) {
  r->status = status;
  r->queued = 1;
  nm_defer_push(r->ctx, &r->defer, req_deliver_cb);
}

static void host_cb(void *arg, int status, int timeouts, struct hostent *he) {
  nm_dns_req *r = arg;
  nm_chan *ch = r->ch;
  (void)timeouts;
  r->in_ares = 0;
  r->ch = NULL;
  ch->inflight--;
  if (r->cancelled) {
    free(r);
    return;
  }
  ch->live--;
  if (status == ARES_EDESTRUCTION) return; /* shutdown: dns_kill decides */
  if (status == ARES_SUCCESS && he != NULL && he->h_addrtype == AF_INET &&
      he->h_length == 4 && he->h_addr_list[0] != NULL) {
    memcpy(&r->addr, he->h_addr_list[0], sizeof r->addr);
    req_finish(r, 0);
  } else if (r->localhost) {
    r->addr.s_addr = htonl(INADDR_LOOPBACK);
    req_finish(r, 0);
  } else {
    req_finish(r, nm_ares_to_uv(status));
  }
}

/* "localhost" and "*.localhost" are loopback (RFC 6761) even when the
 * hosts file does not say so. */
static int is_localhost(const char *name) {
  size_t n = strlen(name);
  if (n > 0 && name[n - 1] == '.') n--;
  if (n == 9) return strncasecmp(name, "localhost", 9) == 0;
  return n > 10 && strncasecmp(name + n - 10, ".localhost", 10) == 0;
}

static void req_start(nm_dns *dns, nm_dns_req *r, const char *name) {
  if (dns->cur == NULL) dns->cur = chan_new(dns);
  nm_chan *ch = dns->cur;
  if (ch == NULL) {
    req_finish(r, UV_EAI_MEMORY);
    return;
  }
  r->localhost = (uint8_t)is_localhost(name);
  r->ch = ch;
  r->in_ares = 1;
  ch->inflight++;
  ch->live++;
  ares_gethostbyname(ch->ares, name, AF_INET, host_cb, r);
  chan_arm(ch);
}

nm_dns_req *nm_dns_lookup(nm_ctx *ctx, const char *name, nm_dns_cb cb, void *arg) {
  nm_dns *dns = dns_get(ctx);
  if (dns == NULL) return NULL;
  nm_dns_req *r = calloc(1, sizeof *r);
  if (r == NULL) return NULL;
  r->ctx = ctx;
  r->cb = cb;
  r->arg = arg;
  if (nm_parse_ip4(name, &r->addr) == 0)
    req_finish(r, 0);
  else
    req_start(dns, r, name);
  return r;
}

void nm_dns_cancel(nm_dns_req *r) {
  if (r->queued) nm_defer_cancel(r->ctx, &r->defer);
  if (!r->in_ares) {
    free(r);
    return;
  }
  /* c-ares cannot drop one query: host_cb frees r when it is done. */
  nm_chan *ch = r->ch;
  r->cancelled = 1;
  ch->live--;
  if (ch->retired && ch->live == 0)
    chan_close(ch);
  else
    chan_update_ref(ch);
}

/* ---- configuration ---- */

int nm_dns_server_ok(const char *text) {
  nm_dns_server srv;
  return parse_server(text, &srv) == 0;
}

const char *nm_dns_getserver(nm_ctx *ctx, int i) {
  nm_dns *dns = dns_get(ctx);
  return dns != NULL ? dns->servers[i].text : NULL;
}

int nm_dns_setserver(nm_ctx *ctx, int i, const char *text) {
  nm_dns_server srv;
  if (parse_server(text, &srv) != 0) return UV_EINVAL;
  nm_dns *dns = dns_get(ctx);
  if (dns == NULL) return UV_ENOMEM;
  dns->servers[i] = srv;
  servers_changed(dns);
  return 0;
}
