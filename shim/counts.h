/* counts.h: the process-wide counts of the exit summary. A bottom layer:
 * conn.c counts a record as it starts; report.c counts each event the
 * summary adds up (a connection's final event, a truncation) with the
 * event, whether or not its level is shown, and reads them all for the
 * summary. Lock-free (relaxed atomics). */
#ifndef TC_COUNTS_H
#define TC_COUNTS_H

enum tc_count {
    TC_COUNT_CONNECTIONS, /* records started: every connection gets one final event */
    TC_COUNT_SENT,        /* final events "sent" */
    TC_COUNT_SKIPPED,     /* final events "skipped" (by_program included) */
    TC_COUNT_BY_PROGRAM,  /* of those, reason "sent by program" */
    TC_COUNT_TRUNCATIONS,
    TC_COUNTS
};

extern unsigned long long tc_counts[TC_COUNTS];

/* Inline: counted several times per connection. */
static inline void tc_count(enum tc_count which)
{
    __atomic_fetch_add(&tc_counts[which], 1, __ATOMIC_RELAXED);
}

static inline unsigned long long tc_count_of(enum tc_count which)
{
    return __atomic_load_n(&tc_counts[which], __ATOMIC_RELAXED);
}

/* In a forked child: the counts start again, with the connections the child
 * inherited that have not ended (they end in the child too, with a final
 * event of its own: "not owner", or whatever the child does with them). */
void tc_counts_restart(unsigned long long inherited);

#endif
