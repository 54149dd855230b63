/* http_msg.c - the text of requests and responses: growing buffers, URLs
 * as the ESP8266 firmware parses them (httpclient.c), request header
 * lists, and the firmware's header table of a response. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "modules/http.h"

int http_buf_add(http_buf *b, const char *s, size_t n) {
  if (b->len + n > b->cap) {
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + n) cap *= 2;
    char *p = realloc(b->p, cap);
    if (p == NULL) return -1;
    b->p = p;
    b->cap = cap;
  }
  if (n > 0) memcpy(b->p + b->len, s, n);
  b->len += n;
  return 0;
}

void http_buf_free(http_buf *b) {
  free(b->p);
  b->p = NULL;
  b->len = b->cap = 0;
}

/* ---- URLs ---- */

/* What the firmware accepts: http:// or https://, a host of at most 127
 * characters, an optional decimal port 1-65535, then the path.  Unlike the
 * firmware, a query or fragment may follow the host directly, and bytes
 * that cannot go into a request line are refused instead of sent. */
static int url_parse(const char *url, int *https, char host[128], int *port, const char **path) {
  if (strncasecmp(url, "http://", 7) == 0) {
    *https = 0, *port = 80, url += 7;
  } else if (strncasecmp(url, "https://", 8) == 0) {
    *https = 1, *port = 443, url += 8;
  } else {
    return -1;
  }
  size_t hl = strcspn(url, ":/?#");
  if (hl == 0 || hl > 127) return -1;
  for (size_t i = 0; i < hl; i++)
    if (!isalnum((unsigned char)url[i]) && url[i] != '-' && url[i] != '.' && url[i] != '_') return -1;
  memcpy(host, url, hl);
  host[hl] = '\0';
  const char *p = url + hl;
  if (*p == ':') {
    size_t dl = strspn(++p, "0123456789");
    if (dl == 0 || dl > 5) return -1;
    *port = atoi(p);
    if (*port < 1 || *port > 65535) return -1;
    p += dl;
  }
  if (*p != '\0' && *p != '/' && *p != '?' && *p != '#') return -1;
  for (const char *q = p; *q != '\0'; q++)
    if ((unsigned char)*q <= 0x20 || *q == 0x7f) return -1;
  *path = p;
  return 0;
}

int http_req_seturl(http_req *r, const char *url) {
  int https, port;
  char host[128];
  const char *path;
  if (url_parse(url, &https, host, &port, &path) != 0) return -1;
  size_t n = strlen(host) + strlen(path) + 32;
  char *u = malloc(n);
  if (u == NULL) return -1;
  int dflt = port == (https ? 443 : 80);
  char portbuf[8] = "";
  if (!dflt) snprintf(portbuf, sizeof portbuf, ":%d", port);
  snprintf(u, n, "%s://%s%s%s%s", https ? "https" : "http", host, portbuf, path[0] == '/' ? "" : "/",
           path);
  free(r->url);
  r->url = u;
  memcpy(r->host, host, sizeof host);
  r->port = port;
  return 0;
}

/* ---- request headers ---- */

static int is_tchar(int c) {
  return isalnum(c) || (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

int http_header_ok(const char *name, size_t nlen, const char *value, size_t vlen) {
  if (nlen == 0) return 0;
  for (size_t i = 0; i < nlen; i++)
    if (!is_tchar((unsigned char)name[i])) return 0;
  for (size_t i = 0; value != NULL && i < vlen; i++)
    if (value[i] == '\r' || value[i] == '\n' || value[i] == '\0') return 0;
  return 1;
}

/* Is line "name:..." or "name;..." (libcurl's form of an empty header)? */
static int line_is(const char *line, const char *name, size_t nlen) {
  return strncasecmp(line, name, nlen) == 0 && (line[nlen] == ':' || line[nlen] == ';');
}

int http_hdr_has(const struct curl_slist *l, const char *name) {
  for (; l != NULL; l = l->next)
    if (line_is(l->data, name, strlen(name))) return 1;
  return 0;
}

int http_hdr_del(struct curl_slist **l, const char *name, size_t nlen) {
  struct curl_slist *keep = NULL;
  for (struct curl_slist *i = *l; i != NULL; i = i->next) {
    if (line_is(i->data, name, nlen)) continue;
    struct curl_slist *k = curl_slist_append(keep, i->data);
    if (k == NULL) {
      curl_slist_free_all(keep);
      return -1;
    }
    keep = k;
  }
  curl_slist_free_all(*l);
  *l = keep;
  return 0;
}

/* "Name: value"; an empty value as "Name;", which libcurl sends as an
 * empty header ("Name:" alone would remove one of its own). */
int http_hdr_add(struct curl_slist **l, const char *name, size_t nlen, const char *value, size_t vlen) {
  if (value == NULL) return 0;
  char *line = malloc(nlen + vlen + 3);
  if (line == NULL) return -1;
  memcpy(line, name, nlen);
  if (vlen == 0) {
    line[nlen] = ';';
    line[nlen + 1] = '\0';
  } else {
    memcpy(line + nlen, ": ", 2);
    memcpy(line + nlen + 2, value, vlen);
    line[nlen + 2 + vlen] = '\0';
  }
  struct curl_slist *n = curl_slist_append(*l, line);
  free(line);
  if (n == NULL) return -1;
  *l = n;
  return 0;
}

/* The firmware pastes the string into the request; here each line is one
 * header (a line that is not "Name: value" could only corrupt the
 * request, so it is left out), and Connection stays "close". */
int http_req_rawheaders(http_req *r, const char *s, size_t len) {
  const char *end = s + len;
  while (s < end) {
    size_t n = 0;
    while (s + n < end && s[n] != '\r' && s[n] != '\n') n++;
    const char *colon = memchr(s, ':', n);
    if (colon != NULL) {
      size_t nlen = (size_t)(colon - s);
      const char *v = colon + 1;
      size_t vlen = n - nlen - 1;
      while (vlen > 0 && (*v == ' ' || *v == '\t')) v++, vlen--;
      if (http_header_ok(s, nlen, v, vlen) && !(nlen == 10 && strncasecmp(s, "Connection", 10) == 0) &&
          http_hdr_add(&r->hdrs, s, nlen, v, vlen) != 0)
        return -1;
    }
    s += n;
    while (s < end && (*s == '\r' || *s == '\n')) s++;
  }
  return 0;
}

/* ---- the response's header table ---- */

/* As the firmware builds it: one entry per "Name: value" line, the name
 * lower-cased, the value after leading spaces; a later line of the same
 * name replaces an earlier one. */
void http_push_headers(lua_State *L, const http_buf *head) {
  lua_newtable(L);
  const char *p = head->p, *end = head->p + head->len;
  while (p < end) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    const char *le = nl != NULL ? nl : end;
    const char *next = nl != NULL ? nl + 1 : end;
    if (le > p && le[-1] == '\r') le--;
    const char *colon = memchr(p, ':', (size_t)(le - p));
    if (colon != NULL) {
      luaL_Buffer b;
      luaL_buffinit(L, &b);
      for (const char *q = p; q < colon; q++) luaL_addchar(&b, (char)tolower((unsigned char)*q));
      luaL_pushresult(&b);
      const char *v = colon + 1;
      while (v < le && *v == ' ') v++;
      lua_pushlstring(L, v, (size_t)(le - v));
      lua_settable(L, -3);
    }
    p = next;
  }
}
