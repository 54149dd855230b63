/* encoder.c - NodeMCU's encoder module: Base64 and hex, both ways, with
 * the firmware's validation and error messages. */
#include "core/nm.h"

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char hexdigits[] = "0123456789abcdef";

/* The output is built in a luaL_Buffer, so an error or a memory error
 * cannot leak it. */
static int encoder_toBase64(lua_State *L) {
  size_t n;
  const unsigned char *s = (const unsigned char *)luaL_checklstring(L, 1, &n);
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  for (size_t i = 0; i < n; i += 3) {
    unsigned a = s[i], c1 = i + 1 < n ? s[i + 1] : 0, c2 = i + 2 < n ? s[i + 2] : 0;
    char q[4] = {b64[a >> 2], b64[((a & 3) << 4) | (c1 >> 4)],
                 i + 1 < n ? b64[((c1 & 15) << 2) | (c2 >> 6)] : '=',
                 i + 2 < n ? b64[c2 & 63] : '='};
    luaL_addlstring(&b, q, 4);
  }
  luaL_pushresult(&b);
  return 1;
}

static int b64_value(unsigned char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

/* As the firmware: the length must be a multiple of 4, '=' only as one or
 * two padding characters at the end, every other character from the
 * alphabet; bits beyond the last whole byte are ignored. */
static int encoder_fromBase64(lua_State *L) {
  size_t n;
  const unsigned char *s = (const unsigned char *)luaL_checklstring(L, 1, &n);
  if (n & 3) return luaL_error(L, "Invalid base64 string");
  size_t pad = 0;
  if (n > 0 && s[n - 1] == '=') pad = s[n - 2] == '=' ? 2 : 1;
  for (size_t i = 0; i < n - pad; i++)
    if (b64_value(s[i]) < 0) return luaL_error(L, "Invalid base64 string");
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  for (size_t i = 0; i < n; i += 4) {
    int v[4];
    for (int k = 0; k < 4; k++) v[k] = i + k < n - pad ? b64_value(s[i + k]) : 0;
    char q[3] = {(char)((v[0] << 2) | (v[1] >> 4)), (char)((v[1] << 4) | (v[2] >> 2)),
                 (char)((v[2] << 6) | v[3])};
    size_t keep = i + 4 < n ? 3 : 3 - pad;
    luaL_addlstring(&b, q, keep);
  }
  luaL_pushresult(&b);
  return 1;
}

static int encoder_toHex(lua_State *L) {
  size_t n;
  const unsigned char *s = (const unsigned char *)luaL_checklstring(L, 1, &n);
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  for (size_t i = 0; i < n; i++) {
    luaL_addchar(&b, hexdigits[s[i] >> 4]);
    luaL_addchar(&b, hexdigits[s[i] & 15]);
  }
  luaL_pushresult(&b);
  return 1;
}

static int hex_value(unsigned char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

static int encoder_fromHex(lua_State *L) {
  size_t n;
  const unsigned char *s = (const unsigned char *)luaL_checklstring(L, 1, &n);
  if (n & 1) return luaL_error(L, "Invalid hex string");
  for (size_t i = 0; i < n; i++)
    if (hex_value(s[i]) < 0) return luaL_error(L, "Invalid hex string");
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  for (size_t i = 0; i < n; i += 2) luaL_addchar(&b, (char)(hex_value(s[i]) << 4 | hex_value(s[i + 1])));
  luaL_pushresult(&b);
  return 1;
}

int luaopen_encoder(lua_State *L) {
  static const luaL_Reg funcs[] = {{"toBase64", encoder_toBase64},
                                   {"fromBase64", encoder_fromBase64},
                                   {"toHex", encoder_toHex},
                                   {"fromHex", encoder_fromHex},
                                   {NULL, NULL}};
  nm_newlib(L, funcs);
  return 1;
}
