/* peer_observe.c: see peer_observe.h. */
#include "peer_observe.h"

#include <stdio.h>
#include <string.h>

#include <openssl/err.h>

/* SSL_CB_READ_ALERT: record every alert the program under test sent. */
static void on_info(const SSL *ssl, int where, int value)
{
    struct observation *o = SSL_get_app_data(ssl);
    int desc = value & 0xff;

    if (o == NULL || (where & SSL_CB_READ_ALERT) != SSL_CB_READ_ALERT)
        return;
    if (desc == SSL_AD_CLOSE_NOTIFY)
        o->close_notify_seen = true;
    if (o->n_alerts < MAX_ALERTS)
        o->alerts[o->n_alerts++] = (struct alert_seen){ (value >> 8) & 0xff, desc };
}

/* Adds up the length of every record header OpenSSL parses. Compared with
 * the bytes the socket BIO read, this tells whether OpenSSL holds bytes
 * beyond the close_notify record in its buffer (it should not: no
 * read-ahead), which then count as "extra" like the bytes still in the
 * socket. */
static void on_msg(int write_p, int version, int content_type, const void *buf, size_t len,
                   SSL *ssl, void *arg)
{
    struct observation *o = SSL_get_app_data(ssl);
    const unsigned char *h = buf;

    (void)version;
    (void)arg;
    if (o == NULL || write_p || content_type != SSL3_RT_HEADER || len < 5)
        return;
    o->last_record = 5 + ((size_t)h[3] << 8 | h[4]);
    o->record_bytes += o->last_record;
}

void observe_callbacks(SSL_CTX *ctx)
{
    SSL_CTX_set_info_callback(ctx, on_info);
    SSL_CTX_set_msg_callback(ctx, on_msg);
}

bool observe_attach(SSL *ssl, struct observation *o)
{
    *o = (struct observation){ 0 };
    return SSL_set_app_data(ssl, o) == 1;
}

void observe_app_bytes(struct observation *o, const unsigned char *p, size_t n)
{
    const unsigned char *nl;

    o->app_in += n;
    if (o->got_line) {
        o->app_in_after += n;
        return;
    }
    nl = memchr(p, '\n', n);
    if (nl != NULL) {
        o->got_line = true;
        o->app_in_after += n - (size_t)(nl - p) - 1;
    }
}

uint64_t observe_buffered(const struct observation *o, SSL *ssl)
{
    uint64_t got = BIO_number_read(SSL_get_rbio(ssl));

    return got > o->record_bytes ? got - o->record_bytes : 0;
}

uint64_t observe_partial_record(const struct observation *o, SSL *ssl)
{
    uint64_t got = BIO_number_read(SSL_get_rbio(ssl));

    /* OpenSSL reads a header, reports it (on_msg), then reads the body: a
     * stream cut inside a body leaves got short of record_bytes, one cut
     * inside a header leaves bytes beyond it. */
    if (got > o->record_bytes)
        return got - o->record_bytes;
    if (got < o->record_bytes)
        return got - (o->record_bytes - o->last_record);
    return 0;
}

bool observe_is_unexpected_eof(unsigned long err)
{
#ifdef SSL_R_UNEXPECTED_EOF_WHILE_READING
    return ERR_GET_LIB(err) == ERR_LIB_SSL &&
           ERR_GET_REASON(err) == SSL_R_UNEXPECTED_EOF_WHILE_READING;
#else
    (void)err;
    return false;
#endif
}

void observe_json_alerts(struct json *j, const struct observation *o)
{
    char text[128];

    json_key(j, "alerts");
    fputc('[', j->out);
    for (size_t i = 0; i < o->n_alerts; i++) {
        int value = o->alerts[i].level << 8 | o->alerts[i].desc;

        snprintf(text, sizeof text, "%s:%s", SSL_alert_type_string_long(value),
                 SSL_alert_desc_string_long(value));
        lowercase(text);
        if (i > 0)
            fputc(',', j->out);
        json_string(j->out, text);
    }
    fputc(']', j->out);
}
