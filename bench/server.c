/* server.c: the TLS (or plain) server the benchmarks talk to. It always
 * runs without the preload, except in the proxy comparison (bench/run.py,
 * item 5) where it is the program under tlsclose.
 *
 *   bench/server --cert=F --key=F [--tls1.2|--tls1.3|--plain]
 *                --mode=bulk|short [--bytes=N] [--end=shutdown|close]
 *                [--request=N] [--response=N]
 *
 * Prints {"port":N}, then serves connections one after the other until it
 * is killed. Each connection: read the request, "GET\n" and filler up to
 * --request bytes (default 4); then
 *   bulk   send --bytes bytes in 16 KiB records and end the connection;
 *   short  send a --response byte response (default 100), read until the
 *          client's end (its close_notify or EOF), then end the connection.
 * --end=shutdown ends with SSL_shutdown, close() and SSL_free(); --end=close
 * with close() and SSL_free() only (a sloppy server). --plain: no TLS (the
 * plain server behind stunnel). A failed connection is reported on stderr
 * and the server goes on with the next one.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "../tests/peer_util.h"
#include "bench_util.h"

#define RECORD 16384
#define MAX_MESSAGE 65536

struct options {
    const char *cert, *key;
    int version;
    bool plain, bulk, sloppy;
    long long bytes;
    size_t request, response;
};

static char chunk[MAX_MESSAGE];

/* --- one connection, either transport -------------------------------------- */

struct conn {
    int fd;
    SSL *ssl; /* NULL: plain */
};

static bool conn_write(struct conn *c, const void *buf, size_t len)
{
    if (c->ssl) {
        size_t done;
        return SSL_write_ex(c->ssl, buf, len, &done) == 1;
    }
    while (len) {
        ssize_t n = write(c->fd, buf, len);
        if (n <= 0)
            return false;
        buf = (const char *)buf + n;
        len -= (size_t)n;
    }
    return true;
}

/* Reads up to len bytes; 0 at the end of the stream (any kind), -1 on error. */
static long conn_read(struct conn *c, void *buf, size_t len)
{
    if (c->ssl) {
        size_t n;
        if (SSL_read_ex(c->ssl, buf, len, &n) == 1)
            return (long)n;
        int e = SSL_get_error(c->ssl, 0);
        return e == SSL_ERROR_ZERO_RETURN || e == SSL_ERROR_SYSCALL || e == SSL_ERROR_SSL ? 0 : -1;
    }
    ssize_t n = read(c->fd, buf, len);
    return n < 0 ? -1 : (long)n;
}

static bool read_request(struct conn *c, size_t len)
{
    static char req[MAX_MESSAGE];
    size_t got = 0;
    while (got < len) {
        long n = conn_read(c, req + got, len - got);
        if (n <= 0)
            return false;
        got += (size_t)n;
    }
    return memcmp(req, "GET\n", 4) == 0;
}

static bool serve(struct conn *c, const struct options *o)
{
    if (!read_request(c, o->request))
        return false;
    if (o->bulk) {
        for (long long left = o->bytes; left > 0; left -= RECORD)
            if (!conn_write(c, chunk, left < RECORD ? (size_t)left : RECORD))
                return false;
        return true;
    }
    if (!conn_write(c, chunk, o->response))
        return false;
    char sink[256];
    while (conn_read(c, sink, sizeof sink) > 0)
        ;
    return true;
}

static void end(struct conn *c, const struct options *o)
{
    if (c->ssl && !o->sloppy && SSL_shutdown(c->ssl) < 0)
        ERR_clear_error();
    close(c->fd);
    if (c->ssl)
        SSL_free(c->ssl);
    ERR_clear_error();
}

static void parse(int argc, char **argv, struct options *o)
{
    *o = (struct options){ .bytes = 1LL << 30, .request = 4, .response = 100 };
    bool mode_set = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        if ((v = option_value(a, "--cert")))
            o->cert = v;
        else if ((v = option_value(a, "--key")))
            o->key = v;
        else if (tls_version_option(a))
            o->version = tls_version_option(a);
        else if (strcmp(a, "--plain") == 0)
            o->plain = true;
        else if ((v = option_value(a, "--mode")) && (strcmp(v, "bulk") == 0 || strcmp(v, "short") == 0))
            o->bulk = strcmp(v, "bulk") == 0, mode_set = true;
        else if ((v = option_value(a, "--bytes")))
            o->bytes = parse_number("--bytes", v, 1, 1L << 40);
        else if ((v = option_value(a, "--request")))
            o->request = (size_t)parse_number("--request", v, 4, MAX_MESSAGE);
        else if ((v = option_value(a, "--response")))
            o->response = (size_t)parse_number("--response", v, 1, MAX_MESSAGE);
        else if ((v = option_value(a, "--end")) && (strcmp(v, "shutdown") == 0 || strcmp(v, "close") == 0))
            o->sloppy = strcmp(v, "close") == 0;
        else
            usage_error("unknown argument '%s'", a);
    }
    if (!mode_set)
        usage_error("--mode=bulk|short is required");
    if (!o->plain && (!o->cert || !o->key))
        usage_error("--cert and --key are required for TLS");
}

int main(int argc, char **argv)
{
    prog_name = "bench/server";
    struct options o;
    parse(argc, argv, &o);
    signal(SIGPIPE, SIG_IGN);
    memset(chunk, 'x', sizeof chunk);
    SSL_CTX *ctx = o.plain ? NULL : server_ctx(o.cert, o.key, o.version);

    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = loopback_addr(0);
    socklen_t alen = sizeof a;
    int one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&a, sizeof a) != 0 || listen(lfd, 128) != 0 ||
        getsockname(lfd, (struct sockaddr *)&a, &alen) != 0)
        die_errno("listen");
    if (!print_port(ntohs(a.sin_port)))
        die_errno("stdout");

    for (unsigned long n = 1;; n++) {
        int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            die_errno("accept");
        }
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        struct conn c = { .fd = fd };
        bool ok;
        if (ctx) {
            c.ssl = SSL_new(ctx);
            ok = c.ssl && SSL_set_fd(c.ssl, fd) == 1 && SSL_accept(c.ssl) == 1 && serve(&c, &o);
        } else {
            ok = serve(&c, &o);
        }
        if (!ok) {
            char text[256] = "";
            ERR_error_string_n(ERR_peek_error(), text, sizeof text);
            fprintf(stderr, "bench/server: connection %lu failed (errno %d, %s)\n", n, errno, text);
        }
        end(&c, &o);
    }
}
