/* net.h: time bounds and the TCP side of tlsclose-probe: resolving and
 * connecting, waiting on a socket, and reading the raw socket after a
 * close_notify (data, FIN or reset). */

#ifndef TLSCLOSE_PROBE_NET_H
#define TLSCLOSE_PROBE_NET_H

#include <stdint.h>
#include <sys/socket.h>

#include "probe.h"

/* Milliseconds on the monotonic clock. */
int64_t now_ms(void);

/* Every wait of the probe ends at a deadline on the monotonic clock. */
struct deadline {
    int64_t at_ms;
};

struct deadline deadline_in(int ms);

/* Milliseconds left, 0 once the deadline passed: a poll() timeout. */
int remaining_ms(const struct deadline *d);

/* Waits until fd reports one of `events` (or an error or hang-up, which the
 * next I/O call reports). 1 when ready, 0 at the deadline, -1 (errno) if
 * poll() failed. */
int wait_fd(int fd, short events, const struct deadline *d);

/* The address the first connection reached; the second one goes there too. */
struct endpoint {
    struct sockaddr_storage addr;
    socklen_t len;
};

/* Resolves o->host and o->port and connects to the addresses in turn until
 * one accepts, before the deadline. The socket is non-blocking (all waiting
 * happens in poll()). Fails (exit 2) with one line naming the target when
 * no address accepts. */
int connect_first(const struct probe_options *o, const struct deadline *d, struct endpoint *ep);

/* Connects again to the same address. */
int connect_again(const struct probe_options *o, const struct endpoint *ep,
                  const struct deadline *d);

/* The numeric address and port of ep. */
void endpoint_text(const struct endpoint *ep, char *addr, size_t len, int *port);

/* Counts TLS records in a byte stream cut into arbitrary pieces. */
struct record_counter {
    uint64_t records;
    size_t left;               /* body bytes of the current record */
    unsigned char header[5];
    size_t have;               /* header bytes assembled */
};

/* Reads the raw socket until FIN, reset, error or the deadline, adding the
 * bytes and the TLS records (by their headers) that arrive to t; t->end says
 * how it ended, t->ms is counted from since_ms (when the close_notify
 * arrived). Can be called again after TAIL_TIMEOUT with a later deadline:
 * rc carries the record count across calls. */
void observe_tail(int fd, int64_t since_ms, const struct deadline *d, struct tail *t,
                  struct record_counter *rc);

#endif
