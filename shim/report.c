/* report.c: connection events and counts (see report.h). */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <errno.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include "log.h"
#include "real.h"
#include "report.h"

static unsigned long long counts[TC_COUNTS];

void tc_count(enum tc_count which)
{
    __atomic_fetch_add(&counts[which], 1, __ATOMIC_RELAXED);
}

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

/* peer_fd: the descriptor whose peer the event names (usually fd). */
static void report(struct tc_conn *c, SSL *ssl, const char *name, enum tc_level level,
                   const char *key, const char *value, int fd, int peer_fd,
                   const char *detail)
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
    tc_log_event(&ev);
}

void tc_report(struct tc_conn *c, SSL *ssl, const char *name, enum tc_level level,
               const char *key, const char *value, int fd, const char *detail)
{
    if (tc_log_enabled(level))
        report(c, ssl, name, level, key, value, fd, fd, detail);
}

void tc_report_via(struct tc_conn *c, SSL *ssl, const char *name, enum tc_level level,
                   const char *key, const char *value, int fd, int peer_fd, const char *detail)
{
    if (tc_log_enabled(level))
        report(c, ssl, name, level, key, value, fd, peer_fd, detail);
}

void tc_report_truncation(struct tc_conn *c, SSL *ssl, enum tc_level level, const char *policy,
                          int maybe_read_error)
{
    if (tc_log_enabled(level))
        report(c, ssl, "truncation", level, "policy", policy, c->fd,
               c->fd >= 0 ? c->fd : tc_tcp_socket_at_eof(),
               maybe_read_error ? "the connection ended without close_notify, or the "
                                  "program's own BIO failed to read"
                                : "the peer ended the connection without close_notify");
}

void tc_report_summary(void)
{
    if (!tc_log_enabled(TC_LEVEL_INFO))
        return;
    struct tc_summary sum = {
        .connections = __atomic_load_n(&counts[TC_COUNT_CONNECTIONS], __ATOMIC_RELAXED),
        .sent = __atomic_load_n(&counts[TC_COUNT_SENT], __ATOMIC_RELAXED),
        .skipped = __atomic_load_n(&counts[TC_COUNT_SKIPPED], __ATOMIC_RELAXED),
        .truncations = __atomic_load_n(&counts[TC_COUNT_TRUNCATIONS], __ATOMIC_RELAXED),
    };
    struct tc_event ev = { .name = "summary", .level = TC_LEVEL_INFO, .fd = -1, .summary = &sum };
    tc_log_event(&ev);
}
