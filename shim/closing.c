/* closing.c: sending close_notify safely (see closing.h). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "closing.h"
#include "alertbio.h"
#include "settings.h"
#include "log.h"
#include "real.h"
#include "report.h"

/* How long a close() may wait for the socket to take the alert. */
#define SEND_BOUND_MS 200
/* Draining unread bytes before the real close: at most this much. */
#define DRAIN_MAX_BYTES (256 * 1024)

static const char *const trigger_names[] = { "close", "shutdown", "free", "exit", "quiet", "reply" };

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int remaining_ms(long long deadline)
{
    long long left = deadline - now_ms();
    return left > 0 ? (int)left : 0;
}

/* poll() one descriptor until ready or the deadline; 1 when ready. A
 * signal (EINTR) only resumes the wait. While it sleeps in poll() the
 * thread is outside OpenSSL and holds no lock of ours, so a handler's
 * close() may end its own connection normally meanwhile. */
static int wait_ready(int fd, short events, long long deadline)
{
    struct pollfd p = { .fd = fd, .events = events };
    for (;;) {
        tc_in_openssl--;
        int r = poll(&p, 1, remaining_ms(deadline));
        tc_in_openssl++;
        if (r > 0)
            return 1;
        if (r == 0 || errno != EINTR)
            return 0;
    }
}

/* --- SIGPIPE ---------------------------------------------------------------
 * OpenSSL writes with write(2), so a peer that reset the connection makes
 * our close_notify raise SIGPIPE. Block it in this thread only, and consume
 * a SIGPIPE our write raised; process-wide SIG_IGN would change the
 * program's behaviour. */
struct pipe_guard {
    sigset_t old;
    int was_blocked;
    int was_pending;
};

static void pipe_guard_enter(struct pipe_guard *g)
{
    sigset_t pipe;
    sigemptyset(&pipe);
    sigaddset(&pipe, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe, &g->old);
    g->was_blocked = sigismember(&g->old, SIGPIPE);
    g->was_pending = 0;
    if (g->was_blocked) {
        /* The program blocks SIGPIPE itself and may have one pending: that
         * one is its own and must stay. (Costs a system call only here.) */
        sigset_t pending;
        if (sigpending(&pending) == 0)
            g->was_pending = sigismember(&pending, SIGPIPE);
    }
}

static void pipe_guard_leave(struct pipe_guard *g, int wrote_to_dead_peer)
{
    if (wrote_to_dead_peer && !g->was_pending) {
        sigset_t pipe;
        sigemptyset(&pipe);
        sigaddset(&pipe, SIGPIPE);
        struct timespec zero = { 0, 0 };
        while (sigtimedwait(&pipe, NULL, &zero) == SIGPIPE)
            ;
    }
    if (!g->was_blocked)
        pthread_sigmask(SIG_SETMASK, &g->old, NULL);
}

/* --- pointing the SSL at the descriptor being closed -----------------------
 * With dup'd descriptors the last one closed may not be the number the
 * SSL's socket BIO holds. For the duration of the send the BIO is pointed
 * at the open descriptor, with BIO_NOCLOSE so that no descriptor is ever
 * closed by the switch, and restored afterwards. */
struct bio_switch {
    BIO *bio;
    int old_fd;
    long old_close;
};

static void bio_switch_enter(struct bio_switch *s, SSL *ssl, int fd)
{
    s->bio = NULL;
    BIO *wbio = tc_ossl.SSL_get_wbio(ssl);
    BIO *b = wbio ? tc_ossl.BIO_find_type(wbio, TC_BIO_TYPE_DESCRIPTOR) : NULL;
    int cur = -1;
    if (!b || tc_ossl.BIO_ctrl(b, TC_BIO_C_GET_FD, 0, &cur) < 0 || cur == fd)
        return;
    s->bio = b;
    s->old_fd = cur;
    s->old_close = tc_ossl.BIO_ctrl(b, TC_BIO_CTRL_GET_CLOSE, 0, NULL);
    tc_ossl.BIO_ctrl(b, TC_BIO_CTRL_SET_CLOSE, 0, NULL);
    tc_ossl.BIO_ctrl(b, TC_BIO_C_SET_FD, 0, &fd);
}

static void bio_switch_leave(struct bio_switch *s)
{
    if (!s->bio)
        return;
    tc_ossl.BIO_ctrl(s->bio, TC_BIO_C_SET_FD, 0, &s->old_fd);
    tc_ossl.BIO_ctrl(s->bio, TC_BIO_CTRL_SET_CLOSE, s->old_close, NULL);
}

/* --- the decision ----------------------------------------------------------- */

/* Returns NULL when close_notify should go out now, else the reason not to
 * (with *level how loudly to say it: skips that are part of normal
 * operation are info, skips that mean a close_notify the program needed did
 * not go out are warnings; *detail, when set, says more). *override is set
 * when the program's quiet shutdown must be overridden
 * (TLSCLOSE_NOTIFY=always). *silent is set when there is nothing to report
 * (the connection's final event was logged already: the program or the
 * library sent close_notify); *final when the reason cannot change, so the
 * decision is made once whatever the trigger. */
static const char *reason_not_to_send(struct tc_conn *c, SSL *ssl, int fd, int fd_closed,
                                      int pid_checked,
                                      int *override, int *silent, enum tc_level *level,
                                      int *final, const char **detail)
{
    unsigned flags = tc_flags(c);
    *override = 0;
    *silent = 0;
    *level = TC_LEVEL_INFO;
    *detail = NULL;
    *final = 0; /* ownership can change until the next trigger */
    if (flags & (TC_F_CLAIMED | TC_F_ALERT_WRITTEN)) {
        *silent = 1;
        return "already sent";
    }
    /* Not final: until the connection ends, the program may still send
     * close_notify itself (its own SSL_shutdown), and that is then its
     * final event. */
    if (tc_cfg()->notify == TC_NOTIFY_OFF)
        return "notify off";
    /* getpid(): a vfork() child shares our memory, epoch included. The close
     * and shutdown wrappers (libc.c) compared getpid() with tc_pid already:
     * one system call per close, not two. */
    if ((!pid_checked && getpid() != tc_pid) || TC_LOAD(c->owner) != TC_LOAD(tc_epoch))
        return "not owner";
    *final = 1; /* the connection's state cannot come back from these */
    if (flags & TC_F_FAILED) {
        if ((flags & (TC_F_END_SEEN | TC_F_PEER_CN)) == TC_F_END_SEEN)
            *detail = "the peer ended the connection without close_notify";
        return "failed";
    }
    if (tc_ossl.SSL_is_init_finished(ssl) != 1) {
        /* The peer's close_notify at fatal level (TLS 1.2) ended the
         * connection cleanly, but leaves OpenSSL's object in its error
         * state: no answer can be written. */
        if (flags & TC_F_PEER_CN)
            return "fatal close_notify";
        /* OpenSSL itself put an established connection in its error state
         * (fatal alert sent or received, 3.x EOF), or the handshake never
         * finished. */
        return (flags & TC_F_FD_BOUND) ? "failed" : "not established";
    }
    /* The explicit quiet-shutdown API is a decision against close_notify,
     * overridden only by TLSCLOSE_NOTIFY=always. SENT without an alert
     * written (none seen: ALERT_WRITTEN above) is the SSL_set_shutdown()
     * idiom, which only sets OpenSSL's state: to free without blocking, or,
     * as CPython >= 3.13 does before every SSL_free, to keep the session
     * resumable. It ends like any other connection (doc/design.md, Sending). */
    int quiet = tc_ossl.SSL_get_quiet_shutdown(ssl) == 1;
    if (quiet && tc_cfg()->notify != TC_NOTIFY_ALWAYS)
        return "quiet";
    if (quiet || (tc_ossl.SSL_get_shutdown(ssl) & TC_SSL_SENT_SHUTDOWN))
        *override = 1;
    *level = TC_LEVEL_WARN;
    /* Every descriptor of the connection was closed without close_notify
     * (the close found the object busy, or came from a signal handler):
     * writing through the SSL's BIO now would hit a closed number, or
     * another file that reuses it. */
    if (fd_closed)
        return "fd closed";
    *final = 0; /* a busy object or a pending write may be done by the next trigger */
    /* Sequentially consistent after the claim (object_claim). */
    if (__atomic_load_n(&c->active, __ATOMIC_SEQ_CST) > 0)
        return "busy";
    if (flags & TC_F_WRITE_PENDING)
        return "write pending";
    *final = 1;
    if (fd >= 0 && c->has_identity) {
        struct stat st;
        if (fstat(fd, &st) != 0 || st.st_dev != c->dev || st.st_ino != c->ino)
            return "fd reused";
    }
    return NULL;
}

/* --- sending -------------------------------------------------------------- */

/* SENT_NOTHING: the socket did not become writable within the bound (for a
 * reply: at once), and OpenSSL was not asked to write: its state says
 * nothing was sent, which is true. SENT_TIMEOUT: the alert is written, or
 * part of it, and the rest will not go out within the bound. */
enum outcome { SENT_OK, SENT_NOTHING, SENT_TIMEOUT, SENT_PEER_GONE, SENT_ERROR };

/* Call the real SSL_shutdown once to write the alert; retry only to flush
 * an alert that a full non-blocking socket refused, within the deadline. */
static enum outcome write_alert(SSL *ssl, int fd, long long deadline, int *epipe)
{
    if (fd >= 0 && !wait_ready(fd, POLLOUT, deadline))
        return SENT_NOTHING;
    for (;;) {
        errno = 0;
        int r = tc_ossl.SSL_shutdown(ssl);
        if (r >= 0)
            return SENT_OK;
        int e = errno;
        if (e == EPIPE)
            *epipe = 1;
        if (e == EPIPE || e == ECONNRESET || e == ENOTCONN)
            return SENT_PEER_GONE;
        if (tc_ossl.SSL_want(ssl) != TC_SSL_WRITING || fd < 0)
            return SENT_ERROR;
        if (!wait_ready(fd, POLLOUT, deadline))
            return SENT_TIMEOUT;
    }
}

/* --- the alert through the library's own BIO (alertbio.h) ------------------
 * It applies when the SSL writes straight into a descriptor BIO (no filter
 * BIO in front, no kernel TLS) over a socket; otherwise the alert goes out
 * through OpenSSL's own write, guarded as above. */

/* 1 when the alert can go through the library's BIO: fd is a socket and
 * the SSL writes straight into a descriptor BIO without kernel TLS. */
static int plain_socket_wbio(struct tc_conn *c, SSL *ssl, int fd)
{
    if (fd < 0 || !c->is_socket)
        return 0;
    BIO *w = tc_ossl.SSL_get_wbio(ssl);
    /* A descriptor BIO is a source/sink: when the SSL's own write BIO is
     * one, no filter BIO sits in front of it. Kernel TLS exists only when
     * the program asked for it (3.x: SSL_OP_ENABLE_KTLS). */
    if (!w || !tc_ossl.BIO_method_type || !(tc_ossl.BIO_method_type(w) & TC_BIO_TYPE_DESCRIPTOR))
        return 0;
    if (tc_ossl_v3)
        return !(tc_ossl.SSL_get_options(ssl) & TC_SSL_OP_ENABLE_KTLS);
    return tc_ossl.BIO_ctrl(w, TC_BIO_CTRL_GET_KTLS_SEND, 0, NULL) <= 0;
}

/* deadline 0: the bound starts at the first wait (the usual send does not
 * wait, and reads no clock). */
static enum outcome send_all(int fd, const char *p, long len, long long deadline)
{
    while (len > 0) {
        ssize_t n = send(fd, p, (size_t)len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            p += n;
            len -= n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (!deadline)
                deadline = now_ms() + SEND_BOUND_MS;
            if (!wait_ready(fd, POLLOUT, deadline))
                return SENT_TIMEOUT;
            continue;
        }
        if (n < 0 && (errno == EPIPE || errno == ECONNRESET || errno == ENOTCONN))
            return SENT_PEER_GONE;
        return SENT_ERROR;
    }
    return SENT_OK;
}

static enum outcome write_alert_buffered(SSL *ssl, BIO *mem, int fd, long long deadline)
{
    BIO *w = tc_ossl.SSL_get_wbio(ssl);
    /* SSL_set0_wbio frees the BIO it replaces: one more reference on each
     * keeps both alive through the swap and the swap back. */
    tc_ossl.BIO_up_ref(w);
    tc_ossl.BIO_up_ref(mem);
    tc_ossl.SSL_set0_wbio(ssl, mem);
    int r = tc_ossl.SSL_shutdown(ssl);
    tc_ossl.SSL_set0_wbio(ssl, w);
    long len;
    const char *data = tc_alert_bio_data(&len);
    if (r < 0 || len <= 0)
        return SENT_ERROR;
    return send_all(fd, data, len, deadline);
}

/* TLSCLOSE_WAIT_MS: read until the peer's close_notify or the deadline.
 * The socket is made non-blocking meanwhile so that no read can outlast the
 * deadline. Returns 1 when the peer answered. */
static int await_reply(SSL *ssl, int fd, long long deadline)
{
    if (fd < 0)
        return 0;
    int fl = TC_LIBC(fcntl)(fd, F_GETFL);
    if (fl < 0 || (!(fl & O_NONBLOCK) && TC_LIBC(fcntl)(fd, F_SETFL, fl | O_NONBLOCK) < 0))
        return 0;
    int answered = 0;
    while (wait_ready(fd, POLLIN, deadline)) {
        int r = tc_ossl.SSL_shutdown(ssl);
        if (r == 1) {
            answered = 1;
            break;
        }
        if (r == 0 || tc_ossl.SSL_want(ssl) != TC_SSL_READING)
            break;
    }
    if (!(fl & O_NONBLOCK))
        TC_LIBC(fcntl)(fd, F_SETFL, fl);
    return answered;
}

/* Read and discard what the peer already sent (TLS 1.3 session tickets,
 * unread records) so that the kernel ends the connection with FIN, not RST.
 * Never blocks; bounded. A short read means the queue is empty, so the
 * usual case costs a single recv(). */
static void drain(int fd)
{
    char buf[16384];
    size_t total = 0;
    while (total < DRAIN_MAX_BYTES) {
        ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
        if (n < (ssize_t)sizeof buf)
            break;
        total += (size_t)n;
    }
}

static int same_file(struct tc_conn *c, int fd)
{
    struct stat st;
    return fstat(fd, &st) == 0 && st.st_dev == c->dev && st.st_ino == c->ino;
}

/* Async-signal-safe (fstat, recv): close() may run in a handler. */
void tc_drain_before_close(struct tc_conn *c, int fd)
{
    /* Only a connection this process ended with the library's close_notify,
     * and only the open file it was: a child's inherited copy, or a number
     * closed behind our back and reused, is none of the library's business. */
    if (!(tc_flags(c) & TC_F_DRAIN) || TC_LOAD(c->owner) != TC_LOAD(tc_epoch) ||
        !c->is_socket || !c->has_identity)
        return;
    int saved = errno;
    if (same_file(c, fd))
        drain(fd);
    errno = saved;
}

/* --- one thread at a time on the object ---------------------------------------
 * The library uses the program's SSL object from whatever thread ends the
 * connection (close() in one thread, exit in another), where the program,
 * bare, would not touch it at all. So it claims the object first (TC_F_SENDING,
 * one atomic word with TC_F_FREEING): a claim fails once SSL_free has begun,
 * SSL_free waits for a claim in progress, the program's own calls wait
 * for it (openssl.c) and, the other way round, the sender gives up when it
 * finds the program inside a call ("busy"). Every wait is bounded by what
 * a send may take. */
static __thread struct tc_conn *claimed_here __attribute__((tls_model("initial-exec")));

static long long sender_bound_ms(void)
{
    /* the alert, the wait for the answer, and slack for the drain and log */
    return SEND_BOUND_MS + tc_cfg()->wait_ms + 1000;
}

int tc_object_wait(struct tc_conn *c)
{
    if (!(tc_flags(c) & TC_F_SENDING))
        return 1;
    if (claimed_here == c)
        return 0; /* a signal handler on the sending thread: never wait for ourselves */
    long long deadline = now_ms() + sender_bound_ms();
    /* A send is short unless the socket is full: yield at first, then
     * sleep a millisecond at a time rather than spin through a 200 ms wait. */
    for (int round = 0; tc_flags(c) & TC_F_SENDING; round++) {
        if (now_ms() > deadline)
            return 0;
        if (round < 100) {
            sched_yield();
        } else {
            struct timespec ms = { 0, 1000000 };
            nanosleep(&ms, NULL);
        }
    }
    return 1;
}

/* 1 when this thread now has the object; 0 when it is being freed (or
 * stayed claimed past the bound). */
static int object_claim(struct tc_conn *c)
{
    for (;;) {
        unsigned f = tc_flags(c);
        if (f & TC_F_FREEING)
            return 0;
        if (f & TC_F_SENDING) {
            if (!tc_object_wait(c))
                return 0;
            continue;
        }
        /* Sequentially consistent, as the program's entry (openssl.c): either
         * the program sees the claim and waits, or the claim sees the
         * program's call in "active" and gives up. */
        if (__atomic_compare_exchange_n(&c->flags, &f, f | TC_F_SENDING, 0, __ATOMIC_SEQ_CST,
                                        __ATOMIC_SEQ_CST)) {
            claimed_here = c;
            return 1;
        }
    }
}

static void object_release(struct tc_conn *c, struct tc_conn *outer)
{
    claimed_here = outer;
    __atomic_fetch_and(&c->flags, ~TC_F_SENDING, __ATOMIC_SEQ_CST);
}

int tc_object_retire(struct tc_conn *c)
{
    __atomic_fetch_or(&c->flags, TC_F_FREEING, __ATOMIC_SEQ_CST);
    return tc_object_wait(c);
}

/* --- the descriptor the alert goes through --------------------------------------
 * close() and shutdown() hand in the program's own descriptor, which no other
 * thread can legitimately close while the call runs. The other triggers
 * (SSL_free, exit, a reply, a quiet shutdown) find one in the table, where
 * another thread may close the number and open another file on it at any
 * moment, even while the send waits for room: the alert goes through a
 * private duplicate instead, made before the identity check, so it reaches
 * the open file that check saw or nothing. It is placed above the numbers
 * programs expect open() to return, and closed with the real close(). */
#define PIN_FLOOR 256

static int pin_descriptor(int fd)
{
    int pin = TC_LIBC(fcntl)(fd, F_DUPFD_CLOEXEC, PIN_FLOOR);
    if (pin < 0 && errno == EINVAL) /* a descriptor limit below the floor */
        pin = TC_LIBC(fcntl)(fd, F_DUPFD_CLOEXEC, 0);
    return pin;
}

/* --- ending a connection ------------------------------------------------------ */

/* fd: the descriptor the trigger came through, or -1. */
static void end_claimed(struct tc_conn *c, SSL *ssl, enum tc_trigger trigger, int fd)
{
    const struct tc_config *cfg = tc_cfg();
    int fd_closed = 0, pin = -1, unpinned = 0;
    int shown = fd; /* the program's descriptor, for the events */
    if (fd < 0) {
        shown = tc_conn_any_fd(c, &fd_closed);
        if (shown >= 0) {
            pin = pin_descriptor(shown);
            unpinned = pin < 0 ? (errno == EBADF ? EBADF : -1) : 0;
        }
        fd = pin;
    }

    int pid_checked = trigger == TC_TRIGGER_CLOSE || trigger == TC_TRIGGER_SHUTDOWN;
    int override, silent;
    enum tc_level level;
    int final;
    const char *detail;
    const char *reason = reason_not_to_send(c, ssl, fd, fd_closed, pid_checked, &override,
                                            &silent, &level, &final, &detail);
    if (!reason && unpinned) {
        /* No duplicate. EBADF: the number in the table was closed behind
         * the library's back (a raw close system call, or a close() it
         * could not follow): the socket is gone. Otherwise the descriptor
         * limit: the number alone may name another file by the time the
         * alert is written. */
        reason = unpinned == EBADF ? "fd closed" : "no descriptor";
        level = TC_LEVEL_WARN;
        final = unpinned == EBADF;
    }
    if (!reason && (tc_set_flags(c, TC_F_CLAIMED) & TC_F_CLAIMED)) {
        reason = "already sent"; /* another thread got here first */
        silent = 1;
    }
    if (reason) {
        /* The connection's one final event. Most reasons cannot change:
         * decided once. The others (ownership, a busy object, a pending
         * write, TLSCLOSE_NOTIFY=off) are final too when the trigger ends
         * the connection for this process: its last descriptor closed, its
         * write side shut down, the object freed, the process ending. A
         * reply or a quiet SSL_shutdown leaves them to the next trigger,
         * and says nothing now. */
        int ends = trigger != TC_TRIGGER_REPLY && trigger != TC_TRIGGER_QUIET;
        if (!silent && (final || ends)) {
            tc_set_flags(c, TC_F_CLAIMED);
            tc_report_skipped(c, ssl, reason, level, shown, fd >= 0 ? fd : shown, detail);
        }
        if (pin >= 0)
            TC_LIBC(close)(pin);
        return;
    }

    struct pipe_guard pg;
    struct bio_switch bs;
    int epipe = 0;
    tc_in_openssl++; /* a close() from a signal handler must not re-enter */
    /* 0 when the queue was empty: no mark was placed. */
    int marked = tc_ossl.ERR_set_mark();
    BIO *mem = plain_socket_wbio(c, ssl, fd) ? tc_alert_bio_take() : NULL;
    /* Waiting for the peer's answer belongs where the program cannot read
     * any more (the real close, SSL_free, exit): after shutdown(SHUT_WR) the
     * answer, and the response before it, are the program's to read. */
    int await = cfg->wait_ms > 0 && (trigger == TC_TRIGGER_CLOSE ||
                                     trigger == TC_TRIGGER_FREE || trigger == TC_TRIGGER_EXIT);
    /* Without the library's BIO OpenSSL itself writes (also while waiting for
     * the answer: a TLS 1.3 KeyUpdate may be answered). */
    int guard = !mem || await;
    if (guard)
        pipe_guard_enter(&pg);
    /* The library's BIO path sends to fd itself; OpenSSL reads or writes
     * through the socket BIO only on the guarded path or while waiting. */
    if (fd >= 0 && guard)
        bio_switch_enter(&bs, ssl, fd);
    else
        bs.bio = NULL;

    /* A reply is written from inside the program's SSL_read: it never waits
     * there (a full send buffer would hold a non-blocking read for the whole
     * bound). Every other trigger may wait SEND_BOUND_MS. */
    int reply = trigger == TC_TRIGGER_REPLY;
    long long deadline = reply ? now_ms() : 0;
    /* Once OpenSSL has written the record into the library's BIO, it counts it
     * as sent: a part that send() does not take is lost for good, and a
     * piece of a record left on the wire makes whatever the socket carries
     * next unreadable for the peer. After close and exit nothing follows
     * but FIN, after SSL_free nearly always the close: there the usual
     * send, which takes the record whole unless the buffer is full, costs
     * no extra system call (doc/design.md, Performance rules). After
     * shutdown(), a reply or the program's quiet SSL_shutdown the object
     * lives on: the record is
     * made only for a socket that polls writable (which takes a record of
     * an alert's size whole); otherwise OpenSSL is left untouched, so that
     * its state stays true. */
    int check_first = mem && (trigger == TC_TRIGGER_SHUTDOWN || trigger == TC_TRIGGER_QUIET ||
                              reply);
    if (check_first && !deadline)
        deadline = now_ms() + SEND_BOUND_MS;

    int quiet = 0, shutdown_state = 0;
    if (override) {
        quiet = tc_ossl.SSL_get_quiet_shutdown(ssl);
        shutdown_state = tc_ossl.SSL_get_shutdown(ssl);
        tc_ossl.SSL_set_quiet_shutdown(ssl, 0);
        tc_ossl.SSL_set_shutdown(ssl, shutdown_state & ~TC_SSL_SENT_SHUTDOWN);
    }
    enum outcome out;
    if (check_first && !wait_ready(fd, POLLOUT, deadline))
        out = SENT_NOTHING;
    else if (mem)
        out = write_alert_buffered(ssl, mem, fd, deadline);
    else
        out = write_alert(ssl, fd, deadline ? deadline : now_ms() + SEND_BOUND_MS, &epipe);
    if (mem)
        tc_alert_bio_give();
    /* The program did not ask for this close_notify: until it calls
     * SSL_shutdown itself, it sees the connection as it left it, and its
     * first SSL_shutdown behaves like a first call (openssl.c). Unread
     * bytes are drained before the real close of its last descriptor:
     * right below for a close(), whose descriptor was just checked, or by
     * that later close (libc.c) or at process end (init.c). */
    int drain_now = trigger == TC_TRIGGER_CLOSE && fd >= 0;
    if (out == SENT_NOTHING && reply)
        /* Not written, not decided: the program's own SSL_shutdown answers
         * (as it would without the library), or the next trigger (close,
         * free, exit) sends it, with the usual bound. */
        tc_clear_flags(c, TC_F_CLAIMED);
    else if (out != SENT_NOTHING)
        tc_set_flags(c, TC_F_ALERT_WRITTEN |
                            (out == SENT_OK ? TC_F_SENT_FOR_PROGRAM : 0) |
                            (out == SENT_OK && !drain_now ? TC_F_DRAIN : 0) |
                            (out == SENT_OK && reply ? TC_F_REPLIED : 0));
    /* TLSCLOSE_WAIT_MS: whether the peer answered, and how long it took.
     * Its close_notify may have come first (nothing to wait for); without a
     * descriptor (a custom BIO) there is nothing to wait on. */
    struct tc_wait wait = { .waited = out == SENT_OK && await };
    const char *wait_detail = NULL;
    if (wait.waited) {
        if (tc_flags(c) & TC_F_PEER_CN) {
            wait.answered = 1;
            wait_detail = "the peer's close_notify had come first";
        } else if (fd < 0) {
            wait_detail = "no descriptor to wait on (the program's own BIO)";
        } else {
            long long start = now_ms();
            wait.answered = await_reply(ssl, fd, start + cfg->wait_ms);
            wait.waited_ms = now_ms() - start;
        }
    }
    if (override) {
        tc_ossl.SSL_set_quiet_shutdown(ssl, quiet);
        if (out == SENT_NOTHING) /* the program's own state, as it left it */
            tc_ossl.SSL_set_shutdown(ssl, shutdown_state);
    }
    if (drain_now)
        drain(fd);

    bio_switch_leave(&bs);
    if (guard)
        pipe_guard_leave(&pg, epipe);
    /* The program's error queue as it left it. A close_notify that went
     * into the library's BIO and out pushed no error: on an empty queue there
     * is then nothing to take off (ERR_pop_to_mark costs as much as the
     * rest of the decision). Anything else (OpenSSL's own write, the wait
     * for the answer, a failure) may have pushed errors: they go, with the
     * mark. */
    if (marked || !mem || wait.waited || out != SENT_OK)
        tc_ossl.ERR_pop_to_mark();
    tc_in_openssl--;

    const char *trig = trigger_names[trigger];
    switch (out) {
    case SENT_OK:
        tc_report_sent(c, ssl, trig, shown, fd, &wait, wait_detail);
        break;
    case SENT_NOTHING:
        if (!reply) /* a reply not written is tried again by the next trigger */
            tc_report_skipped(c, ssl, "timeout", TC_LEVEL_WARN, shown, fd, NULL);
        break;
    case SENT_TIMEOUT:
        tc_report_skipped(c, ssl, "timeout", TC_LEVEL_WARN, shown, fd, NULL);
        break;
    case SENT_PEER_GONE:
        tc_report_skipped(c, ssl, "peer gone", TC_LEVEL_WARN, shown, fd, NULL);
        break;
    case SENT_ERROR:
        tc_report_skipped(c, ssl, "error", TC_LEVEL_WARN, shown, fd, NULL);
        break;
    }
    if (pin >= 0)
        TC_LIBC(close)(pin);
}

void tc_end_connection(struct tc_conn *c, enum tc_trigger trigger, int fd)
{
    /* Already ended (sent by the program, or by us at an earlier trigger:
     * the SSL_free after a close; or skipped for good): nothing to decide,
     * nothing to report, no lookup. */
    if (tc_flags(c) & (TC_F_ENDED | TC_F_CLAIMED | TC_F_ALERT_WRITTEN))
        return;
    /* outer: a claim this thread already holds (a signal handler that
     * interrupted the library, which then ends another connection). */
    struct tc_conn *outer = claimed_here;
    if (!object_claim(c))
        return; /* SSL_free has begun: the object may be half torn down */
    int saved_errno = errno;
    /* Read after the claim: no SSL_free can have freed it since. NULL when
     * OpenSSL freed it without our SSL_free wrapper (BIO_free_all inside a
     * -Bsymbolic libssl). */
    SSL *ssl = TC_LOAD(c->ssl);
    if (ssl && !(tc_flags(c) & (TC_F_ENDED | TC_F_CLAIMED | TC_F_ALERT_WRITTEN)))
        end_claimed(c, ssl, trigger, fd);
    object_release(c, outer);
    errno = saved_errno;
}
