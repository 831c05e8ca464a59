/* unit_sslindex: the library's SSL * -> record index (shim/sslindex.c)
 * against a plain array, through growth and deletions that move records;
 * and a reader thread that must never miss its own record while another
 * thread adds and removes thousands of others around it, also while that
 * writer is stopped inside a write (a signal handler holds it there, as a
 * busy machine's scheduler would). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "../shim/sslindex.h"
#include "tap.h"

#define RECORDS 6000

static struct tc_conn recs[RECORDS];
static int present[RECORDS];

/* Addresses as malloc would give them: 16-byte aligned, often neighbours,
 * so that their homes collide and runs form. */
static SSL *address(int i)
{
    return (SSL *)(uintptr_t)(0x5600000000ULL + (uint64_t)i * 48);
}

static int check_all(void)
{
    for (int i = 0; i < RECORDS; i++) {
        struct tc_conn *c = tc_ssl_index_find(address(i));
        if (present[i] ? c != &recs[i] : c != NULL)
            return 0;
    }
    return 1;
}

/* --- who waited: the index yields while it waits for a writer ---------------
 * This definition stands in for libc's (the index is linked into this
 * program), counting the yields of the reader and of the writer's thread. */
enum role { OTHER, READER, WRITER };
static __thread enum role role;
static long reader_yields, writer_yields;

int sched_yield(void)
{
    if (role == READER)
        __atomic_fetch_add(&reader_yields, 1, __ATOMIC_RELAXED);
    else if (role == WRITER)
        __atomic_fetch_add(&writer_yields, 1, __ATOMIC_RELAXED);
    return (int)syscall(SYS_sched_yield);
}

static int stop_reader, stop_writer;
static struct tc_conn reader_rec;
static long reader_misses, reader_lookups;

static void *reader(void *arg)
{
    (void)arg;
    role = READER;
    while (!__atomic_load_n(&stop_reader, __ATOMIC_ACQUIRE)) {
        if (tc_ssl_index_find(reader_rec.ssl) != &reader_rec)
            reader_misses++;
        __atomic_fetch_add(&reader_lookups, 1, __ATOMIC_RELEASE);
    }
    return NULL;
}

#define WRITER_ROUNDS 200000

static void *writer(void *arg)
{
    (void)arg;
    role = WRITER;
    for (long round = 0; round < WRITER_ROUNDS || !__atomic_load_n(&stop_writer, __ATOMIC_ACQUIRE);
         round++) {
        int i = rand() % RECORDS;
        if (present[i])
            tc_ssl_index_remove(&recs[i]);
        else
            tc_ssl_index_add(&recs[i]);
        present[i] = !present[i];
    }
    return NULL;
}

/* --- the writer stopped inside a write ----------------------------------------
 * A signal on the writer's thread asks the index for the reader's record.
 * Outside a write it is found. Inside one the index must answer at once
 * (its own thread's write cannot go on while the handler runs) and say
 * nothing: NULL. The handler then holds the write open until the reader
 * has yielded STALL_YIELDS times, twice what the index once tried before
 * it took a miss as it was; on a loaded machine, where yields are slow,
 * for STALL_AT_MOST_NS at most: half the time after which the index gives
 * up on a writer that can never finish. */
#define STALL_YIELDS 128
#define STALL_AT_MOST_NS (100L * 1000 * 1000)
#define STALLS_WANTED 20
#define SIGNALS_AT_MOST 100000

static sem_t handled;
static int stalls, handler_waited, handler_wrong;

static void hold_write_open(int sig)
{
    (void)sig;
    int saved = errno;
    long before = __atomic_load_n(&writer_yields, __ATOMIC_RELAXED);
    struct tc_conn *c = tc_ssl_index_find(reader_rec.ssl);
    if (!c) {
        stalls++;
        if (__atomic_load_n(&writer_yields, __ATOMIC_RELAXED) != before)
            handler_waited++;
        long base = __atomic_load_n(&reader_yields, __ATOMIC_RELAXED);
        struct timespec since, now;
        clock_gettime(CLOCK_MONOTONIC, &since);
        do {
            syscall(SYS_sched_yield);
            clock_gettime(CLOCK_MONOTONIC, &now);
        } while (__atomic_load_n(&reader_yields, __ATOMIC_RELAXED) < base + STALL_YIELDS &&
                 (now.tv_sec - since.tv_sec) * 1000000000L + (now.tv_nsec - since.tv_nsec) <
                     STALL_AT_MOST_NS);
    } else if (c != &reader_rec) {
        handler_wrong++;
    }
    errno = saved;
    sem_post(&handled);
}

int main(void)
{
    srand(7);
    for (int i = 0; i < RECORDS; i++)
        recs[i].ssl = address(i);

    ok(tc_ssl_index_find(address(1)) == NULL, "an empty index finds nothing");

    /* Fill past several doublings (1024 slots at first, at most half full). */
    int added = 1;
    for (int i = 0; i < RECORDS; i += 2) {
        added &= tc_ssl_index_add(&recs[i]) == &recs[i];
        present[i] = 1;
    }
    ok(added, "3000 records added (the table grew from 1024 slots)");
    ok(check_all(), "each added record is found under its own SSL, no other is");

    /* Random removals and additions: removal moves later records of a run. */
    int consistent = 1;
    for (int round = 0; round < 20000; round++) {
        int i = rand() % RECORDS;
        if (present[i]) {
            tc_ssl_index_remove(&recs[i]);
            present[i] = 0;
        } else {
            tc_ssl_index_add(&recs[i]);
            present[i] = 1;
        }
        if (round % 1000 == 0)
            consistent &= check_all();
    }
    ok(consistent && check_all(), "20000 random additions and removals keep the index exact");

    for (int i = 0; i < RECORDS; i++)
        if (present[i]) {
            tc_ssl_index_remove(&recs[i]);
            present[i] = 0;
        }
    ok(check_all(), "removing everything leaves nothing to find");

    /* Adding an object already in the index answers the indexed record
     * (conn.c then keeps one record per object) and adds nothing. */
    tc_ssl_index_add(&recs[0]);
    struct tc_conn twin = {.ssl = recs[0].ssl};
    int answered = tc_ssl_index_add(&twin) == &recs[0];
    ok(answered && tc_ssl_index_find(recs[0].ssl) == &recs[0] && (tc_ssl_index_remove(&recs[0]), 1) &&
           tc_ssl_index_find(recs[0].ssl) == NULL,
       "adding an object already indexed answers its record and adds no second one");

    /* A record that stays while others come and go around it. */
    reader_rec.ssl = (SSL *)((uintptr_t)address(RECORDS / 2) + 8); /* a home among the others */
    tc_ssl_index_add(&reader_rec);
    sem_init(&handled, 0, 0);
    struct sigaction sa = {.sa_handler = hold_write_open};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGUSR1, &sa, NULL);
    pthread_t r, w;
    ok(pthread_create(&r, NULL, reader, NULL) == 0 && pthread_create(&w, NULL, writer, NULL) == 0,
       "reader and writer threads started");
    int signals = 0;
    while (stalls < STALLS_WANTED && signals < SIGNALS_AT_MOST) {
        int stalls_before = stalls;
        pthread_kill(w, SIGUSR1);
        signals++;
        while (sem_wait(&handled) != 0 && errno == EINTR)
            ;
        /* One stall per lookup: the next signal only once the reader has
         * come through this one (else a slow reader's one lookup could
         * span several stalls, longer than the index waits). */
        long lookups = __atomic_load_n(&reader_lookups, __ATOMIC_ACQUIRE);
        while (stalls != stalls_before && __atomic_load_n(&reader_lookups, __ATOMIC_ACQUIRE) < lookups + 2)
            sched_yield();
    }
    __atomic_store_n(&stop_writer, 1, __ATOMIC_RELEASE);
    pthread_join(w, NULL);
    __atomic_store_n(&stop_reader, 1, __ATOMIC_RELEASE);
    pthread_join(r, NULL);

    ok(reader_misses == 0,
       "a concurrent reader never missed its record, also while the writer was stopped inside a "
       "write %d times (%ld lookups, %ld misses)",
       stalls, reader_lookups, reader_misses);
    if (stalls == 0)
        ok(1, "# SKIP none of %d signals landed inside a write", signals);
    else
        ok(handler_waited == 0 && handler_wrong == 0,
           "a signal handler on the writing thread got its answer at once, NULL, %d times of %d "
           "(it waited %d times; %d wrong records)",
           stalls - handler_waited, stalls, handler_waited, handler_wrong);
    ok(check_all() && tc_ssl_index_find(reader_rec.ssl) == &reader_rec,
       "the index is exact after the concurrent rounds");
    return tap_done();
}
