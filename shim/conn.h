/* conn.h: the connection table (doc/design.md, Connection records).
 *
 * Two views of the same records:
 *  - SSL * -> connection, a hash table of the library's own (sslindex.h),
 *    so a lookup from SSL_read needs no lock;
 *  - fd -> connection, a two-level array of atomic pointers indexed by
 *    descriptor, so close() of a descriptor that is not TLS costs a few
 *    loads: no lock, no allocation.
 * A record lives while its SSL object or any descriptor alias refers to it
 * (reference counted under the table's lock). The record, and who changes
 * which of its fields when: record.h. */
#ifndef TC_CONN_H
#define TC_CONN_H

#include <sys/types.h>
#include "record.h"

/* The process id as the shim knows it: set at start-up and in the atfork
 * child handler, so the I/O path never needs a getpid() system call. */
extern pid_t tc_pid;

/* Ownership (doc/design.md, Connection records): a connection belongs to
 * the process that last did TLS I/O on it, and one alive at fork() and not
 * used since is left alone
 * by the parent as much as by the child. tc_epoch names "this process since
 * its last fork()": it changes in the parent when fork() starts (atfork
 * prepare) and again in the child, so a record's owner equals it only if
 * this process used the connection since then. Read lock-free (atomic). */
extern unsigned long tc_epoch;

/* OpenSSL calls under way on this thread: the program's, through the
 * wrappers, and the library's own while it ends a connection. A close()
 * reached while it is non-zero comes from a signal handler (or a callback)
 * that interrupted OpenSSL, which must not be re-entered then. */
extern __thread volatile int tc_in_openssl;
/* This thread's memo of its last SSL -> record lookup (conn.c): the record,
 * without calling into OpenSSL, when the thread asks about the same SSL again
 * and no record was detached since. NULL otherwise (then ask tc_conn_get). */
extern unsigned long tc_conn_generation;
extern __thread SSL *tc_memo_ssl __attribute__((tls_model("initial-exec")));
extern __thread struct tc_conn *tc_memo_conn __attribute__((tls_model("initial-exec")));
extern __thread unsigned long tc_memo_gen __attribute__((tls_model("initial-exec")));

static inline struct tc_conn *tc_conn_memo(SSL *ssl)
{
    return tc_memo_ssl == ssl &&
                   tc_memo_gen == __atomic_load_n(&tc_conn_generation, __ATOMIC_ACQUIRE)
               ? tc_memo_conn
               : NULL;
}

/* Once OpenSSL is bound, from the libssl handle: makes sure the library
 * hears of every SSL object freed (reloc.h). An object freed inside OpenSSL,
 * where the wrapper does not see it, is passed to freed_inside before its
 * record is detached (the object is being torn down: no OpenSSL call). 1 on
 * success. */
int tc_conn_setup(void *libssl, void (*freed_inside)(struct tc_conn *c));

/* SSL -> record. tc_conn_get only looks; tc_conn_track creates the record
 * at first sight. Both return NULL for objects the shim leaves alone
 * (DTLS, QUIC). Lock-free unless a record is created. */
struct tc_conn *tc_conn_get_slow(SSL *ssl);
struct tc_conn *tc_conn_track(SSL *ssl);

/* Inline: the thread's memo answers most lookups. */
static inline struct tc_conn *tc_conn_get(SSL *ssl)
{
    struct tc_conn *c = tc_conn_memo(ssl);
    return c ? c : tc_conn_get_slow(ssl);
}

/* After the handshake: note the descriptor the SSL writes to and publish it
 * in the fd table. */
void tc_conn_learn_fd(struct tc_conn *c, SSL *ssl);

/* Forget per-connection state (SSL_clear reuses the object). */
void tc_conn_reset(struct tc_conn *c);

/* The fd table (conn.c), exposed only for tc_fd_peek below. */
#define TC_FD_CHUNK_BITS 10
#define TC_FD_CHUNK_SLOTS (1u << TC_FD_CHUNK_BITS)
#define TC_FD_CHUNKS 1024u
#define TC_FD_LIMIT (TC_FD_CHUNKS * TC_FD_CHUNK_SLOTS)
extern struct tc_conn **tc_fd_chunks[TC_FD_CHUNKS];
extern struct tc_conn *tc_fd_empty_chunk[TC_FD_CHUNK_SLOTS];

/* Lock-free: the record a descriptor maps to, or NULL. Only compared with
 * NULL by callers; dereferenced only through the functions below. Inline:
 * close() of every descriptor that is not TLS pays exactly this (two loads,
 * no branch on the table's state; doc/design.md, Performance rules). */
static inline struct tc_conn *tc_fd_peek(int fd)
{
    if ((unsigned)fd >= TC_FD_LIMIT)
        return NULL;
    struct tc_conn **chunk =
        __atomic_load_n(&tc_fd_chunks[(unsigned)fd >> TC_FD_CHUNK_BITS], __ATOMIC_ACQUIRE);
    return __atomic_load_n(&chunk[(unsigned)fd & (TC_FD_CHUNK_SLOTS - 1)], __ATOMIC_ACQUIRE);
}

/* Locking rules, for every function below that takes the table lock: a
 * thread already inside the library (a signal handler that interrupted it,
 * OpenSSL calling back, a handler run during fork() while the atfork
 * handler holds the lock) only try-locks; any other thread waits at most
 * 200 ms (a handler that interrupted malloc() while another thread forks
 * would otherwise deadlock), except where giving up would leave a dangling
 * record (tc_conn_detach, the SSL_up_ref count), which are never reached
 * from a signal handler. A function that could not take the lock does
 * nothing (and says so where its caller must know). */

/* The program is closing fd. Returns the record, held, when fd is its last
 * descriptor (alive or not: a connection the library ended is drained
 * before the real close); the caller ends the connection if
 * tc_conn_alive(), then tc_fd_forget()s fd and tc_conn_put()s the record.
 * The slot stays published meanwhile, so that a thread ending the same
 * connection at the same time (SSL_free, exit) still finds its descriptor.
 * *locked_out is set (and NULL returned) when the table lock could not be
 * taken. */
struct tc_conn *tc_fd_last(int fd, int *locked_out);

/* Unpublish fd's slot, before the real close, so that a thread that gets
 * the recycled number never sees this entry. */
void tc_fd_forget(int fd);

/* close() of a descriptor whose connection has nothing left to do (its end
 * decided, nothing to drain: a program that sent close_notify itself, or a
 * close after the library's SSL_free or exit send): unpublishes fd under
 * one lock and returns 1. 0: the caller takes tc_fd_last's way. */
int tc_fd_forget_if_ended(int fd);

/* Returns the record fd maps to, held, if its SSL object is alive (any
 * record when any is set). *locked_out as for tc_fd_take. */
struct tc_conn *tc_fd_hold(int fd, int any, int *locked_out);

/* The record fd maps to, for a caller that could not take the table lock
 * (*locked_out above) and must still end the connection (a close() from a
 * signal handler): read without the lock and without a reference. Records
 * live in pages that are never unmapped and the slot holds a reference, so
 * the record is this descriptor's unless another thread replaces the very
 * slot meanwhile (closes or duplicates onto the same number at the same
 * moment); use its atomic flags and counters only. NULL when none. */
struct tc_conn *tc_fd_peek_locked_out(int fd);

/* newfd now refers to the same open file as oldfd (dup family). Returns 0
 * when the table lock could not be taken (the copy is then not tracked). */
int tc_fd_copied(int oldfd, int newfd);

/* Call fn for each descriptor in [first, last] that maps to a record. */
void tc_fd_foreach_in(unsigned int first, unsigned int last, void (*fn)(int fd));

/* A descriptor through which c's connection can still be written, or -1.
 * *closed is set when the connection had a descriptor and every descriptor
 * for it has been closed since: the socket is gone, and the number its BIO
 * still names may belong to another file by now. */
int tc_conn_any_fd(struct tc_conn *c, int *closed);

/* Drop a reference taken by tc_fd_last or tc_fd_hold. */
void tc_conn_put(struct tc_conn *c);

/* SSL_up_ref / SSL_free bookkeeping: returns 1 when this SSL_free really
 * frees the object (no SSL_up_ref reference left). */
void tc_conn_count_up_ref(struct tc_conn *c);
int tc_conn_free_is_last(struct tc_conn *c);

/* The SSL object is going: the SSL_free wrapper, before the real one (or
 * OpenSSL's free callback, reloc.h). */
void tc_conn_detach(SSL *ssl, struct tc_conn *c);

/* Visit every record attached to a live SSL object, each held during fn. */
void tc_conn_foreach(void (*fn)(struct tc_conn *c));

/* Fork safety: the table lock is taken around fork(), with this thread's
 * re-entry depth raised, so that a signal handler run during fork() (after
 * the system call, before the parent handler) only try-locks. */
void tc_conn_atfork_prepare(void);
void tc_conn_atfork_parent(void);
void tc_conn_atfork_child(void);

#endif
