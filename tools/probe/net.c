/* net.c: deadlines, connecting, and the raw socket after a close_notify. */

#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "net.h"

int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct deadline deadline_in(int ms)
{
    return (struct deadline){ .at_ms = now_ms() + ms };
}

int remaining_ms(const struct deadline *d)
{
    int64_t left = d->at_ms - now_ms();

    return left <= 0 ? 0 : left > INT_MAX ? INT_MAX : (int)left;
}

int wait_fd(int fd, short events, const struct deadline *d)
{
    for (;;) {
        struct pollfd p = { .fd = fd, .events = events };
        int r = poll(&p, 1, remaining_ms(d));

        if (r >= 0)
            return r > 0;
        if (errno != EINTR)
            return -1;
    }
}

/* ------------------------------------------------------------------------ */
/* Connecting                                                                */

/* One non-blocking connect, bounded; the socket, or -1 with errno set. */
static int connect_one(const struct sockaddr *sa, socklen_t len, const struct deadline *d)
{
    int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    int err = 0, one = 1, r;
    socklen_t err_len = sizeof err;

    if (fd < 0)
        return -1;
    if (connect(fd, sa, len) < 0) {
        if (errno != EINPROGRESS)
            goto failed;
        r = wait_fd(fd, POLLOUT, d);
        if (r == 0)
            errno = ETIMEDOUT;
        if (r <= 0)
            goto failed;
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &err_len) < 0)
            goto failed;
        if (err != 0) {
            errno = err;
            goto failed;
        }
    }
    /* The close_notify and the request leave at once, as separate segments:
     * the timings measured do not include Nagle's delay. */
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;

failed:
    err = errno;
    close(fd);
    errno = err;
    return -1;
}

int connect_first(const struct probe_options *o, const struct deadline *d, struct endpoint *ep)
{
    /* The port is a number already (options.c looked a service name up). */
    struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                              .ai_flags = AI_NUMERICSERV };
    struct addrinfo *list, *ai;
    int r, fd = -1, err = 0;

    if (o->host_is_address)
        hints.ai_flags |= AI_NUMERICHOST;
    r = getaddrinfo(o->host, o->port, &hints, &list);
    if (r != 0)
        fail("cannot resolve %s: %s", o->target, r == EAI_SYSTEM ? strerror(errno) : gai_strerror(r));
    for (ai = list; ai != NULL && fd < 0; ai = ai->ai_next) {
        fd = connect_one(ai->ai_addr, ai->ai_addrlen, d);
        if (fd >= 0) {
            memcpy(&ep->addr, ai->ai_addr, ai->ai_addrlen);
            ep->len = ai->ai_addrlen;
        } else {
            err = errno;
        }
    }
    freeaddrinfo(list);
    if (fd < 0) {
        if (err == ETIMEDOUT)
            fail("cannot connect to %s: no answer within %d ms", o->target, o->timeout_ms);
        fail("cannot connect to %s: %s", o->target, strerror(err));
    }
    return fd;
}

int connect_again(const struct probe_options *o, const struct endpoint *ep,
                  const struct deadline *d)
{
    int fd = connect_one((const struct sockaddr *)&ep->addr, ep->len, d);

    if (fd < 0)
        fail("second connection to %s failed: %s", o->target,
             errno == ETIMEDOUT ? "no answer in time" : strerror(errno));
    return fd;
}

void endpoint_text(const struct endpoint *ep, char *addr, size_t len, int *port)
{
    char serv[16];

    if (getnameinfo((const struct sockaddr *)&ep->addr, ep->len, addr, (socklen_t)len, serv,
                    sizeof serv, NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
        snprintf(addr, len, "?");
        *port = 0;
        return;
    }
    *port = atoi(serv);
}

/* ------------------------------------------------------------------------ */
/* After a close_notify                                                      */

static void count_records(struct record_counter *rc, const unsigned char *p, size_t n)
{
    while (n > 0) {
        if (rc->left > 0) {
            size_t take = n < rc->left ? n : rc->left;

            rc->left -= take;
            p += take;
            n -= take;
            continue;
        }
        rc->header[rc->have++] = *p++;
        n--;
        if (rc->have == sizeof rc->header) {
            rc->records++;
            rc->left = (size_t)rc->header[3] << 8 | rc->header[4];
            rc->have = 0;
        }
    }
}

void observe_tail(int fd, int64_t since_ms, const struct deadline *d, struct tail *t,
                  struct record_counter *rc)
{
    unsigned char buf[16384];

    for (;;) {
        int r = wait_fd(fd, POLLIN, d);
        ssize_t n;

        if (r <= 0) {
            t->end = r == 0 ? TAIL_TIMEOUT : TAIL_ERROR;
            break;
        }
        n = recv(fd, buf, sizeof buf, 0);
        if (n > 0) {
            t->bytes += (uint64_t)n;
            count_records(rc, buf, (size_t)n);
        } else if (n == 0) {
            t->end = TAIL_FIN;
            break;
        } else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
            t->end = errno == ECONNRESET ? TAIL_RESET : TAIL_ERROR;
            break;
        }
    }
    t->records = rc->records + (rc->have > 0);
    t->ms = now_ms() - since_ms;
}
