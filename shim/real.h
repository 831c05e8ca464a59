/* real.h: the real libc and OpenSSL functions behind the wrappers.
 *
 * libc is bound with dlsym(RTLD_NEXT) in the constructor and again lazily by
 * any wrapper that runs before it. OpenSSL is bound lazily at the first
 * intercepted OpenSSL call, from the libssl the program actually loaded (also
 * when it was loaded RTLD_LOCAL, as Python's _ssl does). Callers never call a
 * NULL pointer: libc falls back to raw system calls, and an OpenSSL symbol
 * that is missing disables the feature that needs it. */
#ifndef TC_REAL_H
#define TC_REAL_H

#include <stdio.h>
#include <sys/types.h>
#include "ossl.h"

struct tc_libc {
    int (*close)(int);
    int (*shutdown)(int, int);
    int (*dup)(int);
    int (*dup2)(int, int);
    int (*dup3)(int, int, int);
    int (*fcntl)(int, int, ...);
    int (*fcntl64)(int, int, ...);
    int (*close_range)(unsigned int, unsigned int, int);
    void (*closefrom)(int);
    int (*fclose)(FILE *);
};

typedef void tc_ex_free_fn(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx,
                           long argl, void *argp);
typedef int tc_ex_dup_fn(CRYPTO_EX_DATA *to, const CRYPTO_EX_DATA *from,
                         void *from_d, int idx, long argl, void *argp);

struct tc_ossl {
    /* intercepted */
    int (*SSL_read)(SSL *, void *, int);
    int (*SSL_read_ex)(SSL *, void *, size_t, size_t *);
    int (*SSL_peek)(SSL *, void *, int);
    int (*SSL_peek_ex)(SSL *, void *, size_t, size_t *);
    int (*SSL_write)(SSL *, const void *, int);
    int (*SSL_write_ex)(SSL *, const void *, size_t, size_t *);
    int (*SSL_connect)(SSL *);
    int (*SSL_accept)(SSL *);
    int (*SSL_do_handshake)(SSL *);
    int (*SSL_shutdown)(SSL *);
    void (*SSL_free)(SSL *);
    int (*SSL_up_ref)(SSL *);
    int (*SSL_clear)(SSL *);
    int (*SSL_get_error)(const SSL *, int);
    /* used by the shim */
    int (*SSL_is_init_finished)(const SSL *);
    int (*SSL_get_shutdown)(const SSL *);
    void (*SSL_set_shutdown)(SSL *, int);
    int (*SSL_get_quiet_shutdown)(const SSL *);
    void (*SSL_set_quiet_shutdown)(SSL *, int);
    int (*SSL_get_wfd)(const SSL *);
    int (*SSL_want)(const SSL *);
    int (*SSL_is_dtls)(const SSL *);
    int (*SSL_is_quic)(SSL *);               /* 3.2+, optional */
    const char *(*SSL_get_version)(const SSL *);
    int (*SSL_version)(const SSL *);
    /* uint64_t in 3.x, unsigned long in 1.1.1: the same on LP64 */
    uint64_t (*SSL_get_options)(const SSL *);
    uint64_t (*SSL_set_options)(SSL *, uint64_t);
    BIO *(*SSL_get_rbio)(const SSL *);
    BIO *(*SSL_get_wbio)(const SSL *);
    BIO *(*BIO_find_type)(BIO *, int);
    /* the alert through the library's own BIO (alertbio.c); optional */
    void (*SSL_set0_wbio)(SSL *, BIO *);
    BIO *(*BIO_new)(const BIO_METHOD *);
    int (*BIO_up_ref)(BIO *);
    int (*BIO_get_new_index)(void);
    BIO_METHOD *(*BIO_meth_new)(int, const char *);
    int (*BIO_meth_set_write)(BIO_METHOD *, int (*)(BIO *, const char *, int));
    int (*BIO_meth_set_ctrl)(BIO_METHOD *, long (*)(BIO *, int, long, void *));
    int (*BIO_meth_set_create)(BIO_METHOD *, int (*)(BIO *));
    void (*BIO_set_init)(BIO *, int);
    int (*BIO_method_type)(const BIO *);
    long (*BIO_ctrl)(BIO *, int, long, void *);
    int (*BIO_test_flags)(const BIO *, int);
    int (*CRYPTO_get_ex_new_index)(int, long, void *, void *, tc_ex_dup_fn *,
                                   tc_ex_free_fn *);
    unsigned long (*ERR_peek_error)(void);
    unsigned long (*ERR_peek_last_error)(void);
    unsigned long (*ERR_get_error)(void);
    void (*ERR_new)(void);                                   /* 3.x */
    void (*ERR_set_debug)(const char *, int, const char *);  /* 3.x */
    void (*ERR_set_error)(int, int, const char *, ...);      /* 3.x */
    void (*ERR_put_error)(int, int, int, const char *, int); /* 1.1.1 */
    int (*ERR_get_next_error_library)(void);
    int (*ERR_load_strings)(int, void *);
    int (*ERR_set_mark)(void);
    int (*ERR_pop_to_mark)(void);
    int (*OPENSSL_init_crypto)(uint64_t, const void *);
    unsigned long (*OpenSSL_version_num)(void);
};

extern struct tc_libc tc_libc;
extern struct tc_ossl tc_ossl;

/* Bind libc; idempotent and cheap once done. */
void tc_bind_libc(void);

/* Bind OpenSSL once; returns 1 when the functions the shim needs to act are
 * there, 0 otherwise (wrappers then pass calls through untouched). The
 * binding state, read with an acquire load (init.h: tc_openssl_bound),
 * is 0 before the first try, 1 when bound, -1 when unusable. */
int tc_bind_openssl_slow(void);
extern int tc_ossl_state;
/* The dlopen handle of the libssl bound (after tc_bind_openssl_slow). */
extern void *tc_libssl;

/* The functions the binding did not find, comma-separated, or NULL when
 * none is missing; *disabled is set when the library cannot act without
 * them. For the caller to report (this layer logs nothing). */
const char *tc_ossl_missing(int *disabled);

/* This library's own definition of a symbol it exports (a wrapper): for
 * telling the wrapper from the function it wraps without referring to the
 * wrapper, which lives in a layer above. NULL if not found. */
void *tc_own_symbol(const char *name);

/* 1 when the bound OpenSSL is 3.x; valid once the binding succeeded. */
extern int tc_ossl_v3;
/* 1 from OpenSSL 3.2 on (the rewritten record layer: eof.c). */
extern int tc_ossl_v32;

/* Make sure libc is bound before using tc_libc.<name>. */
#define TC_LIBC(name) \
    (__atomic_load_n(&tc_libc.name, __ATOMIC_ACQUIRE) ? tc_libc.name \
                                                      : (tc_bind_libc(), tc_libc.name))

#endif
