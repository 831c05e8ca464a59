/* report.h: connection events with their common fields (doc/design.md,
 * Events and logging), and the exit summary. */
#ifndef TC_REPORT_H
#define TC_REPORT_H

#include "record.h"
#include "policy.h"

/* One event about a connection: fd, peer address, TLS version and byte
 * counts are filled in here, and only when the event will be shown. */
void tc_report(struct tc_conn *c, SSL *ssl, const char *name, enum tc_level level,
               const char *key, const char *value, int fd, const char *detail);

/* An event about a descriptor whose record cannot be looked at (no bytes,
 * no TLS version): a close() that interrupted the library itself. */
void tc_report_fd(const char *name, enum tc_level level, const char *key, const char *value,
                  int fd, const char *detail);

/* The truncation event, counted for the summary: a connection whose socket
 * is unknown (custom BIO) still names its peer when that can be told
 * (report.c). */
void tc_report_truncation(struct tc_conn *c, SSL *ssl, enum tc_level level, const char *policy,
                          int maybe_read_error);

/* Whether the socket fd's end of stream is pending: a non-consuming,
 * non-blocking MSG_PEEK reads 0 (errno is the caller's to keep). */
int tc_fd_at_eof(int fd);

/* The one TCP socket of the process whose end of stream is pending
 * (tc_fd_at_eof), or -1 when there is none or more than one. Scans the
 * descriptors: for the end of a connection only. */
int tc_tcp_socket_at_eof(void);

/* --- the final event of a connection (tlsclose(7), EVENTS) ----------------
 * Every connection ends with exactly one: "sent" (the library sent
 * close_notify; trigger) or "skipped" (it did not; reason, which says why,
 * including "sent by program" when the program sent close_notify itself).
 * The first call for a connection wins (TC_F_ENDED): it is counted for the
 * summary, and logged when its level is shown; every later call does
 * nothing and returns 0. fd: the descriptor the event shows; peer_fd: the
 * one whose peer it names (a private duplicate of fd when the number may
 * name another file by now; -1: none). */

/* What the library's wait for the peer's answer (TLSCLOSE_WAIT_MS) found;
 * waited 0: it did not wait (no wait configured, or a trigger that does
 * not wait). */
struct tc_wait {
    int waited;
    int answered;          /* the peer's close_notify arrived (before or during the wait) */
    long long waited_ms;   /* how long the library waited for it */
};

int tc_report_sent(struct tc_conn *c, SSL *ssl, const char *trigger, int fd, int peer_fd,
                   const struct tc_wait *wait, const char *detail);
int tc_report_skipped(struct tc_conn *c, SSL *ssl, const char *reason, enum tc_level level,
                      int fd, int peer_fd, const char *detail);

/* The reason of the final event of a connection whose close_notify the
 * program sent itself (debug level: the good case). */
extern const char tc_reason_by_program[];

/* In a forked child: the child's own summary is still to be written (its
 * counts restart in conn.c's fork handler: counts.h). */
void tc_report_atfork_child(void);

/* The summary event at exit (info level), at most once per process:
 * connections = sent + skipped + open. A process that made no TLS
 * connection writes it too (counts 0, detail "no TLS connection"), so that
 * "nothing to do" differs from "not loaded" (no line), except a forked
 * child (forked_child), which was not started as a program of its own.
 * Never calls OpenSSL; errno preserved. */
void tc_report_summary(int forked_child);

#endif
