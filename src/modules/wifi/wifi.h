/* wifi.h - the wifi module, shared by the files of this folder:
 *   state.c    the per-loop state, the "flash", the station's connection
 *              state machine and the event queue
 *   netlink.c  the host interface it mirrors, watched with rtnetlink
 *   events.c   delivering events: wifi.eventmon, wifi.sta.on/ap.on and
 *              the legacy wifi.sta.eventMonReg
 *   wifi.c     luaopen_wifi, wifi.* and the constants
 *   sta.c      wifi.sta.*           ap.c  wifi.ap.* and wifi.ap.dhcp.*
 * docs/modules/wifi.md documents the behaviour; docs/DIFFERENCES.md the
 * host decisions. */
#ifndef NM_WIFI_H
#define NM_WIFI_H

#include <stdint.h>

#include "core/nm.h"

/* The firmware's numbers (ESP8266 SDK user_interface.h). */
enum { MODE_NULL = 0, MODE_STATION = 1, MODE_SOFTAP = 2, MODE_STATIONAP = 3 };
enum { STA_IDLE = 0, STA_CONNECTING, STA_WRONGPWD, STA_APNOTFOUND, STA_FAIL, STA_GOTIP };
enum {
  EV_STA_CONNECTED = 0,
  EV_STA_DISCONNECTED,
  EV_STA_AUTHMODE_CHANGE,
  EV_STA_GOT_IP,
  EV_STA_DHCP_TIMEOUT,
  EV_AP_STACONNECTED,
  EV_AP_STADISCONNECTED,
  EV_AP_PROBEREQRECVED,
  EV_MODE_CHANGED,
  EV_AP_DISTRIBUTE_STA_IP,
  EV_MAX, /* 10: wifi.eventmon.EVENT_MAX, the catch-all slot */
  /* host-only queue entries */
  EV_STATUS, /* a status change, for the legacy wifi.sta.eventMonReg */
  EV_SCAN,   /* the answer of wifi.sta.getap */
  EV_START,  /* wifi.sta.on / wifi.ap.on "start" and "stop" */
  EV_STOP
};
enum {
  REASON_UNSPECIFIED = 1,
  REASON_ASSOC_LEAVE = 8,
  REASON_BEACON_TIMEOUT = 200,
  REASON_NO_AP_FOUND = 201,
  REASON_AUTH_FAIL = 202
};
enum { AUTH_OPEN = 0, AUTH_WEP, AUTH_WPA_PSK, AUTH_WPA2_PSK, AUTH_WPA_WPA2_PSK, AUTH_MAX };
enum { SLEEP_NONE = 0, SLEEP_LIGHT = 1, SLEEP_MODEM = 2 };
#define MAX_APS 5 /* the station's AP cache (wifi.sta.setaplimit) */
#define EVQ_LEN 64 /* pending events; more are dropped (bounded memory) */
#define HOST_RSSI (-50) /* what getrssi() and scans report: the host has no radio */

/* A station configuration (wifi.sta.config). */
typedef struct {
  char ssid[33], pwd[65];
  uint8_t bssid[6];
  int bssid_set;
} wifi_staconf;

/* The soft AP's configuration (wifi.ap.config). */
typedef struct {
  char ssid[33], pwd[65];
  int auth, channel, hidden, max, beacon;
} wifi_apconf;

/* What survives node.restart(), as the flash does on the device. */
typedef struct {
  int init;
  int mode, autoconnect, aplimit;
  wifi_staconf sta;
  wifi_apconf ap;
} wifi_flash;
extern wifi_flash wifi_saved;

typedef struct {
  uint8_t id, reason, channel, flags; /* EV_SCAN: fmt (bit 0), filters (bits 1-3) */
  unsigned conn;                      /* STA_CONNECTED, STA_GOT_IP: the connection's number */
  int8_t old_v, new_v;                /* modes, or statuses */
  uint8_t bssid[6];
  char ssid[33];
  struct in_addr ip, mask, gw;
} wifi_event;
#define SCAN_FMT1 1
#define SCAN_SSID 2
#define SCAN_BSSID 4
#define SCAN_CHANNEL 8

/* Callbacks of wifi.sta.on and wifi.ap.on (ESP32 firmware), by name. */
enum { ON_STA_START, ON_STA_STOP, ON_STA_CONNECTED, ON_STA_DISCONNECTED,
       ON_STA_AUTHMODE, ON_STA_GOT_IP, ON_AP_START, ON_AP_STOP, ON_AP_STACONN,
       ON_AP_STADISCONN, ON_AP_PROBE, ON_MAX };

typedef struct nm_wifi {
  nm_obj obj;
  nm_ctx *ctx;
  /* the host interface (netlink.c) */
  char ifname[16];  /* "" when the host has none to mirror */
  nm_ifstate ifs;   /* as last read */
  int if_found, if_up; /* found; up, running and with an IPv4 address */
  int nl_fd;        /* rtnetlink socket, -1 without one */
  int watching;     /* nl_poll is watching it */
  uv_poll_t nl_poll;
  int closing;      /* handles are closing: kill() ran */
  /* the station (state.c) */
  int mode, autoconnect, want;
  int connected;    /* CONNECTED and GOT_IP queued, no DISCONNECTED since */
  unsigned conn_id, seen_conn; /* the connection's number; the last one delivered */
  int status;       /* what status() reads: STA_GOTIP once GOT_IP is delivered */
  wifi_staconf conf;
  struct in_addr ip, mask, gw; /* of the connection, for getip() */
  uint8_t bssid[6];            /* of the network: derived from the interface */
  int channel;
  wifi_staconf aps[MAX_APS];
  int naps, apindex, aplimit;
  /* settings that only report back */
  char hostname[33];
  int sleeptype, phymode, nullmodesleep, started;
  char country[3];
  int country_start, country_end, country_policy;
  /* the soft AP (ap.c) */
  wifi_apconf ap;
  struct in_addr ap_ip, ap_mask, ap_gw, dhcp_start;
  uint8_t ap_mac[6];
  int ap_mac_set;
  /* callbacks: registry references (events.c) */
  int ev_ref[EV_MAX + 1];
  int on_ref[ON_MAX];
  int mon_ref[STA_GOTIP + 1]; /* legacy eventMonReg, by status */
  int mon_running;
  int scan_ref;
  /* events waiting for the loop */
  wifi_event q[EVQ_LEN];
  unsigned q_head, q_len;
  nm_defer defer;
  int queued;
} nm_wifi;

/* state.c */
nm_wifi *wifi_get(lua_State *L);
int wifi_ap_given(char ssid[33], char pwd[65]); /* --wifi-ap, if given */
wifi_event *wifi_push(nm_wifi *w, int id); /* NULL when the queue is full */
void wifi_sta_attempt(nm_wifi *w);         /* connect with the current config */
void wifi_sta_leave(nm_wifi *w);          /* disconnect: DISCONNECTED if connected */
void wifi_set_status(nm_wifi *w, int status);
void wifi_update(nm_wifi *w);             /* after any change: queues its events */
void wifi_delivering(nm_wifi *w, const wifi_event *e); /* a station event goes to Lua */
void wifi_keepalive(nm_wifi *w);          /* after callbacks changed: ref the watch? */
int wifi_has_sta(const nm_wifi *w);
int wifi_has_ap(const nm_wifi *w);
void wifi_set_mode(nm_wifi *w, int mode);
void wifi_remember_ap(nm_wifi *w, const wifi_staconf *c);
void wifi_defaults(nm_wifi *w);
/* netlink.c */
void wifi_host_open(nm_wifi *w);  /* picks the interface, reads it, watches it */
void wifi_host_read(nm_wifi *w);  /* reads it now (w->ifs, if_found, if_up) */
void wifi_refresh(nm_wifi *w);    /* reads it now if it cannot be watched */
void wifi_host_close(nm_wifi *w); /* closes the watch, then frees w */
/* events.c */
void wifi_deliver(nm_wifi *w, const wifi_event *e);
void wifi_unref_all(nm_wifi *w);
int wifi_eventmon_register(lua_State *L);
int wifi_sta_on(lua_State *L);
int wifi_ap_on(lua_State *L);
void wifi_open_legacy_eventmon(lua_State *L); /* adds eventMon* to wifi.sta on top */
void wifi_set_ref(lua_State *L, int *ref, int idx); /* function at idx, or clear */
/* sta.c, ap.c */
void wifi_open_sta(lua_State *L);
void wifi_open_ap(lua_State *L);
/* helpers (wifi.c) */
/* t[key] of the config table at index 1 as an integer in [lo, hi], or dflt
 * if nil; raises notnum or range as "bad argument #1". */
int wifi_field_int(lua_State *L, const char *key, int lo, int hi, int dflt, const char *notnum,
                   const char *range);
void wifi_push_mac(lua_State *L, const uint8_t mac[6]);
int wifi_parse_mac(const char *s, size_t len, uint8_t mac[6]);
void wifi_push_ip(lua_State *L, struct in_addr a);
/* t[key] of the table at index 1 as a string of min-max bytes into out
 * (max + 1 bytes): 0 if nil, 1 if set, else raises typemsg or lenmsg as
 * "bad argument #1". */
int wifi_field_str(lua_State *L, const char *key, char *out, size_t min, size_t max,
                   const char *typemsg, const char *lenmsg);
/* t[key] as a boolean into out: 0 if nil, 1 if set, else raises typemsg. */
int wifi_field_bool(lua_State *L, const char *key, int *out, const char *typemsg);
int wifi_sleeptype(lua_State *L);
#define INVALID_MAC_STR "MAC:FF:FF:FF:FF:FF:FF"

#endif
