/* mqtt.c - the Lua side of NodeMCU's mqtt module (docs/modules/mqtt.md):
 * mqtt.Client and the client's methods.  Arguments are checked before
 * anything happens; the connection itself is session.c's. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mqtt.h"
#include "net/secure.h"

static mqtt_ud *check_client(lua_State *L) { return luaL_checkudata(L, 1, MQTT_CLIENT); }

/* Sets slot of the object at idx to the value at v (a copy). */
static void set_slot(lua_State *L, int idx, int slot, int v) {
  lua_pushvalue(L, v);
  nm_cb_set(L, idx, slot);
}

/* An optional string argument: 1 if it is one (numbers too, as
 * lua_isstring), 0 if nil or none, else an argument error. */
static int opt_string(lua_State *L, int idx, const char *what) {
  if (lua_isnoneornil(L, idx)) return 0;
  if (!lua_isstring(L, idx)) luaL_argerror(L, idx, what);
  return 1;
}

/* A flag given as a number (0 or not) or a boolean; dflt if nil or none. */
static int opt_flag(lua_State *L, int idx, int dflt) {
  int t = lua_type(L, idx);
  if (t == LUA_TNONE || t == LUA_TNIL) return dflt;
  if (t == LUA_TBOOLEAN) return lua_toboolean(L, idx);
  return nm_checkrange(L, idx, INT32_MIN, INT32_MAX) != 0;
}

/* "NodeMCU_<chip id in hex>", as the firmware names a client without id;
 * the chip id is node.chipid()'s. */
static void push_default_id(lua_State *L) {
  lua_pushcfunction(L, luaopen_node);
  lua_call(L, 0, 1);
  lua_getfield(L, -1, "chipid");
  lua_call(L, 0, 1);
  char id[32];
  snprintf(id, sizeof id, "NodeMCU_%llx", (unsigned long long)lua_tointeger(L, -1));
  lua_pop(L, 2);
  lua_pushstring(L, id);
}

/* mqtt.Client(clientid, keepalive[, username, password, cleansession,
 * max_message_length]): nil (or nothing) for any of them is its default. */
static int mqtt_Client(lua_State *L) {
  int has_id = opt_string(L, 1, "client id expected");
  long long keepalive = lua_isnoneornil(L, 2) ? 0 : nm_checkrange(L, 2, 0, 65535);
  opt_string(L, 3, "user name expected");
  opt_string(L, 4, "password expected");
  int clean = opt_flag(L, 5, 1);
  long long max = lua_isnoneornil(L, 6) ? 0 : nm_checkrange(L, 6, 0, MQTT_MAX_REMAINING + 5);
  lua_settop(L, 6);
  nm_ctx_get(L);
  mqtt_ud *ud = nm_obj_new(L, sizeof *ud, MQTT_CLIENT); /* at 7 */
  ud->keepalive = (uint16_t)(keepalive > 0 ? keepalive : MQTT_DEFAULT_KEEPALIVE);
  ud->max_len = (uint32_t)(max > 0 ? max : MQTT_DEFAULT_MAX_MESSAGE);
  ud->clean = clean != 0;
  if (has_id)
    lua_pushvalue(L, 1);
  else
    push_default_id(L);
  lua_tostring(L, -1); /* a number becomes its string */
  nm_cb_set(L, 7, MQ_CLIENTID);
  if (!lua_isnil(L, 3)) set_slot(L, 7, MQ_USER, 3);
  if (!lua_isnil(L, 4)) set_slot(L, 7, MQ_PASS, 4);
  return 1;
}

/* client:lwt(topic, message[, qos[, retain]]) */
static int client_lwt(lua_State *L) {
  mqtt_ud *ud = check_client(L);
  luaL_argcheck(L, lua_isstring(L, 2), 2, "need lwt topic");
  luaL_argcheck(L, lua_isstring(L, 3), 3, "need lwt message");
  int qos = lua_isnoneornil(L, 4) ? 0 : (int)nm_checkrange(L, 4, 0, 2);
  int retain = opt_flag(L, 5, 0);
  set_slot(L, 1, MQ_WILL_TOPIC, 2);
  set_slot(L, 1, MQ_WILL_MSG, 3);
  ud->will_qos = (unsigned)qos;
  ud->will_retain = retain != 0;
  return 0;
}

/* client:on(event, function|nil) */
static int client_on(lua_State *L) {
  static const char *const names[] = {"connect", "connfail", "offline", "message", "overflow",
                                      "puback", "suback", "unsuback", NULL};
  check_client(L);
  int i = luaL_checkoption(L, 2, NULL, names);
  if (!lua_isnil(L, 3)) luaL_checktype(L, 3, LUA_TFUNCTION);
  lua_settop(L, 3);
  nm_cb_set(L, 1, MQ_CONNECT + i);
  return 0;
}

/* A string slot of the client at 1 as an mqtt_str (p NULL: not set, or
 * empty when empty means "none" as in the firmware). */
static mqtt_str slot_str(lua_State *L, int slot, int empty_is_none) {
  mqtt_str s = {NULL, 0};
  nm_cb_get(L, 1, slot); /* left on the stack: s points into it */
  if (lua_isstring(L, -1)) s.p = lua_tolstring(L, -1, &s.n);
  if (empty_is_none && s.p != NULL && s.n == 0) s.p = NULL;
  return s;
}

/* The CONNECT packet for the client at 1 (malloc'd), or NULL with *n 0 if
 * a string is too long for MQTT. */
static uint8_t *build_connect(lua_State *L, mqtt_ud *ud, size_t *n) {
  mqtt_connect_info ci;
  ci.client_id = slot_str(L, MQ_CLIENTID, 0);
  if (ci.client_id.p == NULL) ci.client_id = (mqtt_str){"", 0};
  ci.user = slot_str(L, MQ_USER, 1);
  ci.pass = slot_str(L, MQ_PASS, 1);
  ci.will_topic = slot_str(L, MQ_WILL_TOPIC, 1);
  ci.will_msg = slot_str(L, MQ_WILL_MSG, 0);
  if (ci.will_msg.p == NULL) ci.will_topic.p = NULL;
  ci.keepalive = ud->keepalive;
  ci.clean = ud->clean;
  ci.will_qos = ud->will_qos;
  ci.will_retain = ud->will_retain;
  *n = mqtt_connect_size(&ci);
  if (*n == 0) return NULL;
  uint8_t *p = malloc(*n);
  if (p == NULL) luaL_error(L, "out of memory");
  mqtt_connect_write(p, &ci);
  lua_pop(L, 5);
  return p;
}

/* client:connect(host[, port[, secure[, autoreconnect]]][, fn[, fail_fn]])
 * (the autoreconnect of older firmware is accepted and ignored, as the
 * firmware ignores it now). */
static int client_connect(lua_State *L) {
  mqtt_ud *ud = check_client(L);
  luaL_checkstring(L, 2);
  const char *host = nm_tocstring(L, 2); /* "host\0x" is not "host" */
  if (host == NULL) return luaL_error(L, "invalid IP address");
  int i = 3, port = 1883, secure = 0;
  if (lua_type(L, i) == LUA_TNUMBER) port = nm_checkport(L, i++);
  else if (lua_isnil(L, i) && lua_gettop(L) > i) i++;
  if (lua_type(L, i) == LUA_TNUMBER || lua_type(L, i) == LUA_TBOOLEAN) secure = opt_flag(L, i++, 0);
  else if (lua_isnil(L, i) && lua_gettop(L) > i) i++;
  if (lua_type(L, i) == LUA_TNUMBER || lua_type(L, i) == LUA_TBOOLEAN) i++; /* autoreconnect */
  int fn = nm_optcallback(L, i) ? i : 0;
  int fail = nm_optcallback(L, i + 1) ? i + 1 : 0;
  if (ud->c != NULL) return luaL_error(L, "already connected");
  if (secure && !nm_secure_available()) return luaL_error(L, "ssl not available");
  size_t n;
  uint8_t *pkt = build_connect(L, ud, &n);
  if (pkt == NULL) return luaL_error(L, "client id, user, password or will too long");
  int rc = mqtt_session_start(L, 1, ud, pkt, n, host, (uint16_t)port, secure);
  if (rc != 0) return nm_raise_uv(L, rc);
  if (fn) set_slot(L, 1, MQ_CONNECT, fn);
  if (fail) set_slot(L, 1, MQ_CONNFAIL, fail);
  return 0;
}

static int client_close(lua_State *L) {
  mqtt_session_close(L, check_client(L));
  return 0;
}

static unsigned next_id(mqtt_ud *ud) {
  if (++ud->next_id == 0) ud->next_id = 1;
  return ud->next_id;
}

static void check_ready(lua_State *L, mqtt_ud *ud) {
  if (!mqtt_session_ready(ud)) luaL_error(L, "not connected");
}

/* client:publish(topic, payload, qos, retain[, fn]) -> true if queued */
static int client_publish(lua_State *L) {
  mqtt_ud *ud = check_client(L);
  check_ready(L, ud);
  mqtt_str topic, payload;
  topic.p = luaL_checklstring(L, 2, &topic.n);
  payload.p = luaL_checklstring(L, 3, &payload.n);
  int qos = (int)nm_checkrange(L, 4, 0, 2);
  int retain = opt_flag(L, 5, 0);
  int fn = nm_optcallback(L, 6);
  size_t n = topic.n == 0 ? 0 : mqtt_publish_size(topic.n, payload.n, qos);
  unsigned id = qos > 0 ? next_id(ud) : 0;
  uint8_t *p = n == 0 ? NULL : mqtt_session_queue(ud, MQTT_PUBLISH, qos, id, n);
  if (p == NULL) {
    lua_pushboolean(L, 0);
    return 1;
  }
  mqtt_publish_write(p, topic, payload, qos, retain, id);
  if (fn) set_slot(L, 1, MQ_PUBACK, 6);
  lua_pushboolean(L, 1);
  return 1;
}

/* The topics of subscribe/unsubscribe: a table {topic = qos, ...} at 2, or
 * one topic at 2 (with its qos at 3 for subscribe).  Returns the body size
 * (identifier included), 0 if a topic is empty; writes them if p is set. */
static size_t sub_topics(lua_State *L, int sub, uint8_t *p) {
  size_t body = 2;
  if (!lua_istable(L, 2)) {
    mqtt_str t;
    t.p = lua_tolstring(L, 2, &t.n);
    int qos = -1;
    if (sub) qos = lua_isnoneornil(L, 3) || lua_isfunction(L, 3) ? 0 : (int)lua_tointeger(L, 3);
    if (t.n == 0 || t.n > 65535) return 0;
    if (p != NULL) mqtt_sub_topic(p, t, qos);
    return body + 2 + t.n + (sub ? 1 : 0);
  }
  int empty = 0;
  lua_pushnil(L);
  while (lua_next(L, 2) != 0) {
    mqtt_str t;
    t.p = lua_tolstring(L, -2, &t.n); /* keys were checked to be strings */
    int qos = sub ? (int)lua_tointeger(L, -1) : -1;
    if (p != NULL) p = mqtt_sub_topic(p, t, qos);
    if (t.n == 0) empty = 1;
    body += 2 + (t.n > 65535 ? MQTT_MAX_REMAINING : t.n) + (sub ? 1 : 0);
    lua_pop(L, 1);
  }
  return empty ? 0 : body;
}

/* Checks the topics' types and values (before anything is queued). */
static int check_topics(lua_State *L, int sub) {
  if (!lua_istable(L, 2)) {
    luaL_checkstring(L, 2);
    if (sub && !lua_isnoneornil(L, 3) && !lua_isfunction(L, 3)) nm_checkrange(L, 3, 0, 2);
    return sub && lua_type(L, 3) == LUA_TNUMBER ? 4 : 3; /* where the callback is */
  }
  int count = 0;
  lua_pushnil(L);
  while (lua_next(L, 2) != 0) {
    if (lua_type(L, -2) != LUA_TSTRING) luaL_error(L, "invalid topic");
    if (sub) {
      long long q;
      if (!nm_tointeger(L, -1, &q) || q < 0 || q > 2) luaL_error(L, "invalid qos");
    }
    count++;
    lua_pop(L, 1);
  }
  if (count == 0) luaL_error(L, "no topics found");
  return 3;
}

static int sub_or_unsub(lua_State *L, int sub) {
  mqtt_ud *ud = check_client(L);
  check_ready(L, ud);
  int fni = check_topics(L, sub);
  int fn = nm_optcallback(L, fni);
  size_t body = sub_topics(L, sub, NULL);
  size_t n = body == 0 ? 0 : mqtt_sub_size(body);
  unsigned id = next_id(ud);
  int type = sub ? MQTT_SUBSCRIBE : MQTT_UNSUBSCRIBE;
  uint8_t *p = n == 0 ? NULL : mqtt_session_queue(ud, type, 1, id, n);
  if (p == NULL) {
    lua_pushboolean(L, 0);
    return 1;
  }
  sub_topics(L, sub, mqtt_sub_begin(p, type, body, id));
  if (fn) set_slot(L, 1, sub ? MQ_SUBACK : MQ_UNSUBACK, fni);
  lua_pushboolean(L, 1);
  return 1;
}

/* client:subscribe(topic, qos[, fn]) or (table[, fn]) -> true if queued */
static int client_subscribe(lua_State *L) { return sub_or_unsub(L, 1); }
/* client:unsubscribe(topic[, fn]) or (table[, fn]) -> true if queued */
static int client_unsubscribe(lua_State *L) { return sub_or_unsub(L, 0); }

static int client_gc(lua_State *L) {
  mqtt_session_gc(lua_touserdata(L, 1));
  return 0;
}

int luaopen_mqtt(lua_State *L) {
  static const luaL_Reg methods[] = {
      {"connect", client_connect}, {"close", client_close}, {"publish", client_publish},
      {"subscribe", client_subscribe}, {"unsubscribe", client_unsubscribe},
      {"lwt", client_lwt}, {"on", client_on}, {NULL, NULL}};
  static const luaL_Reg funcs[] = {{"Client", mqtt_Client}, {NULL, NULL}};
  static const struct {
    const char *name;
    int value;
  } consts[] = {{"CONN_FAIL_SERVER_NOT_FOUND", MQTT_FAIL_SERVER_NOT_FOUND},
                {"CONN_FAIL_NOT_A_CONNACK_MSG", MQTT_FAIL_NOT_A_CONNACK},
                {"CONN_FAIL_DNS", MQTT_FAIL_DNS},
                {"CONN_FAIL_TIMEOUT_RECEIVING", MQTT_FAIL_TIMEOUT_RECEIVING},
                {"CONN_FAIL_TIMEOUT_SENDING", MQTT_FAIL_TIMEOUT_SENDING},
                {"CONNACK_ACCEPTED", 0},
                {"CONNACK_REFUSED_PROTOCOL_VER", 1},
                {"CONNACK_REFUSED_ID_REJECTED", 2},
                {"CONNACK_REFUSED_SERVER_UNAVAILABLE", 3},
                {"CONNACK_REFUSED_BAD_USER_OR_PASS", 4},
                {"CONNACK_REFUSED_NOT_AUTHORIZED", 5}};
  nm_ctx_get(L);
  nm_class(L, MQTT_CLIENT, methods, client_gc);
  nm_newlib(L, funcs);
  for (size_t i = 0; i < sizeof consts / sizeof consts[0]; i++) {
    lua_pushinteger(L, consts[i].value);
    lua_setfield(L, -2, consts[i].name);
  }
  return 1;
}
