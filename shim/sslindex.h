/* sslindex.h: SSL * -> record, the library's own index (conn.c's).
 *
 * Why not OpenSSL's ex_data slot, which it used before: a slot costs every
 * connection two allocations at the first SSL_set_ex_data, and OpenSSL 3
 * sorts the registered callbacks and takes a global lock at every SSL_free
 * once any index is registered: some 1,200 instructions per connection,
 * most of the library's fixed cost (make bench, item 3). An open-addressing
 * hash table in pages of the library's own costs a few dozen.
 *
 * Readers take no lock: they probe, and a miss is trusted only if no
 * record moved and the table was not replaced meanwhile (a sequence
 * count, odd while a writer works: a reader waits for it to be even); a
 * hit is checked against the record's own ssl field, so a slot read while
 * it changed can only miss. Writers hold conn.c's table lock.
 * Deleting shifts later records back (no tombstones), so a table grows
 * with the peak number of connections and never needs rebuilding at the
 * same size. A replaced table stays mapped (a reader may still probe it):
 * all of them together are smaller than the current one. */
#ifndef TC_SSLINDEX_H
#define TC_SSLINDEX_H

#include "record.h"

/* The record whose ssl is `ssl`, or NULL. Lock-free: it waits out a
 * writer on another thread (bounded, sslindex.c); in a signal handler that
 * interrupted a writer on its own thread it answers NULL at once. */
struct tc_conn *tc_ssl_index_find(const SSL *ssl);

/* Caller holds the table lock. add: c->ssl is set; returns c once added,
 * the record already in the index under c->ssl if there is one (then c is
 * not added), NULL when no memory could be mapped for a larger table.
 * remove: c is in the index under c->ssl (call it before clearing c->ssl). */
struct tc_conn *tc_ssl_index_add(struct tc_conn *c);
void tc_ssl_index_remove(struct tc_conn *c);

#endif
