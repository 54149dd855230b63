/* failmalloc.c - an LD_PRELOAD allocator for the fault tests: it fails
 * chosen calls of malloc, calloc and realloc, so that netmcu's out-of-memory
 * paths run for real.  Environment:
 *   NETMCU_FAIL_AT=n     the n-th allocation (1 = the first) returns NULL
 *   NETMCU_FAIL_COUNT=k  ... and the k-1 after it too (default 1; 0 = every
 *                        allocation from the n-th on: persistent failure)
 *   NETMCU_FAIL_ARM=1    count from the moment the process calls
 *                        getenv("NETMCU_FAIL_ARM") (a script's
 *                        os.getenv("NETMCU_FAIL_ARM")), not from the start
 *   NETMCU_FAIL_LOG=path at exit, write "<allocations counted> <failed>";
 *                        and at once, for each library whose allocation
 *                        failed (first time only), "failed-in <library>"
 *                        (so an abort inside libuv can be told apart)
 *   NETMCU_FAIL_PROG=name only in the program of that name (the others a
 *                        test starts, such as timeout, are left alone)
 * Without NETMCU_FAIL_AT it only counts.  Built by tests/faults_alloc.sh:
 *   cc -shared -fPIC -o failmalloc.so tests/faults/failmalloc.c -ldl
 * Under ASan, run with ASAN_OPTIONS=verify_asan_link_order=0 (this library
 * then sits in front of ASan's allocator). */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <unistd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void *(*real_malloc)(size_t);
static void *(*real_calloc)(size_t, size_t);
static void *(*real_realloc)(void *, size_t);
static void (*real_free)(void *);
static char *(*real_getenv)(const char *);

static unsigned long fail_at, fail_count = 1, counted, failed;
static int armed = 1, resolving;
static const char *log_path;

/* dlsym may allocate before the real functions are known: serve it from
 * here (never freed). */
static _Alignas(16) char boot[8192];
static size_t boot_used;

static void *boot_alloc(size_t n) {
  n = (n + 15) & ~(size_t)15;
  if (boot_used + n > sizeof boot) return NULL;
  void *p = boot + boot_used;
  boot_used += n;
  return p;
}

static int in_boot(const void *p) {
  return (const char *)p >= boot && (const char *)p < boot + sizeof boot;
}

static void resolve(void) {
  if (real_malloc != NULL || resolving) return;
  resolving = 1;
  real_calloc = dlsym(RTLD_NEXT, "calloc");
  real_realloc = dlsym(RTLD_NEXT, "realloc");
  real_free = dlsym(RTLD_NEXT, "free");
  real_getenv = dlsym(RTLD_NEXT, "getenv");
  real_malloc = dlsym(RTLD_NEXT, "malloc");
  resolving = 0;
}

static void report(void) {
  if (log_path == NULL) return;
  fail_at = 0; /* fopen allocates */
  FILE *f = fopen(log_path, "a");
  if (f == NULL) return;
  fprintf(f, "counted %lu failed %lu\n", counted, failed);
  fclose(f);
}

__attribute__((constructor)) static void init(void) {
  resolve();
  const char *at = real_getenv("NETMCU_FAIL_AT");
  const char *count = real_getenv("NETMCU_FAIL_COUNT");
  const char *arm = real_getenv("NETMCU_FAIL_ARM");
  const char *prog = real_getenv("NETMCU_FAIL_PROG");
  if (prog != NULL && strcmp(prog, program_invocation_short_name) != 0) return;
  log_path = real_getenv("NETMCU_FAIL_LOG");
  if (count != NULL) fail_count = strtoul(count, NULL, 10);
  if (arm != NULL && *arm != '\0') armed = 0;
  if (log_path != NULL) atexit(report);
  /* set last: the calls above may allocate */
  if (at != NULL) fail_at = strtoul(at, NULL, 10);
}

/* Notes which library made a failing call, once per library, with
 * plain system calls (an abort may follow; no allocation here). */
static void note_caller(void *ret) {
  static const char *seen[16];
  static int nseen;
  Dl_info info;
  if (log_path == NULL || dladdr(ret, &info) == 0 || info.dli_fname == NULL) return;
  for (int i = 0; i < nseen; i++)
    if (seen[i] == info.dli_fname) return;
  if (nseen < 16) seen[nseen++] = info.dli_fname;
  const char *base = strrchr(info.dli_fname, '/');
  base = base != NULL ? base + 1 : info.dli_fname;
  int fd = open(log_path, O_WRONLY | O_APPEND | O_CREAT, 0644);
  if (fd < 0) return;
  char line[256];
  size_t n = strlen(base) < 200 ? strlen(base) : 200;
  memcpy(line, "failed-in ", 10);
  memcpy(line + 10, base, n);
  line[10 + n] = '\n';
  if (write(fd, line, 11 + n) < 0) { /* nothing to do */
  }
  close(fd);
}

/* Should this allocation, made from ret, fail? */
static int fail_now(void *ret) {
  if (!armed) return 0;
  unsigned long n = __atomic_add_fetch(&counted, 1, __ATOMIC_RELAXED);
  if (fail_at == 0 || n < fail_at) return 0;
  if (fail_count != 0 && n >= fail_at + fail_count) return 0;
  __atomic_add_fetch(&failed, 1, __ATOMIC_RELAXED);
  note_caller(ret);
  errno = ENOMEM; /* as a real malloc */
  return 1;
}

char *getenv(const char *name) {
  resolve();
  if (!armed && strcmp(name, "NETMCU_FAIL_ARM") == 0) {
    /* count from here: the libraries' constructors, before ours, were
     * counted already (found by tests/faults_accept.sh) */
    __atomic_store_n(&counted, 0, __ATOMIC_RELAXED);
    armed = 1;
  }
  return real_getenv != NULL ? real_getenv(name) : NULL;
}

void *malloc(size_t n) {
  resolve();
  if (real_malloc == NULL) return boot_alloc(n);
  return fail_now(__builtin_return_address(0)) ? NULL : real_malloc(n);
}

void *calloc(size_t n, size_t m) {
  resolve();
  if (real_calloc == NULL) return boot_alloc(n * m); /* boot is zeroed */
  return fail_now(__builtin_return_address(0)) ? NULL : real_calloc(n, m);
}

void *realloc(void *p, size_t n) {
  resolve();
  if (in_boot(p)) { /* moved out of the boot area */
    size_t left = (size_t)(boot + sizeof boot - (char *)p);
    void *q = malloc(n);
    if (q != NULL) memcpy(q, p, n < left ? n : left);
    return q;
  }
  /* Freeing (n == 0) and shrinking do not fail, as with a real malloc. */
  if (n != 0 && (p == NULL || n > malloc_usable_size(p)) &&
      fail_now(__builtin_return_address(0)))
    return NULL;
  return real_realloc(p, n);
}

void free(void *p) {
  if (p == NULL || in_boot(p)) return;
  resolve();
  real_free(p);
}
