/* peer_observe.h: what the OpenSSL test peers (tests/peer, tests/scale/
 * mux_peer) learn about one connection from OpenSSL itself: the alerts the
 * program under test sent, the TLS records parsed, the application bytes
 * received. One definition, so that both peers judge a connection alike.
 *
 * The SSL's app data points to the connection's struct observation (set
 * with observe_attach()); the context's callbacks (observe_callbacks())
 * fill it in. */
#ifndef TLSCLOSE_PEER_OBSERVE_H
#define TLSCLOSE_PEER_OBSERVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

#include "peer_util.h"

#define MAX_ALERTS 8

struct alert_seen {
    int level; /* SSL3_AL_WARNING or SSL3_AL_FATAL as sent by the program */
    int desc;
};

struct observation {
    struct alert_seen alerts[MAX_ALERTS]; /* the first MAX_ALERTS received */
    size_t n_alerts;
    bool close_notify_seen;
    uint64_t record_bytes;  /* size of all TLS records parsed so far */
    uint64_t last_record;   /* size of the last one (its header parsed) */
    uint64_t app_in;        /* application bytes received */
    uint64_t app_in_after;  /* of those, after the first '\n' */
    bool got_line;
};

/* Installs the alert and record callbacks on a context. */
void observe_callbacks(SSL_CTX *ctx);

/* Starts observing ssl into o (zeroed). False if the app data cannot be set. */
bool observe_attach(SSL *ssl, struct observation *o);

/* Counts n application bytes received (the request line ends at '\n'). */
void observe_app_bytes(struct observation *o, const unsigned char *p, size_t n);

/* Bytes the socket BIO read beyond the records OpenSSL parsed: what OpenSSL
 * holds in its buffer after the last record. */
uint64_t observe_buffered(const struct observation *o, SSL *ssl);

/* After the stream ended: the bytes of an incomplete last record that the
 * socket BIO read (a header that did not complete, or a record whose header
 * announced more than arrived); 0 when the stream ended between records. */
uint64_t observe_partial_record(const struct observation *o, SSL *ssl);

/* Whether err is OpenSSL 3's "unexpected eof while reading". */
bool observe_is_unexpected_eof(unsigned long err);

/* "alerts": ["warning:close notify", ...] */
void observe_json_alerts(struct json *j, const struct observation *o);

#endif
