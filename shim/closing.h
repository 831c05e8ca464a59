/* closing.h: the one routine that sends close_notify on the program's
 * behalf (doc/design.md, Sending). */
#ifndef TC_CLOSING_H
#define TC_CLOSING_H

#include "conn.h"

enum tc_trigger {
    TC_TRIGGER_CLOSE,    /* close, close_range, closefrom, dup2/dup3 onto, fclose */
    TC_TRIGGER_SHUTDOWN, /* shutdown(SHUT_WR | SHUT_RDWR) */
    TC_TRIGGER_FREE,     /* SSL_free */
    TC_TRIGGER_EXIT,     /* exit() / return from main */
    TC_TRIGGER_QUIET,    /* the program's quiet SSL_shutdown, with TLSCLOSE_NOTIFY=always */
    TC_TRIGGER_REPLY,    /* answering the peer's close_notify (TLSCLOSE_REPLY) */
};

/* End c's connection with close_notify if the program did not and the rules
 * allow it: owned by this process, established, not failed, not sent yet,
 * not quiet (unless always), descriptor still the connection's. fd is the
 * descriptor the trigger came through, or -1 to use any of the connection's.
 * Sends at most once per connection; errno, the OpenSSL error queue and the
 * signal mask are as before; bounded in time; never raises SIGPIPE. */
void tc_end_connection(struct tc_conn *c, enum tc_trigger trigger, int fd);

/* The connection ends without the library, from a close() that cannot
 * call OpenSSL or wait for the table (libc.c: a signal handler that
 * interrupted TLS work): decided for good, so that a later SSL_free does
 * not write through the descriptor number closed now and maybe reused by
 * then, and said. Async-signal-safe (getpeername, snprintf of numbers,
 * write). */
void tc_end_interrupted(struct tc_conn *c, int fd);

/* The program's own SSL_shutdown wrote close_notify: the library has
 * nothing to send, and that is the connection's final event (debug level:
 * the good case), said now, when it happens. errno is preserved. */
void tc_closing_program_sent(struct tc_conn *c, SSL *ssl);

/* The program now sees the close_notify the library sent on its own (its
 * SSL_shutdown, or an SSL_write refused after the library's reply): 1 the
 * first time after such a send, when SSL_get_shutdown stops hiding it
 * (openssl.c), else 0. */
static inline int tc_closing_shown_to_program(struct tc_conn *c)
{
    return (__atomic_fetch_and(&c->flags, ~TC_F_SENT_FOR_PROGRAM, __ATOMIC_ACQ_REL) &
            TC_F_SENT_FOR_PROGRAM) != 0;
}

/* The program's call on c's object must not run while the library uses the
 * object in another thread: waits (bounded by what a send may take) until
 * it is done. Returns 0 when it did not finish in time, or when this thread
 * is the one using it (a signal handler). */
int tc_object_wait(struct tc_conn *c);

/* SSL_free is about to free c's object: from now on no send starts on it,
 * and one in progress in another thread is waited for (bounded). Returns 0
 * when it is still in use: the object must then not be freed. */
int tc_object_retire(struct tc_conn *c);

/* The program is really closing fd, c's last descriptor: if the library
 * ended the connection with close_notify, read and discard what the peer
 * sent (TLS 1.3 session tickets...) so that the kernel sends FIN, not RST.
 * Never blocks; async-signal-safe; errno preserved. */
void tc_drain_before_close(struct tc_conn *c, int fd);

#endif
