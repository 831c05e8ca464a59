/* counts.c: the exit summary's counts (see counts.h). */
#include "config.h"

#include "counts.h"

static unsigned long long counts[TC_COUNTS];

void tc_count(enum tc_count which)
{
    __atomic_fetch_add(&counts[which], 1, __ATOMIC_RELAXED);
}

unsigned long long tc_count_of(enum tc_count which)
{
    return __atomic_load_n(&counts[which], __ATOMIC_RELAXED);
}

void tc_counts_restart(unsigned long long inherited)
{
    for (int i = 0; i < TC_COUNTS; i++)
        __atomic_store_n(&counts[i], 0ULL, __ATOMIC_RELAXED);
    __atomic_store_n(&counts[TC_COUNT_CONNECTIONS], inherited, __ATOMIC_RELAXED);
}
