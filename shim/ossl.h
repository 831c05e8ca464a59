/* ossl.h: the few OpenSSL types and constants the shim needs.
 *
 * The library is built without OpenSSL headers on purpose: one build must
 * serve programs linked against OpenSSL 1.1.1 and 3.x, so every type is
 * opaque and every constant below has the same value in both versions. */
#ifndef TC_OSSL_H
#define TC_OSSL_H

#include <stddef.h>
#include <stdint.h>

typedef struct ssl_st SSL;
typedef struct bio_st BIO;
typedef struct bio_method_st BIO_METHOD;
typedef struct crypto_ex_data_st CRYPTO_EX_DATA;

#define TC_SSL_SENT_SHUTDOWN 1
#define TC_SSL_RECEIVED_SHUTDOWN 2

/* SSL_want() */
#define TC_SSL_NOTHING 1
#define TC_SSL_WRITING 2
#define TC_SSL_READING 3

#define TC_BIO_FLAGS_SHOULD_RETRY 0x08
#define TC_BIO_TYPE_DESCRIPTOR 0x0100
#define TC_BIO_CTRL_GET_CLOSE 8
#define TC_BIO_CTRL_SET_CLOSE 9
#define TC_BIO_C_SET_FD 104
#define TC_BIO_C_GET_FD 105
#define TC_BIO_CTRL_FLUSH 11
#define TC_BIO_TYPE_SOURCE_SINK 0x0400
#define TC_BIO_CTRL_GET_KTLS_SEND 73 /* 1.1.1 built with kernel TLS */
#define TC_SSL_OP_ENABLE_KTLS 0x8      /* 3.x */

#define TC_CRYPTO_EX_INDEX_SSL 0
/* OPENSSL_init_crypto(): internal "base only" option, same value in 1.1.1
 * and 3.x; returns 0 without side effects once OPENSSL_cleanup() has run. */
#define TC_OPENSSL_INIT_BASE_ONLY 0x00040000L

/* SSL_get_error() */
#define TC_SSL_ERROR_SSL 1
#define TC_SSL_ERROR_SYSCALL 5
#define TC_SSL_ERROR_ZERO_RETURN 6

/* SSL_OP_IGNORE_UNEXPECTED_EOF in 3.x; a reserved, ignored bit in 1.1.1. */
#define TC_SSL_OP_IGNORE_UNEXPECTED_EOF 0x80
#define TC_BIO_CTRL_EOF 2

#define TC_ERR_LIB_SSL 20
#define TC_ERR_LIB_SYS 2
/* 3.x only: in 1.1.1, reason 294 is "ocsp callback failure". */
#define TC_SSL_R_UNEXPECTED_EOF_WHILE_READING 294
/* A received alert is reported as reason 1000 + its description. */
#define TC_SSL_AD_REASON_OFFSET 1000

#define TC_TLS1_2_VERSION 0x0303
#define TC_TLS1_3_VERSION 0x0304

/* The functions the shim interposes; their prototypes are identical in
 * 1.1.1 and 3.x. */
int SSL_read(SSL *ssl, void *buf, int num);
int SSL_read_ex(SSL *ssl, void *buf, size_t num, size_t *readbytes);
int SSL_peek(SSL *ssl, void *buf, int num);
int SSL_peek_ex(SSL *ssl, void *buf, size_t num, size_t *readbytes);
int SSL_write(SSL *ssl, const void *buf, int num);
int SSL_write_ex(SSL *ssl, const void *buf, size_t num, size_t *written);
int SSL_connect(SSL *ssl);
int SSL_accept(SSL *ssl);
int SSL_do_handshake(SSL *ssl);
int SSL_shutdown(SSL *ssl);
int SSL_up_ref(SSL *ssl);
void SSL_free(SSL *ssl);
int SSL_clear(SSL *ssl);
int SSL_get_error(const SSL *ssl, int ret);
int SSL_get_shutdown(const SSL *ssl);
void SSL_set_shutdown(SSL *ssl, int mode);

#endif
