/* dns_ares.c - c-ares driven by the libuv loop, the way Node.js does it:
 * c-ares reports each socket it wants watched through its socket-state
 * callback, a uv_poll_t per socket hands readiness back with
 * ares_process_fd, and one timer per channel, re-armed from ares_timeout(),
 * drives retries.  No threads, no blocking getaddrinfo.
 *
 * Answers are always delivered through the context's deferred-call queue:
 * SPEC 1 wants no synchronous callback (c-ares answers literals and hosts
 * file names before ares_gethostbyname returns), and Lua then never runs
 * inside a c-ares frame, so Lua may change servers from any callback.
 *
 * c-ares 1.18 refuses to change the servers of a channel with queries in
 * flight, so a server change retires the busy channel: it finishes what it
 * has, then closes, while new lookups go to a fresh channel.  (Node.js
 * refuses the change instead; NodeMCU scripts expect it to just work.) */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <ares.h>

#include "dns_impl.h"

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

void nm_dns_servers_changed(nm_dns *dns) {
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

/* ---- the resolver of a context ---- */

static void dns_kill(nm_obj *o);

nm_dns *nm_dns_get(nm_ctx *ctx) {
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
  nm_list_init(&dns->reqs);
  nm_dns_read_resolv_conf(dns->resolv_conf, dns->servers);
  nm_obj_register(ctx, &dns->obj, dns_kill);
  ctx->state[NM_STATE_DNS] = dns;
  return dns;
}

/* Shutdown: no Lua is called.  Requests of dns.c drop their anchor and are
 * freed; a request of another owner (connect) stays allocated, detached,
 * until that owner's own kill cancels it. */
static void dns_kill(nm_obj *o) {
  nm_dns *dns = nm_container_of(o, nm_dns, obj);
  nm_ctx *ctx = dns->ctx;
  while (!nm_list_empty(&dns->chans)) chan_close(nm_container_of(dns->chans.next, nm_chan, link));
  while (!nm_list_empty(&dns->reqs)) {
    nm_dns_req *r = nm_container_of(dns->reqs.next, nm_dns_req, link);
    nm_list_remove(&r->link);
    if (r->queued) nm_defer_cancel(ctx, &r->defer);
    r->queued = 0;
    if (r->ref != LUA_NOREF) {
      nm_unanchor(ctx->L, &r->ref);
      free(r);
    }
  }
  ctx->state[NM_STATE_DNS] = NULL;
  ares_library_cleanup();
  free(dns->resolv_conf);
  free(dns);
}

/* ---- requests ---- */

static void req_deliver_cb(nm_defer *d) {
  nm_dns_req *r = nm_container_of(d, nm_dns_req, defer);
  r->queued = 0;
  nm_list_remove(&r->link); /* a shutdown inside cb must not see it */
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
  nm_dns *dns = nm_dns_get(ctx);
  if (dns == NULL) return NULL;
  nm_dns_req *r = calloc(1, sizeof *r);
  if (r == NULL) return NULL;
  r->ctx = ctx;
  r->cb = cb;
  r->arg = arg;
  r->ref = LUA_NOREF;
  nm_list_append(&dns->reqs, &r->link);
  if (nm_parse_ip4(name, &r->addr) == 0)
    req_finish(r, 0);
  else
    req_start(dns, r, name);
  return r;
}

void nm_dns_cancel(nm_dns_req *r) {
  if (r->queued) nm_defer_cancel(r->ctx, &r->defer);
  nm_list_remove(&r->link);
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
