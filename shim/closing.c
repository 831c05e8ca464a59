/* closing.c: sending close_notify safely (see closing.h): whether, when
 * and in which steps; the bytes on the wire are wire.c's. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "closing.h"
#include "alertbio.h"
#include "settings.h"
#include "log.h"
#include "real.h"
#include "wire.h"
#include "report.h"

static const char *const trigger_names[] = { "close", "shutdown", "free", "exit", "quiet", "reply" };

/* --- the decision -----------------------------------------------------------
 * Why close_notify does not go out. Each reason has a level (skips that are
 * part of normal operation are info; those where a close_notify the
 * program needed did not go out are warnings) and says whether it can
 * still change before the connection ends (not final: the ownership, a
 * busy object, a pending write, TLSCLOSE_NOTIFY=off, a descriptor limit;
 * until the connection ends, the program may still send close_notify
 * itself, and that is then its final event). */
enum skip {
    SEND = 0,
    ALREADY_SENT,       /* nothing to say: the final event was (or is being) said */
    NOTIFY_OFF,
    NOT_OWNER,
    TRUNCATED,
    FAILED,
    FATAL_CLOSE_NOTIFY,
    BROKEN,
    NOT_ESTABLISHED,
    QUIET,
    FD_CLOSED,
    BUSY,
    WRITE_PENDING,
    FD_REUSED,
    NO_DESCRIPTOR,
};

static const struct {
    const char *reason; /* NULL: say nothing */
    enum tc_level level;
    int final;
    const char *detail;
} skips[] = {
    [ALREADY_SENT] = { NULL, TC_LEVEL_INFO, 1, NULL },
    [NOTIFY_OFF] = { "notify off", TC_LEVEL_INFO, 0, NULL },
    [NOT_OWNER] = { "not owner", TC_LEVEL_INFO, 0, NULL },
    [TRUNCATED] = { "failed", TC_LEVEL_INFO, 1,
                    "the peer ended the connection without close_notify" },
    [FAILED] = { "failed", TC_LEVEL_INFO, 1, NULL },
    [FATAL_CLOSE_NOTIFY] = { "fatal close_notify", TC_LEVEL_INFO, 1, NULL },
    [BROKEN] = { "failed", TC_LEVEL_INFO, 1, NULL },
    [NOT_ESTABLISHED] = { "not established", TC_LEVEL_INFO, 1, NULL },
    [QUIET] = { "quiet", TC_LEVEL_INFO, 1, NULL },
    [FD_CLOSED] = { "fd closed", TC_LEVEL_WARN, 1, NULL },
    [BUSY] = { "busy", TC_LEVEL_WARN, 0, NULL },
    [WRITE_PENDING] = { "write pending", TC_LEVEL_WARN, 0, NULL },
    [FD_REUSED] = { "fd reused", TC_LEVEL_WARN, 1, NULL },
    [NO_DESCRIPTOR] = { "no descriptor", TC_LEVEL_WARN, 0, NULL },
};

/* The descriptor the alert would go through. */
struct target {
    int fd;        /* the trigger's own descriptor, or a private duplicate (pin), or -1 */
    int shown;     /* the program's descriptor, for the events */
    int pin;       /* the duplicate to close afterwards, or -1 */
    int fd_closed; /* every descriptor of the connection was closed */
    int unpinned;  /* no duplicate could be made: EBADF, or -1 for another reason */
};

/* SEND, or why not. Read top to bottom: the first reason that applies. */
static enum skip why_not_send(struct tc_conn *c, SSL *ssl, const struct target *t,
                              enum tc_trigger trigger)
{
    unsigned flags = tc_flags(c);
    if (flags & (TC_F_CLAIMED | TC_F_ALERT_WRITTEN))
        return ALREADY_SENT;
    if (tc_cfg()->notify == TC_NOTIFY_OFF)
        return NOTIFY_OFF;
    /* getpid(): a vfork() child shares our memory, epoch included. The close
     * and shutdown wrappers (libc.c) compared getpid() with tc_pid already:
     * one system call per close, not two. */
    int pid_checked = trigger == TC_TRIGGER_CLOSE || trigger == TC_TRIGGER_SHUTDOWN;
    if ((!pid_checked && getpid() != tc_pid) || TC_LOAD(c->owner) != TC_LOAD(tc_epoch))
        return NOT_OWNER;
    if (flags & TC_F_FAILED)
        return (flags & (TC_F_END_SEEN | TC_F_PEER_CN)) == TC_F_END_SEEN ? TRUNCATED : FAILED;
    if (tc_ossl.SSL_is_init_finished(ssl) != 1) {
        /* The peer's close_notify at fatal level (TLS 1.2) ended the
         * connection cleanly, but leaves OpenSSL's object in its error
         * state: no answer can be written. Otherwise OpenSSL itself put an
         * established connection in its error state (fatal alert sent or
         * received, 3.x EOF), or the handshake never finished. */
        if (flags & TC_F_PEER_CN)
            return FATAL_CLOSE_NOTIFY;
        return (flags & TC_F_FD_BOUND) ? BROKEN : NOT_ESTABLISHED;
    }
    /* The explicit quiet-shutdown API is a decision against close_notify,
     * overridden only by TLSCLOSE_NOTIFY=always. SENT without an alert
     * written (none seen: ALERT_WRITTEN above) is the SSL_set_shutdown()
     * idiom, which only sets OpenSSL's state: to free without blocking, or,
     * as CPython >= 3.13 does before every SSL_free, to keep the session
     * resumable. It ends like any other connection (doc/design.md, Sending;
     * send_alert overrides both). */
    if (tc_ossl.SSL_get_quiet_shutdown(ssl) == 1 && tc_cfg()->notify != TC_NOTIFY_ALWAYS)
        return QUIET;
    /* Every descriptor of the connection was closed without close_notify
     * (the close found the object busy, or came from a signal handler):
     * writing through the SSL's BIO now would hit a closed number, or
     * another file that reuses it. */
    if (t->fd_closed)
        return FD_CLOSED;
    /* Sequentially consistent after the claim (object_claim). */
    if (__atomic_load_n(&c->active, __ATOMIC_SEQ_CST) > 0)
        return BUSY;
    if (flags & TC_F_WRITE_PENDING)
        return WRITE_PENDING;
    if (t->fd >= 0 && c->has_identity) {
        struct stat st;
        if (fstat(t->fd, &st) != 0 || st.st_dev != c->dev || st.st_ino != c->ino)
            return FD_REUSED;
    }
    /* No duplicate. EBADF: the number in the table was closed behind the
     * library's back (a raw close system call, or a close() it could not
     * follow): the socket is gone. Otherwise the descriptor limit: the
     * number alone may name another file by the time the alert is written. */
    if (t->unpinned)
        return t->unpinned == EBADF ? FD_CLOSED : NO_DESCRIPTOR;
    return SEND;
}

/* The end is this thread's to decide for good: 0 when another thread got
 * there first (and says the connection's final event). */
static int decide_for_good(struct tc_conn *c)
{
    return !(tc_set_flags(c, TC_F_CLAIMED) & TC_F_CLAIMED);
}

/* --- sending -------------------------------------------------------------- */


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
        tc_drain(fd);
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
    return TC_SEND_BOUND_MS + tc_cfg()->wait_ms + 1000;
}

int tc_object_wait(struct tc_conn *c)
{
    if (!(tc_flags(c) & TC_F_SENDING))
        return 1;
    if (claimed_here == c)
        return 0; /* a signal handler on the sending thread: never wait for ourselves */
    long long deadline = tc_now_ms() + sender_bound_ms();
    /* A send is short unless the socket is full: yield at first, then
     * sleep a millisecond at a time rather than spin through a 200 ms wait. */
    for (int round = 0; tc_flags(c) & TC_F_SENDING; round++) {
        if (tc_now_ms() > deadline)
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

/* fd: the descriptor the trigger came through, or -1: then any of the
 * connection's, through a private duplicate (pin_descriptor). */
static struct target target_of(struct tc_conn *c, int fd)
{
    struct target t = { .fd = fd, .shown = fd, .pin = -1 };
    if (fd < 0) {
        t.shown = tc_conn_any_fd(c, &t.fd_closed);
        if (t.shown >= 0) {
            t.pin = pin_descriptor(t.shown);
            t.unpinned = t.pin < 0 ? (errno == EBADF ? EBADF : -1) : 0;
        }
        t.fd = t.pin;
    }
    return t;
}

/* The connection's one final event, when no close_notify goes out. Most
 * reasons cannot change: decided once. The others are final too when the
 * trigger ends the connection for this process (its last descriptor
 * closed, its write side shut down, the object freed, the process ending);
 * a reply or a quiet SSL_shutdown leaves them to the next trigger, and
 * says nothing now. */
static void end_without_alert(struct tc_conn *c, SSL *ssl, enum skip why,
                              const struct target *t, enum tc_trigger trigger)
{
    int ends = trigger != TC_TRIGGER_REPLY && trigger != TC_TRIGGER_QUIET;
    if (!skips[why].reason || !(skips[why].final || ends))
        return;
    (void)decide_for_good(c); /* the event says whether another thread said it first */
    tc_report_skipped(c, ssl, skips[why].reason, skips[why].level, t->shown,
                      t->fd >= 0 ? t->fd : t->shown, skips[why].detail);
}

/* One send of the library's close_notify, from its preparation to what it
 * leaves behind for the program. */
struct send {
    enum tc_trigger trigger;
    int reply;          /* answering the peer's close_notify from inside SSL_read */
    int await;          /* wait for the peer's answer (TLSCLOSE_WAIT_MS) */
    BIO *alert_bio;     /* the library's BIO (alertbio.h), or NULL: OpenSSL writes */
    int guarded;        /* SIGPIPE blocked, the socket BIO pointed at fd */
    struct tc_pipe_guard pg;
    struct tc_bio_switch bs;
    int marked;         /* an error-queue mark was placed (the queue was not empty) */
    int check_first;    /* write only into a socket that polls writable */
    long long deadline; /* 0: the bound starts at the first wait */
    int override;       /* the program's quiet or SSL_set_shutdown state set aside */
    int quiet, shutdown_state;
    int epipe;
    enum tc_sent out;
    struct tc_wait wait;
    const char *wait_detail;
};

/* Everything around OpenSSL's write that the program must not notice: the
 * error queue, SIGPIPE, where the socket BIO points, the quiet state. */
static void send_prepare(struct send *s, struct tc_conn *c, SSL *ssl, int fd)
{
    tc_in_openssl++; /* a close() from a signal handler must not re-enter */
    /* 0 when the queue was empty: no mark was placed. */
    s->marked = tc_ossl.ERR_set_mark();
    s->alert_bio = tc_alert_bio_fits(ssl, fd, c->is_socket) ? tc_alert_bio_take() : NULL;
    /* Waiting for the peer's answer belongs where the program cannot read
     * any more (the real close, SSL_free, exit): after shutdown(SHUT_WR) the
     * answer, and the response before it, are the program's to read. */
    s->await = tc_cfg()->wait_ms > 0 &&
               (s->trigger == TC_TRIGGER_CLOSE || s->trigger == TC_TRIGGER_FREE ||
                s->trigger == TC_TRIGGER_EXIT);
    /* Without the library's BIO OpenSSL itself writes (also while waiting for
     * the answer: a TLS 1.3 KeyUpdate may be answered). */
    s->guarded = !s->alert_bio || s->await;
    if (s->guarded)
        tc_pipe_guard_enter(&s->pg);
    /* The library's BIO path sends to fd itself; OpenSSL reads or writes
     * through the socket BIO only on the guarded path or while waiting. */
    if (fd >= 0 && s->guarded)
        tc_bio_switch_enter(&s->bs, ssl, fd);
    else
        s->bs.bio = NULL;

    /* A reply is written from inside the program's SSL_read: it never waits
     * there (a full send buffer would hold a non-blocking read for the whole
     * bound). Every other trigger may wait TC_SEND_BOUND_MS. */
    s->deadline = s->reply ? tc_now_ms() : 0;
    /* Once OpenSSL has written the record into the library's BIO, it counts
     * it as sent: a part that send() does not take is lost for good, and a
     * piece of a record left on the wire makes whatever the socket carries
     * next unreadable for the peer. After close and exit nothing follows
     * but FIN, after SSL_free nearly always the close: there the usual
     * send, which takes the record whole unless the buffer is full, costs
     * no extra system call (doc/design.md, Performance rules). After
     * shutdown(), a reply or the program's quiet SSL_shutdown the object
     * lives on: the record is made only for a socket that polls writable
     * (which takes a record of an alert's size whole); otherwise OpenSSL is
     * left untouched, so that its state stays true. */
    s->check_first = s->alert_bio && (s->trigger == TC_TRIGGER_SHUTDOWN ||
                                      s->trigger == TC_TRIGGER_QUIET || s->reply);
    if (s->check_first && !s->deadline)
        s->deadline = tc_now_ms() + TC_SEND_BOUND_MS;

    /* A quiet shutdown (TLSCLOSE_NOTIFY=always) or the SSL_set_shutdown
     * idiom: set aside for the send, put back afterwards. */
    s->quiet = tc_ossl.SSL_get_quiet_shutdown(ssl);
    s->shutdown_state = tc_ossl.SSL_get_shutdown(ssl);
    s->override = s->quiet == 1 || (s->shutdown_state & TC_SSL_SENT_SHUTDOWN);
    if (s->override) {
        tc_ossl.SSL_set_quiet_shutdown(ssl, 0);
        tc_ossl.SSL_set_shutdown(ssl, s->shutdown_state & ~TC_SSL_SENT_SHUTDOWN);
    }
}

static void send_write(struct send *s, SSL *ssl, int fd)
{
    if (s->check_first && !tc_wait_ready(fd, POLLOUT, s->deadline))
        s->out = TC_SENT_NOTHING;
    else if (s->alert_bio)
        s->out = tc_write_alert_buffered(ssl, s->alert_bio, fd, s->deadline);
    else
        s->out = tc_write_alert(ssl, fd, s->deadline ? s->deadline : tc_now_ms() + TC_SEND_BOUND_MS,
                             &s->epipe);
    if (s->alert_bio)
        tc_alert_bio_give();
}

/* What the send leaves in the record. The program did not ask for this
 * close_notify: until it calls SSL_shutdown itself, it sees the connection
 * as it left it, and its first SSL_shutdown behaves like a first call
 * (openssl.c). Unread bytes are drained before the real close of its last
 * descriptor: at once for a close(), whose descriptor was just checked
 * (send_finish), or by that later close (libc.c) or at process end
 * (init.c). */
static void send_note(struct send *s, struct tc_conn *c, int drain_now)
{
    if (s->out == TC_SENT_NOTHING && s->reply)
        /* Not written, not decided: the program's own SSL_shutdown answers
         * (as it would without the library), or the next trigger (close,
         * free, exit) sends it, with the usual bound. */
        tc_clear_flags(c, TC_F_CLAIMED);
    else if (s->out != TC_SENT_NOTHING)
        tc_set_flags(c, TC_F_ALERT_WRITTEN |
                            (s->out == TC_SENT_OK ? TC_F_SENT_FOR_PROGRAM : 0) |
                            (s->out == TC_SENT_OK && !drain_now ? TC_F_DRAIN : 0) |
                            (s->out == TC_SENT_OK && s->reply ? TC_F_REPLIED : 0));
}

/* TLSCLOSE_WAIT_MS: whether the peer answered, and how long it took. Its
 * close_notify may have come first (nothing to wait for); without a
 * descriptor (a custom BIO) there is nothing to wait on. */
static void send_await(struct send *s, struct tc_conn *c, SSL *ssl, int fd)
{
    s->wait.waited = s->out == TC_SENT_OK && s->await;
    if (!s->wait.waited)
        return;
    if (tc_flags(c) & TC_F_PEER_CN) {
        s->wait.answered = 1;
        s->wait_detail = "the peer's close_notify had come first";
    } else if (fd < 0) {
        s->wait_detail = "no descriptor to wait on (the program's own BIO)";
    } else {
        long long start = tc_now_ms();
        s->wait.answered = tc_await_reply(ssl, fd, start + tc_cfg()->wait_ms);
        s->wait.waited_ms = tc_now_ms() - start;
    }
}

/* Everything send_prepare set aside, put back. */
static void send_finish(struct send *s, SSL *ssl, int fd, int drain_now)
{
    if (s->override) {
        tc_ossl.SSL_set_quiet_shutdown(ssl, s->quiet);
        if (s->out == TC_SENT_NOTHING) /* the program's own state, as it left it */
            tc_ossl.SSL_set_shutdown(ssl, s->shutdown_state);
    }
    if (drain_now)
        tc_drain(fd);
    tc_bio_switch_leave(&s->bs);
    if (s->guarded)
        tc_pipe_guard_leave(&s->pg, s->epipe);
    /* The program's error queue as it left it. A close_notify that went
     * into the library's BIO and out pushed no error: on an empty queue there
     * is then nothing to take off (ERR_pop_to_mark costs as much as the
     * rest of the decision). Anything else (OpenSSL's own write, the wait
     * for the answer, a failure) may have pushed errors: they go, with the
     * mark. */
    if (s->marked || !s->alert_bio || s->wait.waited || s->out != TC_SENT_OK)
        tc_ossl.ERR_pop_to_mark();
    tc_in_openssl--;
}

static void send_report(const struct send *s, struct tc_conn *c, SSL *ssl,
                        const struct target *t)
{
    switch (s->out) {
    case TC_SENT_OK:
        tc_report_sent(c, ssl, trigger_names[s->trigger], t->shown, t->fd, &s->wait,
                       s->wait_detail);
        break;
    case TC_SENT_NOTHING:
        if (!s->reply) /* a reply not written is tried again by the next trigger */
            tc_report_skipped(c, ssl, "timeout", TC_LEVEL_WARN, t->shown, t->fd, NULL);
        break;
    case TC_SENT_TIMEOUT:
        tc_report_skipped(c, ssl, "timeout", TC_LEVEL_WARN, t->shown, t->fd, NULL);
        break;
    case TC_SENT_PEER_GONE:
        tc_report_skipped(c, ssl, "peer gone", TC_LEVEL_WARN, t->shown, t->fd, NULL);
        break;
    case TC_SENT_ERROR:
        tc_report_skipped(c, ssl, "error", TC_LEVEL_WARN, t->shown, t->fd, NULL);
        break;
    }
}

static void send_alert(struct tc_conn *c, SSL *ssl, const struct target *t,
                       enum tc_trigger trigger)
{
    /* Not zeroed whole (the signal sets in it are large): send_prepare and
     * send_write set the rest. */
    struct send s;
    s.trigger = trigger;
    s.reply = trigger == TC_TRIGGER_REPLY;
    s.epipe = 0;
    s.wait = (struct tc_wait){ 0 };
    s.wait_detail = NULL;
    int drain_now = trigger == TC_TRIGGER_CLOSE && t->fd >= 0;
    send_prepare(&s, c, ssl, t->fd);
    send_write(&s, ssl, t->fd);
    send_note(&s, c, drain_now);
    send_await(&s, c, ssl, t->fd);
    send_finish(&s, ssl, t->fd, drain_now);
    send_report(&s, c, ssl, t);
}

/* The object is claimed (object_claim): decide, then send or say why not.
 * Not inline: tc_end_connection's early return (an ended connection, the
 * usual case at close and SSL_free) stays a few instructions. */
__attribute__((noinline)) static void end_claimed(struct tc_conn *c, SSL *ssl,
                                                  enum tc_trigger trigger, int fd)
{
    struct target t = target_of(c, fd);
    enum skip why = why_not_send(c, ssl, &t, trigger);
    if (why == SEND && !decide_for_good(c))
        why = ALREADY_SENT; /* another thread got here first */
    if (why == SEND)
        send_alert(c, ssl, &t, trigger);
    else
        end_without_alert(c, ssl, why, &t, trigger);
    if (t.pin >= 0)
        TC_LIBC(close)(t.pin);
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

/* --- what the program does about the end itself ---------------------------------- */

void tc_end_interrupted(struct tc_conn *c, int fd)
{
    (void)decide_for_good(c); /* the event says whether it was said already */
    tc_report_skipped(c, NULL, "interrupted", TC_LEVEL_WARN, fd, fd,
                      "closed from a signal handler that interrupted TLS work, or while the "
                      "library's table stayed locked; no close_notify");
}

void tc_closing_program_sent(struct tc_conn *c, SSL *ssl)
{
    /* errno: the event keeps it (report.c). */
    unsigned flags = tc_set_flags(c, TC_F_ALERT_WRITTEN);
    tc_report_skipped(c, ssl, tc_reason_by_program, TC_LEVEL_DEBUG, c->fd, c->fd,
                      (flags & TC_F_PEER_CN) ? "the program answered the peer's close_notify"
                                             : NULL);
}
