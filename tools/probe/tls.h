/* tls.h: the OpenSSL side of tlsclose-probe: the client context, bounded
 * TLS I/O on a non-blocking socket, and what the server's alerts were. */

#ifndef TLSCLOSE_PROBE_TLS_H
#define TLSCLOSE_PROBE_TLS_H

#include <stdbool.h>
#include <stdint.h>

#include <openssl/ssl.h>

#include "net.h"
#include "probe.h"

/* One connection. The message callback fills in the alert fields. */
struct tls_conn {
    int fd;
    SSL *ssl;
    uint64_t record_bytes;  /* size of every record OpenSSL parsed */
    int alert_level;        /* last alert received: level (1, 2), 0 none */
    int alert;              /* its description, -1 none */
    bool close_notify_seen;
};

/* Why a TLS call did not complete, captured right after it. */
struct tls_failure {
    bool timed_out;
    int ssl_error;          /* SSL_get_error() */
    int sys_errno;          /* errno right after the call */
    unsigned long err;      /* oldest queued OpenSSL error, 0 if none */
};

/* The client context for o: versions, trust (exit 2 if the CA file cannot
 * be loaded), no read-ahead (so that OpenSSL stops right after the
 * close_notify record and leaves what follows in the socket). */
SSL_CTX *tls_make_ctx(const struct probe_options *o);

/* Wraps a connected socket; SNI and the name to verify come from o. */
void tls_open(struct tls_conn *c, SSL_CTX *ctx, const struct probe_options *o, int fd);

/* Frees the SSL object (which sends nothing) and closes the socket. */
void tls_close(struct tls_conn *c);

/* The handshake, before the deadline; on failure exit 2 with one line
 * saying why (certificate, alert, version, timeout, reset...). */
void tls_handshake(struct tls_conn *c, const struct probe_options *o, const struct deadline *d);

bool tls_write_all(struct tls_conn *c, const void *data, size_t len, const struct deadline *d,
                   struct tls_failure *f);

/* Our close_notify (warning level, SSL_shutdown), written before the
 * deadline. False when it could not be written (see *f). */
bool tls_send_close_notify(struct tls_conn *c, const struct deadline *d, struct tls_failure *f);

/* Reads application data until the stream ends or the deadline passes,
 * adding the bytes to cl->app_in, and says in cl how it ended (end,
 * alert_level, alert, detail). */
void tls_read_to_end(struct tls_conn *c, const struct deadline *d, struct closing *cl);

/* Bytes OpenSSL took from the socket beyond the records it parsed (none
 * without read-ahead; counted as data after a close_notify if any). */
uint64_t tls_buffered(const struct tls_conn *c);

/* Fills in the version, cipher and whether the certificate was verified. */
void tls_describe(const struct tls_conn *c, const struct probe_options *o, struct probe_result *r);

/* Bytes OpenSSL wrote to and read from the socket so far. */
void tls_count_bytes(const struct tls_conn *c, struct closing *cl);

/* An alert description as RFC 8446 spells it ("close_notify"). */
const char *alert_name(int desc, char *buf, size_t len);

#endif
