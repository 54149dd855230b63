/* signals.c - the runtime's signals (docs/runtime.md#signals): SIGINT,
 * SIGTERM and SIGHUP stop the script, even in a callback that does not
 * return; the software watchdog's SIGALRM; and SIGPIPE for standard output,
 * which ends the runtime as it ends lua while sockets keep their EPIPE. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "runtime.h"

static nm_ctx *volatile current; /* the life whose Lua code is interrupted */
static pid_t main_tid;

/* Async-signal-safe only: what nm_interrupt does, _exit, syscall. */
static void on_signal(int sig) {
  int saved = errno;
  if ((pid_t)syscall(SYS_gettid) != main_tid) {
    /* Lua runs on the main thread: the signal is for it (a helper thread
     * of a library took it). */
    syscall(SYS_tgkill, getpid(), main_tid, sig);
    errno = saved;
    return;
  }
  nm_ctx *ctx = current;
  if (sig == NM_WATCHDOG_SIGNAL) {
    if (ctx != NULL) nm_interrupt(ctx, NM_INTR_WATCHDOG);
  } else if (ctx == NULL || ctx->stop_signal) {
    _exit(128 + sig); /* a second signal, or none is running: at once */
  } else {
    ctx->stop_signal = sig;
    nm_interrupt(ctx, NM_INTR_STOP);
  }
  errno = saved;
}

void nm_signals_install(void) {
  static const int sigs[] = {SIGINT, SIGTERM, SIGHUP, NM_WATCHDOG_SIGNAL};
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sa.sa_flags = SA_RESTART; /* as lua.c's signal(): reads go on, the hook raises after */
  sigemptyset(&sa.sa_mask);
  main_tid = (pid_t)syscall(SYS_gettid);
  for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) sigaction(sigs[i], &sa, NULL);
}

void nm_signals_attach(nm_ctx *ctx) {
  ctx->own_signals = 1;
  current = ctx;
}

void nm_signals_detach(void) { current = NULL; }

/* ---- standard output ----
 * netmcu ignores SIGPIPE (ctx.c), so that a peer's reset is a disconnection,
 * not the end of the process.  Standard output must still end it as it ends
 * lua (`netmcu x.lua | head`): its writes go through this stream, which
 * dies of SIGPIPE on EPIPE. */
static void die_of_sigpipe(void) {
  sigset_t set;
  signal(SIGPIPE, SIG_DFL);
  sigemptyset(&set);
  sigaddset(&set, SIGPIPE);
  sigprocmask(SIG_UNBLOCK, &set, NULL);
  raise(SIGPIPE);
  _exit(128 + SIGPIPE);
}

static ssize_t stdout_write(void *cookie, const char *buf, size_t n) {
  size_t done = 0;
  (void)cookie;
  while (done < n) {
    ssize_t w = write(STDOUT_FILENO, buf + done, n - done);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0 && errno == EPIPE) die_of_sigpipe();
    if (w < 0) return done > 0 ? (ssize_t)done : -1;
    done += (size_t)w;
  }
  return (ssize_t)n;
}

static int stdout_seek(void *cookie, off64_t *pos, int whence) {
  (void)cookie;
  off_t r = lseek(STDOUT_FILENO, (off_t)*pos, whence);
  if (r < 0) return -1;
  *pos = r;
  return 0;
}

void nm_stdout_open(void) {
  cookie_io_functions_t io = {NULL, stdout_write, stdout_seek, NULL};
  FILE *f = fopencookie(NULL, "w", io);
  if (f == NULL) return; /* then print ignores EPIPE, as before */
  fflush(stdout);
  stdout = f; /* glibc's stdout is a variable (the C library manual) */
}
