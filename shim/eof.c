/* eof.c: the receive side (see eof.h). */
#include "config.h"

#include <errno.h>
#include <pthread.h>

#include "eof.h"
#include "settings.h"
#include "real.h"
#include "report.h"

/* --- error codes ------------------------------------------------------------
 * Packed differently in 1.1.1 and 3.x: decode with the running version's
 * rule, never with either version's header macros. */
static int err_lib(unsigned long e)
{
    if (tc_ossl_v3)
        return (e & 0x80000000UL) ? TC_ERR_LIB_SYS : (int)((e >> 23) & 0xFF);
    return (int)((e >> 24) & 0xFF);
}

static int err_reason(unsigned long e)
{
    return tc_ossl_v3 ? (int)(e & 0x7FFFFF) : (int)(e & 0xFFF);
}

static int is_ssl_error(unsigned long e, int reason)
{
    return e && err_lib(e) == TC_ERR_LIB_SSL && err_reason(e) == reason;
}

/* Remove the error OpenSSL just pushed, when it is the only one on the queue
 * (there is no API to drop the newest of several; the program's own older
 * errors are never touched). */
static void drop_lone_error(void)
{
    if (tc_ossl.ERR_peek_error() == tc_ossl.ERR_peek_last_error())
        tc_ossl.ERR_get_error();
}

/* --- the error policy's failure ---------------------------------------------
 * Not OpenSSL's SSL_R_UNEXPECTED_EOF_WHILE_READING: runtimes map exactly that
 * reason to a ragged EOF and swallow it (CPython >= 3.11.3 raises SSLEOFError,
 * which suppress_ragged_eofs turns into b""; stunnel forwards a clean EOF),
 * and 1.1.1 has no such reason (its 294 reads "ocsp callback failure"). The
 * error is the library's own: an error library registered at run time, once,
 * with its name and reason text, so that every binding reports it as an
 * error and its text says what happened. errno is EPROTO, because some
 * bindings take any SSL error that comes with errno 0 for an EOF. */
struct err_string {
    unsigned long error;
    const char *string;
};

#define OWN_FUNC 1     /* 1.1.1 prints a function name; 3.x has no such field */
#define OWN_REASON 100

static struct err_string own_strings[4];
static int own_lib;
static pthread_once_t own_once = PTHREAD_ONCE_INIT;

/* ERR_PACK(lib, 0, 0) of the running version: 1.1.1 keeps the library in
 * bits 24-31, 3.x in bits 23-30. */
static unsigned long pack_lib(int lib)
{
    return (unsigned long)lib << (tc_ossl_v3 ? 23 : 24);
}

static void register_own_library(void)
{
    int lib = tc_ossl.ERR_get_next_error_library();
    if (lib <= 0)
        return;
    unsigned long base = pack_lib(lib);
    int n = 0;
    own_strings[n++] = (struct err_string){ base, "tlsclose" };
    if (!tc_ossl_v3)
        own_strings[n++] = (struct err_string){ base | (OWN_FUNC << 12), "SSL_read" };
    own_strings[n++] = (struct err_string){ base | OWN_REASON, TC_EOF_ERROR_TEXT };
    own_strings[n] = (struct err_string){ 0, NULL };
    if (tc_ossl.ERR_load_strings(lib, own_strings))
        own_lib = lib;
}

void tc_eof_fail(void)
{
    pthread_once(&own_once, register_own_library);
    if (own_lib > 0) {
        if (tc_ossl_v3 && tc_ossl.ERR_new && tc_ossl.ERR_set_debug && tc_ossl.ERR_set_error) {
            tc_ossl.ERR_new();
            tc_ossl.ERR_set_debug(__FILE__, __LINE__, "SSL_read");
            tc_ossl.ERR_set_error(own_lib, OWN_REASON, NULL);
        } else if (!tc_ossl_v3 && tc_ossl.ERR_put_error) {
            tc_ossl.ERR_put_error(own_lib, OWN_FUNC, OWN_REASON, __FILE__, __LINE__);
        }
    }
    errno = EPROTO;
}

/* --- before a read ---------------------------------------------------------- */

void tc_eof_prepare(struct tc_conn *c, SSL *ssl)
{
    if (tc_set_flags(c, TC_F_EOF_READY) & TC_F_EOF_READY)
        return;
    /* With SSL_OP_IGNORE_UNEXPECTED_EOF, OpenSSL 3 reports a silent EOF as a
     * plain end (RECEIVED_SHUTDOWN, BIO_eof) instead of writing a fatal
     * decode_error alert into the dead connection (which can also raise
     * SIGPIPE inside SSL_read); the shim then reports it per policy. The
     * bit is reserved and ignored by 1.1.1. Visible in SSL_get_options(). */
    if (tc_ossl_v3 && tc_cfg()->eof != TC_EOF_WARN &&
        !(tc_ossl.SSL_get_options(ssl) & TC_SSL_OP_IGNORE_UNEXPECTED_EOF)) {
        tc_ossl.SSL_set_options(ssl, TC_SSL_OP_IGNORE_UNEXPECTED_EOF);
        tc_set_flags(c, TC_F_EOF_OPTION);
    }
}

void tc_eof_handshake_done(struct tc_conn *c)
{
    /* Nothing to set up before a read unless tc_eof_prepare sets the option:
     * ready now, so that the first read takes the wrappers' steady way. */
    if (!tc_ossl_v3 || tc_cfg()->eof == TC_EOF_WARN)
        tc_set_flags(c, TC_F_EOF_READY);
}

int tc_eof_replay(struct tc_conn *c, int ex, int *ret)
{
    if (TC_LOAD(c->end_state) != TC_END_ERROR)
        return 0;
    tc_eof_fail();
    *ret = ex ? 0 : -1;
    return 1;
}

/* --- after a read -------------------------------------------------------------- */

enum end_kind { NOT_AN_END, SILENT_EOF, PEER_CLOSE_NOTIFY, FATAL_CLOSE_NOTIFY };

static int transport_eof(SSL *ssl)
{
    BIO *rbio = tc_ossl.SSL_get_rbio(ssl);
    return rbio && tc_ossl.BIO_ctrl(rbio, TC_BIO_CTRL_EOF, 0, NULL) > 0;
}

/* Whether the connection reads through a descriptor BIO (socket or fd),
 * whose read errors set errno; a program's own BIO may fail without one. */
static int reads_descriptor(BIO *rbio)
{
    return tc_ossl.BIO_find_type(rbio, TC_BIO_TYPE_DESCRIPTOR) != NULL;
}

/* ret: what the read returned (ex: an _ex form's 0/1). *unsure is set for a
 * shape that a read error without errno shares. */
static enum end_kind classify(SSL *ssl, int ret, int ex, int saved_errno, int *unsure)
{
    int sd = tc_ossl.SSL_get_shutdown(ssl);
    int finished = tc_ossl.SSL_is_init_finished(ssl) == 1;
    unsigned long last = tc_ossl.ERR_peek_last_error();

    if (sd & TC_SSL_RECEIVED_SHUTDOWN) {
        if (finished) /* 3.x with IGNORE_UNEXPECTED_EOF marks a silent EOF like this too */
            return transport_eof(ssl) ? SILENT_EOF : PEER_CLOSE_NOTIFY;
        /* A close_notify at fatal level (TLS 1.2) is reported as the fatal
         * alert "close notify": reason 1000 + 0. Other fatal alerts are
         * failures, not ends. */
        return is_ssl_error(last, TC_SSL_AD_REASON_OFFSET) ? FATAL_CLOSE_NOTIFY : NOT_AN_END;
    }
    if (tc_ossl_v3 && is_ssl_error(last, TC_SSL_R_UNEXPECTED_EOF_WHILE_READING))
        return SILENT_EOF; /* 3.x default: already in its error state */
    if (!finished || saved_errno != 0 || tc_ossl.ERR_peek_error() != 0)
        return NOT_AN_END;
    int want = tc_ossl.SSL_want(ssl);
    /* 1.1.1, and 3.0/3.1 with a custom BIO that does not answer BIO_eof:
     * 0, SSL_ERROR_SYSCALL, errno 0, nothing queued, still reading. SSL_read
     * passes the BIO's own result on (ssl3_read_n): 0 at its EOF, -1 at a
     * read error without errno, which is no end. The _ex forms say 0 for
     * both: only a descriptor BIO's end is sure. */
    if (want == TC_SSL_READING) {
        BIO *rbio = tc_ossl.SSL_get_rbio(ssl);
        if (rbio && tc_ossl.BIO_test_flags(rbio, TC_BIO_FLAGS_SHOULD_RETRY))
            return NOT_AN_END;
        if (!ex && ret < 0)
            return NOT_AN_END;
        if (ex && rbio && !reads_descriptor(rbio))
            *unsure = 1;
        return SILENT_EOF;
    }
    /* OpenSSL >= 3.2, the same custom BIO: the rewritten record layer takes a
     * read that neither retries nor answers BIO_eof for a fatal one, with no
     * error queued and no alert (tls_default_read_n, then
     * ossl_tls_handle_rlayer_return): -1 (the _ex forms 0), SSL_NOTHING. A
     * BIO read error that sets no errno looks exactly the same. */
    if (tc_ossl_v32 && want == TC_SSL_NOTHING) {
        *unsure = 1;
        return SILENT_EOF;
    }
    return NOT_AN_END;
}

/* unsure: the end may be a read error of the program's own BIO (the event
 * says so). */
static int silent_eof(struct tc_conn *c, SSL *ssl, int ret, int ex, int unsure)
{
    enum tc_eof policy = tc_cfg()->eof;
    int sd = tc_ossl.SSL_get_shutdown(ssl);
    unsigned long last = tc_ossl.ERR_peek_last_error();
    int openssl_reported = tc_ossl_v3 && is_ssl_error(last, TC_SSL_R_UNEXPECTED_EOF_WHILE_READING);

    tc_set_flags(c, TC_F_FAILED);
    tc_report_truncation(c, ssl, policy == TC_EOF_CLEAN ? TC_LEVEL_INFO : TC_LEVEL_WARN,
                         tc_eof_name(policy), unsure);
    switch (policy) {
    case TC_EOF_WARN:
        return ret;
    case TC_EOF_ERROR:
        TC_STORE(c->end_state, (int)TC_END_ERROR);
        if (openssl_reported)
            drop_lone_error();
        return ex ? 0 : -1; /* the caller presents the failure (tc_eof_fail) */
    case TC_EOF_CLEAN:
        TC_STORE(c->end_state, (int)TC_END_CLEAN);
        if (openssl_reported)
            drop_lone_error();
        /* OpenSSL 3.0 records such an EOF by assigning RECEIVED_SHUTDOWN,
         * which forgets a close_notify already sent: the program's next
         * SSL_shutdown would send a second one. Put SENT back. */
        if ((tc_flags(c) & (TC_F_EOF_OPTION | TC_F_ALERT_WRITTEN)) ==
            (TC_F_EOF_OPTION | TC_F_ALERT_WRITTEN))
            sd |= TC_SSL_SENT_SHUTDOWN;
        /* Later reads then return 0 without I/O, as after a close_notify. */
        if (sd != tc_ossl.SSL_get_shutdown(ssl) || !(sd & TC_SSL_RECEIVED_SHUTDOWN))
            tc_ossl.SSL_set_shutdown(ssl, sd | TC_SSL_RECEIVED_SHUTDOWN);
        return 0;
    }
    return ret;
}

int tc_eof_after_read(struct tc_conn *c, SSL *ssl, int ret, int ex, int *reply)
{
    int saved = errno;
    *reply = 0;
    if (tc_flags(c) & TC_F_END_SEEN) {
        /* The end was handled by an earlier call; report it the same way. */
        int r = TC_LOAD(c->end_state) == TC_END_CLEAN ? 0 : ret;
        errno = saved;
        return r;
    }
    int unsure = 0;
    enum end_kind kind = classify(ssl, ret, ex, saved, &unsure);
    /* Under clean an end that may be a read error is made a clean end only
     * when the transport really ended: the process's one TCP socket at EOF
     * (its custom BIO hides which socket is the connection's). Otherwise the
     * program gets what OpenSSL gave it (warn and error say "truncation"
     * either way: the data stopped short). */
    if (kind == SILENT_EOF && unsure && tc_cfg()->eof == TC_EOF_CLEAN &&
        tc_tcp_socket_at_eof() < 0)
        kind = NOT_AN_END;
    if (kind != NOT_AN_END)
        tc_set_flags(c, TC_F_END_SEEN);
    switch (kind) {
    case NOT_AN_END:
        break;
    case SILENT_EOF:
        ret = silent_eof(c, ssl, ret, ex, unsure);
        if (TC_LOAD(c->end_state) == TC_END_ERROR) {
            tc_eof_fail(); /* last: it sets errno */
            return ret;
        }
        break;
    case FATAL_CLOSE_NOTIFY:
        /* The alert level is ignored for closure alerts (RFC 5246 §7.2.2):
         * a clean end. OpenSSL's object stays in its error state, so no
         * answer can be sent. */
        tc_set_flags(c, TC_F_PEER_CN);
        TC_STORE(c->end_state, (int)TC_END_CLEAN);
        drop_lone_error();
        tc_report(c, ssl, "fatal_close_notify", TC_LEVEL_INFO, "policy", "clean", c->fd,
                  "close_notify at fatal level treated as a clean end");
        ret = 0;
        break;
    case PEER_CLOSE_NOTIFY: {
        tc_set_flags(c, TC_F_PEER_CN);
        enum tc_reply r = tc_cfg()->reply;
        /* RFC 5246 §7.2.1: answer at once up to TLS 1.2; TLS 1.3 allows a
         * half-close, so auto leaves that to the program. */
        *reply = r == TC_REPLY_ON ||
                 (r == TC_REPLY_AUTO && tc_ossl.SSL_version(ssl) <= TC_TLS1_2_VERSION);
        tc_report(c, ssl, "peer_close_notify", TC_LEVEL_DEBUG, "reply",
                  *reply ? "due" : "not due", c->fd, NULL);
        break;
    }
    }
    errno = saved;
    return ret;
}

int tc_eof_marked_by_program(struct tc_conn *c, SSL *ssl)
{
    /* An established connection (its descriptor is learned when the
     * handshake ends) whose end was not handled yet. */
    if ((tc_flags(c) & (TC_F_END_SEEN | TC_F_FD_BOUND)) != TC_F_FD_BOUND || c->fd < 0)
        return 0;
    int saved = errno;
    int refused = 0;
    /* Only a transport that really ended: nothing left to read, FIN seen. */
    if (tc_fd_at_eof(c->fd)) {
        tc_set_flags(c, TC_F_END_SEEN);
        (void)silent_eof(c, ssl, 0, 0, 0);
        refused = TC_LOAD(c->end_state) == TC_END_ERROR;
    }
    errno = saved;
    return refused;
}

void tc_eof_call_failed(struct tc_conn *c, SSL *ssl)
{
    int saved = errno;
    if (tc_ossl.SSL_is_init_finished(ssl) == 1) {
        if (tc_ossl.SSL_get_shutdown(ssl) & TC_SSL_RECEIVED_SHUTDOWN)
            tc_set_flags(c, TC_F_PEER_CN);
        else
            tc_set_flags(c, TC_F_FAILED); /* ECONNRESET, EPIPE */
        /* A connection the library learned after its handshake. */
        tc_conn_learn_fd(c, ssl);
    }
    /* Otherwise OpenSSL itself marked the object as failed (fatal alert,
     * 3.x EOF) or the handshake is not done: SSL_is_init_finished() tells
     * the closing routine at the time it matters. */
    errno = saved;
}

int tc_eof_error_code(struct tc_conn *c, int ret)
{
    if (ret > 0)
        return -1;
    switch (TC_LOAD(c->end_state)) {
    case TC_END_ERROR:
        return TC_SSL_ERROR_SSL;
    case TC_END_CLEAN:
        return TC_SSL_ERROR_ZERO_RETURN;
    default:
        return -1;
    }
}
