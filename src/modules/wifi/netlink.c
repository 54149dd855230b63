/* netlink.c - the host interface the station mirrors: the one named with
 * --wifi, else the one net.ifinfo(0) picks (the IPv4 default route's),
 * chosen once.  The kernel tells of every change on an rtnetlink socket
 * (links, IPv4 addresses, IPv4 routes) watched on the loop; a message
 * about the interface or a default route makes the module read the
 * interface anew (net/ifinfo.c) and compare.  Reading rather than
 * interpreting the messages keeps one source of truth, and a lost message
 * (ENOBUFS), a truncated or a malformed one just means "read again". */
#include <errno.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "wifi.h"

/* A stable BSSID and channel for the network the interface stands for:
 * a locally administered unicast address hashed from its name and MAC. */
static void derive_network(nm_wifi *w) {
  uint32_t h = 2166136261u; /* FNV-1a */
  for (const char *p = w->ifname; *p != '\0'; p++) h = (h ^ (uint8_t)*p) * 16777619u;
  for (int i = 0; i < 6; i++) h = (h ^ w->ifs.hw[i]) * 16777619u;
  uint32_t g = h;
  for (int i = 0; i < 6; i++) {
    g = g * 16777619u + 0x9e3779b9u;
    w->bssid[i] = (uint8_t)(g >> 24);
  }
  w->bssid[0] = (uint8_t)((w->bssid[0] & 0xfe) | 0x02);
  w->channel = 1 + (int)(h % 11);
}

void wifi_host_read(nm_wifi *w) {
  nm_ifstate s;
  int found = w->ifname[0] != '\0' && nm_iface_get(-1, w->ifname, &s) == 1;
  if (found) w->ifs = s; /* else the last one stays, for getmac() */
  w->if_found = found;
  w->if_up = found && (s.flags & IFF_UP) && (s.flags & IFF_RUNNING) && s.has_ip;
  if (found) derive_network(w);
}

/* Does this batch of messages concern the interface?  Anything malformed
 * or unexpected counts as "yes": reading again is always safe. */
static int nl_relevant(const nm_wifi *w, const void *buf, size_t len) {
  const struct nlmsghdr *nh = buf;
  for (; NLMSG_OK(nh, len); nh = NLMSG_NEXT(nh, len)) {
    const void *body = NLMSG_DATA(nh);
    switch (nh->nlmsg_type) {
    case RTM_NEWLINK:
    case RTM_DELLINK:
      if (nh->nlmsg_len < NLMSG_LENGTH(sizeof(struct ifinfomsg))) return 1;
      /* an interface of that name may appear, or ours change */
      if (!w->if_found || ((const struct ifinfomsg *)body)->ifi_index == (int)w->ifs.index)
        return 1;
      break;
    case RTM_NEWADDR:
    case RTM_DELADDR:
      if (nh->nlmsg_len < NLMSG_LENGTH(sizeof(struct ifaddrmsg))) return 1;
      if (((const struct ifaddrmsg *)body)->ifa_index == w->ifs.index) return 1;
      break;
    case RTM_NEWROUTE:
    case RTM_DELROUTE:
      if (nh->nlmsg_len < NLMSG_LENGTH(sizeof(struct rtmsg))) return 1;
      if (((const struct rtmsg *)body)->rtm_dst_len == 0) return 1; /* a default route */
      break;
    case NLMSG_NOOP:
    case NLMSG_DONE:
      break;
    default: /* NLMSG_ERROR, NLMSG_OVERRUN, ... */
      return 1;
    }
  }
  return len != 0; /* a partial message is left */
}

static void nl_poll_cb(uv_poll_t *h, int status, int events) {
  nm_wifi *w = h->data;
  (void)events;
  int changed = status < 0, broken = 0;
  for (;;) {
    struct sockaddr_nl from;
    struct iovec iov = {w->ctx->readbuf, sizeof w->ctx->readbuf};
    struct msghdr msg = {.msg_name = &from, .msg_namelen = sizeof from, .msg_iov = &iov, .msg_iovlen = 1};
    ssize_t n = recvmsg(w->nl_fd, &msg, MSG_DONTWAIT);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == ENOBUFS) { /* the kernel dropped messages: read it all again */
      changed = 1;
      continue;
    }
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) broken = 1;
    if (n <= 0) break; /* EAGAIN: all read */
    if (msg.msg_namelen != sizeof from || from.nl_pid != 0) continue; /* not from the kernel */
    if ((msg.msg_flags & MSG_TRUNC) || nl_relevant(w, w->ctx->readbuf, (size_t)n)) changed = 1;
  }
  /* libuv stops watching on POLLERR, which an overflow (ENOBUFS) raises:
   * watch again, unless the socket itself failed (then the state is read
   * when the script asks, as without a socket). */
  if (status < 0 && !broken) uv_poll_start(h, UV_READABLE, nl_poll_cb);
  if (broken) {
    uv_poll_stop(h);
    w->watching = 0;
  }
  if (!changed) return;
  wifi_host_read(w);
  wifi_update(w);
}

static int nl_open(void) {
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_ROUTE);
  if (fd < 0) return -1;
  struct sockaddr_nl sa;
  memset(&sa, 0, sizeof sa);
  sa.nl_family = AF_NETLINK;
  sa.nl_groups = RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV4_ROUTE;
  if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

void wifi_host_open(nm_wifi *w) {
  nm_ifstate s;
  if (nm_opts.wifi_iface != NULL) snprintf(w->ifname, sizeof w->ifname, "%s", nm_opts.wifi_iface);
  else if (nm_iface_get(0, NULL, &s) == 1) memcpy(w->ifname, s.name, sizeof w->ifname);
  /* Watch first, then read: a change in between is not missed. */
  w->nl_fd = nl_open();
  if (w->nl_fd >= 0 && uv_poll_init(&w->ctx->loop, &w->nl_poll, w->nl_fd) == 0) {
    w->nl_poll.data = w;
    uv_poll_start(&w->nl_poll, UV_READABLE, nl_poll_cb);
    uv_unref((uv_handle_t *)&w->nl_poll); /* see wifi_keepalive */
    w->watching = 1;
  } else if (w->nl_fd >= 0) {
    close(w->nl_fd);
    w->nl_fd = -1;
  }
  wifi_host_read(w);
}

/* Without a netlink socket (a sandbox may refuse one) the state is read
 * when the script asks for it. */
void wifi_refresh(nm_wifi *w) {
  if (w->watching) return;
  wifi_host_read(w);
  wifi_update(w);
}

static void nl_closed_cb(uv_handle_t *h) {
  nm_wifi *w = h->data;
  close(w->nl_fd);
  free(w);
}

void wifi_host_close(nm_wifi *w) {
  if (w->nl_fd < 0) {
    free(w);
    return;
  }
  uv_close((uv_handle_t *)&w->nl_poll, nl_closed_cb);
}
