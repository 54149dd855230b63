/* device.h - the runtime's device options (device.c). */
#ifndef NM_DEVICE_H
#define NM_DEVICE_H

#include "core/nm.h"

/* If argv[*i] is a device option (--fs, --lfs, --gpio, with its value next
 * or after '='; --wifi, --wifi-ap, --strict), takes it (advancing *i past its value) and returns 1; 0 if
 * it is not one; -1 (message printed) if its value is missing or bad. */
int device_option(int argc, char **argv, int *i);
/* Checks the options and makes the gpio channel; -1 (message printed) on
 * failure.  Registers device_cleanup with atexit. */
int device_setup(void);
/* Gives a new life's loop context the device. */
void device_apply(nm_ctx *ctx);
/* Removes the gpio socket. */
void device_cleanup(void);

#define DEVICE_USAGE                                                        \
  "  --strict      legacy forms (tmr.alarm(id, ...), positional\n"                \
  "                wifi.sta.config, ...) raise current firmware's errors\n"       \
  "  --wifi IFACE  the interface wifi's station mirrors (default: the one\n"     \
  "                of the IPv4 default route, as net.ifinfo(0))\n"                \
  "  --wifi-ap SSID[:PASSWORD]  the only network wifi finds in range\n"          \
  "  --fs DIR      the device's file system (default: the current directory)\n" \
  "  --lfs DIR     serve LFS (node.LFS) from the Lua modules in DIR\n"          \
  "  --gpio PATH   drive and watch the gpio pins through a socket at PATH\n"

#endif
