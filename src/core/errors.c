/* errors.c - the one place where OS (libuv) failures become NodeMCU's
 * lwIP error codes and wording; docs/ERRORS.md shows this table. */
#include <string.h>

#include <ares.h>

#include "nm.h"

/* lwIP's codes, as NodeMCU passes them to callbacks. */
enum {
  ERR_OK = 0,
  ERR_MEM = -1,
  ERR_TIMEOUT = -3,
  ERR_RTE = -4,
  ERR_ABRT = -8,
  ERR_RST = -9,
  ERR_CLSD = -10,
  ERR_USE = -13,
};

static const struct {
  int uverr;
  int code;
} table[] = {
    {UV_EOF, ERR_OK},
    {UV_ENOMEM, ERR_MEM},
    {UV_ENOBUFS, ERR_MEM},
    {UV_EMFILE, ERR_MEM},
    {UV_ENFILE, ERR_MEM},
    {UV_ETIMEDOUT, ERR_ABRT},
    {UV_ECONNABORTED, ERR_ABRT},
    {UV_ECANCELED, ERR_ABRT},
    {UV_ENETUNREACH, ERR_RTE},
    {UV_EHOSTUNREACH, ERR_RTE},
    {UV_ENETDOWN, ERR_RTE},
    {UV_EHOSTDOWN, ERR_RTE},
    {UV_EADDRNOTAVAIL, ERR_RTE},
    {UV_EPERM, ERR_RTE},
    {UV_EAI_NONAME, ERR_RTE},
    {UV_EAI_AGAIN, ERR_RTE},
    {UV_EAI_FAIL, ERR_RTE},
    {UV_ECONNREFUSED, ERR_RST},
    {UV_ECONNRESET, ERR_RST},
    {UV_EPIPE, ERR_CLSD},
    {UV_ENOTCONN, ERR_CLSD},
    {UV_EADDRINUSE, ERR_USE},
    {UV_EACCES, ERR_USE},
};

int nm_errcode(int uverr) {
  if (uverr >= 0) return ERR_OK;
  for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
    if (table[i].uverr == uverr) return table[i].code;
  return ERR_CLSD; /* anything else ended the connection unexpectedly */
}

/* lwIP's own words for each code, as NodeMCU's lwip_lua_checkerr has them. */
const char *nm_errword(int uverr) {
  switch (nm_errcode(uverr)) {
    case ERR_OK: return "ok";
    case ERR_MEM: return "out of memory";
    case ERR_TIMEOUT: return "timeout";
    case ERR_RTE: return "routing problem";
    case ERR_ABRT: return "connection aborted";
    case ERR_RST: return "connection reset";
    case ERR_USE: return "address in use";
    default: return "connection closed";
  }
}

/* c-ares statuses become the getaddrinfo-style libuv errors the resolver
 * reports; the table above then gives -4 for every failed lookup. */
int nm_ares_to_uv(int status) {
  switch (status) {
    case ARES_ENODATA:
    case ARES_ENOTFOUND:
    case ARES_EBADNAME:
    case ARES_EBADFAMILY: return UV_EAI_NONAME;
    case ARES_ETIMEOUT:
    case ARES_ESERVFAIL:
    case ARES_EREFUSED:
    case ARES_ECONNREFUSED: return UV_EAI_AGAIN;
    case ARES_ENOMEM: return UV_EAI_MEMORY;
    case ARES_ECANCELLED:
    case ARES_EDESTRUCTION: return UV_EAI_CANCELED;
    default: return UV_EAI_FAIL;
  }
}

int nm_raise_uv(lua_State *L, int uverr) {
  const char *word = nm_errword(uverr);
  if (uverr == UV_EADDRINUSE || uverr == UV_ENOMEM)
    return luaL_error(L, "%s", word);
  return luaL_error(L, "%s (%s)", word, uv_strerror(uverr));
}
