/* bulk.c: item 2, bulk SSL_read. A client that asks bench/server (--mode=bulk)
 * for its stream and reads it to the end in 16 KiB SSL_read (or, with --ex,
 * SSL_read_ex) calls.
 *
 *   bench/bulk --port=N [--tls1.2|--tls1.3] [--ex] [--read=BYTES]
 *   bench/bulk --memory --cert=F --key=F --bytes=N [--tls1.2|--tls1.3] [--ex]
 *
 * Prints one JSON line: bytes read, SSL_read calls, wall and CPU time of the
 * read loop. bench_read_loop() is the whole measured region (callgrind
 * counts instructions inside it with --toggle-collect).
 *
 * --memory: no socket. An in-process server writes the whole stream (16 KiB
 * records) into a memory BIO first, then the client reads it. Every
 * SSL_read then finds its record complete, so instruction and system-call
 * counts do not depend on how TCP segments arrived (over loopback a client
 * slowed down by valgrind or strace sees a varying share of partial records,
 * some 70 instructions per call of noise). The shim's per-call work is the
 * same whatever the transport; it tracks the server's SSL object too, but
 * that one only writes before the measured loop.
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

/* The one output line: bytes read, read calls, wall and CPU time of the
 * measured loop. */
static void print_figures(long long bytes, long long calls, int64_t wall_ns, int64_t cpu_ns)
{
    struct json j;
    json_begin(&j, stdout);
    json_int(&j, "bytes", bytes);
    json_int(&j, "calls", calls);
    json_int(&j, "wall_ns", wall_ns);
    json_int(&j, "cpu_ns", cpu_ns);
    json_end(&j);
}

static BIO *mem_bio(void)
{
    BIO *b = BIO_new(BIO_s_mem());
    if (!b)
        die("BIO_new failed");
    BIO_set_mem_eof_return(b, -1); /* empty: "retry", not end of stream */
    return b;
}

/* A client SSL connected to an in-process server through two memory BIOs,
 * handshake done and `bytes` of application data already waiting for the
 * client in 16 KiB records. */
static SSL *memory_connection(const char *cert, const char *key, int version, long long bytes,
                              SSL **server_out)
{
    SSL *client = SSL_new(client_ctx(version));
    SSL *server = SSL_new(server_ctx(cert, key, version));
    BIO *to_server = mem_bio(), *to_client = mem_bio();
    if (!client || !server || !BIO_up_ref(to_server) || !BIO_up_ref(to_client))
        die("SSL_new failed");
    SSL_set_bio(client, to_client, to_server);
    SSL_set_bio(server, to_server, to_client);
    SSL_set_connect_state(client);
    SSL_set_accept_state(server);
    /* Each side's error is read right after its call: the other side's
     * next write to the shared memory BIO clears its retry flags. */
    bool client_done = false, server_done = false;
    for (int round = 0; round < 20 && !(client_done && server_done); round++) {
        int c = SSL_do_handshake(client);
        if (c != 1 && SSL_get_error(client, c) != SSL_ERROR_WANT_READ)
            die("in-memory handshake failed (client)");
        int s = SSL_do_handshake(server);
        if (s != 1 && SSL_get_error(server, s) != SSL_ERROR_WANT_READ)
            die("in-memory handshake failed (server)");
        client_done = c == 1, server_done = s == 1;
    }
    if (!client_done || !server_done)
        die("in-memory handshake did not finish");
    static char record[16384];
    memset(record, 'x', sizeof record);
    for (long long left = bytes; left > 0; left -= (long long)sizeof record)
        tls_write_all(server, record, left < (long long)sizeof record ? (size_t)left : sizeof record);
    *server_out = server;
    return client;
}

int main(int argc, char **argv)
{
    prog_name = "bench/bulk";
    int port = 0, version = 0, len = 16384;
    bool ex = false, memory = false;
    const char *cert = NULL, *key = NULL;
    long long bytes = 0;
    for (int i = 1; i < argc; i++) {
        const char *v;
        if (strcmp(argv[i], "--memory") == 0)
            memory = true;
        else if ((v = option_value(argv[i], "--cert")))
            cert = v;
        else if ((v = option_value(argv[i], "--key")))
            key = v;
        else if ((v = option_value(argv[i], "--bytes")))
            bytes = parse_number("--bytes", v, 1, 1L << 34);
        else if ((v = option_value(argv[i], "--port")))
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
    if (memory ? !cert || !key || !bytes : !port)
        usage_error("--port, or --memory with --cert, --key and --bytes, is required");
    char *buf = malloc((size_t)len);
    if (!buf)
        die("out of memory");
    if (memory) {
        SSL *server;
        SSL *ssl = memory_connection(cert, key, version, bytes, &server);
        long long calls;
        int64_t t0 = now_ns(), c0 = cpu_ns();
        long long total = bench_read_loop(ssl, buf, len, ex, &calls);
        int64_t t1 = now_ns(), c1 = cpu_ns();
        if (total != bytes)
            die("read %lld bytes of %lld", total, bytes);
        ERR_clear_error();
        SSL_free(ssl);
        SSL_free(server);
        print_figures(total, calls, t1 - t0, c1 - c0);
        return 0;
    }
    SSL_CTX *ctx = client_ctx(version);
    int fd = connect_loopback(port);
    SSL *ssl = SSL_new(ctx);
    if (!ssl || SSL_set_fd(ssl, fd) != 1 || SSL_connect(ssl) != 1)
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

    print_figures(total, calls, t1 - t0, c1 - c0);
    return 0;
}
