/* experiments.c: the probe's two connections.
 *
 * The probe behaves as a correct client would, so that what it reports is
 * the server's doing: it answers the server's close_notify (RFC 5246
 * §7.2.1), after watching briefly whether the server ends TCP on its own,
 * and then ends its own side with a FIN, so that a server that waits for the
 * client before closing TCP is not reported as hanging; it sends nothing
 * after a truncation or a reset (SSL_OP_IGNORE_UNEXPECTED_EOF, no alert);
 * and when the server keeps the first connection open it ends it with
 * close_notify.
 */

#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "experiments.h"
#include "net.h"
#include "tls.h"

/* How long the probe watches the socket after the server's close_notify
 * before it answers (see server_close_notify()). Servers that do not wait
 * for the answer send their FIN right behind the alert. */
#define ANSWER_GRACE_MS 200

/* Sends our answer to the server's close_notify; false (with a note) when
 * it cannot go out. */
static bool answer(struct tls_conn *c, const struct probe_options *o, struct closing *cl)
{
    struct deadline d = deadline_in(o->timeout_ms);
    struct tls_failure f;

    if (cl->alert_level == SSL3_AL_FATAL && SSL_version(c->ssl) < TLS1_3_VERSION) {
        snprintf(cl->answer_note, sizeof cl->answer_note,
                 "OpenSSL takes a fatal-level close_notify for a fatal error in TLS 1.2 "
                 "and cannot answer it");
        return false;
    }
    if (cl->tail.end == TAIL_RESET) {
        snprintf(cl->answer_note, sizeof cl->answer_note, "the connection was reset");
        return false;
    }
    if (tls_send_close_notify(c, &d, &f))
        return true;
    snprintf(cl->answer_note, sizeof cl->answer_note, "failed: %s",
             f.timed_out ? "not written in time"
             : f.sys_errno ? strerror(f.sys_errno) : "TLS error");
    /* Linux reports a received RST once, to this write; the reads that
     * follow would see a plain end of file. */
    if (f.sys_errno == ECONNRESET && cl->tail.end == TAIL_TIMEOUT)
        cl->tail.end = TAIL_RESET;
    return false;
}

/* After the server's close_notify (at `at_ms`) on the first connection.
 * First the probe only watches, for a short while, whether the server ends
 * TCP on its own: answering at once would race the server's close(), and a
 * server that closes with our answer unread resets the connection because
 * of the probe. Then it answers (RFC 5246 §7.2.1; also when the server is
 * gone, for one that only half-closed) and ends its side with a FIN, and a
 * server that waited for the answer gets the rest of the timeout to end. */
static void server_close_notify(struct tls_conn *c, const struct probe_options *o,
                                int64_t at_ms, struct closing *cl)
{
    struct deadline grace = deadline_in(o->timeout_ms < ANSWER_GRACE_MS ? o->timeout_ms
                                                                        : ANSWER_GRACE_MS);
    struct deadline d;
    struct record_counter rc = { 0 };

    cl->tail.bytes = tls_buffered(c);
    observe_tail(c->fd, at_ms, &grace, &cl->tail, &rc);
    cl->answered = answer(c, o, cl);
    (void)shutdown(c->fd, SHUT_WR);
    if (cl->tail.end != TAIL_TIMEOUT)
        return;
    cl->waited = true;
    d = deadline_in(o->timeout_ms);
    observe_tail(c->fd, at_ms, &d, &cl->tail, &rc);
}

/* After the server's answer on the second connection: our FIN, then what
 * the raw socket delivers. */
static void answer_close_notify(struct tls_conn *c, const struct probe_options *o,
                                int64_t at_ms, struct closing *cl)
{
    struct deadline d = deadline_in(o->timeout_ms);
    struct record_counter rc = { 0 };

    cl->tail.bytes = tls_buffered(c);
    (void)shutdown(c->fd, SHUT_WR);
    observe_tail(c->fd, at_ms, &d, &cl->tail, &rc);
}

/* 1. The request, then read until the server ends the stream. */
static void server_closes_first(const struct probe_options *o, SSL_CTX *ctx, int fd,
                                const struct deadline *d, struct probe_result *r)
{
    struct closing *cl = &r->server_first;
    struct tls_conn c;
    struct tls_failure f;
    struct deadline wait;
    int64_t since;
    bool reset_consumed = false;

    tls_open(&c, ctx, o, fd);
    tls_handshake(&c, o, d);
    tls_describe(&c, o, r);
    /* Without a request most servers wait for one and never close: say
     * so before the wait, not only in the report after it. */
    if (o->request_len == 0)
        fprintf(stderr,
                PROBE_NAME ": no request to send: waiting up to %d ms for the server to close "
                           "on its own (for an HTTPS server use --http=/)\n",
                o->timeout_ms);
    since = now_ms();
    wait = deadline_in(o->timeout_ms);
    /* A failed write (the server closed first) is no error of the probe:
     * the reads that follow say how the server ended. */
    if (tls_write_all(&c, o->request, o->request_len, &wait, &f))
        cl->app_out = o->request_len;
    else
        reset_consumed = f.sys_errno == ECONNRESET;
    tls_read_to_end(&c, &wait, cl);
    cl->ms = now_ms() - since;
    /* Linux reports a received RST once, to the write that meets it; the
     * reads after it see a plain end of file. */
    if (reset_consumed && cl->end == END_EOF)
        cl->end = END_RESET;
    if (cl->end == END_CLOSE_NOTIFY) {
        server_close_notify(&c, o, now_ms(), cl);
    } else if (cl->end == END_TIMEOUT) {
        /* Still open: end it as a client should, and read what the server
         * answers for a moment, so that closing with its answer unread does
         * not reset the connection. What it answers is the second
         * connection's business. */
        struct tail ignored = { 0 };
        struct record_counter rc = { 0 };

        wait = deadline_in(o->timeout_ms < ANSWER_GRACE_MS ? o->timeout_ms : ANSWER_GRACE_MS);
        if (tls_send_close_notify(&c, &wait, &f)) {
            (void)shutdown(c.fd, SHUT_WR);
            observe_tail(c.fd, now_ms(), &wait, &ignored, &rc);
        }
    }
    tls_count_bytes(&c, cl);
    tls_close(&c);
}

/* 2. Our close_notify right after the handshake, then the server's answer. */
static void probe_closes_first(const struct probe_options *o, SSL_CTX *ctx, int fd,
                               const struct deadline *d, struct closing *cl)
{
    struct tls_conn c;
    struct tls_failure f;
    struct deadline wait;
    int64_t since;

    tls_open(&c, ctx, o, fd);
    tls_handshake(&c, o, d);
    wait = deadline_in(o->timeout_ms);
    since = now_ms();
    if (!tls_send_close_notify(&c, &wait, &f)) {
        cl->end = f.sys_errno == ECONNRESET ? END_RESET : END_ERROR;
        snprintf(cl->detail, sizeof cl->detail, "our close_notify could not be sent: %s",
                 f.timed_out ? "not written in time"
                 : f.sys_errno ? strerror(f.sys_errno) : "TLS error");
    } else {
        tls_read_to_end(&c, &wait, cl);
    }
    cl->ms = now_ms() - since;
    if (cl->end == END_CLOSE_NOTIFY)
        answer_close_notify(&c, o, now_ms(), cl);
    tls_count_bytes(&c, cl);
    tls_close(&c);
}

void run_probe(const struct probe_options *o, struct probe_result *r)
{
    SSL_CTX *ctx = tls_make_ctx(o);
    struct endpoint ep;
    /* Connecting and the handshake share one bound. */
    struct deadline d = deadline_in(o->timeout_ms);
    int fd = connect_first(o, &d, &ep);

    endpoint_text(&ep, r->address, sizeof r->address, &r->port);
    server_closes_first(o, ctx, fd, &d, r);
    d = deadline_in(o->timeout_ms);
    fd = connect_again(o, &ep, &d);
    probe_closes_first(o, ctx, fd, &d, &r->probe_first);
    SSL_CTX_free(ctx);
}
