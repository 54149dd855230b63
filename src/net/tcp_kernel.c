/* tcp_kernel.c - what the connection layer asks of or sets on the kernel's
 * TCP socket (tcp.h, "kernel"): the state after an EOF, keepalive on
 * client connections, and whether a long send is still draining. */
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <linux/sockios.h>

#include "tcp.h"

static int tcp_info(const nm_tcp *s, struct tcp_info *ti) {
  socklen_t len = sizeof *ti;
  uv_os_fd_t fd;
  return uv_fileno((const uv_handle_t *)&s->h, &fd) == 0 &&
         getsockopt(fd, IPPROTO_TCP, TCP_INFO, ti, &len) == 0;
}

/* An EOF on a connection the peer reset: when a write() consumed the
 * ECONNRESET first (its callback comes later), read() then gives a plain
 * EOF.  The TCP state tells them apart: CLOSE after a reset, CLOSE_WAIT
 * after the peer's FIN.  (Found by tests/faults_tcp.lua: 1 run in 10
 * reported a reset as disconnection(0).) */
int nm_tcp_was_reset(const nm_tcp *s) {
  struct tcp_info ti;
  return tcp_info(s, &ti) && ti.tcpi_state == TCP_CLOSE;
}

/* A peer that vanished without a FIN (host gone, cable cut, NAT entry
 * dropped) would never be noticed while nothing is sent: probe after 60 s
 * of silence, every 10 s, give up after 5 (the read then fails:
 * ETIMEDOUT, code -8).  Only client connections: accepted ones have their
 * server's inactivity timeout (docs/DIFFERENCES.md, keepalive). */
void nm_tcp_keepalive(nm_tcp *s) {
  uv_os_fd_t fd;
  int intvl = NM_TCP_KEEPINTVL_S, cnt = NM_TCP_KEEPCNT;
  if (uv_tcp_keepalive(&s->h, 1, NM_TCP_KEEPIDLE_S) != 0 ||
      uv_fileno((uv_handle_t *)&s->h, &fd) != 0)
    return;
  setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof intvl);
  setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof cnt);
}

/* Is s still handing queued data to the peer, the last bytes sent less
 * than within_ms ago?  One large send keeps the kernel sending long after
 * the call, with no call or completion to show it (found sending 4 GiB,
 * issue 18).  A peer that reads nothing takes no data (a zero window), so
 * it still times out. */
int nm_tcp_draining(const nm_tcp *s, uint32_t within_ms) {
  struct tcp_info ti;
  uv_os_fd_t fd;
  int unsent = 0;
  if (s->h.write_queue_size == 0 &&
      (uv_fileno((const uv_handle_t *)&s->h, &fd) != 0 || ioctl(fd, SIOCOUTQ, &unsent) != 0 ||
       unsent == 0))
    return 0;
  return tcp_info(s, &ti) && ti.tcpi_last_data_sent < within_ms;
}
