/* init.h: start-up, configuration, fork and exit handling. */
#ifndef TC_INIT_H
#define TC_INIT_H

#include "policy.h"

/* The configuration read at start-up; immutable afterwards. */
const struct tc_config *tc_cfg(void);

/* OpenSSL bound and the connection table usable; the first call also
 * registers the exit handler (after OpenSSL's own, so ours runs first).
 * Returns 0 when the shim must leave OpenSSL calls untouched. Inline: every
 * wrapper asks, several times per connection; once it is ready, one load. */
extern int tc_ready;
int tc_openssl_ready_slow(void);

static inline int tc_openssl_ready(void)
{
    if (__builtin_expect(__atomic_load_n(&tc_ready, __ATOMIC_ACQUIRE), 1))
        return 1;
    return tc_openssl_ready_slow();
}

#endif
