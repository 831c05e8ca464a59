/* report.h: connection events with their common fields (SPEC §4.4), and
 * the process-wide counts for the exit summary. */
#ifndef TC_REPORT_H
#define TC_REPORT_H

#include "conn.h"
#include "policy.h"

/* One event about a connection: fd, peer address, TLS version and byte
 * counts are filled in here, and only when the event will be shown. */
void tc_report(struct tc_conn *c, SSL *ssl, const char *name, enum tc_level level,
               const char *key, const char *value, int fd, const char *detail);

/* The same, with the peer address read from peer_fd: a private duplicate
 * of fd, when the number itself may name another file by now. */
void tc_report_via(struct tc_conn *c, SSL *ssl, const char *name, enum tc_level level,
                   const char *key, const char *value, int fd, int peer_fd, const char *detail);

/* An event about a descriptor whose record cannot be looked at (no bytes,
 * no TLS version): a close() that interrupted the library itself. */
void tc_report_fd(const char *name, enum tc_level level, const char *key, const char *value,
                  int fd, const char *detail);

/* The truncation event: a connection whose socket is unknown (custom BIO)
 * still names its peer when that can be told (report.c). */
void tc_report_truncation(struct tc_conn *c, SSL *ssl, enum tc_level level, const char *policy,
                          int maybe_read_error);

/* Whether the socket fd's end of stream is pending: a non-consuming,
 * non-blocking MSG_PEEK reads 0 (errno is the caller's to keep). */
int tc_fd_at_eof(int fd);

/* The one TCP socket of the process whose end of stream is pending
 * (tc_fd_at_eof), or -1 when there is none or more than one. Scans the
 * descriptors: for the end of a connection only. */
int tc_tcp_socket_at_eof(void);

enum tc_count {
    TC_COUNT_CONNECTIONS,
    TC_COUNT_SENT,
    TC_COUNT_SKIPPED,
    TC_COUNT_TRUNCATIONS,
    TC_COUNTS
};

void tc_count(enum tc_count which);

/* The summary event at exit (info level). */
void tc_report_summary(void);

#endif
