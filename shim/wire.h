/* wire.h: the alert on the wire. Writing close_notify into a descriptor and
 * reading the peer's answer, each bounded in time, with SIGPIPE kept from
 * the program and the SSL pointed at the descriptor being closed. No
 * decision here: closing.c decides whether and when, and calls these in
 * the order its send steps give (doc/design.md, Sending). */
#ifndef TC_WIRE_H
#define TC_WIRE_H

#include <signal.h>

#include "ossl.h"

/* How long a close() may wait for the socket to take the alert. */
#define TC_SEND_BOUND_MS 200

/* CLOCK_MONOTONIC in milliseconds: the deadlines below. */
long long tc_now_ms(void);

/* poll() one descriptor until ready or the deadline; 1 when ready. A
 * signal only resumes the wait. The thread counts as outside OpenSSL
 * meanwhile, so that a handler's close() may end its own connection. */
int tc_wait_ready(int fd, short events, long long deadline);

/* SIGPIPE blocked in this thread only while the alert is written, and one
 * that our write raised consumed: the program's own pending SIGPIPE and
 * its mask stay as they were. */
struct tc_pipe_guard {
    sigset_t old;
    int was_blocked;
    int was_pending;
};
void tc_pipe_guard_enter(struct tc_pipe_guard *g);
void tc_pipe_guard_leave(struct tc_pipe_guard *g, int wrote_to_dead_peer);

/* The SSL's descriptor BIO pointed at fd for the send (BIO_NOCLOSE: the
 * switch never closes a descriptor), and restored after it. */
struct tc_bio_switch {
    BIO *bio;
    int old_fd;
    long old_close;
};
void tc_bio_switch_enter(struct tc_bio_switch *s, SSL *ssl, int fd);
void tc_bio_switch_leave(struct tc_bio_switch *s);

/* TC_SENT_NOTHING: the socket did not become writable within the bound (for a
 * reply: at once), and OpenSSL was not asked to write: its state says
 * nothing was sent, which is true. TC_SENT_TIMEOUT: the alert is written, or
 * part of it, and the rest will not go out within the bound. */
enum tc_sent { TC_SENT_OK, TC_SENT_NOTHING, TC_SENT_TIMEOUT, TC_SENT_PEER_GONE, TC_SENT_ERROR };

/* The real SSL_shutdown, once, writing through OpenSSL's own BIO; retried
 * only to flush what a full non-blocking socket refused, until deadline.
 * fd -1: no descriptor to wait on. *epipe is set when a write met EPIPE. */
enum tc_sent tc_write_alert(SSL *ssl, int fd, long long deadline, int *epipe);

/* 1 when the alert can go through the library's own BIO (alertbio.h)
 * instead: fd is a socket and the SSL writes straight into a descriptor
 * BIO, with no filter BIO in front and no kernel TLS. */
int tc_alert_bio_fits(SSL *ssl, int fd, int is_socket);

/* The alert written into mem (the library's BIO), then sent on fd with
 * MSG_NOSIGNAL. deadline 0: the bound starts at the first wait. */
enum tc_sent tc_write_alert_buffered(SSL *ssl, BIO *mem, int fd, long long deadline);

/* TLSCLOSE_WAIT_MS: read until the peer's close_notify or the deadline,
 * the socket non-blocking meanwhile. 1 when the peer answered. */
int tc_await_reply(SSL *ssl, int fd, long long deadline);

/* Read and discard what the peer already sent (TLS 1.3 session tickets,
 * unread records), so that the kernel ends with FIN, not RST. Never
 * blocks, bounded; async-signal-safe. */
void tc_drain(int fd);

#endif
