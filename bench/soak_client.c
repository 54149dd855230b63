/* bench/soak_client.c - the HTTP client of bench/soak.sh.
 *   soak_client PORT CONNECTIONS REQUESTS_PER_CONNECTION [THREADS]
 * Opens CONNECTIONS connections to 127.0.0.1:PORT, THREADS at a time; on
 * each sends REQUESTS_PER_CONNECTION keep-alive requests for /hello one
 * after the other, the last one with "Connection: close", checks every
 * response (status, Content-Length, body) and that the server then closes.
 * Prints "connections N requests N errors N seconds S" and exits 1 if any
 * request failed.  Blocking sockets with 10 s timeouts: it never hangs. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int port, per_conn;
static long conns_total;
static long next_conn; /* shared work counter */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;

typedef struct {
  long conns, reqs, errors;
  char first_error[160];
} result;

static void fail(result *r, const char *what) {
  if (r->errors++ == 0) snprintf(r->first_error, sizeof r->first_error, "%s (%s)", what, strerror(errno));
}

static long take(void) {
  pthread_mutex_lock(&mu);
  long n = next_conn < conns_total ? next_conn++ : -1;
  pthread_mutex_unlock(&mu);
  return n;
}

static int write_all(int fd, const char *p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return -1;
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

/* Reads one response into buf; 0 if it is the expected one. */
static int read_response(int fd, char *buf, size_t cap, int want_close) {
  size_t len = 0;
  char *end = NULL;
  while (end == NULL) {
    if (len + 1 >= cap) return -1;
    ssize_t n = read(fd, buf + len, cap - 1 - len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return -1;
    len += (size_t)n;
    buf[len] = '\0';
    end = strstr(buf, "\r\n\r\n");
  }
  if (strncmp(buf, "HTTP/1.1 200 OK\r\n", 17) != 0) return -1;
  char *cl = strcasestr(buf, "\r\nContent-Length:");
  if (cl == NULL || cl > end) return -1;
  long body = strtol(cl + 17, NULL, 10);
  if (want_close && strcasestr(buf, "\r\nConnection: close") == NULL) return -1;
  size_t have = len - (size_t)(end + 4 - buf);
  while ((long)have < body) {
    ssize_t n = read(fd, buf + len, cap - 1 - len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return -1;
    len += (size_t)n;
    have += (size_t)n;
  }
  buf[len] = '\0';
  if ((long)have != body || strcmp(end + 4, "hello\n") != 0) return -1;
  return 0;
}

static void *worker(void *arg) {
  result *r = arg;
  static const char req[] = "GET /hello HTTP/1.1\r\nHost: soak\r\n\r\n";
  static const char last[] = "GET /hello HTTP/1.1\r\nHost: soak\r\nConnection: close\r\n\r\n";
  char buf[4096];
  struct sockaddr_in sa;
  memset(&sa, 0, sizeof sa);
  sa.sin_family = AF_INET;
  sa.sin_port = htons((uint16_t)port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  struct timeval tv = {10, 0};
  while (take() >= 0) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      fail(r, "socket");
      continue;
    }
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
      fail(r, "connect");
      close(fd);
      continue;
    }
    r->conns++;
    for (int i = 0; i < per_conn; i++) {
      int is_last = i == per_conn - 1;
      const char *q = is_last ? last : req;
      if (write_all(fd, q, strlen(q)) != 0 || read_response(fd, buf, sizeof buf, is_last) != 0) {
        fail(r, "request");
        break;
      }
      r->reqs++;
      if (is_last) { /* the server closes after a Connection: close */
        ssize_t n = read(fd, buf, sizeof buf);
        if (n != 0) fail(r, "no EOF after Connection: close");
      }
    }
    close(fd);
  }
  return NULL;
}

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: %s PORT CONNECTIONS REQUESTS_PER_CONNECTION [THREADS]\n", argv[0]);
    return 2;
  }
  port = atoi(argv[1]);
  conns_total = atol(argv[2]);
  per_conn = atoi(argv[3]);
  int nthreads = argc > 4 ? atoi(argv[4]) : 4;
  if (per_conn < 1 || nthreads < 1 || nthreads > 256) return 2;
  pthread_t th[256];
  result res[256];
  memset(res, 0, sizeof res);
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (int i = 0; i < nthreads; i++) pthread_create(&th[i], NULL, worker, &res[i]);
  long conns = 0, reqs = 0, errors = 0;
  const char *first = NULL;
  for (int i = 0; i < nthreads; i++) {
    pthread_join(th[i], NULL);
    conns += res[i].conns;
    reqs += res[i].reqs;
    errors += res[i].errors;
    if (first == NULL && res[i].errors) first = res[i].first_error;
  }
  clock_gettime(CLOCK_MONOTONIC, &t1);
  double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
  printf("connections %ld requests %ld errors %ld seconds %.1f\n", conns, reqs, errors, secs);
  if (first) fprintf(stderr, "first error: %s\n", first);
  return errors ? 1 : 0;
}
