/* mqtt.h - NodeMCU's mqtt module (docs/modules/mqtt.md): an MQTT 3.1.1
 * client of its own, a C user of the connection layer (net/tcp.h).
 *
 *   mqtt.c     the Lua side: mqtt.Client, the client's methods, events
 *   session.c  one connection to a broker: CONNECT/CONNACK, the firmware's
 *              queue (one message awaiting its acknowledgement at a time),
 *              keepalive, the end (offline / connfail)
 *   codec.c    packets: encoders, and a reader that takes any bytes a
 *              broker sends (hostile ones too) with bounded memory
 * docs/DIFFERENCES.md ("mqtt") says why not libmosquitto. */
#ifndef NM_MQTT_H
#define NM_MQTT_H

#include "core/nm.h"
#include "net/tcp.h"

#define MQTT_CLIENT "mqtt.socket" /* the firmware's metatable name */

/* Packet types (MQTT 3.1.1, 2.2.1). */
enum {
  MQTT_CONNECT = 1, MQTT_CONNACK, MQTT_PUBLISH, MQTT_PUBACK, MQTT_PUBREC, MQTT_PUBREL,
  MQTT_PUBCOMP, MQTT_SUBSCRIBE, MQTT_SUBACK, MQTT_UNSUBSCRIBE, MQTT_UNSUBACK,
  MQTT_PINGREQ, MQTT_PINGRESP, MQTT_DISCONNECT
};

/* The firmware's failure reasons (mqtt.CONN_FAIL_*); CONNACK codes are
 * passed as the broker sent them. */
enum {
  MQTT_FAIL_SERVER_NOT_FOUND = -5,
  MQTT_FAIL_NOT_A_CONNACK = -4,
  MQTT_FAIL_DNS = -3,
  MQTT_FAIL_TIMEOUT_RECEIVING = -2,
  MQTT_FAIL_TIMEOUT_SENDING = -1
};

#define MQTT_MAX_REMAINING 268435455u /* 4 bytes of remaining length */
#define MQTT_DEFAULT_KEEPALIVE 60     /* s, the firmware's for 0 */
#define MQTT_DEFAULT_MAX_MESSAGE 1024 /* the firmware's for 0 */
#define MQTT_SEND_TIMEOUT_MS 5000     /* CONNECT sent and answered within */

/* Event and configuration slots in the client object's user value. */
enum {
  MQ_CONNECT = 1, MQ_CONNFAIL, MQ_OFFLINE, MQ_MESSAGE, MQ_OVERFLOW, MQ_PUBACK, MQ_SUBACK,
  MQ_UNSUBACK, MQ_CLIENTID, MQ_USER, MQ_PASS, MQ_WILL_TOPIC, MQ_WILL_MSG
};

/* ---- codec.c ---- */

typedef struct mqtt_str {
  const char *p;
  size_t n;
} mqtt_str;

typedef struct mqtt_connect_info {
  mqtt_str client_id, user, pass, will_topic, will_msg; /* p NULL: absent */
  unsigned keepalive;
  int clean, will_qos, will_retain;
} mqtt_connect_info;

/* Encoders: the packet's size for the arguments (0 if it cannot be encoded:
 * longer than MQTT allows), then writing it into that many bytes. */
size_t mqtt_connect_size(const mqtt_connect_info *ci);
void mqtt_connect_write(uint8_t *p, const mqtt_connect_info *ci);
size_t mqtt_publish_size(size_t topic_len, size_t payload_len, int qos);
void mqtt_publish_write(uint8_t *p, mqtt_str topic, mqtt_str payload, int qos, int retain,
                        unsigned id);
/* SUBSCRIBE / UNSUBSCRIBE: header, then topics one by one (qos < 0 for
 * UNSUBSCRIBE).  body is the remaining length: 2 + the topics' parts. */
size_t mqtt_sub_size(size_t body);
uint8_t *mqtt_sub_begin(uint8_t *p, int type, size_t body, unsigned id);
uint8_t *mqtt_sub_topic(uint8_t *p, mqtt_str topic, int qos);
/* 4-byte acknowledgements (PUBACK, PUBREC, PUBREL, PUBCOMP) and 2-byte
 * packets (PINGREQ, PINGRESP, DISCONNECT). */
void mqtt_ack_write(uint8_t p[4], int type, unsigned id);
void mqtt_short_write(uint8_t p[2], int type);

/* The reader: fixed header, then the body kept whole (up to a bound) or
 * read in place. */
typedef struct mqtt_rx {
  uint8_t hdr[5];
  uint8_t hlen;     /* fixed header bytes seen; the header is done when rem_ok */
  uint8_t rem_ok;
  uint32_t rem;     /* remaining length */
  uint32_t got;     /* body bytes seen */
  uint32_t keep;    /* body bytes to keep (the rest is skipped) */
  uint8_t *buf;     /* kept body bytes (packets split across reads) */
  uint32_t cap;
} mqtt_rx;

/* One packet for the session (mqtt_packet).  For a PUBLISH larger than
 * the client's max_message_length, truncated is set and body holds its
 * first bytes only. */
typedef struct mqtt_pkt {
  int type, flags;
  const uint8_t *body;
  uint32_t len;     /* bytes at body */
  uint32_t rem;     /* remaining length; truncated: the bytes kept (>= len) */
  int truncated;
} mqtt_pkt;

/* A PUBLISH taken apart: 0, or -1 if it is malformed (bytes that do not
 * add up).  On a truncated one the topic may be incomplete (topic.p NULL),
 * and the payload is what was kept. */
int mqtt_publish_parse(const mqtt_pkt *k, mqtt_str *topic, mqtt_str *payload, unsigned *id);

struct mqtt_session;
/* Feeds n bytes of a broker to the session's reader; calls
 * mqtt_packet(c, &pkt) for each packet and stops when it returns non-zero.
 * Returns 0, a non-zero value from mqtt_packet, or -1 for malformed bytes
 * (a 5-byte length, a reserved or client-only type, a length the type does
 * not allow) or -2 when out of memory. */
int mqtt_rx_feed(struct mqtt_session *c, mqtt_rx *rx, const uint8_t *p, size_t n);
void mqtt_rx_free(mqtt_rx *rx);

/* ---- session.c ---- */

/* The client object (a userdata of class MQTT_CLIENT). */
typedef struct mqtt_ud {
  struct mqtt_session *c; /* the connection, while connecting or connected */
  uint32_t max_len;       /* max_message_length */
  uint16_t keepalive;     /* s */
  uint16_t next_id;       /* packet identifiers, kept across connections */
  unsigned clean : 1;
  unsigned will_qos : 2;
  unsigned will_retain : 1;
} mqtt_ud;

/* Starts a connection of the client at idx (its ud): connect packet
 * bytes (malloc'd, taken), host, port, TLS.  Returns 0 or a libuv error
 * (nothing started). */
int mqtt_session_start(lua_State *L, int idx, mqtt_ud *ud, uint8_t *connect, size_t n,
                       const char *host, uint16_t port, int secure);
/* Is the client connected to a broker (TCP up, not closing)?  Publishing,
 * subscribing then queue. */
int mqtt_session_ready(const mqtt_ud *ud);
/* Queues a message of `type` (PUBLISH qos 0-2, SUBSCRIBE, UNSUBSCRIBE,
 * DISCONNECT) whose n bytes the caller writes into the returned space;
 * NULL if out of memory. */
uint8_t *mqtt_session_queue(mqtt_ud *ud, int type, int qos, unsigned id, size_t n);
/* close(): DISCONNECT after what is queued, then `offline`; before the
 * broker accepted the connection, the attempt is dropped quietly. */
void mqtt_session_close(lua_State *L, mqtt_ud *ud);
/* The object is collected (it has no session then, but be safe). */
void mqtt_session_gc(mqtt_ud *ud);

/* For codec.c: one packet in. */
int mqtt_packet(struct mqtt_session *c, const mqtt_pkt *k);
/* For codec.c: the reader's limit for a PUBLISH, and the state it checks
 * the first packet against (only a CONNACK may come first). */
uint32_t mqtt_session_max_len(const struct mqtt_session *c);
int mqtt_session_wants_connack(const struct mqtt_session *c);

#endif
