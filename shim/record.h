/* record.h: a connection's record and its life cycle.
 *
 * One record per SSL object the library tracks (conn.h keeps the table of
 * them). Its fields are written by the layer that owns them and read by the
 * layers above; the table after the definitions says who changes what.
 * Below every other file that handles records: the SSL index (sslindex.h),
 * the table (conn.h), the events (report.h) and the decisions (eof.h,
 * closing.h) all include it. */
#ifndef TC_RECORD_H
#define TC_RECORD_H

#include <sys/types.h>
#include "ossl.h"

enum {
    TC_F_FD_BOUND = 1u << 0,      /* descriptor looked up after the handshake */
    TC_F_FAILED = 1u << 1,        /* EOF, transport or fatal error seen */
    TC_F_PEER_CN = 1u << 2,       /* peer's close_notify received */
    TC_F_ALERT_WRITTEN = 1u << 3, /* SSL_shutdown (the program's or ours) wrote close_notify */
    TC_F_CLAIMED = 1u << 4,       /* the shim decided for good: sent, or skipped for a
                                   * reason that cannot change */
    TC_F_WRITE_PENDING = 1u << 5, /* an SSL_write is waiting to be retried */
    TC_F_FREEING = 1u << 6,       /* SSL_free under way: never touch the object again */
    TC_F_EOF_READY = 1u << 7,     /* receive-side setup done (eof.c) */
    TC_F_END_SEEN = 1u << 8,      /* the peer's end (close_notify or EOF) was handled */
    TC_F_SENT_FOR_PROGRAM = 1u << 9, /* the shim wrote close_notify; the program has not
                                      * called SSL_shutdown since */
    TC_F_EOF_OPTION = 1u << 10,   /* the shim set SSL_OP_IGNORE_UNEXPECTED_EOF */
    TC_F_SENDING = 1u << 11,      /* a thread of the library is deciding or sending on the
                                   * object (closing.c): SSL_free and the program's calls
                                   * wait for it, no second one starts */
    TC_F_DRAIN = 1u << 12,        /* the library's close_notify went out: drain unread
                                   * bytes before the real close (FIN, not RST) */
    TC_F_REPLIED = 1u << 13,      /* that close_notify answered the peer's (TLSCLOSE_REPLY) */
    TC_F_ENDED = 1u << 14,        /* the connection's one final event (sent or skipped) is
                                   * counted and logged (report.c: tc_report_end) */
    TC_F_UNCOUNTED = 1u << 15,    /* SSL_clear reset the record: the connection on it is
                                   * counted when it ends, not when it starts */
};

/* What the program is told about the connection's end, once the receive
 * side has decided (eof.c); 0 while the connection has not ended. */
enum tc_end_state {
    TC_END_NONE = 0,
    TC_END_ERROR,   /* silent EOF reported as an error (TLSCLOSE_EOF=error) */
    TC_END_CLEAN,   /* reported as a clean end of stream */
};

struct tc_conn {
    SSL *ssl;                 /* NULL once the SSL object is freed (tc_lock; atomic) */
    int fd;                   /* descriptor the SSL writes to, -1 if none (custom BIO) */
    int has_identity;         /* dev/ino valid */
    int is_socket;            /* fd was a socket when learned (send() works) */
    dev_t dev;                /* identity of fd's open file when learned: a later */
    ino_t ino;                /* descriptor with the same number is not ours */
    unsigned long owner;      /* tc_epoch when TLS I/O was last done on it (atomic) */
    int active;               /* threads inside an OpenSSL call on it (atomic) */
    unsigned flags;           /* TC_F_* (atomic) */
    int end_state;            /* enum tc_end_state (atomic) */
    unsigned long long bytes_in, bytes_out; /* plaintext (atomic) */
    int refs;                 /* tc_lock: SSL attachment + fd aliases + holders */
    int aliases;              /* tc_lock: fd-table slots pointing here */
    int extra_ssl_refs;       /* tc_lock: SSL_up_ref calls not yet balanced by SSL_free */
    struct tc_conn *prev, *next; /* tc_lock: list of records attached to an SSL */
};

/* The record's size on x86-64, as the documentation states it (tlsclose(7),
 * LIMITS; doc/design.md, Connection records): the build checks it against
 * sizeof, and tests/manpages.py the documents against it. */
#define TC_RECORD_BYTES 112
#if defined(__x86_64__) && defined(__LP64__)
_Static_assert(sizeof(struct tc_conn) == TC_RECORD_BYTES,
               "struct tc_conn changed size: update TC_RECORD_BYTES and the documents");
#endif

/* --- the life cycle ------------------------------------------------------------
 *
 * Who changes what. Each group has one owner; the others only read it.
 *
 * group     fields / flags                       changed by               read by
 * --------  -----------------------------------  -----------------------  ---------------------
 * table     ssl, refs, aliases, extra_ssl_refs,  conn.c                   all (ssl: atomic)
 *           prev, next (under the table lock)
 * identity  fd, has_identity, is_socket, dev,    conn.c: tc_conn_learn_fd closing.c, report.c,
 *           ino; FD_BOUND                                                 eof.c, init.c,
 *                                                                         openssl.c
 * use       owner, active, bytes_in, bytes_out,  openssl.c (io_enter,     closing.c, report.c
 *           WRITE_PENDING                        io_reenter, io_leave,
 *                                                the steady paths)
 * receive   end_state; EOF_READY, EOF_OPTION,    eof.c                    openssl.c, closing.c,
 *           END_SEEN, PEER_CN, FAILED                                     init.c
 * send      SENDING, FREEING, CLAIMED,           closing.c                openssl.c, conn.c,
 *           ALERT_WRITTEN, SENT_FOR_PROGRAM,                              eof.c, init.c
 *           DRAIN, REPLIED
 * event     ENDED, UNCOUNTED                     report.c (ENDED; it      closing.c, conn.c,
 *                                                clears UNCOUNTED);       init.c
 *                                                openssl.c: SSL_clear
 *                                                sets UNCOUNTED
 *
 * Two transitions start a group over outside its owner, because the record
 * itself starts over: SSL_clear (conn.c: tc_conn_reset clears every flag but
 * SENDING, FREEING and UNCOUNTED, and end_state) and fork() (conn.c's child
 * handler clears SENDING: the thread that was sending is not in the child).
 *
 * The transitions, in the order a connection goes through them:
 *
 *  1. known      the first wrapped call on the object (openssl.c: io_enter ->
 *                conn.c: tc_conn_track): a record, owner = this process,
 *                counted (TC_COUNT_CONNECTIONS).
 *  2. ready      the handshake ends (openssl.c: io_succeeded): FD_BOUND, the
 *                descriptor published in the fd table (conn.c); EOF_READY
 *                at once or before the first read (eof.c), EOF_OPTION with it
 *                under TLSCLOSE_EOF=error|clean on OpenSSL 3.
 *  3. in use     each call: active up and down, owner renewed (openssl.c); a
 *                write that would block sets WRITE_PENDING, the next one that
 *                succeeds clears it.
 *  4. peer's end a read sees the peer's close_notify or a silent EOF (eof.c):
 *                END_SEEN, PEER_CN or FAILED, end_state for the program
 *                (TLSCLOSE_EOF); a call failing otherwise: FAILED (eof.c:
 *                tc_eof_call_failed).
 *  5. our end    the program's SSL_shutdown writes close_notify (closing.c:
 *                tc_closing_program_sent): ALERT_WRITTEN. Or a trigger
 *                (close, shutdown, SSL_free, exit, a reply, a quiet
 *                shutdown) ends it (closing.c: tc_end_connection): SENDING
 *                while deciding, then CLAIMED and, when the alert went out,
 *                ALERT_WRITTEN | SENT_FOR_PROGRAM [| DRAIN] [| REPLIED]; the
 *                program's next SSL_shutdown clears SENT_FOR_PROGRAM
 *                (tc_closing_shown_to_program).
 *  6. final      exactly one final event, sent or skipped (report.c): ENDED.
 *  7. freed      SSL_free: FREEING (closing.c: tc_object_retire), then the
 *                record is detached (conn.c: ssl = NULL); it lives on while a
 *                descriptor alias refers to it (DRAIN: drained before the
 *                real close), and returns to the pool at the last close.
 *
 * SSL_clear between 6 and 1 of the next connection: the record starts over
 * (above), UNCOUNTED: the new connection is counted when it ends. */

#define TC_LOAD(field) __atomic_load_n(&(field), __ATOMIC_ACQUIRE)
#define TC_STORE(field, v) __atomic_store_n(&(field), (v), __ATOMIC_RELEASE)

static inline unsigned tc_flags(struct tc_conn *c) { return TC_LOAD(c->flags); }
static inline unsigned tc_set_flags(struct tc_conn *c, unsigned f)
{
    return __atomic_fetch_or(&c->flags, f, __ATOMIC_ACQ_REL);
}
static inline void tc_clear_flags(struct tc_conn *c, unsigned f)
{
    __atomic_fetch_and(&c->flags, ~f, __ATOMIC_ACQ_REL);
}
static inline unsigned tc_clear_flags_old(struct tc_conn *c, unsigned f)
{
    return __atomic_fetch_and(&c->flags, ~f, __ATOMIC_ACQ_REL);
}

/* The SSL object is still there and no SSL_free has begun on it. */
static inline int tc_conn_alive(struct tc_conn *c)
{
    return TC_LOAD(c->ssl) != NULL && !(tc_flags(c) & TC_F_FREEING);
}

#endif
