/* http_multi.c - libcurl's multi-socket interface inside the libuv loop:
 * libcurl names the sockets it wants watched (socket_cb: a uv_poll each)
 * and the time it wants to be called (timer_cb: one uv_timer); readiness
 * and expiry go back to curl_multi_socket_action.  After every call into
 * libcurl the finished hops are collected and the requests' events are
 * delivered, outside libcurl's frames.  A synchronous multi (the ESP32's
 * blocking calls) is driven by curl_multi_perform/curl_multi_poll instead. */
#include <stdlib.h>
#include <string.h>

#include "modules/http.h"

/* One libcurl user count for the process: curl_global_init at the first
 * multi, curl_global_cleanup after the last (no leak at exit). */
static unsigned curl_users;

typedef struct {
  uv_poll_t h;
  nm_link link; /* in hm->polls */
  curl_socket_t fd;
  int events; /* what uv_poll watches now */
  http_multi *hm;
} http_poll;

static void hm_deliver(http_multi *hm);

uint64_t http_multi_now(http_multi *hm) {
  if (hm->sync) return uv_hrtime() / 1000000;
  return uv_now(&hm->ctx->loop);
}

/* ---- after libcurl ran ---- */

/* Hops libcurl finished, then the events they produced. */
static void hm_after(http_multi *hm) {
  CURLMsg *msg;
  int left;
  while ((msg = curl_multi_info_read(hm->m, &left)) != NULL) {
    if (msg->msg != CURLMSG_DONE) continue;
    http_req *r = NULL;
    CURLcode rc = msg->data.result;
    curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&r);
    if (r != NULL) http_req_hop_done(r, rc); /* msg is invalid after this */
  }
  hm_deliver(hm);
}

/* Each delivery may run Lua, which may add, abort or free requests (its own
 * or others'): always take the head of the list anew. */
static void hm_deliver(http_multi *hm) {
  while (!nm_list_empty(&hm->dirty) && !hm->doomed) {
    http_req *r = nm_container_of(hm->dirty.next, http_req, dirty);
    nm_list_remove(&r->dirty);
    r->ops->deliver(r);
  }
}

static void hm_leave(http_multi *hm) {
  if (--hm->stepping == 0 && hm->doomed) {
    hm->doomed = 0;
    http_multi_free(hm);
  }
}

static void hm_action(http_multi *hm, curl_socket_t fd, int flags) {
  int running;
  hm->stepping++;
  curl_multi_socket_action(hm->m, fd, flags, &running);
  hm_after(hm);
  hm_leave(hm);
}

static void defer_cb(nm_defer *d) {
  http_multi *hm = nm_container_of(d, http_multi, defer);
  hm->deferred = 0;
  hm->stepping++;
  hm_deliver(hm);
  hm_leave(hm);
}

void http_multi_dirty(http_req *r, unsigned ev) {
  http_multi *hm = r->hm;
  r->ev |= ev;
  if (r->dirty.next == &r->dirty) nm_list_append(&hm->dirty, &r->dirty);
  /* Inside a step (or a synchronous wait) the step delivers; otherwise a
   * later loop turn does (never synchronously from the script's call). */
  if (!hm->sync && !hm->stepping && !hm->deferred) {
    hm->deferred = 1;
    nm_defer_push(hm->ctx, &hm->defer, defer_cb);
  }
}

/* ---- sockets and the timer ---- */

static void poll_closed_cb(uv_handle_t *h) { free(h->data); }

static void poll_close(http_poll *p) {
  nm_list_remove(&p->link);
  uv_close((uv_handle_t *)&p->h, poll_closed_cb);
}

static void poll_cb(uv_poll_t *h, int status, int events) {
  http_poll *p = h->data;
  int flags = 0;
  if (status < 0) flags = CURL_CSELECT_ERR | CURL_CSELECT_IN | CURL_CSELECT_OUT;
  if (events & UV_READABLE) flags |= CURL_CSELECT_IN;
  if (events & UV_WRITABLE) flags |= CURL_CSELECT_OUT;
  hm_action(p->hm, p->fd, flags);
}

static int socket_cb(CURL *e, curl_socket_t fd, int what, void *userp, void *socketp) {
  http_multi *hm = userp;
  http_poll *p = socketp;
  (void)e;
  if (what == CURL_POLL_REMOVE) {
    if (p != NULL) {
      curl_multi_assign(hm->m, fd, NULL);
      poll_close(p);
    }
    return 0;
  }
  if (p == NULL) {
    p = calloc(1, sizeof *p);
    if (p == NULL) return -1;
    if (uv_poll_init_socket(&hm->ctx->loop, &p->h, fd) != 0) {
      free(p);
      return -1;
    }
    p->h.data = p;
    p->fd = fd;
    p->hm = hm;
    nm_list_append(&hm->polls, &p->link);
    curl_multi_assign(hm->m, fd, p);
  }
  int ev = ((what & CURL_POLL_IN) ? UV_READABLE : 0) | ((what & CURL_POLL_OUT) ? UV_WRITABLE : 0);
  if (ev == p->events) return 0; /* libcurl often repeats itself; a restart costs two epoll_ctl */
  p->events = ev;
  return uv_poll_start(&p->h, ev, poll_cb) == 0 ? 0 : -1;
}

static void timer_cb(uv_timer_t *t) {
  hm_action(t->data, CURL_SOCKET_TIMEOUT, 0);
}

static int timer_fn(CURLM *m, long ms, void *userp) {
  http_multi *hm = userp;
  (void)m;
  if (ms < 0)
    uv_timer_stop(&hm->timer);
  else
    uv_timer_start(&hm->timer, timer_cb, (uint64_t)ms, 0);
  return 0;
}

/* ---- the ESP32's inactivity timeout ---- */

/* Aborts the requests whose deadline passed (not while the script holds
 * them with DELAYACK: the device does not read then either); returns the
 * next deadline, or 0. */
static uint64_t expire(http_multi *hm, uint64_t now) {
  uint64_t next = 0;
  nm_link *l = hm->reqs.next;
  while (l != &hm->reqs) {
    http_req *r = nm_container_of(l, http_req, link);
    l = l->next;
    if (r->deadline == 0 || r->done || r->held) continue;
    if (r->deadline <= now)
      http_req_abort(r, r->headers_done ? HTTP_ERROR : HTTP_E32_FETCH_HEADER);
    else if (next == 0 || r->deadline < next)
      next = r->deadline;
  }
  return next;
}

static void idle_cb(uv_timer_t *t) {
  http_multi *hm = t->data;
  hm->stepping++;
  uint64_t next = expire(hm, uv_now(&hm->ctx->loop));
  if (next != 0) uv_timer_start(&hm->idle, idle_cb, next - uv_now(&hm->ctx->loop), 0);
  hm_deliver(hm);
  hm_leave(hm);
}

/* r got a deadline: make sure the check runs by then. */
void http_multi_watch(http_multi *hm, http_req *r) {
  if (hm->sync || r->deadline == 0) return;
  uint64_t now = uv_now(&hm->ctx->loop);
  uint64_t due = r->deadline > now ? r->deadline - now : 0;
  if (uv_is_active((uv_handle_t *)&hm->idle) && uv_timer_get_due_in(&hm->idle) <= due) return;
  uv_timer_start(&hm->idle, idle_cb, due, 0);
}

/* ---- life ---- */

static void hm_kill(nm_obj *o) { http_multi_free(nm_container_of(o, http_multi, obj)); }

http_multi *http_multi_new(nm_ctx *ctx, int sync, http_multi **backref) {
  if (curl_users == 0 && curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) return NULL;
  curl_users++;
  http_multi *hm = calloc(1, sizeof *hm);
  if (hm == NULL || (hm->m = curl_multi_init()) == NULL) {
    free(hm);
    if (--curl_users == 0) curl_global_cleanup();
    return NULL;
  }
  hm->ctx = ctx;
  hm->sync = sync;
  hm->backref = backref;
  nm_list_init(&hm->reqs);
  nm_list_init(&hm->dirty);
  nm_list_init(&hm->polls);
  if (!sync) {
    uv_timer_init(&ctx->loop, &hm->timer);
    uv_timer_init(&ctx->loop, &hm->idle);
    hm->timer.data = hm->idle.data = hm;
    curl_multi_setopt(hm->m, CURLMOPT_SOCKETFUNCTION, socket_cb);
    curl_multi_setopt(hm->m, CURLMOPT_SOCKETDATA, hm);
    curl_multi_setopt(hm->m, CURLMOPT_TIMERFUNCTION, timer_fn);
    curl_multi_setopt(hm->m, CURLMOPT_TIMERDATA, hm);
  }
  nm_obj_register(ctx, &hm->obj, hm_kill);
  return hm;
}

/* Both timers are closed at once (shutdown closes whatever is not closing
 * yet); the second close callback frees. */
static void timer_closed_cb(uv_handle_t *h) {
  http_multi *hm = h->data;
  if (++hm->closed == 2) free(hm);
}

void http_multi_free(http_multi *hm) {
  if (hm->stepping) { /* inside its own step: the step frees it */
    hm->doomed = 1;
    if (hm->backref != NULL) *hm->backref = NULL;
    hm->backref = NULL;
    return;
  }
  nm_obj_unregister(&hm->obj);
  if (hm->backref != NULL) *hm->backref = NULL;
  if (hm->deferred) nm_defer_cancel(hm->ctx, &hm->defer);
  while (!nm_list_empty(&hm->reqs)) {
    http_req *r = nm_container_of(hm->reqs.next, http_req, link);
    r->ops->drop(r); /* frees r, which leaves the list */
  }
  curl_multi_cleanup(hm->m); /* closes the cached connections */
  while (!nm_list_empty(&hm->polls)) poll_close(nm_container_of(hm->polls.next, http_poll, link));
  if (--curl_users == 0) curl_global_cleanup();
  if (hm->sync) {
    free(hm);
  } else {
    uv_close((uv_handle_t *)&hm->timer, timer_closed_cb);
    uv_close((uv_handle_t *)&hm->idle, timer_closed_cb);
  }
}

int http_multi_add(http_multi *hm, http_req *r) {
  if (!hm->sync) {
    /* libcurl's first timer_fn call comes from inside add_handle. */
    hm->stepping++;
    CURLMcode mc = curl_multi_add_handle(hm->m, r->easy);
    hm->stepping--;
    return mc == CURLM_OK ? 0 : -1;
  }
  return curl_multi_add_handle(hm->m, r->easy) == CURLM_OK ? 0 : -1;
}

/* The blocking wait of a synchronous call: libcurl's own poll, with the
 * ESP32's inactivity deadlines checked at least every 100 ms. */
void http_multi_wait(http_multi *hm, const int *flag) {
  hm->stepping++;
  while (!*flag && !hm->doomed) {
    int running = 0;
    curl_multi_perform(hm->m, &running);
    expire(hm, http_multi_now(hm));
    hm_after(hm);
    if (*flag || hm->doomed) break;
    curl_multi_poll(hm->m, NULL, 0, 100, NULL);
  }
  hm_leave(hm);
}
