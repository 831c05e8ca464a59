/* hold.c: items 1 and 4 with live TLS connections. Opens N TLS connections
 * inside the process, each over a socketpair() whose other end is a server
 * SSL object of the same process (handshakes driven non-blocking, TLS 1.2
 * with session resumption after the first, so that 10,000 of them take
 * about a second). Under the preload both ends are tracked: 2N records, 2N
 * descriptors in the shim's table. Then, with all of them live, it measures
 * close() of descriptors that are not TLS exactly as bench/close does
 * (bench_close_batch), and reports the resident set size.
 *
 *   bench/hold --cert=F --key=F --connections=N [--kind=devnull|pipe|socket]
 *              [--batch=N] [--rounds=N]
 *
 * Prints one JSON line: connections held (fewer than asked when
 * RLIMIT_NOFILE cannot be raised far enough), close() calls, ns per call,
 * VmRSS in KiB after the connections were set up. Exits with _exit(): the
 * exit-time work on 2N connections is not what is measured.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "../tests/peer_util.h"
#include "bench_util.h"

/* Under callgrind (bench/run.py starts it with --instr-atstart=no), the
 * 10,000 handshakes run uninstrumented, several times faster; only the
 * measured rounds are instrumented. Without the header: no-ops, and the
 * driver reports that it could not count. */
#if defined(__has_include)
#if __has_include(<valgrind/callgrind.h>)
#include <valgrind/callgrind.h>
#endif
#endif
#ifndef CALLGRIND_START_INSTRUMENTATION
#define CALLGRIND_START_INSTRUMENTATION ((void)0)
#endif

/* Raises the descriptor limit as far as needed and allowed; returns how many
 * connections fit (two descriptors each, plus the batch and some spare). */
static long fit_connections(long wanted, int batch)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        die_errno("getrlimit");
    rlim_t need = (rlim_t)(2 * wanted + batch + 64);
    if (rl.rlim_cur < need) {
        struct rlimit up = { need, rl.rlim_max > need ? rl.rlim_max : need };
        if (setrlimit(RLIMIT_NOFILE, &up) == 0) { /* raising the hard limit needs privilege */
            rl = up;
        } else {
            rl.rlim_cur = rl.rlim_max;
            if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
                die_errno("setrlimit");
        }
    }
    long fit = ((long)rl.rlim_cur - batch - 64) / 2;
    return fit < wanted ? fit : wanted;
}

static bool step(SSL *ssl, bool *done)
{
    if (*done)
        return true;
    int r = SSL_do_handshake(ssl);
    if (r == 1)
        return *done = true;
    int e = SSL_get_error(ssl, r);
    return e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE;
}

static void connect_pair(SSL_CTX *cctx, SSL_CTX *sctx, SSL_SESSION **session)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) != 0)
        die_errno("socketpair");
    SSL *c = SSL_new(cctx), *s = SSL_new(sctx);
    if (!c || !s || SSL_set_fd(c, sv[0]) != 1 || SSL_set_fd(s, sv[1]) != 1)
        die("SSL_new failed");
    if (*session)
        SSL_set_session(c, *session);
    SSL_set_connect_state(c);
    SSL_set_accept_state(s);
    bool cdone = false, sdone = false;
    for (int round = 0; !(cdone && sdone); round++)
        if (round > 50 || !step(c, &cdone) || !step(s, &sdone))
            die("in-process handshake failed");
    if (!*session)
        *session = SSL_get1_session(c);
    /* The objects stay alive: these are the live connections. */
}

static long vm_rss_kib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kib = -1;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld", &kib) == 1)
            break;
    if (f)
        fclose(f);
    return kib;
}

int main(int argc, char **argv)
{
    prog_name = "bench/hold";
    const char *cert = NULL, *key = NULL, *kind = "pipe";
    long wanted = 10000, rounds = 100;
    int batch = 1000;
    for (int i = 1; i < argc; i++) {
        const char *v;
        if ((v = option_value(argv[i], "--cert")))
            cert = v;
        else if ((v = option_value(argv[i], "--key")))
            key = v;
        else if ((v = option_value(argv[i], "--connections")))
            wanted = parse_number("--connections", v, 0, 1000000);
        else if ((v = option_value(argv[i], "--kind")) &&
                 (strcmp(v, "devnull") == 0 || strcmp(v, "pipe") == 0 || strcmp(v, "socket") == 0))
            kind = v;
        else if ((v = option_value(argv[i], "--batch")))
            batch = (int)parse_number("--batch", v, 2, 100000) & ~1;
        else if ((v = option_value(argv[i], "--rounds")))
            rounds = parse_number("--rounds", v, 1, 10000000);
        else
            usage_error("unknown argument '%s'", argv[i]);
    }
    if (!cert || !key)
        usage_error("--cert and --key are required");
    long n = fit_connections(wanted, batch);
    SSL_CTX *cctx = client_ctx(TLS1_2_VERSION), *sctx = server_ctx(cert, key, TLS1_2_VERSION);
    SSL_SESSION *session = NULL;
    for (long i = 0; i < n; i++)
        connect_pair(cctx, sctx, &session);
    long rss = vm_rss_kib();

    int *fds = calloc((size_t)batch, sizeof *fds);
    if (!fds)
        die("out of memory");
    /* Resolve close()'s PLT entry outside the measured function. */
    close(open("/dev/null", O_RDONLY));
    CALLGRIND_START_INSTRUMENTATION;
    int64_t spent = close_rounds(kind, fds, batch, rounds);
    long long calls = (long long)rounds * batch;
    struct json j;
    json_begin(&j, stdout);
    json_int(&j, "connections", n);
    json_int(&j, "calls", calls);
    json_key(&j, "ns_per_call");
    fprintf(stdout, "%.2f", (double)spent / (double)calls);
    json_int(&j, "rss_kib", rss);
    json_end(&j);
    fflush(stdout);
    _exit(0);
}
