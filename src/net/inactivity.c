/* inactivity.c - the inactivity timeout: one timer for a list of members
 * ordered by last activity (inactivity.h). */
#include <stdlib.h>

#include "inactivity.h"

static void inactivity_closed_cb(uv_handle_t *h) {
  free(nm_container_of((uv_timer_t *)h, nm_inactivity, timer));
}

void nm_inactivity_close(nm_inactivity *l, uv_close_cb close_cb) {
  /* Members leaving later unlink themselves from nothing, safely. */
  while (!nm_list_empty(&l->entries)) nm_list_remove(l->entries.next);
  if (!uv_is_closing((uv_handle_t *)&l->timer)) uv_close((uv_handle_t *)&l->timer, close_cb);
}

static void inactivity_kill(nm_obj *o) {
  nm_inactivity *l = nm_container_of(o, nm_inactivity, obj);
  nm_obj_unregister(&l->obj);
  nm_inactivity_close(l, inactivity_closed_cb);
}

void nm_inactivity_init(nm_inactivity *l, nm_ctx *ctx, uint32_t timeout_ms,
                        nm_inactivity_cb expired) {
  l->ctx = ctx;
  l->timeout_ms = timeout_ms;
  l->expired = expired;
  l->refs = 1;
  nm_list_init(&l->obj.link);
  nm_list_init(&l->entries);
  uv_timer_init(&ctx->loop, &l->timer);
  uv_unref((uv_handle_t *)&l->timer);
}

nm_inactivity *nm_inactivity_new(nm_ctx *ctx, uint32_t timeout_ms, nm_inactivity_cb expired) {
  nm_inactivity *l = calloc(1, sizeof *l);
  if (l == NULL) return NULL;
  nm_inactivity_init(l, ctx, timeout_ms, expired);
  nm_obj_register(ctx, &l->obj, inactivity_kill);
  return l;
}

void nm_inactivity_ref(nm_inactivity *l) { l->refs++; }

void nm_inactivity_unref(nm_inactivity *l) {
  if (--l->refs == 0) inactivity_kill(&l->obj);
}

/* Expire every member idle for the timeout, oldest first, then sleep until
 * the next one could expire. */
static void inactivity_timer_cb(uv_timer_t *t) {
  nm_inactivity *l = nm_container_of(t, nm_inactivity, timer);
  l->refs++; /* the callbacks below may drop every other reference */
  uint32_t now = (uint32_t)uv_now(&l->ctx->loop);
  while (!nm_list_empty(&l->entries)) {
    nm_inactivity_entry *e = nm_container_of(l->entries.next, nm_inactivity_entry, link);
    int32_t left = (int32_t)(e->stamp + l->timeout_ms - now);
    if (left > 0) {
      uv_timer_start(t, inactivity_timer_cb, (uint64_t)left, 0);
      break;
    }
    l->expired(e); /* takes e out of the list */
    if (l->ctx->failed) break;
  }
  nm_inactivity_unref(l);
}

void nm_inactivity_join(nm_inactivity *l, nm_inactivity_entry *e) {
  e->stamp = (uint32_t)uv_now(&l->ctx->loop);
  nm_list_remove(&e->link);
  nm_list_append(&l->entries, &e->link);
  if (!uv_is_active((uv_handle_t *)&l->timer) && !uv_is_closing((uv_handle_t *)&l->timer))
    uv_timer_start(&l->timer, inactivity_timer_cb, l->timeout_ms, 0);
}
