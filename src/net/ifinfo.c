/* ifinfo.c - net.ifinfo (docs/modules/net.md): interfaces in the order
 * docs/UDP.md explains, with their default route and DHCP lease. */
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

#include "udp.h"

typedef struct {
  char name[IF_NAMESIZE];
  unsigned index, flags;
  int rank; /* place in the order of docs/UDP.md, see if_rank */
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

/* ---- index order (docs/UDP.md) ---- */

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

/* Finds interface n of that order, or the one named name. */
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
int net_ifinfo(lua_State *L) {
  long long n = -1;
  const char *name = NULL;
  if (lua_type(L, 1) == LUA_TSTRING) {
    if ((name = nm_tocstring(L, 1)) == NULL) { /* "lo\0x" is no interface, not "lo" */
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

/* net.ifinfo's choice as C data (wifi mirrors that interface). */
int nm_iface_get(long long n, const char *name, nm_ifstate *out) {
  _Static_assert(sizeof out->name == IF_NAMESIZE, "nm_ifstate.name is IF_NAMESIZE");
  iflist l;
  int err = iflist_load(&l);
  if (err != 0) return -err;
  iface f;
  int found = if_select(&l, n, name, &f);
  free(l.v);
  if (!found) return 0;
  defroute gw = default_route(f.name);
  memset(out, 0, sizeof *out);
  memcpy(out->name, f.name, sizeof out->name);
  out->index = f.index;
  out->flags = f.flags;
  out->has_ip = f.has_ip;
  out->ip = f.ip;
  out->mask = f.mask;
  if (gw.found) out->gw = gw.gw;
  memcpy(out->hw, f.hw, sizeof out->hw);
  return 1;
}
