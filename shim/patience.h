/* patience.h: waiting for another thread's short critical section (the
 * table lock, conn.c; a writer of the SSL index, sslindex.c). The waiter
 * yields between looks; the clock is read only once it has had to wait,
 * and the wait gives up after a bound that only a section that can never
 * end reaches. A bottom layer: header only. */
#ifndef TC_PATIENCE_H
#define TC_PATIENCE_H

#include <sched.h>
#include <time.h>

/* The bound for a wait that a libc wrapper (and so a signal handler) may
 * make. Nothing holds the table lock, or keeps the index's sequence odd,
 * for more than a few table updates (and, once per 256 records, an mmap),
 * so it is reached only in a deadlock: a handler that interrupted another
 * thread's malloc() while a third thread forks would wait for the lock
 * fork()'s prepare handler holds, and fork() waits for that malloc lock;
 * or a handler that left the section by longjmp. */
#define TC_WAIT_BOUND_MS 200

struct tc_patience {
    long long deadline_ns; /* 0 until the first wait */
};

/* After a look that found the other thread still inside: 1 once this one
 * has yielded and may look again, 0 when the bound (ms; 0: none) passed. */
static inline int tc_patience_yield(struct tc_patience *p, int bound_ms)
{
    if (bound_ms) {
        struct timespec t;
        clock_gettime(CLOCK_MONOTONIC, &t);
        long long now = (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
        if (!p->deadline_ns)
            p->deadline_ns = now + bound_ms * 1000000LL;
        else if (now > p->deadline_ns)
            return 0;
    }
    sched_yield();
    return 1;
}

#endif
