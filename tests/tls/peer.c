/* tests/tls/peer.c - a TLS server for tests/tls.lua that does what
 * `openssl s_server` cannot be told to do at the right moment: it listens
 * on a free port of 127.0.0.1, writes the port to OUT.port, serves one
 * connection in MODE, writes what it saw to OUT (renamed into place, so a
 * reader never sees half) and exits.  Built by the test with cc and libssl.
 *   peer MODE CERT KEY OUT [ARG]
 * MODE:
 *   echo       echo until the client's close_notify or FIN
 *              (OUT: "<how it ended> <bytes> sni=<name|none>")
 *   keyupdate  echo; after the first data, a TLS 1.3 KeyUpdate that asks
 *              the client to update too (OUT: ... "keyupdates=<received>")
 *   reneg      TLS 1.2 echo; the first echo and a renegotiation's
 *              HelloRequest in one TCP segment
 *              (OUT: ... "hellos=<ClientHellos when the last data came>")
 *   sink       read until the client's close_notify or FIN, answer nothing
 *   flood      write ARG MiB, the count so far kept in OUT.progress, then
 *              wait for the client's close (OUT: "flood <bytes>")
 *   noread     handshake, then read nothing for ARG seconds
 *   notify     send "bye" and close_notify, wait for the client's
 *              (OUT: "client_notify=<0|1>")
 *   fin        send "bye", then FIN without close_notify
 *   trickle    send one record of "trickled", byte by byte, 2 ms apart, then
 *              wait for the client's close
 *   rst        read a little of the ClientHello, then reset (SO_LINGER 0)
 *   garbage    answer the ClientHello with bytes that are not TLS
 *   garbage2   handshake, and after the first data bytes that are not TLS
 * A CA file as ARG of echo requires a client certificate from that CA. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static const char *mode, *out;
static int keyupdates, hellos, hellos_at_data, maxrec;

static void result(const char *suffix, const char *text) {
  char tmp[600], dst[512];
  snprintf(dst, sizeof dst, "%s%s", out, suffix);
  snprintf(tmp, sizeof tmp, "%s.tmp", dst);
  FILE *f = fopen(tmp, "w");
  if (f == NULL) exit(2);
  fprintf(f, "%s\n", text);
  fclose(f);
  rename(tmp, dst);
}

static void msg_cb(int write_p, int version, int type, const void *buf, size_t len, SSL *ssl,
                   void *arg) {
  (void)version, (void)ssl, (void)arg;
  if (!write_p && type == SSL3_RT_HEADER && len == 5) { /* a record's header: its length */
    const unsigned char *h = buf;
    if (h[3] * 256 + h[4] > maxrec) maxrec = h[3] * 256 + h[4];
  }
  if (write_p || type != SSL3_RT_HANDSHAKE || len == 0) return;
  if (*(const unsigned char *)buf == 24) keyupdates++; /* KeyUpdate */
  if (*(const unsigned char *)buf == 1) hellos++;      /* ClientHello */
}

static void progress(long long n) {
  char path[512], text[32];
  snprintf(path, sizeof path, "%s.progress", out);
  FILE *f = fopen(path, "r+");
  if (f == NULL) f = fopen(path, "w");
  if (f == NULL) return;
  snprintf(text, sizeof text, "%020lld\n", n);
  fputs(text, f);
  fclose(f);
}

static void garbage(int fd) {
  char junk[1024];
  for (size_t i = 0; i < sizeof junk; i++) junk[i] = (char)(i * 7 + 3);
  (void)!write(fd, junk, sizeof junk);
}

/* Echo until the client ends; returns how it ended. */
static const char *echo(SSL *ssl, long long *bytes, int fd) {
  char buf[65536];
  int first = 1;
  for (;;) {
    int n = SSL_read(ssl, buf, sizeof buf);
    if (n <= 0) {
      int e = SSL_get_error(ssl, n);
      return e == SSL_ERROR_ZERO_RETURN ? "close_notify" : "eof";
    }
    *bytes += n;
    hellos_at_data = hellos;
    int reneg = first && strcmp(mode, "reneg") == 0, on = 1, off = 0;
    if (reneg) setsockopt(fd, IPPROTO_TCP, TCP_CORK, &on, sizeof on);
    if (strcmp(mode, "sink") != 0 && SSL_write(ssl, buf, n) != n) return "write_failed";
    if (first && strcmp(mode, "keyupdate") == 0) {
      SSL_key_update(ssl, SSL_KEY_UPDATE_REQUESTED);
      SSL_do_handshake(ssl); /* sends it now */
    }
    if (reneg) { /* the client reads the echo and the HelloRequest at once */
      SSL_renegotiate(ssl);
      SSL_do_handshake(ssl); /* the HelloRequest; the rest comes with the reads */
      setsockopt(fd, IPPROTO_TCP, TCP_CORK, &off, sizeof off);
    }
    if (first && strcmp(mode, "garbage2") == 0) {
      garbage(fd);
      return "garbage";
    }
    first = 0;
  }
}

int main(int argc, char **argv) {
  if (argc < 5) {
    fprintf(stderr, "usage: peer MODE CERT KEY OUT [ARG]\n");
    return 2;
  }
  mode = argv[1];
  out = argv[4];
  const char *arg = argc > 5 ? argv[5] : NULL;
  signal(SIGPIPE, SIG_IGN);

  int ls = socket(AF_INET, SOCK_STREAM, 0), one = 1;
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t len = sizeof sa;
  setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(ls, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(ls, 4) != 0 ||
      getsockname(ls, (struct sockaddr *)&sa, &len) != 0)
    return 2;
  char port[16];
  snprintf(port, sizeof port, "%d", ntohs(sa.sin_port));
  result(".port", port);
  int fd = accept(ls, NULL, NULL);
  if (fd < 0) return 2;
  close(ls);

  if (strcmp(mode, "rst") == 0 || strcmp(mode, "garbage") == 0) {
    char buf[64];
    (void)!read(fd, buf, sizeof buf); /* part of the ClientHello */
    if (mode[0] == 'g') {
      garbage(fd);
      (void)!read(fd, buf, sizeof buf); /* until the client gives up */
    } else {
      struct linger lg = {1, 0};
      setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    }
    close(fd);
    result("", mode);
    return 0;
  }

  SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
  if (SSL_CTX_use_certificate_chain_file(ctx, argv[2]) != 1 ||
      SSL_CTX_use_PrivateKey_file(ctx, argv[3], SSL_FILETYPE_PEM) != 1) {
    ERR_print_errors_fp(stderr);
    return 2;
  }
  if (strcmp(mode, "reneg") == 0) SSL_CTX_set_max_proto_version(ctx, TLS1_2_VERSION);
  if (strcmp(mode, "echo") == 0 && arg != NULL) {
    SSL_CTX_load_verify_locations(ctx, arg, NULL);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
  }
  SSL_CTX_set_msg_callback(ctx, msg_cb);
  SSL *ssl = SSL_new(ctx);
  SSL_set_fd(ssl, fd);
  if (SSL_accept(ssl) != 1) {
    ERR_print_errors_fp(stderr);
    result("", "handshake_failed");
    return 0;
  }
  const char *sni = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
  char text[256];
  long long bytes = 0;

  if (strcmp(mode, "flood") == 0) {
    static char chunk[65536];
    long long want = atoll(arg != NULL ? arg : "1") * 1048576;
    memset(chunk, 'f', sizeof chunk);
    progress(0);
    while (bytes < want && SSL_write(ssl, chunk, sizeof chunk) == (int)sizeof chunk) {
      bytes += (long long)sizeof chunk;
      progress(bytes);
    }
    char buf[256];
    while (SSL_read(ssl, buf, sizeof buf) > 0) {
    }
    snprintf(text, sizeof text, "flood %lld", bytes);
  } else if (strcmp(mode, "trickle") == 0) {
    BIO *mem = BIO_new(BIO_s_mem()), *sock = SSL_get_wbio(ssl);
    BIO_up_ref(sock);
    SSL_set0_wbio(ssl, mem); /* the record goes to memory, then out a byte at a time */
    SSL_write(ssl, "trickled", 8);
    char rec[256];
    int n = BIO_read(mem, rec, sizeof rec);
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    for (int i = 0; i < n; i++) {
      (void)!write(fd, rec + i, 1);
      usleep(2000);
    }
    SSL_set0_wbio(ssl, sock);
    char buf[256];
    while (SSL_read(ssl, buf, sizeof buf) > 0) {
    }
    snprintf(text, sizeof text, "trickled %d bytes", n);
  } else if (strcmp(mode, "noread") == 0) {
    SSL_write(ssl, "go", 2);
    sleep((unsigned)atoi(arg != NULL ? arg : "2"));
    snprintf(text, sizeof text, "noread");
  } else if (strcmp(mode, "notify") == 0 || strcmp(mode, "fin") == 0) {
    SSL_write(ssl, "bye", 3);
    int notified = 0;
    if (mode[0] == 'n') {
      SSL_shutdown(ssl);
      notified = SSL_shutdown(ssl) == 1; /* waits for the client's close_notify */
    } else {
      shutdown(fd, SHUT_WR);
      char buf[256];
      while (SSL_read(ssl, buf, sizeof buf) > 0) {
      }
    }
    snprintf(text, sizeof text, "client_notify=%d", notified);
  } else {
    const char *how = echo(ssl, &bytes, fd);
    snprintf(text, sizeof text, "%s %lld sni=%s keyupdates=%d hellos=%d maxrecord=%d", how, bytes,
             sni != NULL ? sni : "none", keyupdates, hellos_at_data, maxrec);
    if (strcmp(how, "close_notify") == 0) SSL_shutdown(ssl);
  }
  result("", text);
  close(fd);
  SSL_free(ssl);
  SSL_CTX_free(ctx);
  return 0;
}
