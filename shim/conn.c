/* conn.c: the connection table (see conn.h). */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conn.h"
#include "patience.h"
#include "counts.h"
#include "real.h"
#include "reloc.h"
#include "sslindex.h"

pid_t tc_pid;
unsigned long tc_epoch = 1;
__thread volatile int tc_in_openssl __attribute__((tls_model("initial-exec")));

/* One lock guards reference counts, aliases, the list and the record pool.
 * It is never held while OpenSSL runs or while a descriptor is really
 * closed, only for a few loads and stores (and, once per 256 records, an
 * mmap): a spin lock costs a handful of instructions where a mutex costs
 * some fifty per lock/unlock pair, several times per connection
 * (doc/design.md, Performance rules). A waiter yields the CPU rather than
 * spin long. */
static int table_lock;

#if defined(__x86_64__) || defined(__i386__)
#define cpu_relax() __builtin_ia32_pause()
#else
#define cpu_relax() ((void)0)
#endif

static int table_trylock(void)
{
    return !__atomic_exchange_n(&table_lock, 1, __ATOMIC_ACQUIRE);
}

/* Spin briefly, then yield, until the lock is ours. With a bound (ms; 0:
 * none), gives up once it has passed: returns 0. The clock is read only
 * when the lock was found taken. */
static int table_lock_wait(int bound_ms)
{
    struct tc_patience patience = { 0 };
    while (!table_trylock()) {
        for (int spin = 0; spin < 100 && __atomic_load_n(&table_lock, __ATOMIC_RELAXED); spin++)
            cpu_relax();
        if (__atomic_load_n(&table_lock, __ATOMIC_RELAXED) && !tc_patience_yield(&patience, bound_ms))
            return 0;
    }
    return 1;
}

static void table_unlock(void)
{
    __atomic_store_n(&table_lock, 0, __ATOMIC_RELEASE);
}
static struct tc_conn *live_list;

/* Set when libssl's own calls to SSL_free may bypass the wrapper (reloc.h):
 * OpenSSL then calls ssl_freed at every SSL_free, which tells the layer
 * above through freed_inside_openssl. */
static int free_callback;
static void (*freed_inside_openssl)(struct tc_conn *c);

/* --- fd table ------------------------------------------------------------
 * Two levels, so memory follows the highest descriptor in use: 1024 chunks
 * of 1024 slots cover descriptors below 2^20 (Linux's default nr_open);
 * higher descriptors are not tracked. Chunks are allocated under the lock
 * and never freed, so a lock-free reader can always dereference one. A chunk
 * not allocated yet is the shared all-NULL tc_fd_empty_chunk, never written:
 * the lookup of close() (tc_fd_peek, inline in conn.h) then has no branch
 * on whether a chunk exists, and costs the same instructions whether no
 * connection or 10,000 are tracked. */
struct tc_conn *tc_fd_empty_chunk[TC_FD_CHUNK_SLOTS];
struct tc_conn **tc_fd_chunks[TC_FD_CHUNKS] = { [0 ... TC_FD_CHUNKS - 1] = tc_fd_empty_chunk };

#define CHUNK_BITS TC_FD_CHUNK_BITS
#define CHUNK_SLOTS TC_FD_CHUNK_SLOTS
#define CHUNKS TC_FD_CHUNKS
#define FD_LIMIT TC_FD_LIMIT

/* The chunk of fd's slots, or NULL when none is allocated. */
static inline struct tc_conn **chunk_of(unsigned int fd)
{
    struct tc_conn **chunk = __atomic_load_n(&tc_fd_chunks[fd >> CHUNK_BITS], __ATOMIC_ACQUIRE);
    return chunk == tc_fd_empty_chunk ? NULL : chunk;
}

static inline struct tc_conn **slot_of(int fd, int create)
{
    if (fd < 0 || (unsigned)fd >= FD_LIMIT)
        return NULL;
    struct tc_conn **chunk = chunk_of((unsigned)fd);
    if (!chunk) {
        if (!create)
            return NULL;
        chunk = calloc(CHUNK_SLOTS, sizeof *chunk);
        if (!chunk)
            return NULL;
        __atomic_store_n(&tc_fd_chunks[(unsigned)fd >> CHUNK_BITS], chunk, __ATOMIC_RELEASE);
    }
    return &chunk[(unsigned)fd & (CHUNK_SLOTS - 1)];
}

/* --- locking --------------------------------------------------------------
 * The rules are in conn.h. A thread already inside the library only
 * try-locks: it must never wait for a lock it may hold itself.
 * volatile: a signal handler on this thread reads it between any two steps. */
static __thread volatile int lock_depth __attribute__((tls_model("initial-exec")));

/* Caller raised lock_depth: a nested caller only try-locks, the outer one
 * waits (bounded_ms, 0: no bound). */
__attribute__((noinline)) static int table_acquire_slow(int bound_ms)
{
    if (lock_depth > 1 ? table_trylock() : table_lock_wait(bound_ms))
        return 1;
    lock_depth--;
    return 0;
}

/* Inline, the usual case first: several acquisitions per connection. */
static inline int table_acquire_within(int bound_ms)
{
    if (__builtin_expect(lock_depth++ == 0 && table_trylock(), 1))
        return 1;
    return table_acquire_slow(bound_ms);
}

/* Bounded (patience.h: when the bound is reached): for everything a libc
 * wrapper (and so a signal handler) reaches. */
static inline int table_acquire(void)
{
    return table_acquire_within(TC_WAIT_BOUND_MS);
}

/* Unbounded (but re-entry-aware): where giving up would leave the table
 * wrong, on paths no signal handler takes (OpenSSL's own calls). */
static inline int table_acquire_always(void)
{
    return table_acquire_within(0);
}

static inline void table_release(void)
{
    table_unlock();
    lock_depth--;
}

/* --- records ------------------------------------------------------------------
 * Records come from the shim's own pool, in pages mapped for it, not from
 * malloc: a program's heap then looks exactly as it would without the shim
 * (doc/design.md, Performance rules: a sloppy client under the shim costs at
 * most 0.05 % more instructions than a correct one without it; a record from
 * malloc among OpenSSL's own allocations shifted glibc's bins and cost more
 * than the shim's own work).
 * Freed records are kept for the next connection: memory follows the peak
 * number of connections. Caller holds the lock. */
#define POOL_RECORDS 256

static struct tc_conn *free_records;

static struct tc_conn *record_new_locked(void)
{
    if (!free_records) {
        struct tc_conn *page = mmap(NULL, POOL_RECORDS * sizeof *page, PROT_READ | PROT_WRITE,
                                    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (page == MAP_FAILED)
            return NULL;
        for (int i = POOL_RECORDS - 1; i >= 0; i--) {
            page[i].next = free_records;
            free_records = &page[i];
        }
    }
    struct tc_conn *c = free_records;
    free_records = c->next;
    memset(c, 0, sizeof *c);
    return c;
}

/* Caller holds the lock. */
static void unref_locked(struct tc_conn *c)
{
    if (--c->refs == 0) {
        c->next = free_records;
        free_records = c;
    }
}

void tc_conn_put(struct tc_conn *c)
{
    /* A signal handler that interrupted the lock holder cannot drop its
     * reference: the record then leaks, which is harmless. */
    if (!table_acquire())
        return;
    unref_locked(c);
    table_release();
}

/* Publish fd -> c (c may be NULL), dropping whatever the slot held.
 * Caller holds the lock. */
static inline void publish_locked(int fd, struct tc_conn *c)
{
    struct tc_conn **slot = slot_of(fd, c != NULL);
    if (!slot)
        return;
    struct tc_conn *prev = *slot;
    if (prev == c)
        return;
    if (c) {
        c->aliases++;
        c->refs++;
    }
    __atomic_store_n(slot, c, __ATOMIC_RELEASE);
    if (prev) {
        prev->aliases--;
        unref_locked(prev);
    }
}

/* --- SSL -> record ---------------------------------------------------------- */

/* OpenSSL's ex_data free callback, registered only when libssl's own calls
 * to SSL_free may not reach the wrapper (tc_conn_setup): an object freed
 * inside OpenSSL (BIO_free_all in a libssl linked with -Bsymbolic) ends its
 * connection here. The wrapper detaches its records before the real
 * SSL_free, so for every other object this finds nothing. The object is
 * being torn down: no OpenSSL call, no peer lookup. */
static void ssl_freed(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
    (void)ptr, (void)ad, (void)idx, (void)argl, (void)argp;
    struct tc_conn *c = parent ? tc_ssl_index_find(parent) : NULL;
    if (!c)
        return;
    freed_inside_openssl(c);
    tc_conn_detach(parent, c);
}

int tc_conn_setup(void *libssl, void (*freed_inside)(struct tc_conn *c))
{
    /* The wrapper (openssl.c), where libssl's own calls to SSL_free should
     * land: looked up in the library itself, not referred to, so that this
     * table stays below the wrappers. */
    if (free_callback || tc_reloc_all_reach(libssl, "SSL_free", tc_own_symbol("SSL_free")))
        return 1;
    freed_inside_openssl = freed_inside;
    if (tc_ossl.CRYPTO_get_ex_new_index(TC_CRYPTO_EX_INDEX_SSL, 0, NULL, NULL, NULL, ssl_freed) < 0)
        return 0;
    free_callback = 1;
    return 1;
}

/* --- a per-thread memo of the last lookup -----------------------------------
 * Every wrapped SSL_read/SSL_write finds its record through the index; a
 * program mostly calls on the same object again and again, so each thread
 * remembers its last answer. A record is freed only after it was detached
 * from its SSL, and every detach bumps tc_conn_generation first: a memo
 * taken before is then never trusted again (a new SSL at the same address
 * gets a fresh lookup). */
unsigned long tc_conn_generation;
__thread SSL *tc_memo_ssl __attribute__((tls_model("initial-exec")));
__thread struct tc_conn *tc_memo_conn __attribute__((tls_model("initial-exec")));
__thread unsigned long tc_memo_gen __attribute__((tls_model("initial-exec")));

/* tc_conn_memo (conn.h), and the generation to keep with a fresh lookup:
 * read first, so a detach in between only makes the kept memo stale. */
static struct tc_conn *memo_find(SSL *ssl, unsigned long *gen)
{
    *gen = __atomic_load_n(&tc_conn_generation, __ATOMIC_ACQUIRE);
    return tc_conn_memo(ssl);
}

static void memo_keep(SSL *ssl, struct tc_conn *c, unsigned long gen)
{
    tc_memo_ssl = ssl;
    tc_memo_conn = c;
    tc_memo_gen = gen;
}

struct tc_conn *tc_conn_get_slow(SSL *ssl)
{
    unsigned long gen;
    struct tc_conn *c = memo_find(ssl, &gen);
    if (c || !ssl)
        return c;
    c = tc_ssl_index_find(ssl);
    if (c)
        memo_keep(ssl, c, gen);
    return c;
}

static int left_alone(SSL *ssl)
{
    return tc_ossl.SSL_is_dtls(ssl) == 1 || (tc_ossl.SSL_is_quic && tc_ossl.SSL_is_quic(ssl) == 1);
}

struct tc_conn *tc_conn_track(SSL *ssl)
{
    struct tc_conn *c = tc_conn_get(ssl);
    if (c || !ssl)
        return c;
    /* Objects left alone are asked again at each call (a few loads): they
     * have no record to remember the answer in. */
    if (left_alone(ssl))
        return NULL;
    unsigned long gen = __atomic_load_n(&tc_conn_generation, __ATOMIC_ACQUIRE);
    /* Only a signal handler that interrupted the shim finds the lock taken:
     * the connection is then not tracked. */
    if (!table_acquire())
        return NULL;
    c = record_new_locked();
    if (!c) {
        table_release();
        return NULL;
    }
    c->ssl = ssl;
    c->fd = -1;
    c->owner = TC_LOAD(tc_epoch);
    c->refs = 1; /* the SSL attachment */
    /* The lookup above can miss a record that is there only when it gave
     * up waiting for a stuck writer (sslindex.c): the index then answers
     * with that record, and the object keeps exactly one. */
    struct tc_conn *indexed = tc_ssl_index_add(c);
    if (indexed != c) {
        unref_locked(c);
        table_release();
        if (indexed)
            memo_keep(ssl, indexed, gen);
        return indexed;
    }
    /* Counted as it starts; it ends with exactly one final event (report.h). */
    tc_count(TC_COUNT_CONNECTIONS);
    c->next = live_list;
    if (live_list)
        live_list->prev = c;
    live_list = c;
    table_release();
    memo_keep(ssl, c, gen);
    return c;
}

void tc_conn_detach(SSL *ssl, struct tc_conn *c)
{
    /* First, whatever happens below: no memo of this SSL is used again. */
    __atomic_fetch_add(&tc_conn_generation, 1, __ATOMIC_ACQ_REL);
    if (!table_acquire_always())
        return; /* re-entered from a signal handler: cannot happen (SSL_free) */
    if (c->ssl == ssl) {
        tc_ssl_index_remove(c);
        TC_STORE(c->ssl, NULL);
        if (c->prev)
            c->prev->next = c->next;
        else if (live_list == c)
            live_list = c->next;
        if (c->next)
            c->next->prev = c->prev;
        c->prev = c->next = NULL;
        unref_locked(c);
    }
    table_release();
}

/* SSL_get_wfd, without its search of the BIO chain in the usual case: a
 * write BIO that is itself a descriptor BIO (a socket BIO of SSL_set_fd)
 * holds the descriptor. */
static int write_fd(SSL *ssl)
{
    BIO *w = tc_ossl.SSL_get_wbio(ssl);
    int fd = -1;
    if (w && tc_ossl.BIO_method_type && (tc_ossl.BIO_method_type(w) & TC_BIO_TYPE_DESCRIPTOR) &&
        tc_ossl.BIO_ctrl(w, TC_BIO_C_GET_FD, 0, &fd) >= 0)
        return fd;
    return tc_ossl.SSL_get_wfd(ssl);
}

void tc_conn_learn_fd(struct tc_conn *c, SSL *ssl)
{
    if (tc_set_flags(c, TC_F_FD_BOUND) & TC_F_FD_BOUND)
        return;
    int saved = errno;
    int fd = write_fd(ssl);
    struct stat st;
    int has_identity = fd >= 0 && fstat(fd, &st) == 0;
    if (fd >= 0 && table_acquire()) {
        c->fd = fd;
        c->has_identity = has_identity;
        c->is_socket = has_identity && S_ISSOCK(st.st_mode);
        if (has_identity) {
            c->dev = st.st_dev;
            c->ino = st.st_ino;
        }
        publish_locked(fd, c);
        table_release();
    }
    errno = saved;
}

void tc_conn_reset(struct tc_conn *c)
{
    /* Everything about the old connection goes, what the program was told
     * of its end included (the new connection's reads must not replay it).
     * What concerns the object stays, and whether the connection on it is
     * counted yet (OpenSSL's own SSL_clear, inside the first handshake,
     * comes after the program's). */
    tc_clear_flags(c, ~(TC_F_SENDING | TC_F_FREEING | TC_F_UNCOUNTED));
    TC_STORE(c->end_state, (int)TC_END_NONE);
    TC_STORE(c->bytes_in, 0ULL);
    TC_STORE(c->bytes_out, 0ULL);
}

/* --- descriptors ---------------------------------------------------------- */

struct tc_conn *tc_fd_last(int fd, int *locked_out)
{
    struct tc_conn *held = NULL;
    if (!table_acquire()) {
        *locked_out = 1;
        return NULL;
    }
    struct tc_conn **slot = slot_of(fd, 0);
    struct tc_conn *c = slot ? *slot : NULL;
    if (c && c->aliases == 1) {
        c->refs++;
        held = c;
    }
    table_release();
    return held;
}

int tc_fd_forget_if_ended(int fd)
{
    if (!table_acquire())
        return 0;
    struct tc_conn **slot = slot_of(fd, 0);
    struct tc_conn *c = slot ? *slot : NULL;
    unsigned flags = c ? tc_flags(c) : 0;
    int ended = (flags & (TC_F_ENDED | TC_F_CLAIMED | TC_F_ALERT_WRITTEN)) && !(flags & TC_F_DRAIN);
    if (ended)
        publish_locked(fd, NULL);
    table_release();
    return ended;
}

struct tc_conn *tc_fd_peek_locked_out(int fd)
{
    return tc_fd_peek(fd);
}

void tc_fd_forget(int fd)
{
    if (!table_acquire())
        return;
    publish_locked(fd, NULL);
    table_release();
}

struct tc_conn *tc_fd_hold(int fd, int any, int *locked_out)
{
    struct tc_conn *held = NULL;
    if (!table_acquire()) {
        *locked_out = 1;
        return NULL;
    }
    struct tc_conn **slot = slot_of(fd, 0);
    struct tc_conn *c = slot ? *slot : NULL;
    if (c && (any || tc_conn_alive(c))) {
        c->refs++;
        held = c;
    }
    table_release();
    return held;
}

int tc_fd_copied(int oldfd, int newfd)
{
    if (!tc_fd_peek(oldfd) && !tc_fd_peek(newfd))
        return 1;
    if (!table_acquire())
        return 0;
    struct tc_conn **slot = slot_of(oldfd, 0);
    publish_locked(newfd, slot ? *slot : NULL);
    table_release();
    return 1;
}

void tc_fd_foreach_in(unsigned int first, unsigned int last, void (*fn)(int fd))
{
    if (last >= FD_LIMIT)
        last = FD_LIMIT - 1;
    for (unsigned int fd = first; fd <= last;) {
        struct tc_conn **chunk = chunk_of(fd);
        if (!chunk) {
            fd = ((fd >> CHUNK_BITS) + 1) << CHUNK_BITS; /* skip the empty chunk */
            continue;
        }
        if (__atomic_load_n(&chunk[fd & (CHUNK_SLOTS - 1)], __ATOMIC_ACQUIRE))
            fn((int)fd);
        fd++;
    }
}

int tc_conn_any_fd(struct tc_conn *c, int *closed)
{
    int found = -1;
    *closed = 0;
    if (!table_acquire())
        return -1;
    if (c->fd >= 0 && tc_fd_peek(c->fd) == c) {
        found = c->fd;
    } else if (c->aliases > 0) {
        /* The SSL's own descriptor was closed but a dup of it is open:
         * rare, so a scan of the table is acceptable here. */
        for (unsigned int ci = 0; ci < CHUNKS && found < 0; ci++) {
            struct tc_conn **chunk = chunk_of(ci << CHUNK_BITS);
            for (unsigned int i = 0; chunk && i < CHUNK_SLOTS; i++)
                if (chunk[i] == c) {
                    found = (int)((ci << CHUNK_BITS) | i);
                    break;
                }
        }
    }
    *closed = found < 0 && c->fd >= 0;
    table_release();
    return found;
}

void tc_conn_count_up_ref(struct tc_conn *c)
{
    if (!table_acquire_always())
        return;
    __atomic_store_n(&c->extra_ssl_refs, c->extra_ssl_refs + 1, __ATOMIC_RELEASE);
    table_release();
}

int tc_conn_free_is_last(struct tc_conn *c)
{
    /* The usual case, without the lock: no SSL_up_ref. An SSL_up_ref racing
     * with the SSL_free of the last reference would be the program's bug. */
    if (__atomic_load_n(&c->extra_ssl_refs, __ATOMIC_ACQUIRE) == 0)
        return 1;
    int last = 1;
    if (!table_acquire_always())
        return 0;
    if (c->extra_ssl_refs > 0) {
        __atomic_store_n(&c->extra_ssl_refs, c->extra_ssl_refs - 1, __ATOMIC_RELEASE);
        last = 0;
    }
    table_release();
    return last;
}

void tc_conn_foreach(void (*fn)(struct tc_conn *c))
{
    if (!table_acquire())
        return;
    struct tc_conn *c = live_list;
    if (c)
        c->refs++;
    while (c) {
        /* Hold the successor before letting go of the lock, so that neither
         * record can be freed under us while fn runs. */
        struct tc_conn *next = c->next;
        if (next)
            next->refs++;
        table_release();
        fn(c);
        if (!table_acquire())
            return; /* only reachable from a signal handler: leaks two references */
        unref_locked(c);
        c = next;
    }
    table_release();
}

void tc_conn_atfork_prepare(void)
{
    /* Raised first: a handler that runs on this thread while the lock is
     * held here (a signal delivered when the fork system call returns,
     * before the parent handler) then only try-locks. */
    lock_depth++;
    table_lock_wait(0);
    /* Before the process is copied: I/O that another thread does from now
     * on is after the fork for the parent, and the child's epoch below is
     * new to it whatever the records say. */
    __atomic_fetch_add(&tc_epoch, 1, __ATOMIC_ACQ_REL);
}

/* The parent's records keep the epoch before the fork (doc/design.md,
 * Connection records): see tc_epoch in conn.h. */
void tc_conn_atfork_parent(void)
{
    table_release();
}

void tc_conn_atfork_child(void)
{
    tc_pid = getpid();
    __atomic_fetch_add(&tc_epoch, 1, __ATOMIC_ACQ_REL);
    /* The child's counts are its own: the connections it inherited that
     * have not ended are its connections too (each ends in the child with a
     * final event of its own, "not owner" unless the child uses it). Not
     * those a thread of the parent was ending at the fork (its decision
     * taken, or the alert written, the event not logged yet), nor those it
     * was freeing: that thread is not in the child, the parent reports
     * them, and the child leaves them alone. Nor can a claim of that thread
     * (TC_F_SENDING) ever be released in the child: dropped, so that the
     * child's exit does not wait for it. The lock is held: the list is
     * stable. */
    unsigned long long inherited = 0;
    for (struct tc_conn *c = live_list; c; c = c->next) {
        unsigned flags = tc_clear_flags_old(c, TC_F_SENDING);
        if (!(flags & (TC_F_ENDED | TC_F_CLAIMED | TC_F_ALERT_WRITTEN | TC_F_FREEING |
                       TC_F_UNCOUNTED)))
            inherited++;
    }
    tc_counts_restart(inherited);
    table_release();
}
