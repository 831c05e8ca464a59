/* sslindex.c: SSL * -> record (see sslindex.h). */
#include "config.h"

#include <sched.h>
#include <stdint.h>
#include <sys/mman.h>

#include "sslindex.h"

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

/* Tries before a miss is taken as it is: a writer moves a few records
 * under a lock held for a few hundred instructions, so a reader retries
 * only when it raced with one. The bound is for a signal handler that
 * interrupted that writer on its own thread. */
#define READ_TRIES 64

struct tc_conn *tc_ssl_index_find(const SSL *ssl)
{
    for (int tries = 0; tries < READ_TRIES; tries++) {
        unsigned long seq = __atomic_load_n(&sequence, __ATOMIC_ACQUIRE);
        if (seq & 1) {
            sched_yield();
            continue;
        }
        struct table *t = __atomic_load_n(&current, __ATOMIC_ACQUIRE);
        struct tc_conn *c = t ? probe(t, ssl) : NULL;
        if (c)
            return c;
        /* The slot loads are acquire loads: this one cannot pass them. */
        if (__atomic_load_n(&sequence, __ATOMIC_ACQUIRE) == seq)
            return NULL;
    }
    return NULL;
}

/* The slot stores that follow are release stores: a reader that sees one
 * sees the odd count too. */
static void write_begin(void)
{
    __atomic_store_n(&sequence, sequence + 1, __ATOMIC_RELAXED);
}

static void write_end(void)
{
    __atomic_store_n(&sequence, sequence + 1, __ATOMIC_RELEASE);
}

static size_t free_slot(struct table *t, const SSL *ssl)
{
    size_t i = home(ssl, t->mask);
    while (t->slot[i])
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
                t->slot[free_slot(t, old->slot[i]->ssl)] = old->slot[i];
        t->live = old->live;
    }
    write_begin();
    __atomic_store_n(&current, t, __ATOMIC_RELEASE);
    write_end();
    return t;
}

int tc_ssl_index_add(struct tc_conn *c)
{
    struct table *t = current;
    /* At most half full: probes stay short. */
    if (!t || (t->live + 1) * 2 > t->mask + 1) {
        t = grow(t);
        if (!t)
            return 0;
    }
    store_slot(t, free_slot(t, c->ssl), c);
    t->live++;
    return 1;
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
