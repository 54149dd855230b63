/* codec.c - MQTT 3.1.1 packets: the encoders of what a client sends, and
 * a reader for what a broker sends.  The reader trusts nothing: a length
 * whose fifth byte still continues, a type a broker may not send, a length
 * its type does not allow, all end the connection (-1); memory grows only
 * with bytes that actually arrived, and never past the client's
 * max_message_length for a PUBLISH (the rest of a longer one is skipped
 * and it is delivered truncated, as the firmware's `overflow`) or 64 KiB
 * for anything else. */
#include <stdlib.h>
#include <string.h>

#include "mqtt.h"

/* ---- encoding ---- */

static size_t rem_size(size_t v) { return v < 128 ? 1 : v < 16384 ? 2 : v < 2097152 ? 3 : 4; }

/* Size of a packet whose remaining length is rem; 0 if MQTT cannot carry
 * it. */
static size_t packet_size(size_t rem) {
  return rem > MQTT_MAX_REMAINING ? 0 : 1 + rem_size(rem) + rem;
}

static uint8_t *put_header(uint8_t *p, int byte0, size_t rem) {
  *p++ = (uint8_t)byte0;
  do {
    uint8_t b = rem % 128;
    rem /= 128;
    *p++ = rem > 0 ? b | 0x80 : b;
  } while (rem > 0);
  return p;
}

static uint8_t *put_u16(uint8_t *p, unsigned v) {
  *p++ = (uint8_t)(v >> 8);
  *p++ = (uint8_t)v;
  return p;
}

static uint8_t *put_str(uint8_t *p, mqtt_str s) {
  p = put_u16(p, (unsigned)s.n);
  memcpy(p, s.p, s.n);
  return p + s.n;
}

static size_t str_size(mqtt_str s) { return 2 + s.n; }

static int has(mqtt_str s) { return s.p != NULL; }

static int too_long(mqtt_str s) { return s.p != NULL && s.n > 65535; }

/* The CONNECT's remaining length; past MQTT_MAX_REMAINING if a string is
 * longer than its 16-bit length can say. */
static size_t connect_rem(const mqtt_connect_info *ci) {
  if (too_long(ci->client_id) || too_long(ci->user) || too_long(ci->pass) ||
      too_long(ci->will_topic) || too_long(ci->will_msg))
    return MQTT_MAX_REMAINING + 1;
  size_t rem = 10 + str_size(ci->client_id);
  if (has(ci->will_topic)) rem += str_size(ci->will_topic) + str_size(ci->will_msg);
  if (has(ci->user)) rem += str_size(ci->user);
  if (has(ci->pass)) rem += str_size(ci->pass);
  return rem;
}

size_t mqtt_connect_size(const mqtt_connect_info *ci) { return packet_size(connect_rem(ci)); }

void mqtt_connect_write(uint8_t *p, const mqtt_connect_info *ci) {
  size_t rem = connect_rem(ci);
  int flags = ci->clean ? 0x02 : 0;
  if (has(ci->will_topic))
    flags |= 0x04 | (ci->will_qos & 3) << 3 | (ci->will_retain ? 0x20 : 0);
  if (has(ci->user)) flags |= 0x80;
  if (has(ci->pass)) flags |= 0x40;
  p = put_header(p, MQTT_CONNECT << 4, rem);
  p = put_str(p, (mqtt_str){"MQTT", 4});
  *p++ = 4; /* protocol level: 3.1.1 */
  *p++ = (uint8_t)flags;
  p = put_u16(p, ci->keepalive);
  p = put_str(p, ci->client_id);
  if (has(ci->will_topic)) {
    p = put_str(p, ci->will_topic);
    p = put_str(p, ci->will_msg);
  }
  if (has(ci->user)) p = put_str(p, ci->user);
  if (has(ci->pass)) put_str(p, ci->pass);
}

static size_t publish_rem(size_t topic_len, size_t payload_len, int qos) {
  if (topic_len > 65535 || payload_len > MQTT_MAX_REMAINING) return MQTT_MAX_REMAINING + 1;
  return 2 + topic_len + (qos > 0 ? 2 : 0) + payload_len;
}

size_t mqtt_publish_size(size_t topic_len, size_t payload_len, int qos) {
  return packet_size(publish_rem(topic_len, payload_len, qos));
}

void mqtt_publish_write(uint8_t *p, mqtt_str topic, mqtt_str payload, int qos, int retain,
                        unsigned id) {
  p = put_header(p, MQTT_PUBLISH << 4 | qos << 1 | (retain ? 1 : 0),
                 publish_rem(topic.n, payload.n, qos));
  p = put_str(p, topic);
  if (qos > 0) p = put_u16(p, id);
  memcpy(p, payload.p, payload.n);
}

size_t mqtt_sub_size(size_t body) { return packet_size(body); }

uint8_t *mqtt_sub_begin(uint8_t *p, int type, size_t body, unsigned id) {
  p = put_header(p, type << 4 | 0x02, body); /* reserved flags 0010 */
  return put_u16(p, id);
}

uint8_t *mqtt_sub_topic(uint8_t *p, mqtt_str topic, int qos) {
  p = put_str(p, topic);
  if (qos >= 0) *p++ = (uint8_t)qos;
  return p;
}

void mqtt_ack_write(uint8_t p[4], int type, unsigned id) {
  p[0] = (uint8_t)(type << 4 | (type == MQTT_PUBREL ? 0x02 : 0));
  p[1] = 2;
  put_u16(p + 2, id);
}

void mqtt_short_write(uint8_t p[2], int type) {
  p[0] = (uint8_t)(type << 4);
  p[1] = 0;
}

/* ---- reading ---- */

#define MQTT_MAX_OTHER 65537u /* SUBACK: id + one code per topic */

/* The first byte: only what a broker may send to a client. */
static int type_ok(struct mqtt_session *c, int type, int flags) {
  if (mqtt_session_wants_connack(c)) return type == MQTT_CONNACK;
  switch (type) {
    case MQTT_PUBLISH: return ((flags >> 1) & 3) != 3;
    case MQTT_CONNACK: case MQTT_PUBACK: case MQTT_PUBREC: case MQTT_PUBREL:
    case MQTT_PUBCOMP: case MQTT_SUBACK: case MQTT_UNSUBACK: case MQTT_PINGREQ:
    case MQTT_PINGRESP:
      return 1;
    default:
      return 0;
  }
}

/* The remaining length is known: is it one the type allows, and how much
 * of the body is kept? */
static int header_done(struct mqtt_session *c, mqtt_rx *rx) {
  int type = rx->hdr[0] >> 4;
  uint32_t rem = rx->rem;
  rx->keep = rem;
  switch (type) {
    case MQTT_PUBLISH: {
      int qos = (rx->hdr[0] >> 1) & 3;
      if (rem < (qos > 0 ? 4u : 2u)) return -1;
      uint32_t max = mqtt_session_max_len(c);
      if ((uint64_t)rx->hlen + rem > max) rx->keep = max > rx->hlen ? max - rx->hlen : 0;
      if (rx->keep < 2 && rem >= 2) rx->keep = 2; /* the topic's length, at least */
      return 0;
    }
    case MQTT_SUBACK:
      return rem >= 3 && rem <= MQTT_MAX_OTHER ? 0 : -1;
    case MQTT_PINGREQ: case MQTT_PINGRESP:
      return rem == 0 ? 0 : -1;
    default: /* CONNACK and the 2-byte acknowledgements */
      return rem == 2 ? 0 : -1;
  }
}

/* A truncated PUBLISH with QoS > 0 keeps its packet identifier whatever
 * the limit (at most 65539 bytes), so that it is still acknowledged. */
static void keep_id(mqtt_rx *rx) {
  if (rx->keep == rx->rem || (rx->hdr[0] >> 4) != MQTT_PUBLISH || ((rx->hdr[0] >> 1) & 3) == 0 ||
      rx->got < 2)
    return;
  uint32_t need = 2u + ((uint32_t)rx->buf[0] << 8 | rx->buf[1]) + 2u;
  if (need > rx->rem) need = rx->rem;
  if (need > rx->keep) rx->keep = need;
}

static int keep_bytes(mqtt_rx *rx, const uint8_t *p, uint32_t k) {
  if (rx->got + k > rx->cap) {
    uint32_t cap = rx->cap < 256 ? 256 : rx->cap * 2;
    if (cap < rx->got + k) cap = rx->got + k;
    if (cap > rx->keep && rx->keep >= rx->got + k) cap = rx->keep;
    uint8_t *b = realloc(rx->buf, cap);
    if (b == NULL) return -2;
    rx->buf = b;
    rx->cap = cap;
  }
  memcpy(rx->buf + rx->got, p, k);
  return 0;
}

static void rx_reset(mqtt_rx *rx) {
  rx->hlen = 0;
  rx->rem_ok = 0;
  rx->rem = rx->got = rx->keep = 0;
}

static int deliver(struct mqtt_session *c, mqtt_rx *rx, const uint8_t *body, uint32_t len) {
  uint32_t max = mqtt_session_max_len(c);
  mqtt_pkt k = {rx->hdr[0] >> 4, rx->hdr[0] & 0x0f, body, len, rx->rem, 0};
  if (k.type == MQTT_PUBLISH && (uint64_t)rx->hlen + rx->rem > max) {
    k.truncated = 1;
    k.len = max > rx->hlen ? max - rx->hlen : 0; /* what may be delivered */
    if (k.len > len) k.len = len;
    /* The identifier may lie past the cut: parse from the whole kept part. */
    k.rem = len;
  }
  rx_reset(rx);
  int rc = mqtt_packet(c, &k);
  if (rx->cap > 4096) mqtt_rx_free(rx); /* a large buffer goes back once used */
  return rc;
}

int mqtt_rx_feed(struct mqtt_session *c, mqtt_rx *rx, const uint8_t *p, size_t n) {
  while (n > 0) {
    if (!rx->rem_ok) {
      uint8_t b = *p++;
      n--;
      rx->hdr[rx->hlen++] = b;
      if (rx->hlen == 1) {
        if (!type_ok(c, b >> 4, b & 0x0f)) return -1;
        continue;
      }
      if (b & 0x80) {
        if (rx->hlen == 5) return -1; /* a fifth length byte */
        continue;
      }
      uint32_t rem = 0;
      for (int i = rx->hlen - 1; i >= 1; i--) rem = rem << 7 | (rx->hdr[i] & 0x7f);
      rx->rem = rem;
      rx->rem_ok = 1;
      rx->got = 0;
      if (header_done(c, rx) != 0) return -1;
      if (rem == 0) {
        int rc = deliver(c, rx, NULL, 0);
        if (rc != 0) return rc;
      }
      continue;
    }
    uint32_t want = rx->rem - rx->got;
    if (rx->got == 0 && n >= want && rx->keep == rx->rem) { /* whole, in place */
      p += want;
      n -= want;
      int rc = deliver(c, rx, p - want, want);
      if (rc != 0) return rc;
      continue;
    }
    uint32_t take = n < want ? (uint32_t)n : want;
    int may_grow = rx->keep < rx->rem && rx->got < 2; /* keep_id not done yet */
    if (may_grow && take > 2 - rx->got) take = 2 - rx->got;
    uint32_t k = rx->got < rx->keep ? rx->keep - rx->got : 0;
    if (k > take) k = take;
    if (k > 0 && keep_bytes(rx, p, k) != 0) return -2;
    rx->got += take;
    p += take;
    n -= take;
    if (may_grow && rx->got == 2) keep_id(rx);
    if (rx->got == rx->rem) {
      uint32_t len = rx->keep < rx->rem ? rx->keep : rx->rem;
      int rc = deliver(c, rx, rx->buf, len);
      if (rc != 0) return rc;
    }
  }
  return 0;
}

void mqtt_rx_free(mqtt_rx *rx) {
  free(rx->buf);
  rx->buf = NULL;
  rx->cap = 0;
}

int mqtt_publish_parse(const mqtt_pkt *k, mqtt_str *topic, mqtt_str *payload, unsigned *id) {
  /* k->rem: the bytes that can be parsed (all kept bytes when truncated);
   * k->len: the bytes that may be delivered. */
  const uint8_t *b = k->body;
  uint32_t all = k->truncated ? k->rem : k->len;
  int qos = (k->flags >> 1) & 3;
  topic->p = NULL;
  topic->n = 0;
  payload->p = "";
  payload->n = 0;
  *id = 0;
  if (all < 2) return -1;
  uint32_t tlen = (uint32_t)b[0] << 8 | b[1];
  uint32_t off = 2 + tlen;
  if (off + (qos > 0 ? 2u : 0u) > all) /* the topic runs past the bytes */
    return k->truncated && qos == 0 ? 0 : -1; /* cut by the limit, or malformed */
  if (qos > 0) *id = (unsigned)b[off] << 8 | b[off + 1];
  if (off > k->len) return 0; /* truncated inside the topic: no topic */
  topic->p = (const char *)b + 2;
  topic->n = tlen;
  if (qos > 0) off += 2;
  if (off < k->len) {
    payload->p = (const char *)b + off;
    payload->n = k->len - off;
  }
  return 0;
}
