/* sock.c - what the socket methods share (sock.h). */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "sock.h"

void nm_sockaddr4(struct sockaddr_in *sa, struct in_addr ip, int port) {
  memset(sa, 0, sizeof *sa);
  sa->sin_family = AF_INET;
  sa->sin_port = htons((uint16_t)port);
  sa->sin_addr = ip;
}

int nm_check_listen_addr(lua_State *L, int i, struct sockaddr_in *sa) {
  struct in_addr ip = {htonl(INADDR_ANY)};
  int port = 0;
  if (nm_isnumber(L, i)) port = nm_checkport(L, i++); /* "8266" too, as lua_isnumber */
  else if (lua_isnil(L, i)) i++; /* listen(nil, ip) */
  if (lua_type(L, i) == LUA_TSTRING) {
    if (nm_checkip4(L, i, &ip) != 0) luaL_error(L, "invalid IP address");
    i++;
  } else if (lua_isnil(L, i)) {
    i++; /* listen(port, nil, fn) */
  }
  nm_sockaddr4(sa, ip, port);
  return i;
}

static void set_ipopt(lua_State *L, uv_os_fd_t fd, int opt, int v) {
  if (setsockopt(fd, IPPROTO_IP, opt, &v, sizeof v) != 0)
    nm_raise_uv(L, uv_translate_sys_error(errno));
}

int nm_sock_ttl(lua_State *L, const uv_handle_t *h, int mcast) {
  uv_os_fd_t fd;
  if (h == NULL || uv_fileno(h, &fd) != 0) return luaL_error(L, "socket is not open/bound yet");
  int ttl;
  if (!lua_isnoneornil(L, 2)) {
    ttl = (int)nm_checkrange(L, 2, 1, 255);
    if (mcast) set_ipopt(L, fd, IP_MULTICAST_TTL, ttl);
    set_ipopt(L, fd, IP_TTL, ttl);
  } else {
    socklen_t len = sizeof ttl;
    if (getsockopt(fd, IPPROTO_IP, IP_TTL, &ttl, &len) != 0)
      return nm_raise_uv(L, uv_translate_sys_error(errno));
  }
  lua_pushinteger(L, ttl);
  return 1;
}

int nm_sock_name(lua_State *L, const uv_handle_t *h, int peer) {
  struct sockaddr_storage ss;
  socklen_t len = sizeof ss;
  uv_os_fd_t fd;
  int ok = h != NULL && uv_fileno(h, &fd) == 0 &&
           (peer ? getpeername(fd, (struct sockaddr *)&ss, &len)
                 : getsockname(fd, (struct sockaddr *)&ss, &len)) == 0;
  return nm_push_sockaddr(L, ok ? (struct sockaddr *)&ss : NULL);
}
