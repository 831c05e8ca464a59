/* alertbio.h: where OpenSSL writes the close_notify the library sends.
 *
 * The usual way out, with no system call but the send itself: the real
 * SSL_shutdown writes the alert record into this BIO, put in place of the
 * socket BIO for that one call, and wire.c sends the bytes with
 * send(MSG_NOSIGNAL | MSG_DONTWAIT) (no SIGPIPE, no wait unless the send
 * buffer is full). A BIO of the library's own method rather than a memory
 * BIO: its write appends to a static buffer large enough for any record,
 * so it cannot fail, and the record is read back and the buffer emptied
 * without a BIO_ctrl each (some 200 instructions per connection less).
 * One serves the process, taken with an atomic flag: a thread that finds
 * it taken (another thread closing at the same moment, a signal handler
 * inside a close) uses OpenSSL's own write instead. Made once, never freed. */
#ifndef TC_ALERTBIO_H
#define TC_ALERTBIO_H

#include "ossl.h"

/* The BIO, empty, or NULL: taken by another thread, or OpenSSL lacks the
 * calls to make or swap it. */
BIO *tc_alert_bio_take(void);

/* What OpenSSL wrote into it since it was taken. */
const char *tc_alert_bio_data(long *len);

/* Done with it (after the bytes were sent or dropped). */
void tc_alert_bio_give(void);

#endif
