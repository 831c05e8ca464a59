/* unit_sslindex: the library's SSL * -> record index (shim/sslindex.c)
 * against a plain array, through growth and deletions that move records;
 * and a reader thread that must never miss its own record while another
 * thread adds and removes thousands of others around it. */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

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

static volatile int stop;
static struct tc_conn reader_rec;
static long reader_misses, reader_lookups;

static void *reader(void *arg)
{
    (void)arg;
    while (!__atomic_load_n(&stop, __ATOMIC_ACQUIRE)) {
        if (tc_ssl_index_find(reader_rec.ssl) != &reader_rec)
            reader_misses++;
        reader_lookups++;
    }
    return NULL;
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
        added &= tc_ssl_index_add(&recs[i]);
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

    /* A record that stays while others come and go around it. */
    reader_rec.ssl = (SSL *)((uintptr_t)address(RECORDS / 2) + 8); /* a home among the others */
    tc_ssl_index_add(&reader_rec);
    pthread_t t;
    ok(pthread_create(&t, NULL, reader, NULL) == 0, "reader thread started");
    for (int round = 0; round < 200000; round++) {
        int i = rand() % RECORDS;
        if (present[i])
            tc_ssl_index_remove(&recs[i]);
        else
            tc_ssl_index_add(&recs[i]);
        present[i] = !present[i];
    }
    __atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
    pthread_join(t, NULL);
    ok(reader_misses == 0, "a concurrent reader never missed its record (%ld lookups, %ld misses)",
       reader_lookups, reader_misses);
    ok(check_all() && tc_ssl_index_find(reader_rec.ssl) == &reader_rec,
       "the index is exact after the concurrent rounds");
    return tap_done();
}
