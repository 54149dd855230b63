/* device.c - the runtime's options for the device around the network
 *: --fs DIR (the root), --lfs DIR (the LFS modules), --gpio
 * PATH (the pins' channel), --wifi IFACE, --wifi-ap SSID[:PASSWORD] and
 * --strict.  They hold for the whole process: every life
 * of the script (node.restart, node.dsleep) sees the same device. */
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/root.h"
#include "device.h"

static struct {
  const char *fs, *lfs, *gpio;
  int gpio_fd;
  int gpio_bound; /* we made the socket file: remove it at exit */
} dev = {NULL, NULL, NULL, -1, 0};

/* "--opt VALUE" or "--opt=VALUE" */
static int take(int argc, char **argv, int *i, const char *opt, const char **out) {
  size_t n = strlen(opt);
  const char *a = argv[*i];
  if (strncmp(a, opt, n) != 0) return 0;
  if (a[n] == '=') {
    *out = a + n + 1;
    return 1;
  }
  if (a[n] != '\0') return 0;
  if (*i + 1 >= argc) {
    fprintf(stderr, "netmcu: '%s' needs an argument\n", opt);
    return -1;
  }
  *out = argv[++*i];
  return 1;
}

/* --strict, --wifi IFACE, --wifi-ap SSID[:PASSWORD] (the device the script
 * runs on: nm_opts).  Returns as device_option. */
static int wifi_option(int argc, char **argv, int *i) {
  const char *a = argv[*i];
  if (strcmp(a, "--strict") == 0) {
    nm_opts.strict = 1;
    return 1;
  }
  int ap = strcmp(a, "--wifi-ap") == 0;
  if (!ap && strcmp(a, "--wifi") != 0) return 0;
  const char *v = *i + 1 < argc ? argv[++*i] : NULL;
  const char *colon = v ? strchr(v, ':') : NULL;
  const char *bad = NULL;
  if (v == NULL) bad = "needs an argument";
  else if (!ap && if_nametoindex(v) == 0) bad = "no such interface";
  else if (ap && (strcspn(v, ":") < 1 || strcspn(v, ":") > 32 || (colon && strlen(colon + 1) > 64)))
    bad = "SSID must have 1-32 bytes, PASSWORD 0-64";
  if (bad != NULL) {
    fprintf(stderr, "netmcu: '%s%s%s': %s\n", a, v ? " " : "", v ? v : "", bad);
    return -1;
  }
  *(ap ? &nm_opts.wifi_ap : &nm_opts.wifi_iface) = v;
  return 1;
}

int device_option(int argc, char **argv, int *i) {
  int r;
  if ((r = wifi_option(argc, argv, i)) != 0) return r;
  if ((r = take(argc, argv, i, "--fs", &dev.fs)) != 0) return r;
  if ((r = take(argc, argv, i, "--lfs", &dev.lfs)) != 0) return r;
  return take(argc, argv, i, "--gpio", &dev.gpio);
}

static int need_dir(const char *opt, const char *dir) {
  struct stat st;
  if (stat(dir, &st) != 0) {
    fprintf(stderr, "netmcu: %s %s: %s\n", opt, dir, strerror(errno));
    return -1;
  }
  if (!S_ISDIR(st.st_mode)) {
    fprintf(stderr, "netmcu: %s %s: not a directory\n", opt, dir);
    return -1;
  }
  return 0;
}

/* The pins' channel: a Unix stream socket at PATH (docs/modules/gpio.md).
 * A stale socket left by an earlier run is replaced; any other file at
 * PATH is an error. */
static int bind_gpio(const char *path) {
  struct sockaddr_un sa;
  memset(&sa, 0, sizeof sa);
  sa.sun_family = AF_UNIX;
  if (strlen(path) >= sizeof sa.sun_path) {
    fprintf(stderr, "netmcu: --gpio %s: path too long for a socket\n", path);
    return -1;
  }
  strcpy(sa.sun_path, path);
  struct stat st;
  if (lstat(path, &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      fprintf(stderr, "netmcu: --gpio %s: exists and is not a socket\n", path);
      return -1;
    }
    unlink(path);
  }
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(fd, 16) != 0) {
    fprintf(stderr, "netmcu: --gpio %s: %s\n", path, strerror(errno));
    if (fd >= 0) close(fd);
    return -1;
  }
  dev.gpio_fd = fd;
  dev.gpio_bound = 1;
  return 0;
}

int device_setup(void) {
  /* A closed standard descriptor would be taken by the next open (the
   * gpio socket, the loop's own), which uart would then read and libuv
   * refuses to close: give it /dev/null, as daemons do. */
  if (nm_stdio_reserve() != 0) return -1;
  atexit(device_cleanup);
  if (dev.fs != NULL && need_dir("--fs", dev.fs) != 0) return -1;
  if (dev.lfs != NULL && need_dir("--lfs", dev.lfs) != 0) return -1;
  if (dev.gpio != NULL && bind_gpio(dev.gpio) != 0) return -1;
  return 0;
}

void device_apply(nm_ctx *ctx) {
  ctx->fs_root = dev.fs;
  ctx->lfs_dir = dev.lfs;
  ctx->gpio_path = dev.gpio_fd >= 0 ? dev.gpio : NULL;
  ctx->gpio_fd = dev.gpio_fd;
}

void device_cleanup(void) {
  if (dev.gpio_fd >= 0) close(dev.gpio_fd);
  if (dev.gpio_bound) unlink(dev.gpio);
  dev.gpio_fd = -1;
  dev.gpio_bound = 0;
}
