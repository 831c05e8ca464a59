/* eof.h: the receive side (doc/design.md, Receiving): what a peer's end
 * becomes for the program — a silent EOF per TLSCLOSE_EOF, a fatal-level
 * close_notify as a clean one, a received close_notify answered per
 * TLSCLOSE_REPLY — and an SSL_get_error() that agrees with it. */
#ifndef TC_EOF_H
#define TC_EOF_H

#include "conn.h"

/* Before a read: once per connection, arrange that OpenSSL 3 does not turn a
 * silent EOF into a fatal alert written to the dead connection (only when the
 * policy is error or clean: warn must leave OpenSSL's behaviour alone). */
void tc_eof_prepare(struct tc_conn *c, SSL *ssl);

/* The handshake has finished: the receive side is ready at once when it
 * needs no setup (TLSCLOSE_EOF=warn, or OpenSSL 1.1.1). */
void tc_eof_handshake_done(struct tc_conn *c);

/* A read whose end the program was already told about (error policy):
 * returns 1 and sets *ret without calling OpenSSL. */
int tc_eof_replay(struct tc_conn *c, int ex, int *ret);

/* After a read that returned ret <= 0 (ex: 0) and whose failure is not a
 * retry: classify the end, apply the policy, log it. Returns the value the
 * program gets. *reply is set when close_notify should be answered now. */
int tc_eof_after_read(struct tc_conn *c, SSL *ssl, int ret, int ex, int *reply);

/* The program is about to mark the peer's close_notify as received
 * (SSL_set_shutdown with SSL_RECEIVED_SHUTDOWN) on a connection whose
 * transport ended without one: stunnel does so when poll() reports the
 * hangup, without the SSL_read that would have seen the EOF. That is a
 * silent EOF, handled per policy here; returns 1 when the mark must be left
 * off (error: the program's next read gets the failure instead of a clean
 * end). The caller has checked that the mark is not set yet. */
int tc_eof_marked_by_program(struct tc_conn *c, SSL *ssl);

/* A call failed for good (not WANT_READ/WRITE) and the receive side saw no
 * end: remember what that means for the connection. Decided from the
 * object's state rather than SSL_get_error(), which a stale error the
 * program left on the queue would mislead. errno is preserved. */
void tc_eof_call_failed(struct tc_conn *c, SSL *ssl);

/* SSL_get_error() for a connection whose end the shim reported: the code that
 * agrees with what the program got, or -1 to ask OpenSSL. */
int tc_eof_error_code(struct tc_conn *c, int ret);

/* The reason text of the library's own error (its error library is
 * "tlsclose"); tlsclose(7) documents it for people who grep logs. */
#define TC_EOF_ERROR_TEXT "connection ended without close_notify: data may be truncated"

/* The error policy's failure, as the program gets it: the library's own error
 * on the thread's queue (never OpenSSL's "unexpected eof while reading",
 * which bindings take for an end of stream), and errno EPROTO. */
void tc_eof_fail(void);

#endif
