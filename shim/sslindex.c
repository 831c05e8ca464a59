/* sslindex.c: SSL * -> record (see sslindex.h). */
#include "config.h"

#include <stdint.h>
#include <sys/mman.h>

#include "sslindex.h"
#include "patience.h"

struct table {
    size_t mask;  /* slots - 1; slots is a power of two */
    size_t live;  /* records in it (writers only) */
    struct tc_conn *slot[];
};

#define MIN_SLOTS 1024

static struct table *current;
/* Odd while a writer moves records or replaces the table. */
static unsigned long sequence;

static size_t home(const SSL *ssl, size_t mask)
{
    /* Fibonacci hashing of the address without its alignment bits. */
    uint64_t x = (uint64_t)(uintptr_t)ssl >> 4;
    return (size_t)((x * 0x9E3779B97F4A7C15ULL) >> 24) & mask;
}

static struct tc_conn *load_slot(struct table *t, size_t i)
{
    return __atomic_load_n(&t->slot[i], __ATOMIC_ACQUIRE);
}

static void store_slot(struct table *t, size_t i, struct tc_conn *c)
{
    __atomic_store_n(&t->slot[i], c, __ATOMIC_RELEASE);
}

/* A probe ends at an empty slot; it cannot loop, a table is never full. */
static struct tc_conn *probe(struct table *t, const SSL *ssl)
{
    for (size_t i = home(ssl, t->mask);; i = (i + 1) & t->mask) {
        struct tc_conn *c = load_slot(t, i);
        if (!c)
            return NULL;
        if (TC_LOAD(c->ssl) == ssl)
            return c;
    }
}

/* Set on a thread while it moves records or replaces the table: a signal
 * handler that interrupted it must not wait for its own thread. volatile:
 * read by that handler between any two steps. */
static __thread volatile int writing_here __attribute__((tls_model("initial-exec")));

/* One look at a table no writer changed meanwhile: 1, and the record or
 * NULL in *found; 0 when a writer was at work (the look proves nothing). */
static inline int look(const SSL *ssl, struct tc_conn **found)
{
    unsigned long seq = __atomic_load_n(&sequence, __ATOMIC_ACQUIRE);
    if (seq & 1)
        return 0;
    struct table *t = __atomic_load_n(&current, __ATOMIC_ACQUIRE);
    *found = t ? probe(t, ssl) : NULL;
    /* A hit is exact (probe checks the record's own ssl). For a miss, the
     * slot loads are acquire loads: this one cannot pass them. */
    return *found || __atomic_load_n(&sequence, __ATOMIC_ACQUIRE) == seq;
}

/* A writer was at work during the first look. */
/* A writer was at work during the first look. The reader waits it out:
 * a writer moves a few records, so this is a retry or two unless its
 * thread was descheduled (a busy machine: milliseconds). Giving up sooner
 * would report a tracked object as untracked, and conn.c would track it a
 * second time; so the bound is the table lock's (patience.h). */
__attribute__((noinline)) static struct tc_conn *find_contended(const SSL *ssl)
{
    struct tc_patience patience = { 0 };
    struct tc_conn *c;
    do {
        /* This very thread's write: a signal handler interrupted it, and
         * it cannot go on until the handler returns. */
        if (writing_here || !tc_patience_yield(&patience, TC_WAIT_BOUND_MS))
            return NULL;
    } while (!look(ssl, &c));
    return c;
}

struct tc_conn *tc_ssl_index_find(const SSL *ssl)
{
    struct tc_conn *c;
    if (__builtin_expect(look(ssl, &c), 1))
        return c;
    return find_contended(ssl);
}

/* The flag first (a handler on this thread then never waits for an odd
 * count), then the count: the slot stores that follow are release stores,
 * so a reader that sees one sees the odd count too. */
static void write_begin(void)
{
    writing_here = 1;
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    __atomic_store_n(&sequence, sequence + 1, __ATOMIC_RELAXED);
}

static void write_end(void)
{
    __atomic_store_n(&sequence, sequence + 1, __ATOMIC_RELEASE);
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    writing_here = 0;
}

/* Where ssl's record is, or the free slot where it goes: the probe to the
 * free slot passes every record that could hold the same object. */
static size_t slot_for(struct table *t, const SSL *ssl)
{
    size_t i = home(ssl, t->mask);
    while (t->slot[i] && t->slot[i]->ssl != ssl)
        i = (i + 1) & t->mask;
    return i;
}

/* A table twice as large (or the first one), filled from the current one.
 * Mapped, not from malloc: the program's heap stays as it would be without
 * the library. */
static struct table *grow(struct table *old)
{
    size_t slots = old ? (old->mask + 1) * 2 : MIN_SLOTS;
    struct table *t = mmap(NULL, sizeof *t + slots * sizeof t->slot[0], PROT_READ | PROT_WRITE,
                           MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (t == MAP_FAILED)
        return NULL;
    t->mask = slots - 1;
    if (old) {
        for (size_t i = 0; i <= old->mask; i++)
            if (old->slot[i])
                t->slot[slot_for(t, old->slot[i]->ssl)] = old->slot[i];
        t->live = old->live;
    }
    write_begin();
    __atomic_store_n(&current, t, __ATOMIC_RELEASE);
    write_end();
    return t;
}

struct tc_conn *tc_ssl_index_add(struct tc_conn *c)
{
    struct table *t = current;
    /* At most half full: probes stay short. */
    if (!t || (t->live + 1) * 2 > t->mask + 1) {
        t = grow(t);
        if (!t)
            return NULL;
    }
    size_t i = slot_for(t, c->ssl);
    if (t->slot[i])
        return t->slot[i]; /* already there: one record per object */
    store_slot(t, i, c);
    t->live++;
    return c;
}

void tc_ssl_index_remove(struct tc_conn *c)
{
    struct table *t = current;
    if (!t)
        return;
    size_t i = home(c->ssl, t->mask);
    while (t->slot[i] != c) {
        if (!t->slot[i])
            return; /* not in the index */
        i = (i + 1) & t->mask;
    }
    /* Close the gap: each later record of the run whose home is not
     * between the gap and itself moves back into it (linear probing's
     * deletion, Knuth's algorithm R). Readers see the sequence odd. */
    write_begin();
    for (size_t j = i;;) {
        j = (j + 1) & t->mask;
        struct tc_conn *e = t->slot[j];
        if (!e)
            break;
        size_t k = home(e->ssl, t->mask);
        int stays = i <= j ? (i < k && k <= j) : (i < k || k <= j);
        if (stays)
            continue;
        store_slot(t, i, e);
        i = j;
    }
    store_slot(t, i, NULL);
    write_end();
    t->live--;
}
