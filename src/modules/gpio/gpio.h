/* gpio.h - the simulated pins (gpio.c) and the channel through which a
 * test drives and watches them from outside (channel.c; the protocol is
 * in docs/modules/gpio.md). */
#ifndef NM_GPIO_H
#define NM_GPIO_H

#include "core/nm.h"

#define GPIO_PINS 13 /* IO index 0-12, the NodeMCU dev kit's numbering */
enum { GPIO_INPUT = 0, GPIO_OUTPUT = 1, GPIO_INT = 2, GPIO_OPENDRAIN = 3 };
enum { GPIO_FLOAT = 0, GPIO_PULLUP = 1 };
enum { TRIG_NONE, TRIG_UP, TRIG_DOWN, TRIG_BOTH, TRIG_LOW, TRIG_HIGH };

typedef struct gpio_pin {
  int mode, pull;
  int out;           /* the output latch (gpio.write) */
  int ext, driven;   /* the level the channel drives, if it does */
  int trig, cb_ref;  /* gpio.trig */
  unsigned seen, reported; /* interrupts, and those a callback was told of */
  uint64_t when;     /* us (tmr.now's base) of the first untold one */
  int level;         /* the level it saw */
  int queued;
  nm_defer defer;
  struct gpio_state *g;
} gpio_pin;

typedef struct gpio_state {
  nm_obj obj;
  nm_ctx *ctx;
  gpio_pin pin[GPIO_PINS];
  /* gpio.serout, asynchronous */
  uv_timer_t serout_timer;
  uint32_t *delays;
  size_t ndelays, index;
  uint32_t repeats;
  int serout_pin, serout_level, serout_ref, serout_active;
  /* the channel */
  uv_pipe_t listener;
  int listening;
  nm_link clients;
  int handles; /* open libuv handles; freed when the last one closed */
  int dead;
} gpio_state;

/* The level on the pin's wire. */
int gpio_level(const gpio_pin *p);
/* The channel drives pin n to level (0/1), or releases it (-1). */
void gpio_drive(gpio_state *g, int n, int level);

/* channel.c */
void gpio_channel_open(gpio_state *g);
void gpio_channel_kill(gpio_state *g);
/* Sends a line (with its '\n') to every client. */
void gpio_channel_send(gpio_state *g, const char *line);
/* Whether something outside can still drive a callback (keeps the loop). */
void gpio_channel_ref(gpio_state *g);
void gpio_handle_closed(gpio_state *g);

#endif
