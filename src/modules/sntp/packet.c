/* packet.c - SNTP requests and the checks a reply must pass before its
 * time is believed (RFC 4330 section 5): it must echo our transmit
 * timestamp, come from a server (mode 4) of a known version, be
 * synchronized (leap indicator not 3, stratum 1-15) and carry non-zero
 * timestamps.  Stratum 0 is a kiss-o'-death. */
#include <string.h>

#include "sntp.h"

#define NTP_UNIX_OFFSET 2208988800LL /* seconds from 1900 to 1970 */

static uint32_t get32(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t get64(const uint8_t *p) { return (uint64_t)get32(p) << 32 | get32(p + 4); }

static void put64(uint8_t *p, uint64_t v) {
  for (int i = 7; i >= 0; i--, v >>= 8) p[i] = (uint8_t)v;
}

void ntp_request(uint8_t *buf, uint64_t cookie) {
  memset(buf, 0, NTP_PACKET);
  buf[0] = 0 << 6 | 4 << 3 | 3; /* no leap warning, version 4, client */
  put64(buf + 40, cookie);
}

enum ntp_verdict ntp_check(const uint8_t *buf, size_t len, uint64_t cookie, ntp_reply *r) {
  if (len < NTP_PACKET) return NTP_NOT_OURS;
  r->li = buf[0] >> 6;
  r->version = buf[0] >> 3 & 7;
  r->mode = buf[0] & 7;
  r->stratum = buf[1];
  r->root_delay = get32(buf + 4);
  r->root_dispersion = get32(buf + 8);
  memcpy(r->refid, buf + 12, 4);
  r->refid[4] = '\0';
  r->origin = get64(buf + 24);
  r->recv = get64(buf + 32);
  r->xmit = get64(buf + 40);
  if (r->origin != cookie) return NTP_NOT_OURS; /* unsolicited, or a stale answer */
  if (r->mode != 4 || r->version < 1 || r->version > 4) return NTP_MALFORMED;
  if (r->stratum == 0) return NTP_KISS;
  if (r->li == 3 || r->stratum >= 16) return NTP_UNSYNC;
  if (r->xmit == 0 || r->recv == 0) return NTP_MALFORMED;
  return NTP_OK;
}

int64_t ntp_to_unix_us(uint64_t ts) {
  int64_t sec = (int64_t)(ts >> 32);
  if (!(sec & 0x80000000LL)) sec += 1LL << 32; /* era 1 */
  uint64_t frac_us = ((ts & 0xffffffffu) * 1000000u) >> 32;
  return (sec - NTP_UNIX_OFFSET) * 1000000 + (int64_t)frac_us;
}

int64_t ntp_short_us(uint32_t v) {
  return (int64_t)(v >> 16) * 1000000 + (int64_t)(((uint64_t)(v & 0xffff) * 1000000u) >> 16);
}
