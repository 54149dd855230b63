/* tls.c - the `tls` module (docs/modules/tls.md): tls.createConnection,
 * tls.cert.verify, tls.cert.auth, tls.setDebug; and the loop's TLS
 * settings, with the one SSL_CTX built from them that every new TLS
 * connection uses (tls_conn.c).  A tls.cert call builds the new SSL_CTX
 * at once, so bad certificates raise there, and connections already open
 * keep the one they started with (OpenSSL counts its references). */
#include <limits.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <string.h>

#include "tls.h"

/* More certificates than this from a tls.cert callback: it never ends. */
#define TLS_MAX_CERTS 64

int nm_tls_debug;

/* What tls.cert.* set, for the life of the Lua state (the firmware keeps
 * it in flash: docs/DIFFERENCES.md).  ctx->state[NM_STATE_TLS]. */
typedef struct tls_state {
  nm_obj obj;
  nm_ctx *ctx;
  SSL_CTX *ssl;          /* built from what follows; NULL until first needed */
  int verify;            /* tls.cert.verify on */
  STACK_OF(X509) *ca;    /* the CAs given to tls.cert.verify; NULL: the system's */
  int auth;              /* tls.cert.auth on */
  STACK_OF(X509) *certs; /* the client's certificate, then its chain */
  EVP_PKEY *key;         /* ... and its private key */
} tls_state;

/* A candidate for the settings: built, then swapped in whole. */
typedef struct tls_settings {
  int verify, auth;
  STACK_OF(X509) *ca, *certs;
  EVP_PKEY *key;
} tls_settings;

static void tls_state_kill(nm_obj *o) {
  tls_state *st = nm_container_of(o, tls_state, obj);
  nm_obj_unregister(&st->obj);
  st->ctx->state[NM_STATE_TLS] = NULL;
  SSL_CTX_free(st->ssl);
  sk_X509_pop_free(st->ca, X509_free);
  sk_X509_pop_free(st->certs, X509_free);
  EVP_PKEY_free(st->key);
  free(st);
}

static tls_state *tls_state_get(nm_ctx *ctx) {
  tls_state *st = ctx->state[NM_STATE_TLS];
  if (st != NULL) return st;
  st = calloc(1, sizeof *st);
  if (st == NULL) return NULL;
  st->ctx = ctx; /* the firmware's default: no verification, no client certificate */
  nm_obj_register(ctx, &st->obj, tls_state_kill);
  ctx->state[NM_STATE_TLS] = st;
  return st;
}

/* ---- the SSL_CTX ---- */

static SSL_CTX *ctx_build(const tls_settings *set) {
  SSL_CTX *c = SSL_CTX_new(TLS_client_method());
  if (c == NULL) return NULL;
  int ok = SSL_CTX_set_min_proto_version(c, TLS1_2_VERSION);
  /* A send waiting for a renegotiation is retried from its own copy. */
  SSL_CTX_set_mode(c, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS);
  nm_tls_ctx_debug(c);
  if (set->verify) {
    X509_STORE *store = SSL_CTX_get_cert_store(c);
    if (set->ca == NULL) {
      ok = ok && SSL_CTX_set_default_verify_paths(c); /* honours SSL_CERT_FILE/_DIR */
    } else {
      for (int i = 0; ok && i < sk_X509_num(set->ca); i++)
        ok = X509_STORE_add_cert(store, sk_X509_value(set->ca, i));
    }
    SSL_CTX_set_verify(c, SSL_VERIFY_PEER, NULL);
  } else {
    SSL_CTX_set_verify(c, SSL_VERIFY_NONE, NULL);
  }
  if (set->auth && set->certs != NULL && set->key != NULL) {
    ok = ok && SSL_CTX_use_certificate(c, sk_X509_value(set->certs, 0));
    for (int i = 1; ok && i < sk_X509_num(set->certs); i++)
      ok = SSL_CTX_add1_chain_cert(c, sk_X509_value(set->certs, i));
    ok = ok && SSL_CTX_use_PrivateKey(c, set->key);
  }
  ERR_clear_error();
  if (!ok) {
    SSL_CTX_free(c);
    return NULL;
  }
  return c;
}

static tls_settings settings_of(const tls_state *st) {
  tls_settings set = {st->verify, st->auth, st->ca, st->certs, st->key};
  return set;
}

struct ssl_ctx_st *nm_tls_ctx(nm_ctx *ctx) {
  tls_state *st = tls_state_get(ctx);
  if (st == NULL) return NULL;
  if (st->ssl == NULL) {
    tls_settings set = settings_of(st);
    st->ssl = ctx_build(&set);
  }
  return st->ssl;
}

/* Builds the SSL_CTX for set and makes set the loop's settings, freeing
 * what it replaces; on failure frees what set brought that st does not
 * hold, and returns an error message. */
static const char *settings_apply(tls_state *st, tls_settings *set) {
  SSL_CTX *c = ctx_build(set);
  if (c == NULL) {
    if (set->ca != st->ca) sk_X509_pop_free(set->ca, X509_free);
    if (set->certs != st->certs) sk_X509_pop_free(set->certs, X509_free);
    if (set->key != st->key) EVP_PKEY_free(set->key);
    return "out of memory";
  }
  if (set->ca != st->ca) sk_X509_pop_free(st->ca, X509_free);
  if (set->certs != st->certs) sk_X509_pop_free(st->certs, X509_free);
  if (set->key != st->key) EVP_PKEY_free(st->key);
  SSL_CTX_free(st->ssl);
  st->ssl = c;
  st->verify = set->verify;
  st->auth = set->auth;
  st->ca = set->ca;
  st->certs = set->certs;
  st->key = set->key;
  return NULL;
}

/* ---- reading certificates and keys ---- */

/* Never a passphrase prompt on the terminal: encrypted keys just fail. */
static int no_password(char *buf, int size, int rwflag, void *u) {
  (void)buf, (void)size, (void)rwflag, (void)u;
  return 0;
}

static int has(const char *s, size_t n, const char *what) {
  return memmem(s, n, what, strlen(what)) != NULL;
}

/* The firmware's messages for a text that gave nothing of `type`. */
static const char *pem_why(const char *s, size_t n, const char *type) {
  if (!has(s, n, "-----BEGIN ")) return "No PEM header";
  if (!has(s, n, type)) return "Wrong PEM type";
  return "Invalid PEM format data";
}

/* Appends the certificates of s[0..n) to sk: every one of a PEM text, or
 * one DER certificate (callbacks may give either).  Adds to *count. */
static const char *read_certs(const char *s, size_t n, STACK_OF(X509) *sk, int *count) {
  if (n > INT_MAX) return "Invalid PEM format data";
  if (!has(s, n, "-----BEGIN ")) {
    const unsigned char *q = (const unsigned char *)s;
    X509 *x = d2i_X509(NULL, &q, (long)n);
    if (x == NULL || q != (const unsigned char *)s + n) {
      X509_free(x);
      ERR_clear_error();
      return "No PEM header";
    }
    if (!sk_X509_push(sk, x)) {
      X509_free(x);
      return "out of memory";
    }
    (*count)++;
    return NULL;
  }
  BIO *b = BIO_new_mem_buf(s, (int)n);
  if (b == NULL) return "out of memory";
  const char *err = NULL;
  X509 *x;
  while (err == NULL && (x = PEM_read_bio_X509(b, NULL, no_password, NULL)) != NULL) {
    if (!sk_X509_push(sk, x)) {
      X509_free(x);
      err = "out of memory";
    }
    (*count)++;
  }
  unsigned long e = ERR_peek_last_error();
  BIO_free(b);
  ERR_clear_error();
  /* Reading stops at the end (no more BEGIN line) or at a bad block. */
  if (err == NULL && !(ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE))
    err = "Invalid PEM format data";
  return err;
}

/* The first private key of s[0..n) (PEM of any kind OpenSSL reads, or
 * DER), or NULL. */
static EVP_PKEY *read_key(const char *s, size_t n) {
  EVP_PKEY *k = NULL;
  if (n > INT_MAX) return NULL;
  if (!has(s, n, "-----BEGIN ")) {
    const unsigned char *q = (const unsigned char *)s;
    k = d2i_AutoPrivateKey(NULL, &q, (long)n);
  } else {
    BIO *b = BIO_new_mem_buf(s, (int)n);
    if (b != NULL) k = PEM_read_bio_PrivateKey(b, NULL, no_password, NULL);
    BIO_free(b);
  }
  ERR_clear_error();
  return k;
}

/* Calls the function at fn with k = first, first + 1, ... until it
 * returns nil or false (at most TLS_MAX_CERTS times, or once if one is
 * set), leaving each answer on the stack.  Raises what it raises. */
static int collect(lua_State *L, int fn, int first, int one) {
  int n = 0;
  for (int k = first;; k++) {
    luaL_checkstack(L, 2, "too many certificates");
    lua_pushvalue(L, fn);
    lua_pushinteger(L, k);
    lua_call(L, 1, 1);
    if (lua_isnil(L, -1) || (lua_isboolean(L, -1) && !lua_toboolean(L, -1))) {
      lua_pop(L, 1);
      return n;
    }
    if (lua_type(L, -1) != LUA_TSTRING) luaL_error(L, "certificate callback returned a %s", luaL_typename(L, -1));
    n++;
    if (one) return n;
    if (n > TLS_MAX_CERTS) luaL_error(L, "too many certificates");
  }
}

/* The certificates of the strings at first..last into a new stack
 * (*out).  NULL or an error message (nothing allocated then). */
static const char *certs_of(lua_State *L, int first, int last, STACK_OF(X509) **out) {
  STACK_OF(X509) *sk = sk_X509_new_null();
  const char *err = sk == NULL ? "out of memory" : NULL;
  int count = 0;
  for (int i = first; err == NULL && i <= last; i++) {
    size_t n;
    const char *s = lua_tolstring(L, i, &n);
    int before = count;
    err = read_certs(s, n, sk, &count);
    if (err == NULL && count == before) err = pem_why(s, n, "-----BEGIN CERTIFICATE-----");
  }
  if (err != NULL) {
    sk_X509_pop_free(sk, X509_free);
    return err;
  }
  *out = sk;
  return NULL;
}

static tls_state *check_state(lua_State *L) {
  tls_state *st = tls_state_get(nm_ctx_get(L));
  if (st == NULL) luaL_error(L, "out of memory");
  return st;
}

/* Every argument from 1 is a string (checked before anything is made). */
static int check_strings(lua_State *L) {
  int n = lua_gettop(L);
  for (int i = 1; i <= n; i++) luaL_checktype(L, i, LUA_TSTRING);
  return n;
}

static int apply_or_raise(lua_State *L, tls_state *st, tls_settings *set) {
  const char *err = settings_apply(st, set);
  if (err != NULL) return luaL_error(L, "%s", err);
  lua_pushboolean(L, 1);
  return 1;
}

/* ---- tls.cert ---- */

/* tls.cert.verify(enable | pem[, pem...] | callback) */
static int tls_cert_verify(lua_State *L) {
  tls_state *st = check_state(L);
  tls_settings set = settings_of(st);
  int t = lua_type(L, 1), first = 1, last;
  if (t == LUA_TSTRING) {
    last = check_strings(L);
  } else if (t == LUA_TFUNCTION) { /* called now, not per connection (docs) */
    lua_settop(L, 1);
    first = 2;
    last = 1 + collect(L, 1, 1, 0);
    if (last < first) { /* no certificate: no verification, as the firmware */
      set.verify = 0;
      return apply_or_raise(L, st, &set);
    }
  } else {
    set.verify = lua_toboolean(L, 1); /* true: the CAs given before, else the system's */
    return apply_or_raise(L, st, &set);
  }
  const char *err = certs_of(L, first, last, &set.ca);
  if (err != NULL) return luaL_error(L, "%s", err);
  set.verify = 1;
  return apply_or_raise(L, st, &set);
}

/* The client certificate (then chain) and key from the strings at
 * first..last.  The key is the string at keyidx, or (keyidx 0) the first
 * one found among them: the firmware's order is certificate, key, but one
 * PEM text with both is common on a host. */
static const char *auth_of(lua_State *L, int first, int last, int keyidx, tls_settings *set) {
  EVP_PKEY *key = NULL;
  size_t n;
  const char *s;
  for (int i = keyidx ? keyidx : first; key == NULL && i <= (keyidx ? keyidx : last); i++) {
    s = lua_tolstring(L, i, &n);
    key = read_key(s, n);
  }
  if (key == NULL) {
    s = lua_tolstring(L, keyidx ? keyidx : last, &n);
    return pem_why(s, n, "PRIVATE KEY-----");
  }
  STACK_OF(X509) *sk = sk_X509_new_null();
  const char *err = sk == NULL ? "out of memory" : NULL;
  int count = 0;
  for (int i = first; err == NULL && i <= last; i++) {
    s = lua_tolstring(L, i, &n);
    if (i == keyidx || (has(s, n, "-----BEGIN ") && !has(s, n, "CERTIFICATE-----")))
      continue; /* the key */
    err = read_certs(s, n, sk, &count);
  }
  if (err == NULL && count == 0) err = "Wrong PEM type";
  if (err == NULL && X509_check_private_key(sk_X509_value(sk, 0), key) != 1)
    err = "certificate and private key do not match";
  ERR_clear_error();
  if (err != NULL) {
    sk_X509_pop_free(sk, X509_free);
    EVP_PKEY_free(key);
    return err;
  }
  set->certs = sk;
  set->key = key;
  set->auth = 1;
  return NULL;
}

/* tls.cert.auth(enable | certpem, keypem | callback) */
static int tls_cert_auth(lua_State *L) {
  tls_state *st = check_state(L);
  tls_settings set = settings_of(st);
  int t = lua_type(L, 1), first = 1, last, keyidx = 0;
  if (t == LUA_TSTRING) {
    last = check_strings(L);
  } else if (t == LUA_TFUNCTION) { /* k = 0: the key; 1, 2, ...: the chain */
    lua_settop(L, 1);
    first = keyidx = 2;
    last = 1 + collect(L, 1, 0, 1);
    if (last == 2) last += collect(L, 1, 1, 0);
    if (last < 3) { /* no key or no certificate: no client certificate */
      set.auth = 0;
      return apply_or_raise(L, st, &set);
    }
  } else {
    set.auth = lua_toboolean(L, 1);
    if (set.auth && st->certs == NULL) return luaL_error(L, "no certificates found");
    return apply_or_raise(L, st, &set);
  }
  const char *err = auth_of(L, first, last, keyidx, &set);
  if (err != NULL) return luaL_error(L, "%s", err);
  return apply_or_raise(L, st, &set);
}

static const char cert_key = 'c'; /* registry key of the tls.cert table */

void nm_tls_cert_push(lua_State *L) {
  static const luaL_Reg funcs[] = {
      {"verify", tls_cert_verify}, {"auth", tls_cert_auth}, {NULL, NULL}};
  lua_pushlightuserdata(L, (void *)&cert_key);
  lua_rawget(L, LUA_REGISTRYINDEX);
  if (lua_istable(L, -1)) return;
  lua_pop(L, 1);
  nm_newlib(L, funcs);
  lua_pushlightuserdata(L, (void *)&cert_key);
  lua_pushvalue(L, -2);
  lua_rawset(L, LUA_REGISTRYINDEX);
}

/* ---- tls ---- */

/* tls.createConnection(): a net socket that speaks TLS. */
static int tls_createConnection(lua_State *L) {
  lua_settop(L, 0);
  return nm_tcpsocket_create(L, 1);
}

/* tls.setDebug(level) */
static int tls_setDebug(lua_State *L) {
  long long level;
  if (!nm_tointeger(L, 1, &level)) return luaL_argerror(L, 1, "integer expected");
  nm_tls_debug = level < 0 ? 0 : level > 4 ? 4 : (int)level;
  return 0;
}

int luaopen_tls(lua_State *L) {
  static const luaL_Reg funcs[] = {
      {"createConnection", tls_createConnection}, {"setDebug", tls_setDebug}, {NULL, NULL}};
  nm_ctx_get(L);
  nm_tcpsocket_open(L);
  nm_newlib(L, funcs);
  nm_tls_cert_push(L);
  lua_setfield(L, -2, "cert");
  return 1;
}
