/* driver.c - the C client that drives every server the same way, so that
 * only the server differs.  Loopback only.
 *   driver wait PORT [SECONDS]        until a TCP connect to PORT succeeds
 *   driver echo PORT MIB [WINDOW_KIB] MIB MiB through one connection (at most
 *                                     WINDOW bytes in flight); prints MB/s.
 *                                     The echo is counted, not copied out
 *                                     (MSG_TRUNC): the driver's side of the
 *                                     pipe costs less than any server's
 *   driver idle PORT N                opens N connections, sends one byte on
 *                                     each and waits for its echo; prints
 *                                     "ok N" then holds them until killed,
 *                                     or "fail K" (K answered)
 *   driver udp PORT SIZE SECONDS      UDP echo with WINDOW datagrams in
 *                                     flight; prints datagrams/s */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static struct sockaddr_in addr;

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void die(const char *what) {
  perror(what);
  exit(1);
}

static int tcp_socket(int nonblock) {
  int fd = socket(AF_INET, SOCK_STREAM | (nonblock ? SOCK_NONBLOCK : 0), 0);
  if (fd < 0) die("socket");
  return fd;
}

static int do_wait(double secs) {
  double end = now() + secs;
  while (now() < end) {
    int fd = tcp_socket(0);
    int rc = connect(fd, (struct sockaddr *)&addr, sizeof addr);
    close(fd);
    if (rc == 0) return 0;
    usleep(20000);
  }
  fprintf(stderr, "driver: port %d not open\n", ntohs(addr.sin_port));
  return 1;
}

#define ECHO_CHUNK (256 * 1024)
static long long ECHO_WINDOW = 1024 * 1024;

static int do_echo(long mib) {
  long long total = mib * 1024LL * 1024, sent = 0, got = 0;
  int fd = tcp_socket(0);
  if (connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) die("connect");
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  fcntl(fd, F_SETFL, O_NONBLOCK);
  static char out[ECHO_CHUNK];
  for (size_t i = 0; i < sizeof out; i++) out[i] = (char)('a' + i % 26);
  double t0 = now();
  while (got < total) {
    int want_out = sent < total && sent - got < ECHO_WINDOW;
    struct pollfd p = {fd, POLLIN | (want_out ? POLLOUT : 0), 0};
    if (poll(&p, 1, 10000) <= 0) {
      fprintf(stderr, "driver: echo stalled at %lld of %lld bytes\n", got, total);
      return 1;
    }
    if ((p.revents & POLLOUT) && want_out) {
      long long n = total - sent;
      if (n > ECHO_CHUNK) n = ECHO_CHUNK;
      if (n > ECHO_WINDOW - (sent - got)) n = ECHO_WINDOW - (sent - got);
      ssize_t w = write(fd, out, (size_t)n);
      if (w > 0) sent += w;
      else if (w < 0 && errno != EAGAIN) die("write");
    }
    if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
      /* TCP discards up to len bytes without copying them (tcp(7)). */
      ssize_t r = recv(fd, NULL, ECHO_CHUNK, MSG_TRUNC);
      if (r > 0) got += r;
      else if (r == 0 || errno != EAGAIN) {
        fprintf(stderr, "driver: echo connection ended at %lld bytes\n", got);
        return 1;
      }
    }
  }
  double dt = now() - t0;
  close(fd);
  printf("%.1f\n", total / dt / 1e6);
  return 0;
}

/* Connection states for idle: 0 connecting, 1 waiting for the echo, 2 done. */
static int do_idle(int n) {
  int ep = epoll_create1(0);
  int *fds = calloc((size_t)n, sizeof *fds);
  char *st = calloc((size_t)n, 1);
  int started = 0, done = 0, inflight = 0;
  const int WINDOW = 200;
  double last_progress = now();
  while (done < n) {
    while (inflight < WINDOW && started < n) {
      int fd = tcp_socket(1);
      int rc = connect(fd, (struct sockaddr *)&addr, sizeof addr);
      if (rc != 0 && errno != EINPROGRESS) die("connect");
      fds[started] = fd;
      struct epoll_event ev = {.events = EPOLLOUT | EPOLLIN, .data.u32 = (uint32_t)started};
      epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
      started++;
      inflight++;
    }
    struct epoll_event evs[256];
    int k = epoll_wait(ep, evs, 256, 200);
    for (int i = 0; i < k; i++) {
      int id = (int)evs[i].data.u32, fd = fds[id];
      if (evs[i].events & (EPOLLERR | EPOLLHUP)) {
        printf("fail %d\n", done);
        fprintf(stderr, "driver: connection %d refused or closed\n", id);
        return 1;
      }
      if (st[id] == 0 && (evs[i].events & EPOLLOUT)) {
        if (write(fd, "x", 1) != 1) die("write");
        st[id] = 1;
        struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)id};
        epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev);
      } else if (st[id] == 1 && (evs[i].events & EPOLLIN)) {
        char c;
        ssize_t r = read(fd, &c, 1);
        if (r != 1) {
          printf("fail %d\n", done);
          fprintf(stderr, "driver: connection %d closed by the server\n", id);
          return 1;
        }
        st[id] = 2;
        epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
        done++;
        inflight--;
        last_progress = now();
      }
    }
    if (now() - last_progress > 3) {
      printf("fail %d\n", done);
      fprintf(stderr, "driver: no progress for 3 s at %d connections\n", done);
      return 1;
    }
  }
  printf("ok %d\n", n);
  fflush(stdout);
  for (;;) pause(); /* hold them until killed */
}

#define UDP_WINDOW 32

static int do_udp(int size, double secs) {
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  if (fd < 0) die("socket");
  if (connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) die("connect");
  char *buf = calloc(1, 65536);
  memset(buf, 'u', (size_t)size);
  long long got = 0;
  int inflight = 0;
  double t0 = now(), end = t0 + secs;
  while (now() < end) {
    while (inflight < UDP_WINDOW) {
      if (send(fd, buf, (size_t)size, 0) == size) inflight++;
      else break;
    }
    struct pollfd p = {fd, POLLIN, 0};
    if (poll(&p, 1, 20) <= 0) {
      inflight = 0; /* lost datagrams: refill the window */
      continue;
    }
    while (recv(fd, buf, 65536, MSG_DONTWAIT) > 0) {
      got++;
      if (inflight > 0) inflight--;
    }
  }
  printf("%.0f\n", got / (now() - t0));
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: driver wait|echo|idle|udp PORT ...\n");
    return 2;
  }
  memset(&addr, 0, sizeof addr);
  addr.sin_family = AF_INET;
  addr.sin_port = htons((uint16_t)atoi(argv[2]));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  signal(SIGPIPE, SIG_IGN); /* a write to a closed connection: say so, don't die mute */
  const char *cmd = argv[1];
  if (strcmp(cmd, "wait") == 0) return do_wait(argc > 3 ? atof(argv[3]) : 10);
  if (strcmp(cmd, "echo") == 0 && argc >= 4) {
    if (argc > 4) ECHO_WINDOW = atoll(argv[4]) * 1024;
    return do_echo(atol(argv[3]));
  }
  if (strcmp(cmd, "idle") == 0 && argc == 4) return do_idle(atoi(argv[3]));
  if (strcmp(cmd, "udp") == 0 && argc == 5) return do_udp(atoi(argv[3]), atof(argv[4]));
  fprintf(stderr, "driver: bad arguments\n");
  return 2;
}
