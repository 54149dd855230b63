/* iface.c - net.ifinfo and global multicast membership (SPEC 7).
 * docs/UDP.md explains the interface order, the DHCP lease sources and how
 * membership reaches every UDP socket on Linux. */
#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <net/route.h>
#include <netpacket/packet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "udp.h"

/* ==== multicast ==== */

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
  const char *ifs = nm_tocstring(L, 1);
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
int nm_multicast_join(lua_State *L) {
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
    if (rc != 0) mc_undo(m, &e, l->next); /* no side effect (SPEC 2) */
  }
  if (rc != 0) return nm_raise_uv(L, rc);
  m->v[m->n++] = e;
  return 0;
}

/* net.multicastLeave(if_ip, group) */
int nm_multicast_leave(lua_State *L) {
  mc_entry e = check_mc_args(L);
  struct nm_mcast *m = nm_ctx_get(L)->state[NM_STATE_MCAST];
  if (m == NULL) return 0;
  size_t i = mc_find(m, &e);
  if (i == m->n) return 0; /* leaving a group not joined is harmless */
  m->v[i] = m->v[--m->n];
  mc_undo(m, &e, &m->socks);
  return 0;
}

/* ==== net.ifinfo ==== */

typedef struct {
  char name[IF_NAMESIZE];
  unsigned index, flags;
  int rank; /* place in the SPEC 7 order, see if_rank */
  int has_ip;
  struct in_addr ip, mask;
  unsigned char hw[6]; /* zeros when the interface has no 6-byte address */
} iface;

typedef struct {
  iface *v;
  size_t n, cap;
} iflist;

/* The entry for the device of a getifaddrs name ("eth0:1" labels an
 * address of eth0), added if new; NULL if out of memory. */
static iface *iflist_at(iflist *l, const char *label) {
  char name[IF_NAMESIZE];
  snprintf(name, sizeof name, "%.*s", (int)strcspn(label, ":"), label);
  for (size_t i = 0; i < l->n; i++)
    if (strcmp(l->v[i].name, name) == 0) return &l->v[i];
  if (l->n == l->cap) {
    size_t cap = l->cap ? 2 * l->cap : 16;
    iface *v = realloc(l->v, cap * sizeof *v);
    if (v == NULL) return NULL;
    l->v = v;
    l->cap = cap;
  }
  iface *f = &l->v[l->n++];
  memset(f, 0, sizeof *f);
  memcpy(f->name, name, sizeof name);
  return f; /* glibc lists each link (AF_PACKET, with its index) first */
}

/* Merges one getifaddrs entry into its interface: the first IPv4 address
 * (the primary one) and the link-layer address. */
static void iflist_merge(iface *f, const struct ifaddrs *a) {
  int fam = a->ifa_addr ? a->ifa_addr->sa_family : AF_UNSPEC;
  if (a->ifa_name == NULL || strchr(a->ifa_name, ':') == NULL) f->flags = a->ifa_flags;
  if (fam == AF_INET && !f->has_ip) {
    f->has_ip = 1;
    f->ip = ((struct sockaddr_in *)a->ifa_addr)->sin_addr;
    if (a->ifa_netmask != NULL) f->mask = ((struct sockaddr_in *)a->ifa_netmask)->sin_addr;
  } else if (fam == AF_PACKET) {
    const struct sockaddr_ll *ll = (const struct sockaddr_ll *)a->ifa_addr;
    if (ll->sll_halen == 6) memcpy(f->hw, ll->sll_addr, 6);
    if (ll->sll_ifindex > 0) f->index = (unsigned)ll->sll_ifindex;
  }
}

/* Every interface; C memory only, so nothing raises while it is held.
 * Returns 0 or an errno. */
static int iflist_load(iflist *l) {
  struct ifaddrs *list;
  memset(l, 0, sizeof *l);
  if (getifaddrs(&list) != 0) return errno;
  for (struct ifaddrs *a = list; a != NULL; a = a->ifa_next) {
    iface *f = iflist_at(l, a->ifa_name);
    if (f == NULL) {
      freeifaddrs(list);
      free(l->v);
      return ENOMEM;
    }
    iflist_merge(f, a);
  }
  freeifaddrs(list);
  return 0;
}

/* ---- /proc/net/route: default routes ---- */

typedef struct {
  char ifname[IF_NAMESIZE];
  struct in_addr gw;
  unsigned long metric;
  int found;
} defroute;

/* The lowest-metric IPv4 default route, through ifname if it is not NULL.
 * /proc/net/route prints addresses as the raw 32-bit words, so they are
 * read back as such (already in network order). */
static defroute default_route(const char *ifname) {
  defroute best;
  memset(&best, 0, sizeof best);
  FILE *fp = fopen("/proc/net/route", "re");
  if (fp == NULL) return best;
  char line[256], name[IF_NAMESIZE];
  unsigned long dst, gw, flags, refcnt, use, metric, mask;
  while (fgets(line, sizeof line, fp) != NULL) {
    if (sscanf(line, "%15s %lx %lx %lx %lu %lu %lu %lx", name, &dst, &gw, &flags, &refcnt,
               &use, &metric, &mask) != 8)
      continue; /* the header */
    if (dst != 0 || mask != 0 || !(flags & RTF_UP)) continue;
    if (ifname != NULL && strcmp(name, ifname) != 0) continue;
    if (best.found && metric >= best.metric) continue;
    best.found = 1;
    memcpy(best.ifname, name, sizeof name);
    best.gw.s_addr = (flags & RTF_GATEWAY) ? (in_addr_t)gw : 0;
    best.metric = metric;
  }
  fclose(fp);
  return best;
}

/* ---- index order (SPEC 7) ---- */

/* 0: the default route's interface, 1: others with IPv4, 2: loopback,
 * 3: no IPv4 address (not numbered). */
static int if_rank(const iface *f, const defroute *d) {
  if (!f->has_ip) return 3;
  if (d->found && strcmp(f->name, d->ifname) == 0) return 0;
  return (f->flags & IFF_LOOPBACK) ? 2 : 1;
}

static int if_cmp(const void *a, const void *b) {
  const iface *x = a, *y = b;
  if (x->rank != y->rank) return x->rank < y->rank ? -1 : 1;
  return x->index < y->index ? -1 : x->index > y->index;
}

/* Finds interface n of the SPEC 7 order, or the one named name. */
static int if_select(const iflist *l, long long n, const char *name, iface *out) {
  if (name != NULL) {
    for (size_t i = 0; i < l->n; i++)
      if (strcmp(l->v[i].name, name) == 0) {
        *out = l->v[i];
        return 1;
      }
    return 0;
  }
  defroute d = default_route(NULL);
  for (size_t i = 0; i < l->n; i++) l->v[i].rank = if_rank(&l->v[i], &d);
  qsort(l->v, l->n, sizeof *l->v, if_cmp);
  if ((unsigned long long)n >= l->n || l->v[n].rank == 3) return 0;
  *out = l->v[n];
  return 1;
}

/* ---- DHCP leases ---- */

typedef struct {
  struct in_addr server, client, ntp;
  int has_server, has_ntp;
} dhcp_lease;

/* Parses the first IPv4 address in s (lists are separated by spaces,
 * commas or semicolons). */
static int first_ip(const char *s, struct in_addr *out) {
  char buf[INET_ADDRSTRLEN];
  s += strspn(s, " \t\"");
  size_t n = strcspn(s, " \t,;\"\r\n");
  if (n == 0 || n >= sizeof buf) return 0;
  memcpy(buf, s, n);
  buf[n] = '\0';
  return nm_parse_ip4(buf, out) == 0;
}

/* key=value files: systemd-networkd's leases/IFINDEX and NetworkManager's
 * devices/IFINDEX ([dhcp4] section).  keys: client, server, ntp. */
static int lease_keyvalue(const char *path, const char *section, const char *const keys[3],
                          dhcp_lease *d) {
  FILE *fp = fopen(path, "re");
  if (fp == NULL) return 0;
  char line[512];
  int in = section == NULL, got = 0;
  while (fgets(line, sizeof line, fp) != NULL) {
    if (line[0] == '[') {
      in = section != NULL && strncmp(line, section, strlen(section)) == 0;
      continue;
    }
    char *eq = strchr(line, '=');
    if (!in || eq == NULL) continue;
    *eq = '\0';
    if (strcmp(line, keys[0]) == 0) got = first_ip(eq + 1, &d->client);
    else if (strcmp(line, keys[1]) == 0) d->has_server = first_ip(eq + 1, &d->server);
    else if (strcmp(line, keys[2]) == 0) d->has_ntp = first_ip(eq + 1, &d->ntp);
  }
  fclose(fp);
  return got;
}

/* ISC dhclient: the last `lease { ... }` block naming the interface. */
static int lease_dhclient(const char *path, const char *ifname, dhcp_lease *d) {
  FILE *fp = fopen(path, "re");
  if (fp == NULL) return 0;
  char line[512], want[IF_NAMESIZE + 16];
  snprintf(want, sizeof want, "interface \"%s\";", ifname);
  dhcp_lease cur, last;
  memset(&cur, 0, sizeof cur);
  memset(&last, 0, sizeof last);
  int mine = 0, have_client = 0, found = 0;
  while (fgets(line, sizeof line, fp) != NULL) {
    char *s = line + strspn(line, " \t");
    if (strncmp(s, "lease {", 7) == 0) {
      memset(&cur, 0, sizeof cur);
      mine = have_client = 0;
    } else if (strncmp(s, want, strlen(want)) == 0) {
      mine = 1;
    } else if (strncmp(s, "fixed-address ", 14) == 0) {
      have_client = first_ip(s + 14, &cur.client);
    } else if (strncmp(s, "option dhcp-server-identifier ", 30) == 0) {
      cur.has_server = first_ip(s + 30, &cur.server);
    } else if (strncmp(s, "option ntp-servers ", 19) == 0) {
      cur.has_ntp = first_ip(s + 19, &cur.ntp);
    } else if (s[0] == '}' && mine && have_client) {
      last = cur;
      found = 1;
    }
  }
  fclose(fp);
  if (found) *d = last;
  return found;
}

/* The lease of f, if a DHCP client left one that matches f's current
 * address (a stale lease, or one of another network namespace with the
 * same interface index, does not count). */
static int dhcp_find(const iface *f, dhcp_lease *d) {
  static const char *const networkd[3] = {"ADDRESS", "SERVER_ADDRESS", "NTP"};
  static const char *const nm[3] = {"ip_address", "dhcp_server_identifier", "ntp_servers"};
  char path[128];
  if (!f->has_ip) return 0;
  memset(d, 0, sizeof *d);
  snprintf(path, sizeof path, "/run/systemd/netif/leases/%u", f->index);
  int ok = lease_keyvalue(path, NULL, networkd, d);
  if (!(ok && d->client.s_addr == f->ip.s_addr)) {
    memset(d, 0, sizeof *d);
    snprintf(path, sizeof path, "/run/NetworkManager/devices/%u", f->index);
    ok = lease_keyvalue(path, "[dhcp4]", nm, d);
  }
  if (!(ok && d->client.s_addr == f->ip.s_addr)) {
    memset(d, 0, sizeof *d);
    snprintf(path, sizeof path, "/var/lib/dhcp/dhclient.%s.leases", f->name);
    ok = lease_dhclient(path, f->name, d) ||
         lease_dhclient("/var/lib/dhcp/dhclient.leases", f->name, d);
  }
  return ok && d->client.s_addr == f->ip.s_addr;
}

/* ---- the table ---- */

static void set_ip(lua_State *L, const char *key, int have, const struct in_addr *a) {
  if (!have) return;
  nm_push_ip4(L, a);
  lua_setfield(L, -2, key);
}

static void push_ifinfo(lua_State *L, const iface *f, const defroute *gw, const dhcp_lease *d,
                        int has_dhcp) {
  lua_createtable(L, 0, 6);
  set_ip(L, "ip", f->has_ip, &f->ip);
  set_ip(L, "netmask", f->has_ip, &f->mask);
  set_ip(L, "gateway", gw->found && gw->gw.s_addr != 0, &gw->gw);
  lua_pushlstring(L, (const char *)f->hw, sizeof f->hw);
  lua_setfield(L, -2, "hwaddr");
  lua_pushstring(L, f->name);
  lua_setfield(L, -2, "name");
  if (!has_dhcp) return;
  lua_createtable(L, 0, 3);
  set_ip(L, "server_ip", d->has_server, &d->server);
  set_ip(L, "client_ip", 1, &d->client);
  set_ip(L, "ntp_server", d->has_ntp, &d->ntp);
  lua_setfield(L, -2, "dhcp");
}

/* net.ifinfo(index|name) */
int nm_ifinfo(lua_State *L) {
  long long n = -1;
  const char *name = NULL;
  if (lua_type(L, 1) == LUA_TSTRING) {
    if ((name = nm_tocstring(L, 1)) == NULL) { /* "lo\0x" is not "lo" */
      lua_pushnil(L);
      return 1;
    }
  } else if (!nm_tointeger(L, 1, &n) || n < 0)
    return luaL_argerror(L, 1, "interface index (integer >= 0) or name expected");
  iflist l;
  int err = iflist_load(&l);
  if (err != 0) return nm_raise_uv(L, uv_translate_sys_error(err));
  iface f;
  int found = if_select(&l, n, name, &f);
  free(l.v);
  if (!found) {
    lua_pushnil(L);
    return 1;
  }
  defroute gw = default_route(f.name);
  dhcp_lease d;
  int has_dhcp = dhcp_find(&f, &d);
  push_ifinfo(L, &f, &gw, &d, has_dhcp);
  return 1;
}
