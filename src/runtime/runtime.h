/* runtime.h - what the parts of the netmcu runtime share. */
#ifndef NM_RUNTIME_H
#define NM_RUNTIME_H

#include "core/nm.h"

/* signals.c: the handlers of SIGINT, SIGTERM, SIGHUP (stop: exit 128 +
 * signal after an orderly close, at once on a second one) and of the
 * watchdog's signal, installed once; then attached to each life's context
 * (its Lua code is what they interrupt) and detached before it is closed. */
void nm_signals_install(void);
void nm_signals_attach(nm_ctx *ctx);
void nm_signals_detach(void);
/* Standard output that ends the process with SIGPIPE when its reader is
 * gone, as lua's does.  Before the Lua state exists. */
void nm_stdout_open(void);

#endif
