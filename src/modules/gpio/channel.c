/* channel.c - the pins seen from outside: a Unix stream socket (--gpio
 * PATH, bound by the runtime) that any number of clients connect to.  A
 * line protocol (docs/modules/gpio.md):
 *   client -> netmcu: "set N 0|1", "release N", "get N"
 *   netmcu -> client: "ok", "level N L", "error TEXT" (one reply per
 *                     command, in order); events: "pin N L" when the
 *                     chip changes the level on pin N, "mode N NAME"
 *                     when gpio.mode changes its mode. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gpio.h"

#define LINE_MAX_LEN 128
#define CLIENT_QUEUE_MAX (1u << 20) /* a client that reads nothing is dropped */

typedef struct {
  nm_link link;
  uv_pipe_t h;
  gpio_state *g;
  char line[LINE_MAX_LEN];
  size_t n;
  int overflow, closing;
} client;

static const char *const mode_names[] = {"input", "output", "int", "opendrain"};

static void client_closed(uv_handle_t *h) {
  client *c = h->data;
  gpio_state *g = c->g;
  free(c);
  gpio_handle_closed(g);
}

static void client_close(client *c) {
  if (c->closing) return;
  c->closing = 1;
  nm_list_remove(&c->link);
  uv_close((uv_handle_t *)&c->h, client_closed);
}

static void write_cb(uv_write_t *req, int status) {
  (void)status;
  free(req);
}

static void client_send(client *c, const char *s, size_t n) {
  if (c->closing) return;
  uv_stream_t *st = (uv_stream_t *)&c->h;
  int w = uv_stream_get_write_queue_size(st) == 0 ? uv_try_write(st, &(uv_buf_t){(char *)s, n}, 1) : 0;
  if (w < 0) w = 0;
  if ((size_t)w == n) return;
  if (uv_stream_get_write_queue_size(st) + n - (size_t)w > CLIENT_QUEUE_MAX) {
    client_close(c);
    return;
  }
  uv_write_t *req = malloc(sizeof *req + n - (size_t)w);
  if (req == NULL) {
    client_close(c);
    return;
  }
  char *copy = (char *)(req + 1);
  memcpy(copy, s + w, n - (size_t)w);
  uv_buf_t b = uv_buf_init(copy, (unsigned)(n - (size_t)w));
  if (uv_write(req, st, &b, 1, write_cb) != 0) {
    free(req);
    client_close(c);
  }
}

void gpio_channel_send(gpio_state *g, const char *line) {
  size_t n = strlen(line);
  for (nm_link *l = g->clients.next, *next; l != &g->clients; l = next) {
    next = l->next;
    client_send(nm_container_of(l, client, link), line, n);
  }
}

static void reply(client *c, const char *fmt, int a, int b) {
  char out[64];
  snprintf(out, sizeof out, fmt, a, b);
  client_send(c, out, strlen(out));
}

static void command(client *c, char *s) {
  gpio_state *g = c->g;
  int pin, level, end = -1;
  size_t n = strlen(s);
  if (n > 0 && s[n - 1] == '\r') s[--n] = '\0';
  if (n == 0) return;
  if (sscanf(s, "set %d %d%n", &pin, &level, &end) == 2 && s[end] == '\0') {
    if (pin < 0 || pin >= GPIO_PINS) return reply(c, "error no pin %d\n", pin, 0);
    if (level != 0 && level != 1) return reply(c, "error level must be 0 or 1\n", 0, 0);
    gpio_drive(g, pin, level);
    return reply(c, "ok\n", 0, 0);
  }
  end = -1;
  if (sscanf(s, "release %d%n", &pin, &end) == 1 && s[end] == '\0') {
    if (pin < 0 || pin >= GPIO_PINS) return reply(c, "error no pin %d\n", pin, 0);
    gpio_drive(g, pin, -1);
    return reply(c, "ok\n", 0, 0);
  }
  end = -1;
  if (sscanf(s, "get %d%n", &pin, &end) == 1 && s[end] == '\0') {
    if (pin < 0 || pin >= GPIO_PINS) return reply(c, "error no pin %d\n", pin, 0);
    return reply(c, "level %d %d\n", pin, gpio_level(&g->pin[pin]));
  }
  reply(c, "error unknown command\n", 0, 0);
}

static void client_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  client *c = s->data;
  if (nread < 0) {
    client_close(c);
    return;
  }
  for (ssize_t i = 0; i < nread && !c->closing; i++) {
    char ch = buf->base[i];
    if (ch != '\n') {
      if (c->n < LINE_MAX_LEN - 1) c->line[c->n++] = ch;
      else c->overflow = 1;
      continue;
    }
    c->line[c->n] = '\0';
    if (c->overflow) reply(c, "error line too long\n", 0, 0);
    else command(c, c->line);
    c->n = 0;
    c->overflow = 0;
  }
}

/* A new client first hears the modes and levels the chip has set. */
static void greet(client *c) {
  gpio_state *g = c->g;
  for (int i = 0; i < GPIO_PINS; i++) {
    const gpio_pin *p = &g->pin[i];
    if (p->mode == GPIO_INPUT) continue;
    char line[48];
    snprintf(line, sizeof line, "mode %d %s\n", i, mode_names[p->mode]);
    client_send(c, line, strlen(line));
    if (p->mode == GPIO_OUTPUT || p->mode == GPIO_OPENDRAIN)
      reply(c, "pin %d %d\n", i, gpio_level(p));
  }
}

static void on_connection(uv_stream_t *server, int status) {
  gpio_state *g = server->data;
  if (status < 0 || g->dead) return;
  client *c = calloc(1, sizeof *c);
  if (c == NULL) return;
  c->g = g;
  uv_pipe_init(&g->ctx->loop, &c->h, 0);
  c->h.data = c;
  g->handles++;
  nm_list_append(&g->clients, &c->link);
  /* a client alone does not keep the script running */
  uv_unref((uv_handle_t *)&c->h);
  if (uv_accept(server, (uv_stream_t *)&c->h) != 0 ||
      uv_read_start((uv_stream_t *)&c->h, nm_readbuf_alloc_cb, client_read) != 0) {
    client_close(c);
    return;
  }
  greet(c);
}

static void listener_closed(uv_handle_t *h) { gpio_handle_closed(h->data); }

void gpio_channel_open(gpio_state *g) {
  nm_ctx *ctx = g->ctx;
  if (ctx->gpio_path == NULL) return;
  int fd = fcntl(ctx->gpio_fd, F_DUPFD_CLOEXEC, 0); /* the runtime keeps its own */
  if (fd < 0) return;
  uv_pipe_init(&ctx->loop, &g->listener, 0);
  g->listener.data = g;
  g->handles++;
  if (uv_pipe_open(&g->listener, fd) != 0) {
    close(fd);
    uv_close((uv_handle_t *)&g->listener, listener_closed);
    return;
  }
  if (uv_listen((uv_stream_t *)&g->listener, 16, on_connection) != 0) {
    uv_close((uv_handle_t *)&g->listener, listener_closed);
    return;
  }
  g->listening = 1;
  gpio_channel_ref(g);
}

void gpio_channel_ref(gpio_state *g) {
  if (!g->listening) return;
  int armed = 0; /* a pin that the channel can make call back */
  for (int i = 0; i < GPIO_PINS; i++)
    armed |= g->pin[i].mode == GPIO_INT && g->pin[i].cb_ref != LUA_NOREF;
  if (armed) uv_ref((uv_handle_t *)&g->listener);
  else uv_unref((uv_handle_t *)&g->listener);
}

void gpio_channel_kill(gpio_state *g) {
  while (!nm_list_empty(&g->clients)) client_close(nm_container_of(g->clients.next, client, link));
  if (g->listening) {
    g->listening = 0;
    uv_close((uv_handle_t *)&g->listener, listener_closed);
  }
}
