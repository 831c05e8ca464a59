/* init.h: start-up, binding OpenSSL at the first wrapped call, fork and
 * exit handling. Above the decisions (closing.h), below the wrappers. */
#ifndef TC_INIT_H
#define TC_INIT_H

#include "real.h"

/* OpenSSL bound (real.h), the functions it lacks reported once. Returns 1
 * when the library can act. Inline: every wrapper call passes here; once
 * bound, one acquire load, which pairs with the binder's release store, so
 * a caller that sees the final state also sees the whole table. */
int tc_openssl_bound_slow(void);

static inline int tc_openssl_bound(void)
{
    int state = __atomic_load_n(&tc_ossl_state, __ATOMIC_ACQUIRE);
    return state ? state > 0 : tc_openssl_bound_slow();
}

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
