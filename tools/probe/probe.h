/* probe.h: what the parts of tlsclose-probe share: the options, the
 * observations of the two connections and the way out on errors.
 *
 * The probe (tlsclose-probe(1)) makes two connections to one server:
 *   1. "server closes first": handshake, the request if any, then read until
 *      the server ends the stream; how it ended (close_notify and its level,
 *      a bare FIN, a reset, another alert), and what the raw socket delivered
 *      after its close_notify (data, FIN, reset);
 *   2. "probe closes first": handshake, our close_notify at once, then how
 *      the server answers (close_notify, FIN, reset, nothing) and how fast.
 * Data flows one way: options -> experiments (net, tls) -> report.
 */

#ifndef TLSCLOSE_PROBE_H
#define TLSCLOSE_PROBE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PROBE_NAME "tlsclose-probe"

/* Exit statuses (tlsclose-probe(1), EXIT STATUS). */
#define EXIT_CLEAN 0
#define EXIT_UNCLEAN 1
#define EXIT_FAILURE_TO_PROBE 2 /* usage, connection or handshake error */
/* Nothing unclean seen, but the server kept the first connection open
 * until the timeout: how it closes was not observed, so not 0 (which says
 * it was seen to close cleanly) and not 1 (nothing wrong was seen). Like
 * the "maybe" of tlsclose --check. */
#define EXIT_NOT_OBSERVED 3

#define DEFAULT_TIMEOUT_MS 5000
#define MAX_TIMEOUT_MS 600000

/* ------------------------------------------------------------------------ */
/* Options                                                                   */

struct probe_options {
    const char *target;        /* HOST:PORT as given, for messages */
    char host[256];            /* without the brackets of an IPv6 literal */
    char port[8];              /* port_number in decimal, for getaddrinfo() */
    int port_number;           /* 1-65535 (a service name is looked up) */
    bool host_is_address;      /* an IPv4 or IPv6 literal */
    int tls_version;           /* 0: 1.2 or 1.3; else TLS1_2_VERSION/TLS1_3_VERSION */
    const char *sni;           /* name sent and verified; NULL: host if a name */
    const char *ca_file;       /* NULL: the system's trust store */
    bool insecure;             /* no certificate verification */
    unsigned char *request;    /* bytes sent on the first connection (owned) */
    size_t request_len;
    bool http;                 /* the request was built by --http */
    bool json;
    int timeout_ms;            /* bound of every wait */
};

/* Parses the command line; usage errors exit with status 2, --help and
 * --version with 0. */
void parse_options(struct probe_options *o, int argc, char **argv);

void free_options(struct probe_options *o);

/* ------------------------------------------------------------------------ */
/* Observations                                                              */

/* How the TLS stream of a connection ended. */
enum stream_end {
    END_CLOSE_NOTIFY, /* close_notify, at the level in `alert_level` */
    END_EOF,          /* TCP FIN without close_notify: a truncation */
    END_RESET,        /* TCP RST */
    END_ALERT,        /* another alert (always fatal in effect) */
    END_ERROR,        /* a TLS or socket error; see detail */
    END_TIMEOUT,      /* nothing within --timeout */
};

/* What the raw socket delivered after a close_notify record. */
enum tail_end { TAIL_NONE, TAIL_FIN, TAIL_RESET, TAIL_TIMEOUT, TAIL_ERROR };

struct tail {
    enum tail_end end;
    uint64_t bytes;    /* TLS bytes after the close_notify record */
    uint64_t records;  /* TLS records among them (headers seen) */
    int64_t ms;        /* from the close_notify to the end */
};

struct closing {
    enum stream_end end;
    int alert_level;       /* of the alert that ended the stream: 1, 2; 0 none */
    int alert;             /* its description; -1 none */
    char detail[200];      /* END_ERROR: what failed */
    int64_t ms;            /* 1: from the request (or handshake) to the end;
                            * 2: from our close_notify to the server's end */
    uint64_t app_out;      /* application bytes sent (the request) */
    uint64_t app_in;       /* application bytes received (2: before the answer) */
    uint64_t tls_out;      /* bytes written / read by OpenSSL on the socket */
    uint64_t tls_in;
    bool answered;         /* 1: our close_notify went out in answer to theirs */
    bool waited;           /* 1: the server ended TCP only after that answer */
    char answer_note[160]; /* 1: why it did not */
    struct tail tail;      /* END_CLOSE_NOTIFY only */
};

struct probe_result {
    char address[64];      /* numeric address connected to */
    int port;
    const char *tls_version;
    char cipher[64];
    bool verified;         /* certificate verified (not --insecure) */
    struct closing server_first;
    struct closing probe_first;
};

/* "tlsclose-probe: message" on stderr, exit 2: the probe could not observe
 * anything (connection, handshake, resources). */
void fail(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));

#endif
