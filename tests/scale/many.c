/* many: a "legacy" TLS client that holds many connections at once, for the
 * scale test of tlsclose (tests/scale.py).
 *
 *   many --port=P [--connections=N] [--batches=B]
 *
 * It raises its RLIMIT_NOFILE soft limit to the hard one, then opens N
 * connections (default 10000) to 127.0.0.1:P one after the other and keeps
 * them all open: TLS client without verification, the version the peer
 * picks, "hello\n" written, read until the "\n" of "world\n". Once all N are
 * open it ends them, in the order they were opened, in B batches (default
 * 10) of N/B: each connection with close(fd) and then SSL_free(ssl), the
 * way a program that never calls SSL_shutdown ends its connections. Without
 * tlsclose nothing sends close_notify; under it close() must.
 *
 * Before those N, one more connection is opened, so that what OpenSSL and
 * tlsclose set up once, at their first connection, is in place before the
 * measurements start. The N others resume its TLS session (their
 * handshakes are cheaper; nothing else changes). It stays open until the
 * measurements are done, then is ended the same way: N + 1 connections in
 * all, all open at once. (Ended earlier without close_notify, its session
 * would no longer be resumable: OpenSSL's SSL_free marks the session of a
 * connection that was not shut down as not resumable. The runs with and
 * without tlsclose would then differ by full handshakes and a peer
 * certificate kept per connection.)
 *
 * Measured, and printed as one JSON line on stdout at the end:
 *
 *   heap_before, heap_open, heap_closed   bytes of heap in use before the
 *       first connection, with all N open, after all were ended and freed:
 *       the sanitizer allocator's count in sanitizer builds, else glibc's
 *       mallinfo2() (uordblks + hblkhd), named in heap_source
 *   rss_before_kb, rss_open_kb, rss_closed_kb   VmRSS at the same points
 *   open_s, close_s   wall-clock seconds of the two phases
 *   batch_cpu_ns      CPU time (this thread, user + system) each batch of
 *                     close() + SSL_free() took, first batch first
 *   resumed           how many of the N resumed the first one's session
 *   batch_size, connections, tls, fd_limit
 *
 * The heap figures are exact and deterministic, so the test compares them
 * with and without tlsclose to get the library's bytes per connection; RSS
 * follows pages and is reported alongside.
 *
 * Any failure prints one "many: ..." line on stderr (the first connection
 * is number 0) and exits 1 at once; usage errors exit 2.
 *
 * Build: gcc -std=c11 -D_GNU_SOURCE -O2 -Wall -Wextra tests/scale/many.c \
 *          -o many -lssl -lcrypto
 */
#include <errno.h>
#include <malloc.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#define MAX_CONNECTIONS 100000
#define MAX_BATCHES 100
#define SPARE_FDS 32 /* stdio, the library's log file, OpenSSL's own */

/* Defined by the ASan runtime (sanitizer builds), absent otherwise. */
extern size_t __sanitizer_get_current_allocated_bytes(void) __attribute__((weak));

static int port;
static int n_connections = 10000;
static int n_batches = 10;

static void fail(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));

/* One line with the first queued OpenSSL error, if any, then exit 1. */
static void fail(const char *fmt, ...)
{
    unsigned long e = ERR_get_error();
    char err[256] = "";
    va_list ap;

    if (e != 0)
        ERR_error_string_n(e, err, sizeof err);
    fputs("many: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "%s%s\n", e ? ": " : "", err);
    exit(1);
}

static void usage(const char *what)
{
    fprintf(stderr, "many: %s (usage: many --port=P [--connections=N] [--batches=B])\n", what);
    exit(2);
}

static long number(const char *arg, const char *name, long min, long max)
{
    size_t n = strlen(name);
    char *end;
    long v;

    if (strncmp(arg, name, n) != 0 || arg[n] != '=')
        return -1;
    errno = 0;
    v = strtol(arg + n + 1, &end, 10);
    if (errno != 0 || end == arg + n + 1 || *end != '\0' || v < min || v > max)
        usage("a number is out of range");
    return v;
}

static void parse_args(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        long v;

        if ((v = number(argv[i], "--port", 1, 65535)) >= 0)
            port = (int)v;
        else if ((v = number(argv[i], "--connections", 1, MAX_CONNECTIONS)) >= 0)
            n_connections = (int)v;
        else if ((v = number(argv[i], "--batches", 1, MAX_BATCHES)) >= 0)
            n_batches = (int)v;
        else
            usage("unknown argument");
    }
    if (port == 0)
        usage("--port=P is required");
    if (n_connections % n_batches != 0)
        usage("--connections must be a multiple of --batches");
}

/* One descriptor per connection: the soft limit up to the hard one. */
static long raise_fd_limit(void)
{
    struct rlimit rl;
    rlim_t need = (rlim_t)n_connections + SPARE_FDS;

    if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
        fail("getrlimit: %s", strerror(errno));
    if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < need)
        fail("RLIMIT_NOFILE hard limit %llu is below the %llu descriptors needed",
             (unsigned long long)rl.rlim_max, (unsigned long long)need);
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
            fail("setrlimit: %s", strerror(errno));
    }
    return rl.rlim_cur == RLIM_INFINITY ? -1 : (long)rl.rlim_cur;
}

/* --- measurements --------------------------------------------------------- */

static size_t heap_in_use(const char **source)
{
    if (__sanitizer_get_current_allocated_bytes) {
        *source = "sanitizer";
        return __sanitizer_get_current_allocated_bytes();
    }
#if defined(__GLIBC__) && (__GLIBC__ > 2 || __GLIBC_MINOR__ >= 33)
    struct mallinfo2 mi = mallinfo2();

    *source = "mallinfo2";
    return mi.uordblks + mi.hblkhd;
#else
    struct mallinfo mi = mallinfo();

    *source = "mallinfo";
    return (size_t)(unsigned)mi.uordblks + (size_t)(unsigned)mi.hblkhd;
#endif
}

static long rss_kb(void)
{
    FILE *f = fopen("/proc/self/status", "re");
    char line[256];
    long kb = -1;

    if (f == NULL)
        return -1;
    while (fgets(line, sizeof line, f) != NULL)
        if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
            break;
    fclose(f);
    return kb;
}

static int64_t clock_ns(clockid_t id)
{
    struct timespec ts;

    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* --- connections ------------------------------------------------------------ */

/* TCP connect, TLS handshake, "hello\n" out, "world\n" in. */
static SSL *open_connection(SSL_CTX *ctx, SSL_SESSION *resume, int conn, int *fdp)
{
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    char line[16];
    size_t got = 0;
    int one = 1;
    int fd;
    SSL *ssl;

    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        fail("connection %d: socket: %s", conn, strerror(errno));
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0)
        fail("connection %d: connect: %s", conn, strerror(errno));
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    ssl = SSL_new(ctx);
    if (ssl == NULL || !SSL_set_fd(ssl, fd) || !SSL_set_tlsext_host_name(ssl, "localhost"))
        fail("connection %d: SSL_new/SSL_set_fd", conn);
    if (resume != NULL && !SSL_set_session(ssl, resume))
        fail("connection %d: SSL_set_session", conn);
    errno = 0;
    if (SSL_connect(ssl) != 1)
        fail("connection %d: SSL_connect (errno %d)", conn, errno);
    if (SSL_write(ssl, "hello\n", 6) != 6)
        fail("connection %d: SSL_write (errno %d)", conn, errno);
    while (got == 0 || line[got - 1] != '\n') {
        int r = SSL_read(ssl, line + got, (int)(sizeof line - 1 - got));

        if (r <= 0)
            fail("connection %d: SSL_read (errno %d)", conn, errno);
        got += (size_t)r;
        if (got == sizeof line - 1)
            break;
    }
    line[got] = '\0';
    if (strcmp(line, "world\n") != 0)
        fail("connection %d: unexpected response", conn);
    *fdp = fd;
    return ssl;
}

int main(int argc, char **argv)
{
    const char *heap_source;
    size_t heap_before, heap_open, heap_closed;
    long rss_before, rss_open, rss_closed, fd_limit;
    int64_t t0, t1, t2;
    int64_t *batch_ns;
    int batch_size;
    const char *tls;
    SSL_CTX *ctx;
    SSL_SESSION *resume;
    SSL *first_ssl;
    int first_fd;
    int resumed = 0;
    SSL **ssls;
    int *fds;

    parse_args(argc, argv);
    /* glibc keeps small freed chunks unmerged (fastbins) and merges them all
     * in one go once a large free block forms: here inside the very last
     * SSL_free, which then costs as much as a whole batch (about 8 us per
     * connection freed before it, with or without tlsclose). Without
     * fastbins every free merges at once, so each batch pays for its own
     * connections. (The sanitizer allocator ignores this.) */
    mallopt(M_MXFAST, 0);
    /* As an unprotected real program: SIGPIPE kills it. */
    signal(SIGPIPE, SIG_DFL);
    fd_limit = raise_fd_limit();
    batch_size = n_connections / n_batches;
    ssls = calloc((size_t)n_connections, sizeof *ssls);
    fds = calloc((size_t)n_connections, sizeof *fds);
    batch_ns = calloc((size_t)n_batches, sizeof *batch_ns);
    if (ssls == NULL || fds == NULL || batch_ns == NULL)
        fail("out of memory");
    ctx = SSL_CTX_new(TLS_client_method());
    if (ctx == NULL || !SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION))
        fail("SSL_CTX_new");
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    /* As a program that keeps thousands of idle connections would: the
     * 34 KiB of record buffers of each go back while it is idle. */
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);

    first_ssl = open_connection(ctx, NULL, 0, &first_fd);
    resume = SSL_get1_session(first_ssl);
    if (resume == NULL)
        fail("the first connection: no session");

    heap_before = heap_in_use(&heap_source);
    rss_before = rss_kb();
    t0 = clock_ns(CLOCK_MONOTONIC);
    for (int i = 0; i < n_connections; i++) {
        ssls[i] = open_connection(ctx, resume, i + 1, &fds[i]);
        resumed += SSL_session_reused(ssls[i]) == 1;
    }
    t1 = clock_ns(CLOCK_MONOTONIC);
    heap_open = heap_in_use(&heap_source);
    rss_open = rss_kb();
    tls = SSL_get_version(ssls[0]);

    /* The timed part: only close() and SSL_free(), batch by batch, so that
     * the cost per connection can be followed as the tables shrink. */
    for (int b = 0; b < n_batches; b++) {
        int64_t start = clock_ns(CLOCK_THREAD_CPUTIME_ID);

        for (int i = b * batch_size; i < (b + 1) * batch_size; i++) {
            if (close(fds[i]) != 0)
                fail("connection %d: close: %s", i + 1, strerror(errno));
            SSL_free(ssls[i]);
        }
        batch_ns[b] = clock_ns(CLOCK_THREAD_CPUTIME_ID) - start;
    }
    t2 = clock_ns(CLOCK_MONOTONIC);
    heap_closed = heap_in_use(&heap_source);
    rss_closed = rss_kb();
    if (close(first_fd) != 0)
        fail("connection 0: close: %s", strerror(errno));
    SSL_free(first_ssl);

    printf("{\"connections\":%d,\"tls\":\"%s\",\"fd_limit\":%ld,\"open_s\":%.3f,"
           "\"close_s\":%.3f,\"heap_source\":\"%s\",\"heap_before\":%zu,\"heap_open\":%zu,"
           "\"heap_closed\":%zu,\"rss_before_kb\":%ld,\"rss_open_kb\":%ld,"
           "\"rss_closed_kb\":%ld,\"resumed\":%d,\"batch_size\":%d,\"batch_cpu_ns\":[",
           n_connections, tls, fd_limit, (double)(t1 - t0) / 1e9, (double)(t2 - t1) / 1e9,
           heap_source, heap_before, heap_open, heap_closed, rss_before, rss_open, rss_closed,
           resumed, batch_size);
    for (int b = 0; b < n_batches; b++)
        printf("%s%lld", b ? "," : "", (long long)batch_ns[b]);
    printf("]}\n");
    SSL_SESSION_free(resume);
    SSL_CTX_free(ctx);
    free(ssls);
    free(fds);
    free(batch_ns);
    return fflush(stdout) == 0 ? 0 : 1;
}
