/* counts.c: the exit summary's counts (see counts.h). */
#include "config.h"

#include "counts.h"

unsigned long long tc_counts[TC_COUNTS];

void tc_counts_restart(unsigned long long inherited)
{
    for (int i = 0; i < TC_COUNTS; i++)
        __atomic_store_n(&tc_counts[i], 0ULL, __ATOMIC_RELAXED);
    __atomic_store_n(&tc_counts[TC_COUNT_CONNECTIONS], inherited, __ATOMIC_RELAXED);
}
