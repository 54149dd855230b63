/* idle.c - the inactivity timeout of a server's accepted sockets (SPEC 4),
 * one timer per server for any number of connections; see tcp.h. */
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "tcp.h"

static void idle_closed_cb(uv_handle_t *h) { free(h->data); }

static void idle_kill(nm_obj *o) {
  nm_idle *idle = nm_container_of(o, nm_idle, obj);
  nm_obj_unregister(&idle->obj);
  if (!uv_is_closing((uv_handle_t *)&idle->timer))
    uv_close((uv_handle_t *)&idle->timer, idle_closed_cb);
}

nm_idle *nm_idle_new(nm_ctx *ctx, uint64_t timeout_ms) {
  nm_idle *idle = calloc(1, sizeof *idle);
  if (idle == NULL) return NULL;
  idle->ctx = ctx;
  idle->timeout_ms = timeout_ms;
  idle->refs = 1;
  nm_list_init(&idle->socks);
  uv_timer_init(&ctx->loop, &idle->timer);
  uv_unref((uv_handle_t *)&idle->timer); /* the sockets keep the loop alive */
  idle->timer.data = idle;
  nm_obj_register(ctx, &idle->obj, idle_kill);
  return idle;
}

void nm_idle_unref(nm_idle *idle) {
  if (--idle->refs == 0) idle_kill(&idle->obj);
}

/* How long ago the kernel last sent data of s, in ms (UINT64_MAX if it
 * cannot tell).  A single large send() keeps the kernel sending long
 * after the call: that is activity too (SPEC 4), which send() and its
 * completion alone would not show (found sending 4 GiB, issue 18). */
static uint64_t kernel_sent_ago(nm_tcp *s) {
  struct tcp_info ti;
  socklen_t len = sizeof ti;
  uv_os_fd_t fd;
  if (s->h.write_queue_size == 0 || uv_fileno((uv_handle_t *)&s->h, &fd) != 0 ||
      getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) != 0)
    return UINT64_MAX;
  return ti.tcpi_last_data_sent;
}

/* Close every socket idle for the timeout, oldest first, then sleep until
 * the next one could expire. */
static void idle_timer_cb(uv_timer_t *t) {
  nm_idle *idle = t->data;
  idle->refs++; /* the callbacks below may drop every other reference */
  uint64_t now = uv_now(&idle->ctx->loop);
  while (!nm_list_empty(&idle->socks)) {
    nm_tcp *s = nm_container_of(idle->socks.next, nm_tcp, link);
    uint64_t due = s->deadline + idle->timeout_ms;
    if (due > now) {
      uv_timer_start(t, idle_timer_cb, due - now, 0);
      break;
    }
    uint64_t ago = kernel_sent_ago(s);
    if (ago < idle->timeout_ms) { /* still sending: active (checked again a timeout later) */
      nm_idle_touch(s);
      continue;
    }
    nm_tcp_timed_out(s); /* removes s from the list */
    if (idle->ctx->failed) break;
  }
  nm_idle_unref(idle);
}

void nm_idle_add(nm_idle *idle, nm_tcp *s) {
  if (idle == NULL) return;
  idle->refs++;
  s->accepted = 1;
  s->idle = idle;
  s->deadline = uv_now(&idle->ctx->loop);
  nm_list_append(&idle->socks, &s->link);
  if (!uv_is_active((uv_handle_t *)&idle->timer))
    uv_timer_start(&idle->timer, idle_timer_cb, idle->timeout_ms, 0);
}

void nm_idle_remove(nm_tcp *s) {
  if (!s->accepted) return;
  nm_idle *idle = s->idle;
  if (idle == NULL) return;
  nm_list_remove(&s->link);
  s->idle = NULL;
  nm_idle_unref(idle);
}
