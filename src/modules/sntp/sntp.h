/* sntp.h - the SNTP client of the sntp module: packet.c builds requests
 * and judges replies (RFC 4330), names.c holds the server names given to
 * sync(), sntp.c runs syncs on the loop. */
#ifndef NM_SNTP_H
#define NM_SNTP_H

#include <stddef.h>
#include <stdint.h>

#define NTP_PACKET 48
#define NTP_PORT 123
#define MAX_SERVERS 32 /* the firmware's kiss-o'-death bit mask */
#define MAX_NAME 128

/* A reply, fields in host order; timestamps as raw 32.32 NTP values. */
typedef struct {
  int li, version, mode, stratum;
  char refid[5];                         /* the kiss code when stratum is 0 */
  uint32_t root_delay, root_dispersion; /* 16.16 seconds */
  uint64_t origin, recv, xmit;
} ntp_reply;

enum ntp_verdict {
  NTP_OK,
  NTP_NOT_OURS,  /* too short, or not the answer to our request */
  NTP_MALFORMED, /* wrong mode or version, zero timestamps */
  NTP_UNSYNC,    /* leap indicator 3 or stratum 16+: the server has no time */
  NTP_KISS,      /* stratum 0: a kiss-o'-death, the code in refid */
};

/* The 48 bytes of a client request whose transmit timestamp is cookie. */
void ntp_request(uint8_t *buf, uint64_t cookie);
/* Parses buf and checks it answers the request sent with cookie. */
enum ntp_verdict ntp_check(const uint8_t *buf, size_t len, uint64_t cookie, ntp_reply *r);
/* An NTP timestamp as microseconds since the Unix epoch: seconds with the
 * top bit clear are taken from era 1 (2036-2104), as RFC 4330 says. */
int64_t ntp_to_unix_us(uint64_t ts);
/* A 16.16 NTP short value as microseconds. */
int64_t ntp_short_us(uint32_t v);

/* ---- names.c ---- */
typedef struct {
  size_t n;
  char *host[MAX_SERVERS];
  uint16_t port[MAX_SERVERS];
} name_list;

void names_free(name_list *l);
/* Appends host (len bytes) and port; 0, or -1 when out of memory. */
int names_add(name_list *l, const char *host, size_t len, uint16_t port);
int names_copy(name_list *to, const name_list *from);
struct lua_State;
/* The servers of sync's first argument into l, checked before anything
 * starts (raises on a bad one, l left empty).  Returns 0 for nil. */
int check_servers(struct lua_State *L, name_list *l);

#endif
