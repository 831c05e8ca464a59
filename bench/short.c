/* short.c: item 3, short connections. N sequential connections to
 * bench/server (--mode=short): handshake, a 4-byte request, the 100-byte
 * response, and the end:
 *   --end=shutdown  a correct client: SSL_shutdown(), close(), SSL_free();
 *   --end=close     a sloppy client: close(), SSL_free() (no close_notify
 *                   unless tlsclose sends it).
 *
 *   bench/short --port=N --count=N --end=shutdown|close [--tls1.2|--tls1.3]
 *
 * Prints one JSON line: connections, wall and CPU time of the loop.
 * bench_one_connection() is one whole connection (callgrind counts
 * instructions inside it with --toggle-collect).
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "../tests/peer_util.h"
#include "bench_util.h"

#define RESPONSE_LEN 100

void bench_one_connection(SSL_CTX *ctx, int port, bool sloppy);

__attribute__((noinline)) void bench_one_connection(SSL_CTX *ctx, int port, bool sloppy)
{
    char response[RESPONSE_LEN];
    int fd = connect_loopback(port);
    SSL *ssl = SSL_new(ctx);
    if (!ssl || SSL_set_fd(ssl, fd) != 1 || SSL_connect(ssl) != 1)
        die("TLS handshake failed");
    tls_write_all(ssl, "GET\n", 4);
    tls_read_exact(ssl, response, sizeof response);
    if (!sloppy)
        SSL_shutdown(ssl);
    close(fd);
    SSL_free(ssl);
}

int main(int argc, char **argv)
{
    prog_name = "bench/short";
    int port = 0, version = 0, end = -1;
    long count = 0;
    for (int i = 1; i < argc; i++) {
        const char *v;
        if ((v = option_value(argv[i], "--port")))
            port = (int)parse_number("--port", v, 1, 65535);
        else if ((v = option_value(argv[i], "--count")))
            count = parse_number("--count", v, 1, 1000000);
        else if ((v = option_value(argv[i], "--end")) && strcmp(v, "shutdown") == 0)
            end = 0;
        else if (v && strcmp(v, "close") == 0)
            end = 1;
        else if (tls_version_option(argv[i]))
            version = tls_version_option(argv[i]);
        else
            usage_error("unknown argument '%s'", argv[i]);
    }
    if (!port || !count || end < 0)
        usage_error("--port, --count and --end=shutdown|close are required");
    SSL_CTX *ctx = client_ctx(version);

    int64_t t0 = now_ns(), c0 = cpu_ns();
    for (long i = 0; i < count; i++)
        bench_one_connection(ctx, port, end == 1);
    int64_t t1 = now_ns(), c1 = cpu_ns();
    SSL_CTX_free(ctx);

    struct json j;
    json_begin(&j, stdout);
    json_int(&j, "connections", count);
    json_int(&j, "wall_ns", t1 - t0);
    json_int(&j, "cpu_ns", c1 - c0);
    json_end(&j);
    return 0;
}
