/* bulk.c: item 2, bulk SSL_read. A client that asks bench/server (--mode=bulk)
 * for its stream and reads it to the end in 16 KiB SSL_read (or, with --ex,
 * SSL_read_ex) calls.
 *
 *   bench/bulk --port=N [--tls1.2|--tls1.3] [--ex] [--read=BYTES]
 *
 * Prints one JSON line: bytes read, SSL_read calls, wall and CPU time of the
 * read loop. bench_read_loop() is the whole measured region (callgrind
 * counts instructions inside it with --toggle-collect).
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "../tests/peer_util.h"
#include "bench_util.h"

long long bench_read_loop(SSL *ssl, char *buf, int len, bool ex, long long *calls);

/* Reads until the end of the stream; returns the bytes read. */
__attribute__((noinline)) long long bench_read_loop(SSL *ssl, char *buf, int len, bool ex,
                                                    long long *calls)
{
    long long total = 0, n_calls = 0;
    for (;;) {
        n_calls++;
        if (ex) {
            size_t n;
            if (SSL_read_ex(ssl, buf, (size_t)len, &n) != 1)
                break;
            total += (long long)n;
        } else {
            int n = SSL_read(ssl, buf, len);
            if (n <= 0)
                break;
            total += n;
        }
    }
    *calls = n_calls;
    return total;
}

int main(int argc, char **argv)
{
    prog_name = "bench/bulk";
    int port = 0, version = 0, len = 16384;
    bool ex = false;
    for (int i = 1; i < argc; i++) {
        const char *v;
        if ((v = option_value(argv[i], "--port")))
            port = (int)parse_number("--port", v, 1, 65535);
        else if ((v = option_value(argv[i], "--read")))
            len = (int)parse_number("--read", v, 1, 1 << 20);
        else if (strcmp(argv[i], "--ex") == 0)
            ex = true;
        else if (tls_version_option(argv[i]))
            version = tls_version_option(argv[i]);
        else
            usage_error("unknown argument '%s'", argv[i]);
    }
    if (!port)
        usage_error("--port is required");
    char *buf = malloc((size_t)len);
    SSL_CTX *ctx = client_ctx(version);
    int fd = connect_loopback(port);
    SSL *ssl = SSL_new(ctx);
    if (!buf || !ssl || SSL_set_fd(ssl, fd) != 1 || SSL_connect(ssl) != 1)
        die("TLS handshake failed");
    tls_write_all(ssl, "GET\n", 4);

    long long calls;
    int64_t t0 = now_ns(), c0 = cpu_ns();
    long long total = bench_read_loop(ssl, buf, len, ex, &calls);
    int64_t t1 = now_ns(), c1 = cpu_ns();
    if (SSL_get_error(ssl, 0) != SSL_ERROR_ZERO_RETURN)
        die("the stream did not end with close_notify");
    SSL_shutdown(ssl);
    close(fd);
    SSL_free(ssl);
    SSL_CTX_free(ctx);
    free(buf);

    struct json j;
    json_begin(&j, stdout);
    json_int(&j, "bytes", total);
    json_int(&j, "calls", calls);
    json_int(&j, "wall_ns", t1 - t0);
    json_int(&j, "cpu_ns", c1 - c0);
    json_end(&j);
    return 0;
}
