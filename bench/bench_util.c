/* bench_util.c: see bench_util.h. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>

#include "../tests/peer_util.h"
#include "bench_util.h"

int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t cpu_ns(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ((int64_t)ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000000 +
           ((int64_t)ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000;
}

int tls_version_option(const char *arg)
{
    if (arg && strcmp(arg, "--tls1.2") == 0)
        return TLS1_2_VERSION;
    if (arg && strcmp(arg, "--tls1.3") == 0)
        return TLS1_3_VERSION;
    return 0;
}

static void pin_version(SSL_CTX *ctx, int version)
{
    if (version && (!SSL_CTX_set_min_proto_version(ctx, version) ||
                    !SSL_CTX_set_max_proto_version(ctx, version)))
        die("cannot pin the TLS version");
}

SSL_CTX *client_ctx(int version)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx)
        die("SSL_CTX_new failed");
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    pin_version(ctx, version);
    return ctx;
}

SSL_CTX *server_ctx(const char *cert, const char *key, int version)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx)
        die("SSL_CTX_new failed");
    if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1 ||
        SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1)
        die("cannot load %s / %s", cert, key);
    pin_version(ctx, version);
    return ctx;
}

int connect_loopback(int port)
{
    struct sockaddr_in a = loopback_addr(port);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        die_errno("socket");
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0)
        die_errno("connect");
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

static void tls_failed(SSL *ssl, int r, const char *what)
{
    int e = SSL_get_error(ssl, r);
    char text[256] = "";
    ERR_error_string_n(ERR_peek_error(), text, sizeof text);
    die("%s failed: SSL_get_error %d, errno %d, %s", what, e, errno, text);
}

void tls_write_all(SSL *ssl, const void *buf, size_t len)
{
    size_t done = 0;
    if (len && (SSL_write_ex(ssl, buf, len, &done) != 1 || done != len))
        tls_failed(ssl, 0, "SSL_write");
}

void tls_read_exact(SSL *ssl, void *buf, size_t len)
{
    size_t got = 0;
    while (got < len) {
        size_t n = 0;
        if (SSL_read_ex(ssl, (char *)buf + got, len - got, &n) != 1)
            tls_failed(ssl, 0, "SSL_read");
        got += n;
    }
}

void open_plain_batch(const char *kind, int *fds, int n)
{
    for (int i = 0; i < n;) {
        if (strcmp(kind, "pipe") == 0) {
            if (pipe(fds + i) != 0)
                die_errno("pipe");
            i += 2;
            continue;
        }
        fds[i] = strcmp(kind, "devnull") == 0 ? open("/dev/null", O_RDONLY)
                                              : socket(AF_INET, SOCK_STREAM, 0);
        if (fds[i] < 0)
            die_errno(kind);
        i++;
    }
}

__attribute__((noinline)) void bench_close_batch(const int *fds, int n)
{
    for (int i = 0; i < n; i++)
        close(fds[i]);
}

int64_t close_rounds(const char *kind, int *fds, int batch, long rounds)
{
    int64_t spent = 0;
    for (long r = 0; r < rounds; r++) {
        open_plain_batch(kind, fds, batch);
        int64_t t0 = now_ns();
        bench_close_batch(fds, batch);
        spent += now_ns() - t0;
    }
    return spent;
}
