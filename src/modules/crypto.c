/* crypto.c - NodeMCU's crypto module on OpenSSL's libcrypto:
 * hashes, HMACs, hash/HMAC objects, AES-128 ECB/CBC with the firmware's
 * zero padding, mask and fhash.  HMAC is built here on the digests, as the
 * firmware's app/crypto/digests.c does, so that one code path serves every
 * OpenSSL version (HMAC_CTX is deprecated in 3.0, EVP_MAC absent in 1.1). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "core/nm.h"
#include "core/root.h"

#define HASH_OBJ "crypto.hash"
#define AES_BLOCK 16
#define MAX_BLOCK 128 /* largest digest block size below (SHA-384/512) */

/* The firmware's list (MD5, SHA1, SHA256, SHA384, SHA512), plus the two
 * the ESP32 firmware adds (SHA224, RIPEMD160). */
static const struct {
  const char *name;
  const EVP_MD *(*md)(void);
} mechs[] = {
    {"MD5", EVP_md5},       {"SHA1", EVP_sha1},     {"SHA224", EVP_sha224},
    {"SHA256", EVP_sha256}, {"SHA384", EVP_sha384}, {"SHA512", EVP_sha512},
#ifndef OPENSSL_NO_RMD160
    {"RIPEMD160", EVP_ripemd160},
#endif
};

static const EVP_MD *check_mech(lua_State *L, int idx) {
  const char *name = luaL_checkstring(L, idx);
  for (size_t i = 0; i < sizeof mechs / sizeof mechs[0]; i++)
    if (strcasecmp(name, mechs[i].name) == 0) {
      const EVP_MD *md = mechs[i].md();
      if (md != NULL && EVP_MD_block_size(md) <= MAX_BLOCK) return md;
    }
  luaL_error(L, "unknown hash mech");
  return NULL;
}

/* ---- HMAC (RFC 2104) on a digest context ---- */

/* The key as one block: hashed first if longer than a block. */
static int hmac_key_block(const EVP_MD *md, const char *key, size_t klen, unsigned char *k0) {
  size_t bs = (size_t)EVP_MD_block_size(md);
  memset(k0, 0, bs);
  if (klen <= bs) {
    memcpy(k0, key, klen);
    return 1;
  }
  return EVP_Digest(key, klen, k0, NULL, md, NULL);
}

/* Starts H((K0 ^ pad) || ...) on ctx. */
static int digest_start_padded(EVP_MD_CTX *ctx, const EVP_MD *md, const unsigned char *k0,
                               unsigned char pad) {
  unsigned char block[MAX_BLOCK];
  size_t bs = (size_t)EVP_MD_block_size(md);
  for (size_t i = 0; i < bs; i++) block[i] = k0[i] ^ pad;
  return EVP_DigestInit_ex(ctx, md, NULL) && EVP_DigestUpdate(ctx, block, bs);
}

/* Finishes the inner hash on ctx and computes the outer one into out. */
static int hmac_finish(EVP_MD_CTX *ctx, const EVP_MD *md, const unsigned char *k0,
                       unsigned char *out, unsigned *outlen) {
  unsigned char inner[EVP_MAX_MD_SIZE];
  unsigned ilen;
  return EVP_DigestFinal_ex(ctx, inner, &ilen) && digest_start_padded(ctx, md, k0, 0x5c) &&
         EVP_DigestUpdate(ctx, inner, ilen) && EVP_DigestFinal_ex(ctx, out, outlen);
}

/* ---- one-shot hashes ---- */

/* crypto.hash(algo, str) */
static int crypto_hash(lua_State *L) {
  const EVP_MD *md = check_mech(L, 1);
  size_t len;
  const char *data = luaL_checklstring(L, 2, &len);
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned outlen;
  if (!EVP_Digest(data, len, out, &outlen, md, NULL)) return luaL_error(L, "insufficient memory");
  lua_pushlstring(L, (const char *)out, outlen);
  return 1;
}

/* crypto.sha1(str): in the firmware's function table, undocumented. */
static int crypto_sha1(lua_State *L) {
  size_t len;
  const char *data = luaL_checklstring(L, 1, &len);
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned outlen;
  if (!EVP_Digest(data, len, out, &outlen, EVP_sha1(), NULL))
    return luaL_error(L, "insufficient memory");
  lua_pushlstring(L, (const char *)out, outlen);
  return 1;
}

/* crypto.hmac(algo, str, key) */
static int crypto_hmac(lua_State *L) {
  const EVP_MD *md = check_mech(L, 1);
  size_t len, klen;
  const char *data = luaL_checklstring(L, 2, &len);
  const char *key = luaL_checklstring(L, 3, &klen);
  unsigned char k0[MAX_BLOCK], out[EVP_MAX_MD_SIZE];
  unsigned outlen = 0;
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  int ok = ctx != NULL && hmac_key_block(md, key, klen, k0) &&
           digest_start_padded(ctx, md, k0, 0x36) && EVP_DigestUpdate(ctx, data, len) &&
           hmac_finish(ctx, md, k0, out, &outlen);
  EVP_MD_CTX_free(ctx);
  if (!ok) return luaL_error(L, "insufficient memory");
  lua_pushlstring(L, (const char *)out, outlen);
  return 1;
}

/* ---- hash and HMAC objects ---- */

typedef struct {
  EVP_MD_CTX *ctx; /* NULL once collected */
  const EVP_MD *md;
  int hmac;
  unsigned char k0[MAX_BLOCK]; /* HMAC: the key block, to start again */
} hash_obj;

/* (Re)starts the object: an empty hash, or an HMAC with its key. */
static int hash_start(hash_obj *h) {
  if (h->hmac) return digest_start_padded(h->ctx, h->md, h->k0, 0x36);
  return EVP_DigestInit_ex(h->ctx, h->md, NULL);
}

static int new_hash_hmac(lua_State *L, int hmac) {
  const EVP_MD *md = check_mech(L, 1);
  size_t klen = 0;
  const char *key = hmac ? luaL_checklstring(L, 2, &klen) : NULL;
  hash_obj *h = lua_newuserdata(L, sizeof *h);
  memset(h, 0, sizeof *h);
  luaL_getmetatable(L, HASH_OBJ);
  lua_setmetatable(L, -2); /* from here __gc frees what h holds */
  h->md = md;
  h->hmac = hmac;
  h->ctx = EVP_MD_CTX_new();
  if (h->ctx == NULL || (hmac && !hmac_key_block(md, key, klen, h->k0)) || !hash_start(h))
    return luaL_error(L, "insufficient memory");
  return 1;
}

/* crypto.new_hash(algo) */
static int crypto_new_hash(lua_State *L) { return new_hash_hmac(L, 0); }
/* crypto.new_hmac(algo, key) */
static int crypto_new_hmac(lua_State *L) { return new_hash_hmac(L, 1); }

static hash_obj *check_hash(lua_State *L) {
  hash_obj *h = luaL_checkudata(L, 1, HASH_OBJ);
  if (h->ctx == NULL) luaL_error(L, "insufficient memory");
  return h;
}

/* obj:update(str) */
static int hash_update(lua_State *L) {
  hash_obj *h = check_hash(L);
  size_t len;
  const char *data = luaL_checklstring(L, 2, &len);
  if (!EVP_DigestUpdate(h->ctx, data, len)) return luaL_error(L, "insufficient memory");
  return 0;
}

/* obj:finalize() -> the digest.  The object then starts over (an empty
 * hash, or an HMAC with the same key) instead of holding a spent state. */
static int hash_finalize(lua_State *L) {
  hash_obj *h = check_hash(L);
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned outlen = 0;
  int ok = h->hmac ? hmac_finish(h->ctx, h->md, h->k0, out, &outlen)
                   : EVP_DigestFinal_ex(h->ctx, out, &outlen);
  if (!ok || !hash_start(h)) return luaL_error(L, "insufficient memory");
  lua_pushlstring(L, (const char *)out, outlen);
  return 1;
}

static int hash_gc(lua_State *L) {
  hash_obj *h = lua_touserdata(L, 1);
  EVP_MD_CTX_free(h->ctx);
  h->ctx = NULL;
  OPENSSL_cleanse(h->k0, sizeof h->k0);
  return 0;
}

/* ---- fhash ---- */

/* The host path of a file name of the device's file system.  The root is
 * the current directory for now; this is the one place that changes when
 * the runtime gets its --fs root. */
/* Hashes the regular file fd into out; 0, or an errno. */
static int hash_fd(int fd, const EVP_MD *md, unsigned char *out, unsigned *outlen) {
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) return ENOENT;
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  int rc = ctx != NULL && EVP_DigestInit_ex(ctx, md, NULL) ? 0 : ENOMEM;
  char buf[16384];
  ssize_t n;
  while (rc == 0 && (n = read(fd, buf, sizeof buf)) != 0) {
    if (n < 0) {
      if (errno != EINTR) rc = EIO;
    } else if (!EVP_DigestUpdate(ctx, buf, (size_t)n)) {
      rc = ENOMEM;
    }
  }
  if (rc == 0 && !EVP_DigestFinal_ex(ctx, out, outlen)) rc = ENOMEM;
  EVP_MD_CTX_free(ctx);
  return rc;
}

/* crypto.fhash(algo, filename) */
static int crypto_fhash(lua_State *L) {
  const EVP_MD *md = check_mech(L, 1);
  /* A file of the device: through the root's sandbox, as file.open. */
  int fd = nm_root_open(nm_ctx_get(L), luaL_checkstring(L, 2), O_RDONLY, 0);
  if (fd < 0) return luaL_error(L, "file does not exist");
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned outlen = 0;
  int rc = hash_fd(fd, md, out, &outlen);
  close(fd);
  if (rc == ENOENT) return luaL_error(L, "file does not exist");
  if (rc == EIO) return luaL_error(L, "read error");
  if (rc != 0) return luaL_error(L, "insufficient memory");
  lua_pushlstring(L, (const char *)out, outlen);
  return 1;
}

/* ---- AES ---- */

static const EVP_CIPHER *check_cipher(lua_State *L, int idx) {
  const char *name = luaL_checkstring(L, idx);
  if (strcasecmp(name, "AES-ECB") == 0) return EVP_aes_128_ecb();
  if (strcasecmp(name, "AES-CBC") == 0) return EVP_aes_128_cbc();
  luaL_error(L, "unknown cipher: %s", name);
  return NULL;
}

/* Runs the cipher over buf in place (len a multiple of the block). */
static int aes_run(const EVP_CIPHER *c, int enc, const char *key, const unsigned char *iv,
                   unsigned char *buf, size_t len) {
  EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
  int outl = 0, ok = ctx != NULL &&
                     EVP_CipherInit_ex(ctx, c, NULL, (const unsigned char *)key, iv, enc) &&
                     EVP_CIPHER_CTX_set_padding(ctx, 0);
  for (size_t off = 0; ok && off < len; off += (size_t)outl) {
    size_t n = len - off > (1u << 30) ? (1u << 30) : len - off; /* int lengths */
    ok = EVP_CipherUpdate(ctx, buf + off, &outl, buf + off, (int)n) && (size_t)outl == n;
  }
  EVP_CIPHER_CTX_free(ctx);
  return ok;
}

/* crypto.encrypt/decrypt(algo, key, data [, iv]): as the firmware, the data
 * is zero-padded to whole blocks, the IV zero-padded or cut to 16 bytes
 * (all zero if absent; ECB ignores it), and a key that is not 16 bytes
 * fails the operation. */
static int crypto_encdec(lua_State *L, int enc) {
  const EVP_CIPHER *c = check_cipher(L, 1);
  size_t klen, dlen, ivlen;
  const char *key = luaL_checklstring(L, 2, &klen);
  const char *data = luaL_checklstring(L, 3, &dlen);
  const char *ivs = luaL_optlstring(L, 4, "", &ivlen);
  unsigned char iv[AES_BLOCK] = {0};
  memcpy(iv, ivs, ivlen < AES_BLOCK ? ivlen : AES_BLOCK);
  if (dlen > ((size_t)-1) - AES_BLOCK) return luaL_error(L, "insufficient memory");
  size_t outlen = (dlen + AES_BLOCK - 1) / AES_BLOCK * AES_BLOCK;
  unsigned char *buf = lua_newuserdata(L, outlen ? outlen : 1); /* collected on error */
  memcpy(buf, data, dlen);
  memset(buf + dlen, 0, outlen - dlen);
  if (klen != AES_BLOCK || !aes_run(c, enc, key, iv, buf, outlen))
    return luaL_error(L, "crypto op failed");
  lua_pushlstring(L, (const char *)buf, outlen);
  return 1;
}

static int crypto_encrypt(lua_State *L) { return crypto_encdec(L, 1); }
static int crypto_decrypt(lua_State *L) { return crypto_encdec(L, 0); }

/* ---- mask ---- */

/* crypto.mask(message, mask): XOR with the mask, repeated. */
static int crypto_mask(lua_State *L) {
  size_t len, mlen;
  const char *msg = luaL_checklstring(L, 1, &len);
  const char *mask = luaL_checklstring(L, 2, &mlen);
  if (mlen == 0) return luaL_error(L, "invalid argument: mask");
  char *out = lua_newuserdata(L, len ? len : 1);
  for (size_t i = 0, m = 0; i < len; i++) {
    out[i] = (char)(msg[i] ^ mask[m]);
    if (++m == mlen) m = 0;
  }
  lua_pushlstring(L, out, len);
  return 1;
}

/* ---- toHex, toBase64: removed from the firmware in 2020 ---- */

/* One warning per call site on stderr, naming the replacement.  (To be
 * replaced by the runtime's common mechanism for old forms, --strict.) */
static void old_form(lua_State *L, const char *form, const char *instead) {
  lua_Debug ar;
  char site[256] = "?";
  for (int level = 1; level < 16 && lua_getstack(L, level, &ar); level++)
    if (lua_getinfo(L, "Sl", &ar) && ar.currentline >= 0) { /* the nearest Lua caller */
      snprintf(site, sizeof site, "%s:%d", ar.short_src, ar.currentline);
      break;
    }
  lua_getfield(L, LUA_REGISTRYINDEX, "netmcu.oldforms");
  if (!lua_istable(L, -1)) {
    lua_pop(L, 1);
    lua_newtable(L);
    lua_pushvalue(L, -1);
    lua_setfield(L, LUA_REGISTRYINDEX, "netmcu.oldforms");
  }
  lua_pushfstring(L, "%s@%s", form, site);
  lua_rawget(L, -2);
  int seen = lua_toboolean(L, -1);
  lua_pop(L, 1);
  if (!seen) {
    lua_pushfstring(L, "%s@%s", form, site);
    lua_pushboolean(L, 1);
    lua_rawset(L, -3);
    fprintf(stderr, "netmcu: %s: %s is an old form (removed from the firmware); use %s\n", site,
            form, instead);
  }
  lua_pop(L, 1);
}

/* crypto.toHex(str): lowercase hex, as the firmware had it. */
static int crypto_tohex(lua_State *L) {
  size_t len;
  const unsigned char *s = (const unsigned char *)luaL_checklstring(L, 1, &len);
  old_form(L, "crypto.toHex", "encoder.toHex");
  if (len > ((size_t)-1) / 2) return luaL_error(L, "insufficient memory");
  char *out = lua_newuserdata(L, len * 2 + 1);
  for (size_t i = 0; i < len; i++) {
    out[2 * i] = "0123456789abcdef"[s[i] >> 4];
    out[2 * i + 1] = "0123456789abcdef"[s[i] & 15];
  }
  lua_pushlstring(L, out, len * 2);
  return 1;
}

/* crypto.toBase64(str): standard alphabet, '=' padding. */
static int crypto_tobase64(lua_State *L) {
  static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  size_t len;
  const unsigned char *s = (const unsigned char *)luaL_checklstring(L, 1, &len);
  old_form(L, "crypto.toBase64", "encoder.toBase64");
  if (len > ((size_t)-1) / 2) return luaL_error(L, "insufficient memory");
  size_t n = (len + 2) / 3 * 4;
  char *out = lua_newuserdata(L, n + 1), *o = out;
  for (size_t i = 0; i < len; i += 3) {
    unsigned v = (unsigned)s[i] << 16 | (i + 1 < len ? (unsigned)s[i + 1] << 8 : 0) |
                 (i + 2 < len ? s[i + 2] : 0);
    *o++ = b64[v >> 18];
    *o++ = b64[(v >> 12) & 63];
    *o++ = i + 1 < len ? b64[(v >> 6) & 63] : '=';
    *o++ = i + 2 < len ? b64[v & 63] : '=';
  }
  lua_pushlstring(L, out, n);
  return 1;
}

int luaopen_crypto(lua_State *L) {
  static const luaL_Reg methods[] = {
      {"update", hash_update}, {"finalize", hash_finalize}, {NULL, NULL}};
  static const luaL_Reg funcs[] = {
      {"sha1", crypto_sha1},       {"mask", crypto_mask},         {"hash", crypto_hash},
      {"fhash", crypto_fhash},     {"new_hash", crypto_new_hash}, {"hmac", crypto_hmac},
      {"new_hmac", crypto_new_hmac}, {"encrypt", crypto_encrypt}, {"decrypt", crypto_decrypt},
      {"toHex", crypto_tohex},     {"toBase64", crypto_tobase64}, {NULL, NULL}};
  nm_class(L, HASH_OBJ, methods, hash_gc);
  nm_newlib(L, funcs);
  return 1;
}
