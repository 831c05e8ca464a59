/* openssl.c: the OpenSSL wrappers. They learn connections from the calls
 * the program makes, note what the shim needs to know later (owner,
 * descriptor, failures, the program's own close_notify), and hand the
 * decisions to the closing routine. */
#include "config.h"

#include <errno.h>
#include <stddef.h>

#include "closing.h"
#include "conn.h"
#include "eof.h"
#include "export.h"
#include "init.h"
#include "real.h"
#include "report.h"
#include "settings.h"

/* --- bookkeeping around one OpenSSL call ----------------------------------- */

/* Using a connection makes this process its owner (doc/design.md,
 * Connection records). */
static void own(struct tc_conn *c)
{
    unsigned long epoch = TC_LOAD(tc_epoch);
    if (TC_LOAD(c->owner) != epoch)
        TC_STORE(c->owner, epoch);
}

/* The program's call counts as "active" before it looks for the library's
 * claim, and both are sequentially consistent (closing.c: object_claim):
 * either the library sees the call and leaves the object alone, or the
 * call sees the library's send and waits for it to end. */
static inline void enter_call(struct tc_conn *c)
{
    __atomic_fetch_add(&c->active, 1, __ATOMIC_SEQ_CST);
    if (__builtin_expect(__atomic_load_n(&c->flags, __ATOMIC_SEQ_CST) & TC_F_SENDING, 0))
        tc_object_wait(c);
}

/* The bookkeeping of one OpenSSL call, in three forms that share it:
 *  io_enter / io_enter_with: find the record (or make it known), enter;
 *  io_reenter: enter again a call that stepped out (io_leave) for the
 *              library's own send on the object;
 *  io_leave:   the way out of each.
 * find: tc_conn_track (a call that makes a connection known) or
 * tc_conn_get (one that matters only for a connection already known). */
static inline struct tc_conn *io_enter_with(SSL *ssl, struct tc_conn *(*find)(SSL *))
{
    if (!tc_openssl_ready())
        return NULL;
    /* Counted before the lookup: creating a record allocates, and a
     * signal handler's close() must not call OpenSSL (which allocates too)
     * on top of an interrupted malloc(). */
    tc_in_openssl++;
    struct tc_conn *c = find(ssl);
    if (c) {
        enter_call(c);
        own(c);
    } else {
        tc_in_openssl--;
    }
    return c;
}

/* Entering with the record in hand: io_reenter, and the wrappers that
 * found it their own way (the steady paths, SSL_clear). */
static inline void io_enter_found(struct tc_conn *c)
{
    tc_in_openssl++;
    enter_call(c);
}

static void io_reenter(struct tc_conn *c)
{
    io_enter_found(c);
    own(c);
}

static struct tc_conn *io_enter(SSL *ssl)
{
    return io_enter_with(ssl, tc_conn_track);
}

static void io_leave(struct tc_conn *c)
{
    /* Again on the way out: a call that was under way when another thread
     * forked used the connection after the fork too. */
    own(c);
    tc_in_openssl--;
    __atomic_fetch_sub(&c->active, 1, __ATOMIC_ACQ_REL);
}

/* A call failed only for now (WANT_READ, WANT_WRITE, a callback to retry):
 * nothing happened to the connection. The common case for non-blocking
 * programs, so it is decided first and cheaply. errno is preserved. */
static int failed_for_now(struct tc_conn *c, SSL *ssl)
{
    int saved = errno;
    int want = tc_ossl.SSL_want(ssl);
    int retry = want != TC_SSL_NOTHING && want != TC_SSL_READING && want != TC_SSL_WRITING;
    if (want == TC_SSL_READING || want == TC_SSL_WRITING) {
        BIO *b = want == TC_SSL_READING ? tc_ossl.SSL_get_rbio(ssl) : tc_ossl.SSL_get_wbio(ssl);
        retry = b && tc_ossl.BIO_test_flags(b, TC_BIO_FLAGS_SHOULD_RETRY);
        if (retry && want == TC_SSL_WRITING)
            tc_set_flags(c, TC_F_WRITE_PENDING);
    }
    errno = saved;
    return retry;
}

/* TLSCLOSE_REPLY answered the peer's close_notify at once (TLS 1.2, RFC
 * 5246 7.2.1), so OpenSSL refuses the program's later SSL_write ("protocol
 * is shutdown"). Said once, and from then on SSL_get_shutdown shows the
 * close_notify that went out: the program's view agrees with the failure
 * it just got. Until then it is hidden, as for every close_notify the
 * library sends on its own (SSL_get_shutdown below). */
static void write_refused(struct tc_conn *c, SSL *ssl)
{
    if (!tc_closing_shown_to_program(c))
        return;
    int saved = errno;
    tc_report(c, ssl, "write_refused", TC_LEVEL_WARN, "policy",
              tc_reply_name(tc_cfg()->reply), c->fd,
              "SSL_write after the library answered the peer's close_notify "
              "(TLSCLOSE_REPLY); TLSCLOSE_REPLY=off leaves the answer to the program");
    errno = saved;
}

enum io_kind { IO_READ, IO_PEEK, IO_WRITE, IO_HANDSHAKE };

static int is_read(enum io_kind kind)
{
    return kind == IO_READ || kind == IO_PEEK;
}

/* After a successful call: count plaintext (peeked bytes are counted when
 * they are read) and learn the descriptor once the handshake is done. */
static void io_succeeded(struct tc_conn *c, SSL *ssl, size_t n, enum io_kind kind)
{
    unsigned long long *counter = kind == IO_READ    ? &c->bytes_in
                                : kind == IO_WRITE   ? &c->bytes_out
                                                     : NULL;
    /* One thread at a time uses an SSL object: no read-modify-write race. */
    if (counter && n)
        __atomic_store_n(counter, __atomic_load_n(counter, __ATOMIC_RELAXED) + n,
                         __ATOMIC_RELAXED);
    unsigned flags = tc_flags(c);
    if (kind == IO_WRITE && (flags & TC_F_WRITE_PENDING))
        tc_clear_flags(c, TC_F_WRITE_PENDING);
    if (!(flags & TC_F_FD_BOUND)) {
        int saved = errno;
        /* A handshake call that returned 1 has finished the handshake. */
        if (kind == IO_HANDSHAKE || tc_ossl.SSL_is_init_finished(ssl) == 1) {
            tc_conn_learn_fd(c, ssl);
            tc_eof_handshake_done(c);
        }
        errno = saved;
    }
}

/* After the real call: bookkeeping, and for a read that failed, the receive
 * side's decision. Returns the value the program gets. */
static int io_done(struct tc_conn *c, SSL *ssl, int r, int ok, size_t n, enum io_kind kind,
                   int ex)
{
    int reply = 0;
    if (ok) {
        io_succeeded(c, ssl, n, kind);
    } else if (!failed_for_now(c, ssl)) {
        /* The receive side first: it tells a silent EOF or the peer's
         * close_notify from other failures. */
        if (is_read(kind))
            r = tc_eof_after_read(c, ssl, r, ex, &reply);
        else if (kind == IO_WRITE && (tc_flags(c) & TC_F_REPLIED))
            write_refused(c, ssl);
        if (!(tc_flags(c) & TC_F_END_SEEN))
            tc_eof_call_failed(c, ssl);
    }
    io_leave(c);
    if (reply)
        tc_end_connection(c, TC_TRIGGER_REPLY, -1);
    return r;
}

/* Never call a NULL function, and read the table only once it is published:
 * tc_openssl_bound() returns after an acquire load of the binding state, or
 * after waiting for the thread that is binding. An OpenSSL that lacks a
 * symbol we wrap cannot be the one the program called, but be safe. */
#define REAL_OR(name, fail)             \
    do {                                \
        (void)tc_openssl_bound();       \
        if (!tc_ossl.name)              \
            return fail;                \
    } while (0)

/* --- reads and writes ------------------------------------------------------ */

typedef int io_int_fn(SSL *, void *, int);
typedef int io_ex_fn(SSL *, void *, size_t, size_t *);

/* Before a read: the receive side's setup, or the end it already reported. */
static int read_replayed(struct tc_conn *c, SSL *ssl, enum io_kind kind, int ex, int *r)
{
    if (!c || !is_read(kind))
        return 0;
    if (!(tc_flags(c) & TC_F_EOF_READY))
        tc_eof_prepare(c, ssl);
    if (TC_LOAD(c->end_state) != TC_END_ERROR || !tc_eof_replay(c, ex, r))
        return 0;
    io_leave(c);
    return 1;
}

/* SSL_write of 0 bytes returns 0 when it succeeds (the byte count), with
 * SSL_ERROR_SYSCALL and nothing queued: no failure of the connection
 * (openssl s_client makes such a call after its handshake). The _ex form
 * returns 1. */
static inline int empty_write(enum io_kind kind, int num, int r)
{
    return kind == IO_WRITE && num == 0 && r == 0;
}

static int io_int(io_int_fn *real, SSL *ssl, void *buf, int num, enum io_kind kind)
{
    struct tc_conn *c = io_enter(ssl);
    int r;
    if (read_replayed(c, ssl, kind, 0, &r))
        return r;
    r = real(ssl, buf, num);
    if (c)
        r = io_done(c, ssl, r, r > 0 || empty_write(kind, num, r), r > 0 ? (size_t)r : 0, kind,
                    0);
    return r;
}

static int io_ex(io_ex_fn *real, SSL *ssl, void *buf, size_t num, size_t *done, enum io_kind kind)
{
    struct tc_conn *c = io_enter(ssl);
    int r;
    if (read_replayed(c, ssl, kind, 1, &r)) {
        if (done)
            *done = 0;
        return r;
    }
    r = real(ssl, buf, num, done);
    if (c)
        r = io_done(c, ssl, r, r > 0, r > 0 && done ? *done : 0, kind, 1);
    return r;
}

/* --- the steady state -------------------------------------------------------
 * doc/design.md, Performance rules: a bulk SSL_read or SSL_write costs at
 * most 100 instructions more than without the shim. Once a connection is
 * established, its
 * descriptor learned and (for reads) its receive side prepared, a call that
 * succeeds only has to count bytes: the record comes from the thread's memo
 * and nothing else is decided. Any other case takes the full way (io_int,
 * io_ex), and so does a call that fails. */
static inline struct tc_conn *steady(SSL *ssl, unsigned need, unsigned unwanted)
{
    struct tc_conn *c = tc_conn_memo(ssl);
    if (!c)
        return NULL;
    if ((tc_flags(c) & (need | unwanted)) != need || TC_LOAD(c->end_state) != TC_END_NONE ||
        TC_LOAD(c->owner) != TC_LOAD(tc_epoch))
        return NULL;
    io_enter_found(c); /* io_leave undoes it */
    return c;
}

#define STEADY_READ TC_F_FD_BOUND | TC_F_EOF_READY, TC_F_END_SEEN
#define STEADY_WRITE TC_F_FD_BOUND, TC_F_WRITE_PENDING

/* One thread at a time uses an SSL object: no read-modify-write race. */
static inline void count_bytes(unsigned long long *counter, size_t n)
{
    __atomic_store_n(counter, __atomic_load_n(counter, __ATOMIC_RELAXED) + n, __ATOMIC_RELAXED);
}

TC_EXPORT int SSL_read(SSL *ssl, void *buf, int num)
{
    REAL_OR(SSL_read, -1);
    struct tc_conn *c = steady(ssl, STEADY_READ);
    if (!c)
        return io_int(tc_ossl.SSL_read, ssl, buf, num, IO_READ);
    int r = tc_ossl.SSL_read(ssl, buf, num);
    if (r <= 0)
        return io_done(c, ssl, r, 0, 0, IO_READ, 0);
    count_bytes(&c->bytes_in, (size_t)r);
    io_leave(c);
    return r;
}

TC_EXPORT int SSL_peek(SSL *ssl, void *buf, int num)
{
    REAL_OR(SSL_peek, -1);
    return io_int(tc_ossl.SSL_peek, ssl, buf, num, IO_PEEK);
}

TC_EXPORT int SSL_read_ex(SSL *ssl, void *buf, size_t num, size_t *readbytes)
{
    REAL_OR(SSL_read_ex, 0);
    struct tc_conn *c = readbytes ? steady(ssl, STEADY_READ) : NULL;
    if (!c)
        return io_ex(tc_ossl.SSL_read_ex, ssl, buf, num, readbytes, IO_READ);
    int r = tc_ossl.SSL_read_ex(ssl, buf, num, readbytes);
    if (r <= 0)
        return io_done(c, ssl, r, 0, 0, IO_READ, 1);
    count_bytes(&c->bytes_in, *readbytes);
    io_leave(c);
    return r;
}

TC_EXPORT int SSL_peek_ex(SSL *ssl, void *buf, size_t num, size_t *readbytes)
{
    REAL_OR(SSL_peek_ex, 0);
    return io_ex(tc_ossl.SSL_peek_ex, ssl, buf, num, readbytes, IO_PEEK);
}

/* The write functions take a const buffer; the shared helpers never touch
 * it, so the casts only adapt the pointer types. */
TC_EXPORT int SSL_write(SSL *ssl, const void *buf, int num)
{
    REAL_OR(SSL_write, -1);
    struct tc_conn *c = steady(ssl, STEADY_WRITE);
    if (!c)
        return io_int((io_int_fn *)tc_ossl.SSL_write, ssl, (void *)buf, num, IO_WRITE);
    int r = tc_ossl.SSL_write(ssl, buf, num);
    if (r <= 0)
        return io_done(c, ssl, r, empty_write(IO_WRITE, num, r), 0, IO_WRITE, 0);
    count_bytes(&c->bytes_out, (size_t)r);
    io_leave(c);
    return r;
}

TC_EXPORT int SSL_write_ex(SSL *ssl, const void *buf, size_t num, size_t *written)
{
    REAL_OR(SSL_write_ex, 0);
    struct tc_conn *c = written ? steady(ssl, STEADY_WRITE) : NULL;
    if (!c)
        return io_ex((io_ex_fn *)tc_ossl.SSL_write_ex, ssl, (void *)buf, num, written, IO_WRITE);
    int r = tc_ossl.SSL_write_ex(ssl, buf, num, written);
    if (r <= 0)
        return io_done(c, ssl, r, 0, 0, IO_WRITE, 1);
    count_bytes(&c->bytes_out, *written);
    io_leave(c);
    return r;
}

/* --- handshakes -------------------------------------------------------------- */

/* The object whose handshake this thread is inside: SSL_connect and
 * SSL_accept call SSL_do_handshake through the PLT, that is, through our
 * wrapper, and the outer call does the bookkeeping for both. */
static __thread SSL *in_handshake __attribute__((tls_model("initial-exec")));

static int handshake(int (*real)(SSL *), SSL *ssl)
{
    if (in_handshake == ssl)
        return real(ssl);
    struct tc_conn *c = io_enter(ssl);
    SSL *outer = in_handshake;
    in_handshake = ssl;
    int r = real(ssl);
    in_handshake = outer;
    if (c) {
        if (r == 1)
            io_done(c, ssl, r, 1, 0, IO_HANDSHAKE, 0);
        else
            io_leave(c); /* a failed handshake is judged when it matters */
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
    int end = TC_LOAD(c->end_state);
    if (end == TC_END_ERROR) {
        /* Reported as failed: nothing is sent into the dead connection. */
        io_leave(c);
        tc_eof_fail();
        return -1;
    }
    if (end == TC_END_CLEAN && tc_ossl.SSL_is_init_finished(ssl) != 1) {
        /* A fatal-level close_notify left OpenSSL's object in its error
         * state; for the program it was a clean end: both sides are done. */
        io_leave(c);
        return 1;
    }
    if (tc_closing_shown_to_program(c)) {
        /* The shim already sent close_notify for the program (an exit
         * handler of ours that ran first, a reply, shutdown()). Its own first
         * call gets what a first call returns after sending, without the
         * read a real second call would block in. */
        int r = (tc_ossl.SSL_get_shutdown(ssl) & TC_SSL_RECEIVED_SHUTDOWN) ? 1 : 0;
        io_leave(c);
        return r;
    }
    int before = tc_ossl.SSL_get_shutdown(ssl);
    int quiet = tc_ossl.SSL_get_quiet_shutdown(ssl) == 1;
    if (quiet && !(before & TC_SSL_SENT_SHUTDOWN) && tc_cfg()->notify == TC_NOTIFY_ALWAYS) {
        /* The program asked for a quiet shutdown; always overrides it now,
         * when the program ends TLS, not later at close. */
        io_leave(c);
        tc_end_connection(c, TC_TRIGGER_QUIET, -1);
        io_reenter(c);
        before = tc_ossl.SSL_get_shutdown(ssl);
    }
    int r = tc_ossl.SSL_shutdown(ssl);
    if (!quiet && !(before & TC_SSL_SENT_SHUTDOWN) &&
        (tc_ossl.SSL_get_shutdown(ssl) & TC_SSL_SENT_SHUTDOWN))
        tc_closing_program_sent(c, ssl);
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
    /* No reference of our own is needed: the SSL's own one keeps the record
     * alive until it is detached below, and the record is not touched after
     * that. */
    tc_end_connection(c, TC_TRIGGER_FREE, -1);
    /* From here on the object is being torn down: no send starts on it
     * (close() in another thread, or made by SSL_free itself for a
     * BIO_CLOSE), and one under way in another thread is waited for. */
    if (!tc_object_retire(c)) {
        /* Still in use past every bound: leaking the object is harmless,
         * freeing it under the other thread is not. Said only when it is
         * the connection's final event (the other thread's send has not
         * reported yet). */
        tc_report_skipped(c, NULL, "busy", TC_LEVEL_WARN, c->fd, c->fd,
                          "SSL_free while the library was still sending on the object in "
                          "another thread; the object is left allocated");
        return;
    }
    /* Before the real SSL_free, which may close the descriptor (BIO_CLOSE):
     * the record is then no live connection's, and another thread's new
     * object at the same address never finds it. */
    tc_conn_detach(ssl, c);
    tc_ossl.SSL_free(ssl);
}

/* SSL_clear made the object ready for a new connection. The one it had
 * ends here if it has not ended yet (SSL_clear is no trigger: nothing is
 * sent); the next is counted when it ends (TC_F_UNCOUNTED). A record reset
 * before and not used since stands for no connection: nothing to say.
 * errno is preserved. */
static void clear_connection(struct tc_conn *c)
{
    int saved = errno;
    unsigned flags = tc_flags(c);
    int unused = (flags & TC_F_UNCOUNTED) && !(flags & TC_F_FD_BOUND) &&
                 TC_LOAD(c->bytes_in) == 0 && TC_LOAD(c->bytes_out) == 0;
    if (!unused)
        tc_report_skipped(c, NULL, (flags & TC_F_FD_BOUND) ? "cleared" : "not established",
                          TC_LEVEL_INFO, c->fd, -1,
                          (flags & TC_F_FD_BOUND) ? "SSL_clear on a connection that had not "
                                                    "ended: the object is reused"
                                                  : NULL);
    tc_conn_reset(c);
    tc_set_flags(c, TC_F_UNCOUNTED);
    errno = saved;
}

TC_EXPORT int SSL_clear(SSL *ssl)
{
    REAL_OR(SSL_clear, 0);
    /* OpenSSL calls it too: from SSL_new (no record yet), and from inside
     * the program's first handshake, which is no new connection; the
     * wrapper around that handshake has entered the call already. */
    if (tc_in_openssl > 0) {
        int r = tc_ossl.SSL_clear(ssl);
        struct tc_conn *c = r == 1 && tc_openssl_ready() ? tc_conn_get(ssl) : NULL;
        if (c)
            tc_conn_reset(c);
        return r;
    }
    struct tc_conn *c = tc_openssl_ready() ? tc_conn_get(ssl) : NULL;
    if (c)
        io_enter_found(c); /* not under a send of the library's in another thread */
    int r = tc_ossl.SSL_clear(ssl);
    if (c) {
        if (r == 1)
            clear_connection(c); /* the object starts a new connection */
        io_leave(c);
    }
    return r;
}

/* SSL_get_error must agree with what the read wrappers returned. */
TC_EXPORT int SSL_get_error(const SSL *ssl, int ret)
{
    REAL_OR(SSL_get_error, TC_SSL_ERROR_SSL);
    if (ret <= 0 && tc_openssl_ready()) {
        struct tc_conn *c = tc_conn_get((SSL *)ssl);
        int code = c ? tc_eof_error_code(c, ret) : -1;
        if (code >= 0)
            return code;
    }
    return tc_ossl.SSL_get_error(ssl, ret);
}

/* Only the mark of a received close_notify matters (eof.c): a program that
 * sets it when just the transport ended takes a silent EOF for a clean end.
 * OpenSSL calls this function itself, from inside SSL_read (3.x with
 * SSL_OP_IGNORE_UNEXPECTED_EOF marks a silent EOF so): those calls, made
 * while the thread is inside a wrapped call, are OpenSSL's own. */
TC_EXPORT void SSL_set_shutdown(SSL *ssl, int mode)
{
    REAL_OR(SSL_set_shutdown, );
    /* Only a mark the program adds: CPython 3.13 sets the state it read back
     * before every SSL_free, which needs no lookup. */
    if ((mode & TC_SSL_RECEIVED_SHUTDOWN) && ssl && tc_in_openssl == 0 &&
        !(tc_ossl.SSL_get_shutdown(ssl) & TC_SSL_RECEIVED_SHUTDOWN)) {
        struct tc_conn *c = io_enter_with(ssl, tc_conn_get);
        if (c) {
            if (tc_eof_marked_by_program(c, ssl))
                mode &= ~TC_SSL_RECEIVED_SHUTDOWN;
            io_leave(c);
        }
    }
    tc_ossl.SSL_set_shutdown(ssl, mode);
}

/* A close_notify the shim sent on its own is not the program's: until the
 * program calls SSL_shutdown, it sees the shutdown state without it (CPython
 * reads "EOF" only when the state is exactly RECEIVED_SHUTDOWN). */
TC_EXPORT int SSL_get_shutdown(const SSL *ssl)
{
    REAL_OR(SSL_get_shutdown, 0);
    int state = tc_ossl.SSL_get_shutdown(ssl);
    if ((state & TC_SSL_SENT_SHUTDOWN) && tc_openssl_ready()) {
        struct tc_conn *c = tc_conn_get((SSL *)ssl);
        if (c && (tc_flags(c) & TC_F_SENT_FOR_PROGRAM))
            state &= ~TC_SSL_SENT_SHUTDOWN;
    }
    return state;
}
