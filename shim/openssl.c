/* openssl.c: the OpenSSL wrappers. They learn connections from the calls
 * the program makes, note what the shim needs to know later (owner,
 * descriptor, failures, the program's own close_notify), and hand the
 * decisions to the closing routine. */
#include "config.h"

#include <errno.h>
#include <stddef.h>

#include "closing.h"
#include "conn.h"
#include "export.h"
#include "init.h"
#include "real.h"

/* --- bookkeeping around one OpenSSL call ----------------------------------- */

static struct tc_conn *io_enter(SSL *ssl)
{
    if (!tc_openssl_ready())
        return NULL;
    struct tc_conn *c = tc_conn_track(ssl);
    if (c) {
        __atomic_fetch_add(&c->active, 1, __ATOMIC_ACQ_REL);
        /* Using a connection makes this process its owner (SPEC §4.1). */
        if (TC_LOAD(c->owner) != tc_pid)
            TC_STORE(c->owner, tc_pid);
    }
    return c;
}

static void io_leave(struct tc_conn *c)
{
    __atomic_fetch_sub(&c->active, 1, __ATOMIC_ACQ_REL);
}

/* A call failed (ret <= 0): remember what that means for the connection.
 * Decided from the object's state rather than SSL_get_error(), which a stale
 * error the program left on the queue would mislead. errno is preserved. */
static void note_failure(struct tc_conn *c, SSL *ssl)
{
    int saved = errno;
    int want = tc_ossl.SSL_want(ssl);
    if (want == TC_SSL_READING || want == TC_SSL_WRITING) {
        BIO *b = want == TC_SSL_READING ? tc_ossl.SSL_get_rbio(ssl) : tc_ossl.SSL_get_wbio(ssl);
        if (b && tc_ossl.BIO_test_flags(b, TC_BIO_FLAGS_SHOULD_RETRY)) {
            if (want == TC_SSL_WRITING)
                tc_set_flags(c, TC_F_WRITE_PENDING);
            errno = saved;
            return; /* WANT_READ / WANT_WRITE: nothing happened to the connection */
        }
    } else if (want != TC_SSL_NOTHING) {
        errno = saved; /* X509 lookup, async, client hello callback: retryable */
        return;
    }
    if (tc_ossl.SSL_is_init_finished(ssl) == 1) {
        if (tc_ossl.SSL_get_shutdown(ssl) & TC_SSL_RECEIVED_SHUTDOWN)
            tc_set_flags(c, TC_F_PEER_CN);
        else
            tc_set_flags(c, TC_F_FAILED); /* 1.1.1 EOF, ECONNRESET, EPIPE */
        /* A connection the shim learned after its handshake. */
        tc_conn_learn_fd(c, ssl);
    }
    /* Otherwise OpenSSL itself marked the object as failed (fatal alert,
     * 3.x EOF) or the handshake is not done: SSL_is_init_finished() tells
     * the closing routine at the time it matters. */
    errno = saved;
}

static void note_success(struct tc_conn *c, SSL *ssl, size_t n, unsigned long long *counter)
{
    if (n)
        __atomic_store_n(counter, __atomic_load_n(counter, __ATOMIC_RELAXED) + n, __ATOMIC_RELAXED);
    if (!(tc_flags(c) & TC_F_FD_BOUND)) {
        int saved = errno;
        if (tc_ossl.SSL_is_init_finished(ssl) == 1)
            tc_conn_learn_fd(c, ssl);
        errno = saved;
    }
}

/* Never call a NULL function: an OpenSSL that lacks a symbol we wrap cannot
 * be the one the program called, but be safe. */
#define REAL_OR(name, fail)                 \
    do {                                    \
        if (!tc_ossl.name) {                \
            tc_bind_openssl();              \
            if (!tc_ossl.name)              \
                return fail;                \
        }                                   \
    } while (0)

/* --- reads and writes ------------------------------------------------------ */

static int io_int(int (*real)(SSL *, void *, int), SSL *ssl, void *buf, int num, int reading)
{
    struct tc_conn *c = io_enter(ssl);
    int r = real(ssl, buf, num);
    if (c) {
        if (r > 0)
            note_success(c, ssl, (size_t)r, reading ? &c->bytes_in : &c->bytes_out);
        else
            note_failure(c, ssl);
        if (!reading && r > 0)
            tc_clear_flags(c, TC_F_WRITE_PENDING);
        io_leave(c);
    }
    return r;
}

static int io_ex(int (*real)(SSL *, void *, size_t, size_t *), SSL *ssl, void *buf, size_t num,
                 size_t *done, int reading)
{
    struct tc_conn *c = io_enter(ssl);
    size_t n = 0;
    int r = real(ssl, buf, num, &n);
    if (done)
        *done = n;
    if (c) {
        if (r > 0)
            note_success(c, ssl, n, reading ? &c->bytes_in : &c->bytes_out);
        else
            note_failure(c, ssl);
        if (!reading && r > 0)
            tc_clear_flags(c, TC_F_WRITE_PENDING);
        io_leave(c);
    }
    return r;
}

TC_EXPORT int SSL_read(SSL *ssl, void *buf, int num)
{
    REAL_OR(SSL_read, -1);
    return io_int(tc_ossl.SSL_read, ssl, buf, num, 1);
}

TC_EXPORT int SSL_peek(SSL *ssl, void *buf, int num)
{
    REAL_OR(SSL_peek, -1);
    /* Peeked bytes are counted when they are read. */
    struct tc_conn *c = io_enter(ssl);
    int r = tc_ossl.SSL_peek(ssl, buf, num);
    if (c) {
        if (r > 0)
            note_success(c, ssl, 0, &c->bytes_in);
        else
            note_failure(c, ssl);
        io_leave(c);
    }
    return r;
}

TC_EXPORT int SSL_read_ex(SSL *ssl, void *buf, size_t num, size_t *readbytes)
{
    REAL_OR(SSL_read_ex, 0);
    return io_ex(tc_ossl.SSL_read_ex, ssl, buf, num, readbytes, 1);
}

TC_EXPORT int SSL_peek_ex(SSL *ssl, void *buf, size_t num, size_t *readbytes)
{
    REAL_OR(SSL_peek_ex, 0);
    struct tc_conn *c = io_enter(ssl);
    int r = tc_ossl.SSL_peek_ex(ssl, buf, num, readbytes);
    if (c) {
        if (r > 0)
            note_success(c, ssl, 0, &c->bytes_in);
        else
            note_failure(c, ssl);
        io_leave(c);
    }
    return r;
}

TC_EXPORT int SSL_write(SSL *ssl, const void *buf, int num)
{
    REAL_OR(SSL_write, -1);
    return io_int((int (*)(SSL *, void *, int))tc_ossl.SSL_write, ssl, (void *)buf, num, 0);
}

TC_EXPORT int SSL_write_ex(SSL *ssl, const void *buf, size_t num, size_t *written)
{
    REAL_OR(SSL_write_ex, 0);
    return io_ex((int (*)(SSL *, void *, size_t, size_t *))tc_ossl.SSL_write_ex, ssl, (void *)buf,
                 num, written, 0);
}

/* --- handshakes -------------------------------------------------------------- */

static int handshake(int (*real)(SSL *), SSL *ssl)
{
    struct tc_conn *c = io_enter(ssl);
    int r = real(ssl);
    if (c) {
        if (r == 1)
            note_success(c, ssl, 0, &c->bytes_in);
        io_leave(c);
    }
    return r;
}

TC_EXPORT int SSL_connect(SSL *ssl)
{
    REAL_OR(SSL_connect, -1);
    return handshake(tc_ossl.SSL_connect, ssl);
}

TC_EXPORT int SSL_accept(SSL *ssl)
{
    REAL_OR(SSL_accept, -1);
    return handshake(tc_ossl.SSL_accept, ssl);
}

TC_EXPORT int SSL_do_handshake(SSL *ssl)
{
    REAL_OR(SSL_do_handshake, -1);
    return handshake(tc_ossl.SSL_do_handshake, ssl);
}

/* --- ending ---------------------------------------------------------------------- */

TC_EXPORT int SSL_shutdown(SSL *ssl)
{
    REAL_OR(SSL_shutdown, -1);
    struct tc_conn *c = io_enter(ssl);
    if (!c)
        return tc_ossl.SSL_shutdown(ssl);
    int before = tc_ossl.SSL_get_shutdown(ssl);
    int quiet = tc_ossl.SSL_get_quiet_shutdown(ssl) == 1;
    if (quiet && !(before & TC_SSL_SENT_SHUTDOWN) && tc_cfg()->notify == TC_NOTIFY_ALWAYS) {
        /* The program asked for a quiet shutdown; always overrides it now,
         * when the program ends TLS, not later at close. */
        io_leave(c);
        tc_end_connection(c, TC_TRIGGER_QUIET, -1);
        __atomic_fetch_add(&c->active, 1, __ATOMIC_ACQ_REL);
        before = tc_ossl.SSL_get_shutdown(ssl);
    }
    int r = tc_ossl.SSL_shutdown(ssl);
    if (!quiet && !(before & TC_SSL_SENT_SHUTDOWN) &&
        (tc_ossl.SSL_get_shutdown(ssl) & TC_SSL_SENT_SHUTDOWN))
        tc_set_flags(c, TC_F_ALERT_WRITTEN);
    io_leave(c);
    return r;
}

TC_EXPORT int SSL_up_ref(SSL *ssl)
{
    REAL_OR(SSL_up_ref, 0);
    struct tc_conn *c = tc_openssl_ready() ? tc_conn_track(ssl) : NULL;
    int r = tc_ossl.SSL_up_ref(ssl);
    if (c && r == 1)
        tc_conn_count_up_ref(c);
    return r;
}

TC_EXPORT void SSL_free(SSL *ssl)
{
    REAL_OR(SSL_free, );
    struct tc_conn *c = ssl && tc_openssl_ready() ? tc_conn_get(ssl) : NULL;
    if (c && !tc_conn_free_is_last(c))
        c = NULL; /* SSL_up_ref: this SSL_free only drops a reference */
    if (!c) {
        tc_ossl.SSL_free(ssl);
        return;
    }
    tc_conn_hold(c);
    tc_end_connection(c, TC_TRIGGER_FREE, -1);
    /* From here on the object is being torn down: close() calls made by
     * SSL_free itself (BIO_CLOSE) must not touch it. */
    tc_set_flags(c, TC_F_FREEING);
    tc_ossl.SSL_free(ssl);
    tc_conn_put(c);
}

TC_EXPORT int SSL_clear(SSL *ssl)
{
    REAL_OR(SSL_clear, 0);
    struct tc_conn *c = tc_openssl_ready() ? tc_conn_get(ssl) : NULL;
    int r = tc_ossl.SSL_clear(ssl);
    if (c && r == 1)
        tc_conn_reset(c); /* the object starts a new connection */
    return r;
}
