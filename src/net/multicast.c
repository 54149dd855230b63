/* multicast.c - net.multicastJoin / net.multicastLeave: membership is
 * global, as on the device; docs/UDP.md explains how it reaches every UDP
 * socket on Linux. */
#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "udp.h"

/* One net.multicastJoin: ifaddr INADDR_ANY means every interface. */
typedef struct {
  struct in_addr ifaddr, group;
} mc_entry;

struct nm_mcast {
  nm_obj obj;     /* freed at shutdown like any other object */
  nm_ctx *ctx;
  nm_link socks;  /* nm_mcast_sock of every open UDP socket */
  mc_entry *v;
  size_t n, cap;
};

static void mcast_kill(nm_obj *o) {
  struct nm_mcast *m = nm_container_of(o, struct nm_mcast, obj);
  nm_obj_unregister(&m->obj);
  /* Sockets closing later unlink themselves from nothing, safely. */
  while (!nm_list_empty(&m->socks)) nm_list_remove(m->socks.next);
  m->ctx->state[NM_STATE_MCAST] = NULL;
  free(m->v);
  free(m);
}

/* The context's multicast state, created on first use; NULL if out of
 * memory (callers may hold resources, so this never raises). */
static struct nm_mcast *mcast_get(nm_ctx *ctx) {
  if (ctx->state[NM_STATE_MCAST] != NULL) return ctx->state[NM_STATE_MCAST];
  struct nm_mcast *m = calloc(1, sizeof *m);
  if (m == NULL) return NULL;
  m->ctx = ctx;
  nm_list_init(&m->socks);
  nm_obj_register(ctx, &m->obj, mcast_kill);
  ctx->state[NM_STATE_MCAST] = m;
  return m;
}

/* IP_ADD/DROP_MEMBERSHIP of group on the interface that has address if_ip
 * (the kernel finds the device by address).  Being a member already, or
 * not being one, is not an error: entries may overlap. */
static int mc_setopt(int fd, int opt, struct in_addr group, struct in_addr if_ip) {
  struct ip_mreqn mr;
  memset(&mr, 0, sizeof mr);
  mr.imr_multiaddr = group;
  mr.imr_address = if_ip;
  if (setsockopt(fd, IPPROTO_IP, opt, &mr, sizeof mr) == 0) return 0;
  if (opt == IP_ADD_MEMBERSHIP && errno == EADDRINUSE) return 0;
  if (opt == IP_DROP_MEMBERSHIP && errno == EADDRNOTAVAIL) return 0;
  return uv_translate_sys_error(errno);
}

/* "All interfaces": every interface that is up, multicast-capable and has
 * an IPv4 address.  Joining on INADDR_ANY would pick only the one the
 * group routes through. */
static int mc_usable(const struct ifaddrs *a) {
  return a->ifa_addr != NULL && a->ifa_addr->sa_family == AF_INET &&
         (a->ifa_flags & IFF_UP) && (a->ifa_flags & IFF_MULTICAST);
}

/* Applies (opt) entry e to socket fd.  Returns 0 or a libuv error. */
static int mc_apply(int fd, int opt, const mc_entry *e) {
  if (e->ifaddr.s_addr != htonl(INADDR_ANY)) return mc_setopt(fd, opt, e->group, e->ifaddr);
  struct ifaddrs *list;
  if (getifaddrs(&list) != 0) return uv_translate_sys_error(errno);
  int rc = 0;
  for (struct ifaddrs *a = list; a != NULL && rc == 0; a = a->ifa_next)
    if (mc_usable(a))
      rc = mc_setopt(fd, opt, e->group, ((struct sockaddr_in *)a->ifa_addr)->sin_addr);
  freeifaddrs(list);
  return rc;
}

static int sock_fd(const nm_mcast_sock *ms) {
  uv_os_fd_t fd = -1;
  uv_fileno((const uv_handle_t *)ms->h, &fd);
  return fd;
}

/* Re-applies every entry to fd, ignoring failures: after a drop, groups
 * that another entry still wants come back. */
static void mc_resync(const struct nm_mcast *m, int fd) {
  for (size_t i = 0; i < m->n; i++) (void)mc_apply(fd, IP_ADD_MEMBERSHIP, &m->v[i]);
}

int nm_mcast_attach(nm_ctx *ctx, nm_mcast_sock *ms, uv_udp_t *h) {
  struct nm_mcast *m = mcast_get(ctx);
  if (m == NULL) return UV_ENOMEM;
  ms->h = h;
  int fd = sock_fd(ms), off = 0;
  /* Linux would also deliver groups joined by any other socket on the host
   * (IP_MULTICAST_ALL); the global list alone decides here, as on the
   * device. */
  if (setsockopt(fd, IPPROTO_IP, IP_MULTICAST_ALL, &off, sizeof off) != 0)
    return uv_translate_sys_error(errno);
  mc_resync(m, fd); /* an interface gone since the join is skipped */
  nm_list_append(&m->socks, &ms->link);
  return 0;
}

void nm_mcast_detach(nm_mcast_sock *ms) { nm_list_remove(&ms->link); }

static mc_entry check_mc_args(lua_State *L) {
  mc_entry e;
  memset(&e, 0, sizeof e);
  luaL_checkstring(L, 1);
  luaL_checkstring(L, 2);
  const char *ifs = nm_tocstring(L, 1); /* "\0" is not "" */
  if (ifs != NULL && (*ifs == '\0' || strcmp(ifs, "any") == 0)) e.ifaddr.s_addr = htonl(INADDR_ANY);
  else if (nm_checkip4(L, 1, &e.ifaddr) != 0) luaL_error(L, "invalid if ip");
  if (nm_checkip4(L, 2, &e.group) != 0 || !IN_MULTICAST(ntohl(e.group.s_addr)))
    luaL_error(L, "invalid multicast ip");
  return e;
}

static size_t mc_find(const struct nm_mcast *m, const mc_entry *e) {
  size_t i = 0;
  while (i < m->n && (m->v[i].ifaddr.s_addr != e->ifaddr.s_addr ||
                      m->v[i].group.s_addr != e->group.s_addr))
    i++;
  return i;
}

/* A specific interface address must be local: ask the kernel on a scratch
 * socket, so the check holds even when no UDP socket is open. */
static int mc_probe(const mc_entry *e) {
  if (e->ifaddr.s_addr == htonl(INADDR_ANY)) return 0;
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return uv_translate_sys_error(errno);
  int rc = mc_setopt(fd, IP_ADD_MEMBERSHIP, e->group, e->ifaddr);
  close(fd);
  return rc;
}

/* Drops e from the sockets before stop, then restores what the remaining
 * entries want. */
static void mc_undo(struct nm_mcast *m, const mc_entry *e, nm_link *stop) {
  for (nm_link *l = m->socks.next; l != stop; l = l->next) {
    int fd = sock_fd(nm_container_of(l, nm_mcast_sock, link));
    (void)mc_apply(fd, IP_DROP_MEMBERSHIP, e);
    mc_resync(m, fd);
  }
}

/* net.multicastJoin(if_ip, group) */
int net_multicastJoin(lua_State *L) {
  mc_entry e = check_mc_args(L);
  nm_ctx *ctx = nm_ctx_get(L);
  struct nm_mcast *m = mcast_get(ctx);
  if (m == NULL) return luaL_error(L, "out of memory");
  if (mc_find(m, &e) < m->n) return 0; /* joining twice is harmless */
  if (m->n == m->cap) {
    size_t cap = m->cap ? 2 * m->cap : 4;
    mc_entry *v = realloc(m->v, cap * sizeof *v);
    if (v == NULL) return luaL_error(L, "out of memory");
    m->v = v;
    m->cap = cap;
  }
  int rc = mc_probe(&e);
  if (rc == UV_ENODEV) return luaL_error(L, "invalid if ip (not a local interface address)");
  for (nm_link *l = m->socks.next; rc == 0 && l != &m->socks; l = l->next) {
    rc = mc_apply(sock_fd(nm_container_of(l, nm_mcast_sock, link)), IP_ADD_MEMBERSHIP, &e);
    if (rc != 0) mc_undo(m, &e, l->next); /* a call that raises has no side effect */
  }
  if (rc != 0) return nm_raise_uv(L, rc);
  m->v[m->n++] = e;
  return 0;
}

/* net.multicastLeave(if_ip, group) */
int net_multicastLeave(lua_State *L) {
  mc_entry e = check_mc_args(L);
  struct nm_mcast *m = nm_ctx_get(L)->state[NM_STATE_MCAST];
  if (m == NULL) return 0;
  size_t i = mc_find(m, &e);
  if (i == m->n) return 0; /* leaving a group not joined is harmless */
  m->v[i] = m->v[--m->n];
  mc_undo(m, &e, &m->socks);
  return 0;
}
