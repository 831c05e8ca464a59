/* peer_util.h: what every TLS test peer of the suite needs, whatever its TLS
 * library: setup and usage errors, command-line helpers, deadlines, loopback
 * sockets, the response the test scripts expect and one-line JSON output.
 *
 * It knows nothing of OpenSSL or GnuTLS; the peers (tests/peer.c,
 * tests/gnutls_peer.c) keep their TLS code and build on this.
 */

#ifndef TLSCLOSE_TESTS_PEER_UTIL_H
#define TLSCLOSE_TESTS_PEER_UTIL_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define EXIT_SETUP 1
#define EXIT_USAGE 2

#define DEFAULT_TIMEOUT_MS 10000
#define DEFAULT_RESPONSE_LEN 6
#define MAX_RESPONSE_LEN (1L << 30)
#define IO_CHUNK 16384

/* ------------------------------------------------------------------------ */
/* Errors                                                                    */

/* The name that starts every message on stderr ("peer", "gnutls_peer"):
 * main sets it before anything can fail. */
extern const char *prog_name;

/* A usage error: "NAME: message (see 'NAME --help')" on stderr, exit 2. */
void usage_error(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));

/* Setup failures are not observations: "NAME: message" on stderr, exit 1. */
void die(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));

/* die() with "what: strerror(errno)". */
void die_errno(const char *what) __attribute__((noreturn));

/* ------------------------------------------------------------------------ */
/* Options                                                                   */

/* Returns the text after "NAME=" if arg is "NAME=...", else NULL. */
const char *option_value(const char *arg, const char *name);

/* Parses text as a decimal integer in [min, max]; anything else is a usage
 * error that quotes the option name. */
long parse_number(const char *name, const char *text, long min, long max);

/* ------------------------------------------------------------------------ */
/* Time                                                                      */

/* Milliseconds on the monotonic clock. */
int64_t now_ms(void);

/* Every wait of a peer is bounded by a deadline on the monotonic clock, so
 * that a program under test that hangs produces a "timeout" verdict (or a
 * setup error), never a hung test. */
struct deadline {
    int64_t at_ms;
};

struct deadline deadline_in(int ms);

/* Milliseconds left, 0 once the deadline passed: a poll() timeout. */
int remaining_ms(const struct deadline *d);

/* Waits until fd reports one of `events` (or an error/hangup, which the next
 * I/O call will report). Returns 1 when ready, 0 at the deadline, -1 with
 * errno set if poll() itself failed. */
int wait_fd(int fd, short events, const struct deadline *d);

/* ------------------------------------------------------------------------ */
/* Sockets                                                                   */

/* 127.0.0.1:port. */
struct sockaddr_in loopback_addr(int port);

/* Small writes (a response, an alert) must leave at once, as separate
 * segments, so that "ms" and the ordering seen by the program under test do
 * not depend on Nagle or on delayed ACKs. */
void set_nodelay(int fd);

/* Listens on 127.0.0.1 on an ephemeral port (non-blocking, close-on-exec);
 * returns the socket and stores the port. Failures exit. */
int listen_loopback(int backlog, int *port);

/* Accepts one connection before the deadline. Returns the socket,
 * non-blocking (all waiting is done by wait_fd(), never in the TLS library),
 * close-on-exec and with TCP_NODELAY, or -1 with errno ETIMEDOUT at the
 * deadline (other errors: exit). */
int accept_bounded(int lfd, const struct deadline *d);

/* ------------------------------------------------------------------------ */
/* The response                                                              */

/* Writes len bytes to the peer's connection; false stops write_response(). */
typedef bool (*response_writer)(void *arg, const void *data, size_t len);

/* The response of every peer, which the test scripts check: "world\n" for
 * the default length (DEFAULT_RESPONSE_LEN), else len-1 'x' and '\n' (0:
 * nothing), handed to writer() in pieces of at most IO_CHUNK bytes. Returns
 * false as soon as writer() does. */
bool write_response(long len, response_writer writer, void *arg);

/* ------------------------------------------------------------------------ */
/* JSON output                                                               */

/* Lowercases s in place (alert names as the test scripts spell them). */
void lowercase(char *s);

/* Writes s as a JSON string. Everything outside printable ASCII is escaped,
 * so the line stays valid (ASCII) JSON whatever the TLS library or libc
 * returned. */
void json_string(FILE *out, const char *s);

/* One JSON object on one line: json_begin(), the fields in order, json_end(). */
struct json {
    FILE *out;
    bool first;
};

void json_begin(struct json *j, FILE *out);

/* Writes the key of the next field (and the comma before it); the caller
 * writes the value. */
void json_key(struct json *j, const char *key);

/* NULL is written as null. */
void json_str(struct json *j, const char *key, const char *value);
void json_int(struct json *j, const char *key, int64_t value);
void json_bool(struct json *j, const char *key, bool value);

/* Ends the line and flushes it: the test suite reads the lines as they come.
 * Returns false (errno set) if the flush failed. */
bool json_end(struct json *j);

/* {"port":N} on stdout, flushed as soon as the socket listens: the test
 * scripts read the port from it. Returns false (errno set) if the flush
 * failed. */
bool print_port(int port);

#endif
