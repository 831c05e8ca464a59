/* short.c: item 3, short connections. N sequential connections to
 * bench/server (--mode=short): handshake, a request, the response, and the
 * end. The sizes are --request=N (at least 4: "GET\n" and filler; default 4)
 * and --response=N (default 100), the same on both sides. The end:
 *   --end=shutdown  a correct client: SSL_shutdown(), close(), SSL_free();
 *   --end=close     a sloppy client: close(), SSL_free() (no close_notify
 *                   unless tlsclose sends it).
 *
 *   bench/short --port=N --count=N --end=shutdown|close [--tls1.2|--tls1.3]
 *               [--request=N] [--response=N] [--heap-shift=N]
 *
 * --heap-shift=N allocates N bytes before the first connection and keeps
 * them. Instructions per connection depend on where the heap's chunks fall
 * (glibc's malloc takes other paths, string functions other alignments): a
 * single allocation at start moves the count of a bare client by up to
 * ±800 per connection. bench/run.py measures at several shifts and
 * compares means, so that the library's cost is not mistaken for where
 * the heap happened to fall.
 *
 * Prints one JSON line: connections, wall and CPU time of the loop.
 * bench_one_connection() is one whole connection (callgrind counts
 * instructions inside it with --toggle-collect).
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

#define MAX_MESSAGE 65536

static size_t request_len = 4, response_len = 100;
static char request[MAX_MESSAGE] = "GET\n", response[MAX_MESSAGE];

void bench_one_connection(SSL_CTX *ctx, int port, bool sloppy);

__attribute__((noinline)) void bench_one_connection(SSL_CTX *ctx, int port, bool sloppy)
{
    int fd = connect_loopback(port);
    SSL *ssl = SSL_new(ctx);
    if (!ssl || SSL_set_fd(ssl, fd) != 1 || SSL_connect(ssl) != 1)
        die("TLS handshake failed");
    tls_write_all(ssl, request, request_len);
    tls_read_exact(ssl, response, response_len);
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
    size_t heap_shift = 0;
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
        else if ((v = option_value(argv[i], "--heap-shift")))
            heap_shift = (size_t)parse_number("--heap-shift", v, 0, 1 << 20);
        else if ((v = option_value(argv[i], "--request")))
            request_len = (size_t)parse_number("--request", v, 4, MAX_MESSAGE);
        else if ((v = option_value(argv[i], "--response")))
            response_len = (size_t)parse_number("--response", v, 1, MAX_MESSAGE);
        else if (tls_version_option(argv[i]))
            version = tls_version_option(argv[i]);
        else
            usage_error("unknown argument '%s'", argv[i]);
    }
    if (!port || !count || end < 0)
        usage_error("--port, --count and --end=shutdown|close are required");
    memset(request + 4, 'x', sizeof request - 4);
    void *volatile shift = heap_shift ? malloc(heap_shift) : NULL;
    SSL_CTX *ctx = client_ctx(version);

    int64_t t0 = now_ns(), c0 = cpu_ns();
    for (long i = 0; i < count; i++)
        bench_one_connection(ctx, port, end == 1);
    int64_t t1 = now_ns(), c1 = cpu_ns();
    SSL_CTX_free(ctx);
    free(shift);

    struct json j;
    json_begin(&j, stdout);
    json_int(&j, "connections", count);
    json_int(&j, "wall_ns", t1 - t0);
    json_int(&j, "cpu_ns", c1 - c0);
    json_end(&j);
    return 0;
}
