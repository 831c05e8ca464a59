/* tls.c: OpenSSL for tlsclose-probe. The socket is non-blocking and all
 * waiting happens in poll() (tls_run), never inside OpenSSL, so that no
 * server can hold the probe past its deadlines. */

#include "config.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "tls.h"

/* ------------------------------------------------------------------------ */
/* Observing the server's records and alerts                                 */

/* Every record header OpenSSL parses (to tell whether it read beyond the
 * close_notify record) and every alert the server sends, with its level:
 * OpenSSL's return values do not say at which level a close_notify came. */
static void on_msg(int write_p, int version, int content_type, const void *buf, size_t len,
                   SSL *ssl, void *arg)
{
    struct tls_conn *c = SSL_get_app_data(ssl);
    const unsigned char *p = buf;

    (void)version;
    (void)arg;
    if (c == NULL || write_p)
        return;
    if (content_type == SSL3_RT_HEADER && len >= 5)
        c->record_bytes += 5 + ((size_t)p[3] << 8 | p[4]);
    if (content_type == SSL3_RT_ALERT && len >= 2) {
        c->alert_level = p[0];
        c->alert = p[1];
        if (p[1] == SSL_AD_CLOSE_NOTIFY)
            c->close_notify_seen = true;
    }
}

const char *alert_name(int desc, char *buf, size_t len)
{
    static const struct {
        int desc;
        const char *name;
    } names[] = {
        { 0, "close_notify" },           { 10, "unexpected_message" },
        { 20, "bad_record_mac" },        { 21, "decryption_failed" },
        { 22, "record_overflow" },       { 30, "decompression_failure" },
        { 40, "handshake_failure" },     { 41, "no_certificate" },
        { 42, "bad_certificate" },       { 43, "unsupported_certificate" },
        { 44, "certificate_revoked" },   { 45, "certificate_expired" },
        { 46, "certificate_unknown" },   { 47, "illegal_parameter" },
        { 48, "unknown_ca" },            { 49, "access_denied" },
        { 50, "decode_error" },          { 51, "decrypt_error" },
        { 60, "export_restriction" },    { 70, "protocol_version" },
        { 71, "insufficient_security" }, { 80, "internal_error" },
        { 86, "inappropriate_fallback" }, { 90, "user_canceled" },
        { 100, "no_renegotiation" },     { 109, "missing_extension" },
        { 110, "unsupported_extension" }, { 111, "certificate_unobtainable" },
        { 112, "unrecognized_name" },    { 113, "bad_certificate_status_response" },
        { 114, "bad_certificate_hash_value" }, { 115, "unknown_psk_identity" },
        { 116, "certificate_required" }, { 120, "no_application_protocol" },
    };

    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (names[i].desc == desc)
            return names[i].name;
    snprintf(buf, len, "alert_%d", desc);
    return buf;
}

/* ------------------------------------------------------------------------ */
/* Context and connection                                                    */

static void fail_ssl(const char *what) __attribute__((noreturn));

static void fail_ssl(const char *what)
{
    char buf[256];
    unsigned long e = ERR_peek_error();

    if (e == 0)
        fail("%s", what);
    ERR_error_string_n(e, buf, sizeof buf);
    fail("%s: %s", what, buf);
}

SSL_CTX *tls_make_ctx(const struct probe_options *o)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    int min = o->tls_version ? o->tls_version : TLS1_2_VERSION;

    if (ctx == NULL)
        fail_ssl("cannot create a TLS context");
    if (!SSL_CTX_set_min_proto_version(ctx, min) ||
        !SSL_CTX_set_max_proto_version(ctx, o->tls_version))
        fail_ssl("cannot set the TLS version");
    /* One record at a time: after the close_notify record, whatever the
     * server sent stays in the socket for observe_tail(). */
    SSL_CTX_set_read_ahead(ctx, 0);
#ifdef SSL_OP_IGNORE_UNEXPECTED_EOF
    /* Without it OpenSSL 3 answers a bare FIN with a fatal decode_error
     * alert: the probe must not send what it did not decide to send. */
    SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
#endif
    SSL_CTX_set_msg_callback(ctx, on_msg);
    if (o->insecure)
        return ctx;
    if (o->ca_file != NULL) {
        if (SSL_CTX_load_verify_locations(ctx, o->ca_file, NULL) != 1)
            fail_ssl(o->ca_file);
    } else if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
        fail_ssl("cannot load the system's trusted certificates");
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    return ctx;
}

/* The name for SNI and certificate checks: --sni, else HOST if it is a name. */
static const char *server_name(const struct probe_options *o)
{
    return o->sni != NULL ? o->sni : o->host_is_address ? NULL : o->host;
}

void tls_open(struct tls_conn *c, SSL_CTX *ctx, const struct probe_options *o, int fd)
{
    const char *name = server_name(o);

    *c = (struct tls_conn){ .fd = fd, .alert = -1 };
    c->ssl = SSL_new(ctx);
    /* SSL_set_fd: a plain socket BIO, nothing buffered in between. */
    if (c->ssl == NULL || !SSL_set_app_data(c->ssl, c) || !SSL_set_fd(c->ssl, fd))
        fail_ssl("cannot create the TLS connection");
    SSL_set_connect_state(c->ssl);
    if (name != NULL && !SSL_set_tlsext_host_name(c->ssl, name))
        fail_ssl("cannot set the server name");
    if (o->insecure)
        return;
    if (name != NULL ? SSL_set1_host(c->ssl, name) != 1
                     : X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->ssl), o->host) != 1)
        fail_ssl("cannot set the name to verify");
}

void tls_close(struct tls_conn *c)
{
    SSL_free(c->ssl);
    c->ssl = NULL;
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
}

/* ------------------------------------------------------------------------ */
/* Bounded I/O                                                               */

typedef int (*tls_step)(SSL *ssl, void *arg);

static int step_handshake(SSL *ssl, void *arg)
{
    (void)arg;
    return SSL_do_handshake(ssl);
}

struct io {
    void *data;
    size_t len;
    size_t done;
};

static int step_read(SSL *ssl, void *arg)
{
    struct io *b = arg;

    return SSL_read_ex(ssl, b->data, b->len, &b->done);
}

static int step_write(SSL *ssl, void *arg)
{
    struct io *b = arg;

    return SSL_write_ex(ssl, b->data, b->len, &b->done);
}

/* Writes close_notify; 0 ("sent, theirs not received yet") is success. */
static int step_shutdown(SSL *ssl, void *arg)
{
    int r = SSL_shutdown(ssl);

    (void)arg;
    return r >= 0 ? 1 : r;
}

/* Runs step until it completes (true), fails or the deadline passes. */
static bool tls_run(struct tls_conn *c, tls_step step, void *arg, const struct deadline *d,
                    struct tls_failure *f)
{
    for (;;) {
        int ret, e, r;
        short events;

        ERR_clear_error(); /* SSL_get_error() must see this call's errors only */
        errno = 0;
        ret = step(c->ssl, arg);
        if (ret > 0)
            return true;
        *f = (struct tls_failure){ .sys_errno = errno };
        e = SSL_get_error(c->ssl, ret);
        f->ssl_error = e;
        f->err = ERR_peek_error();
        events = e == SSL_ERROR_WANT_READ ? POLLIN : e == SSL_ERROR_WANT_WRITE ? POLLOUT : 0;
        if (events == 0)
            return false;
        r = wait_fd(c->fd, events, d);
        if (r == 0)
            f->timed_out = true;
        if (r < 0) {
            f->ssl_error = SSL_ERROR_SYSCALL;
            f->sys_errno = errno;
        }
        if (r <= 0)
            return false;
    }
}

bool tls_write_all(struct tls_conn *c, const void *data, size_t len, const struct deadline *d,
                   struct tls_failure *f)
{
    struct io b = { (void *)data, len, 0 };

    /* Without SSL_MODE_ENABLE_PARTIAL_WRITE success means all was written. */
    return len == 0 || tls_run(c, step_write, &b, d, f);
}

bool tls_send_close_notify(struct tls_conn *c, const struct deadline *d, struct tls_failure *f)
{
    return tls_run(c, step_shutdown, NULL, d, f);
}

/* ------------------------------------------------------------------------ */
/* How a stream ended                                                        */

/* OpenSSL reports a received fatal alert as reason SSL_AD_REASON_OFFSET +
 * its description; returns the description, or -1. */
static int received_alert(unsigned long err)
{
    int reason = ERR_GET_REASON(err);

    if (err == 0 || ERR_GET_LIB(err) != ERR_LIB_SSL || reason < SSL_AD_REASON_OFFSET ||
        reason > SSL_AD_REASON_OFFSET + 255)
        return -1;
    return reason - SSL_AD_REASON_OFFSET;
}

static bool is_unexpected_eof(unsigned long err)
{
#ifdef SSL_R_UNEXPECTED_EOF_WHILE_READING
    return ERR_GET_LIB(err) == ERR_LIB_SSL &&
           ERR_GET_REASON(err) == SSL_R_UNEXPECTED_EOF_WHILE_READING;
#else
    (void)err;
    return false;
#endif
}

static void classify(const struct tls_conn *c, const struct tls_failure *f, struct closing *cl)
{
    int sys_errno = f->sys_errno;
    int alert;

    /* 3.2+ also queue failed socket calls as ERR_LIB_SYS errors. */
    if (sys_errno == 0 && f->err != 0 && ERR_GET_LIB(f->err) == ERR_LIB_SYS)
        sys_errno = ERR_GET_REASON(f->err);
    cl->alert_level = 0;
    cl->alert = -1;
    if (f->timed_out) {
        cl->end = END_TIMEOUT;
        return;
    }
    switch (f->ssl_error) {
    case SSL_ERROR_ZERO_RETURN:
        /* With SSL_OP_IGNORE_UNEXPECTED_EOF a bare FIN is reported like a
         * close_notify; the message callback tells the two apart. */
        cl->end = c->close_notify_seen ? END_CLOSE_NOTIFY : END_EOF;
        break;
    case SSL_ERROR_SYSCALL:
        /* OpenSSL 1.1.1's EOF: SSL_ERROR_SYSCALL with errno 0. */
        cl->end = sys_errno == 0 ? END_EOF : sys_errno == ECONNRESET ? END_RESET : END_ERROR;
        if (cl->end == END_ERROR)
            snprintf(cl->detail, sizeof cl->detail, "%s", strerror(sys_errno));
        break;
    case SSL_ERROR_SSL:
        alert = received_alert(f->err);
        if (alert == SSL_AD_CLOSE_NOTIFY) {
            /* A fatal-level close_notify (TLS 1.2): OpenSSL's reason 1000. */
            cl->end = END_CLOSE_NOTIFY;
        } else if (alert >= 0) {
            cl->end = END_ALERT;
        } else if (is_unexpected_eof(f->err)) {
            cl->end = END_EOF;
        } else {
            cl->end = END_ERROR;
            if (f->err != 0)
                ERR_error_string_n(f->err, cl->detail, sizeof cl->detail);
            else
                snprintf(cl->detail, sizeof cl->detail, "TLS error without details");
        }
        break;
    default:
        cl->end = END_ERROR;
        snprintf(cl->detail, sizeof cl->detail, "SSL_get_error() = %d", f->ssl_error);
        break;
    }
    if (cl->end == END_CLOSE_NOTIFY || cl->end == END_ALERT) {
        cl->alert_level = c->alert_level;
        cl->alert = c->alert;
    }
}

void tls_read_to_end(struct tls_conn *c, const struct deadline *d, struct closing *cl)
{
    unsigned char buf[16384];
    struct tls_failure f;

    for (;;) {
        struct io b = { buf, sizeof buf, 0 };

        if (!tls_run(c, step_read, &b, d, &f))
            break;
        cl->app_in += b.done;
    }
    classify(c, &f, cl);
}

uint64_t tls_buffered(const struct tls_conn *c)
{
    uint64_t got = BIO_number_read(SSL_get_rbio(c->ssl));

    return got > c->record_bytes ? got - c->record_bytes : 0;
}

void tls_count_bytes(const struct tls_conn *c, struct closing *cl)
{
    cl->tls_in = BIO_number_read(SSL_get_rbio(c->ssl));
    cl->tls_out = BIO_number_written(SSL_get_wbio(c->ssl));
}

void tls_describe(const struct tls_conn *c, const struct probe_options *o, struct probe_result *r)
{
    r->tls_version = SSL_get_version(c->ssl); /* a static string */
    snprintf(r->cipher, sizeof r->cipher, "%s", SSL_get_cipher_name(c->ssl));
    r->verified = !o->insecure;
}

/* ------------------------------------------------------------------------ */
/* The handshake                                                             */

void tls_handshake(struct tls_conn *c, const struct probe_options *o, const struct deadline *d)
{
    struct tls_failure f;
    struct closing cl = { 0 };
    char name[32];
    long verify;

    if (tls_run(c, step_handshake, NULL, d, &f))
        return;
    verify = SSL_get_verify_result(c->ssl);
    if (!o->insecure && verify != X509_V_OK)
        fail("%s: certificate verification failed: %s (use --ca-file=FILE or --insecure)",
             o->target, X509_verify_cert_error_string(verify));
    classify(c, &f, &cl);
    switch (cl.end) {
    case END_TIMEOUT:
        fail("%s: TLS handshake not finished within %d ms", o->target, o->timeout_ms);
    case END_EOF:
    case END_CLOSE_NOTIFY:
        fail("%s: the server closed the connection during the TLS handshake", o->target);
    case END_RESET:
        fail("%s: connection reset during the TLS handshake", o->target);
    case END_ALERT:
        fail("%s: TLS handshake failed: the server sent a %s alert", o->target,
             alert_name(cl.alert, name, sizeof name));
    case END_ERROR:
        break;
    }
    /* An alert we sent (version mismatch, bad certificate name...) shows as
     * a local OpenSSL error: its text is the clearest explanation. */
    fail("%s: TLS handshake failed: %s", o->target, cl.detail);
}
