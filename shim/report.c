/* report.c: connection events and the exit summary (see report.h). */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <errno.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include "counts.h"
#include "log.h"
#include "real.h"
#include "report.h"

static void peer_name(int fd, char *buf, size_t size)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    char host[INET6_ADDRSTRLEN];
    buf[0] = '\0';
    if (fd < 0 || getpeername(fd, (struct sockaddr *)&ss, &len) != 0)
        return;
    if (ss.ss_family == AF_INET) {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
        snprintf(buf, size, "%s:%u", host, ntohs(a->sin_port));
    } else if (ss.ss_family == AF_INET6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host);
        snprintf(buf, size, "[%s]:%u", host, ntohs(a->sin6_port));
    } else if (ss.ss_family == AF_UNIX) {
        snprintf(buf, size, "unix");
    }
}

void tc_report_fd(const char *name, enum tc_level level, const char *key, const char *value,
                  int fd, const char *detail)
{
    if (!tc_log_enabled(level))
        return;
    char peer[INET6_ADDRSTRLEN + 16];
    int errno_saved = errno;
    peer_name(fd, peer, sizeof peer);
    errno = errno_saved;
    struct tc_event ev = {
        .name = name, .level = level, .fd = fd, .peer = peer[0] ? peer : NULL,
        .key = key, .value = value, .detail = detail,
    };
    tc_log_event(&ev);
}

/* A custom BIO (curl) hides the connection's socket. At a silent EOF that
 * socket is normally the only TCP socket of the process whose end of stream
 * is pending; when exactly one is, it names the peer of a truncation event.
 * MSG_PEEK reads nothing. Runs only for that event, when it is logged. */
#define EOF_SCAN_MAX_FD 4096

int tc_fd_at_eof(int fd)
{
    char byte;
    return recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT) == 0;
}

int tc_tcp_socket_at_eof(void)
{
    struct rlimit rl;
    int max = EOF_SCAN_MAX_FD, found = -1;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)max)
        max = (int)rl.rlim_cur;
    for (int fd = 0; fd < max; fd++) {
        struct sockaddr_storage ss;
        socklen_t len = sizeof ss;
        int type;
        socklen_t tlen = sizeof type;
        if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tlen) != 0 || type != SOCK_STREAM ||
            getsockname(fd, (struct sockaddr *)&ss, &len) != 0 ||
            (ss.ss_family != AF_INET && ss.ss_family != AF_INET6) || !tc_fd_at_eof(fd))
            continue;
        if (found >= 0)
            return -1; /* ambiguous: name nobody */
        found = fd;
    }
    return found;
}

/* peer_fd: the descriptor whose peer the event names (usually fd; -1:
 * none). wait: the sent event's wait for the answer, or NULL. */
static void report_wait(struct tc_conn *c, SSL *ssl, const char *name, enum tc_level level,
                        const char *key, const char *value, int fd, int peer_fd,
                        const char *detail, const struct tc_wait *wait)
{
    char peer[INET6_ADDRSTRLEN + 16];
    int errno_saved = errno;
    peer_name(peer_fd, peer, sizeof peer);
    errno = errno_saved;
    struct tc_event ev = {
        .name = name, .level = level, .fd = fd, .peer = peer[0] ? peer : NULL,
        .tls = ssl ? tc_ossl.SSL_get_version(ssl) : NULL,
        .bytes_in = TC_LOAD(c->bytes_in), .bytes_out = TC_LOAD(c->bytes_out), .has_bytes = 1,
        .key = key, .value = value, .detail = detail,
    };
    if (wait && wait->waited) {
        ev.has_wait = 1;
        ev.answered = wait->answered;
        ev.waited_ms = wait->waited_ms;
    }
    tc_log_event(&ev);
}

static void report(struct tc_conn *c, SSL *ssl, const char *name, enum tc_level level,
                   const char *key, const char *value, int fd, int peer_fd,
                   const char *detail)
{
    report_wait(c, ssl, name, level, key, value, fd, peer_fd, detail, NULL);
}

void tc_report(struct tc_conn *c, SSL *ssl, const char *name, enum tc_level level,
               const char *key, const char *value, int fd, const char *detail)
{
    if (tc_log_enabled(level))
        report(c, ssl, name, level, key, value, fd, fd, detail);
}

/* peer_fd of an event whose connection has no known socket (a custom BIO):
 * the process's one TCP socket at EOF, looked up only if the event is said
 * (tc_tcp_socket_at_eof scans the descriptors). */
#define PEER_AT_EOF (-2)

/* An event the exit summary counts: counted always, said when its level is
 * shown. */
static void counted(enum tc_count count, struct tc_conn *c, SSL *ssl, const char *name,
                    enum tc_level level, const char *key, const char *value, int fd,
                    int peer_fd, const char *detail, const struct tc_wait *wait)
{
    tc_count(count);
    if (!tc_log_enabled(level))
        return;
    if (peer_fd == PEER_AT_EOF)
        peer_fd = tc_tcp_socket_at_eof();
    report_wait(c, ssl, name, level, key, value, fd, peer_fd, detail, wait);
}

void tc_report_truncation(struct tc_conn *c, SSL *ssl, enum tc_level level, const char *policy,
                          int maybe_read_error)
{
    counted(TC_COUNT_TRUNCATIONS, c, ssl, "truncation", level, "policy", policy, c->fd,
            c->fd >= 0 ? c->fd : PEER_AT_EOF,
            maybe_read_error ? "the connection ended without close_notify, or the "
                               "program's own BIO failed to read"
                             : "the peer ended the connection without close_notify",
            NULL);
}

/* --- the final event ------------------------------------------------------ */

const char tc_reason_by_program[] = "sent by program";

/* Takes the connection's one final event; 1 when this caller has it. The
 * connection is counted here when SSL_clear made it uncounted. */
static int take_end(struct tc_conn *c)
{
    unsigned old = tc_set_flags(c, TC_F_ENDED);
    if (old & TC_F_ENDED)
        return 0;
    if (old & TC_F_UNCOUNTED) {
        tc_clear_flags(c, TC_F_UNCOUNTED);
        tc_count(TC_COUNT_CONNECTIONS);
    }
    return 1;
}

int tc_report_sent(struct tc_conn *c, SSL *ssl, const char *trigger, int fd, int peer_fd,
                   const struct tc_wait *wait, const char *detail)
{
    if (!take_end(c))
        return 0;
    counted(TC_COUNT_SENT, c, ssl, "sent", TC_LEVEL_INFO, "trigger", trigger, fd, peer_fd,
            detail, wait);
    return 1;
}

int tc_report_skipped(struct tc_conn *c, SSL *ssl, const char *reason, enum tc_level level,
                      int fd, int peer_fd, const char *detail)
{
    if (!take_end(c))
        return 0;
    if (reason == tc_reason_by_program)
        tc_count(TC_COUNT_BY_PROGRAM);
    counted(TC_COUNT_SKIPPED, c, ssl, "skipped", level, "reason", reason, fd, peer_fd, detail,
            NULL);
    return 1;
}

/* --- the summary ------------------------------------------------------------------ */

static int summary_written;

void tc_report_atfork_child(void)
{
    __atomic_store_n(&summary_written, 0, __ATOMIC_RELAXED);
}

void tc_report_summary(int forked_child)
{
    if (__atomic_exchange_n(&summary_written, 1, __ATOMIC_ACQ_REL) ||
        !tc_log_enabled(TC_LEVEL_INFO))
        return;
    /* The final counts first: connections last, so that a connection whose
     * final event races with this (another thread) shows as open rather
     * than making the sum exceed the connections. */
    struct tc_summary sum = {
        .sent = tc_count_of(TC_COUNT_SENT),
        .skipped = tc_count_of(TC_COUNT_SKIPPED),
        .by_program = tc_count_of(TC_COUNT_BY_PROGRAM),
        .truncations = tc_count_of(TC_COUNT_TRUNCATIONS),
    };
    sum.connections = tc_count_of(TC_COUNT_CONNECTIONS);
    if (sum.connections == 0 && forked_child)
        return; /* its parent says it, or said it */
    unsigned long long ended = sum.sent + sum.skipped;
    sum.open = sum.connections > ended ? sum.connections - ended : 0;
    struct tc_event ev = { .name = "summary", .level = TC_LEVEL_INFO, .fd = -1, .summary = &sum,
                           .detail = sum.connections == 0 ? "no TLS connection" : NULL };
    tc_log_event(&ev);
}
