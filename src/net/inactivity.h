/* inactivity.h - a list of entries ordered by their last activity, with one
 * timer for the whole list, so that a member costs a link and a timestamp,
 * not a timer.  It serves a server's inactivity timeout (its accepted
 * sockets; docs/modules/net.md, net.createServer) and the loop's bound on
 * lingering closed sockets (tcp_conn.c).  The list writes only the entries
 * it is given; what an expiry means is the owner's business. */
#ifndef NM_INACTIVITY_H
#define NM_INACTIVITY_H

#include "core/nm.h"

/* Embedded in a member; a self-linked link means "in no list". */
typedef struct nm_inactivity_entry {
  nm_link link;
  uint32_t stamp; /* uv_now() of the last activity, in ms (wraps: compared by difference) */
} nm_inactivity_entry;

typedef struct nm_inactivity nm_inactivity;
/* Called for an entry that saw no activity for the list's timeout; it must
 * take the entry out of the list (nm_inactivity_leave), or touch it if its
 * owner knows of activity the list did not see. */
typedef void (*nm_inactivity_cb)(nm_inactivity_entry *e);

struct nm_inactivity {
  nm_obj obj;
  uv_timer_t timer; /* unreferenced: the members keep the loop alive */
  nm_ctx *ctx;
  nm_link entries;  /* oldest activity first */
  uint32_t timeout_ms;
  int refs;
  nm_inactivity_cb expired;
};

/* A list whose members expire after timeout_ms (1 ms - 24 days) without
 * activity, with one reference; an nm_obj of its own.  NULL if out of
 * memory. */
nm_inactivity *nm_inactivity_new(nm_ctx *ctx, uint32_t timeout_ms, nm_inactivity_cb expired);
/* The same list embedded in an owner, which closes it with
 * nm_inactivity_close (the timer's close callback, close_cb, then frees
 * the owner) and uses no reference counting. */
void nm_inactivity_init(nm_inactivity *l, nm_ctx *ctx, uint32_t timeout_ms,
                        nm_inactivity_cb expired);
void nm_inactivity_close(nm_inactivity *l, uv_close_cb close_cb);
void nm_inactivity_ref(nm_inactivity *l);
/* Drops a reference; the last one closes the list (at shutdown, killing it
 * closes it whatever the count: it then stays allocated, and unrefs stay
 * safe, until its timer's close callback). */
void nm_inactivity_unref(nm_inactivity *l);
/* e joins the list as the youngest, active now. */
void nm_inactivity_join(nm_inactivity *l, nm_inactivity_entry *e);
/* e leaves its list, if any. */
static inline void nm_inactivity_leave(nm_inactivity_entry *e) { nm_list_remove(&e->link); }
static inline void nm_inactivity_entry_init(nm_inactivity_entry *e) { nm_list_init(&e->link); }

/* Activity on e (a member of l): it becomes the youngest.  O(1); the timer
 * is not touched (it re-arms itself for the oldest when it fires). */
static inline void nm_inactivity_touch(nm_inactivity *l, nm_inactivity_entry *e) {
  e->stamp = (uint32_t)uv_now(&l->ctx->loop);
  nm_list_remove(&e->link);
  nm_list_append(&l->entries, &e->link);
}

#endif
