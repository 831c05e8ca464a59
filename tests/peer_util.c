/* peer_util.c: what every TLS test peer needs, TLS-library-agnostic; see
 * peer_util.h. */

#include "peer_util.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <arpa/inet.h>

static const char default_response[] = "world\n";

/* ------------------------------------------------------------------------ */
/* Errors                                                                    */

const char *prog_name = "peer";

static void vmessage(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));

/* "NAME: message" on stderr, without the end of the line. */
static void vmessage(const char *fmt, va_list ap)
{
    fprintf(stderr, "%s: ", prog_name);
    vfprintf(stderr, fmt, ap);
}

void usage_error(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vmessage(fmt, ap);
    va_end(ap);
    fprintf(stderr, " (see '%s --help')\n", prog_name);
    exit(EXIT_USAGE);
}

void die(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vmessage(fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(EXIT_SETUP);
}

void die_errno(const char *what)
{
    die("%s: %s", what, strerror(errno));
}

/* ------------------------------------------------------------------------ */
/* Options                                                                   */

const char *option_value(const char *arg, const char *name)
{
    size_t n = strlen(name);

    if (strncmp(arg, name, n) != 0 || arg[n] != '=')
        return NULL;
    return arg + n + 1;
}

long parse_number(const char *name, const char *text, long min, long max)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || v < min || v > max)
        usage_error("%s must be an integer in [%ld, %ld], got '%s'", name, min,
                    max, text);
    return v;
}

/* ------------------------------------------------------------------------ */
/* Time                                                                      */

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
/* Sockets                                                                   */

struct sockaddr_in loopback_addr(int port)
{
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };

    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return sa;
}

void set_nodelay(int fd)
{
    int one = 1;

    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

int listen_loopback(int backlog, int *port)
{
    struct sockaddr_in sa = loopback_addr(0);
    socklen_t len = sizeof sa;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

    if (fd < 0)
        die_errno("socket");
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0)
        die_errno("bind 127.0.0.1:0");
    if (listen(fd, backlog) < 0)
        die_errno("listen");
    if (getsockname(fd, (struct sockaddr *)&sa, &len) < 0)
        die_errno("getsockname");
    *port = ntohs(sa.sin_port);
    return fd;
}

int accept_bounded(int lfd, const struct deadline *d)
{
    for (;;) {
        int r = wait_fd(lfd, POLLIN, d);
        int fd;

        if (r == 0) {
            errno = ETIMEDOUT;
            return -1;
        }
        if (r < 0)
            die_errno("poll");
        fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (fd >= 0) {
            set_nodelay(fd);
            return fd;
        }
        /* The connection may have vanished between poll and accept. */
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
            errno != ECONNABORTED)
            die_errno("accept");
    }
}

/* ------------------------------------------------------------------------ */
/* The response                                                              */

bool write_response(long len, response_writer writer, void *arg)
{
    char chunk[IO_CHUNK];

    if (len == DEFAULT_RESPONSE_LEN)
        return writer(arg, default_response, strlen(default_response));
    memset(chunk, 'x', sizeof chunk);
    while (len > 0) {
        size_t n = (size_t)len < sizeof chunk ? (size_t)len : sizeof chunk;

        if ((long)n == len)
            chunk[n - 1] = '\n';
        if (!writer(arg, chunk, n))
            return false;
        len -= (long)n;
    }
    return true;
}

/* ------------------------------------------------------------------------ */
/* JSON output                                                               */

void lowercase(char *s)
{
    for (; *s != '\0'; s++)
        *s = (char)tolower((unsigned char)*s);
}

void json_string(FILE *out, const char *s)
{
    fputc('"', out);
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(out, "\\%c", *p);
        else if (*p < 0x20 || *p >= 0x7f)
            fprintf(out, "\\u%04x", *p);
        else
            fputc(*p, out);
    }
    fputc('"', out);
}

void json_begin(struct json *j, FILE *out)
{
    *j = (struct json){ out, true };
    fputc('{', out);
}

void json_key(struct json *j, const char *key)
{
    if (!j->first)
        fputc(',', j->out);
    j->first = false;
    json_string(j->out, key);
    fputc(':', j->out);
}

void json_str(struct json *j, const char *key, const char *value)
{
    json_key(j, key);
    if (value == NULL)
        fputs("null", j->out);
    else
        json_string(j->out, value);
}

void json_int(struct json *j, const char *key, int64_t value)
{
    json_key(j, key);
    fprintf(j->out, "%" PRId64, value);
}

void json_bool(struct json *j, const char *key, bool value)
{
    json_key(j, key);
    fputs(value ? "true" : "false", j->out);
}

bool json_end(struct json *j)
{
    fputs("}\n", j->out);
    return fflush(j->out) == 0;
}

bool print_port(int port)
{
    struct json j;

    json_begin(&j, stdout);
    json_int(&j, "port", port);
    return json_end(&j);
}
