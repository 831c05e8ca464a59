/* mux_peer.c: a strict TLS peer that holds many connections at once, for the
 * scale test of tlsclose (tests/scale.py).
 *
 *   mux_peer --count=N --cert=F --key=F [--tls1.2|--tls1.3] [--timeout=MS]
 *
 * tests/peer server --parallel forks one child per connection, which is far
 * too heavy for ten thousand live connections. This peer serves them all from
 * one process: non-blocking sockets, one epoll set, non-blocking OpenSSL
 * handshakes. Each connection gets the protocol of tests/peer server (mode
 * normal): handshake, the request line "hello\n" read, the response
 * "world\n" written, then the peer waits for the other side's end and reports
 * how it came, observed as tests/peer does (no read-ahead, so a close_notify
 * is seen alone and what follows it on the raw socket is counted).
 *
 * It raises its RLIMIT_NOFILE soft limit to the hard one; a hard limit too
 * low for N connections is a setup error.
 *
 * Output: {"port":P} on stdout once listening, then one JSON line per
 * connection as it ends, with the fields (and meanings) of tests/peer's:
 *
 *   {"role":"server","conn":7,"tls":"TLSv1.3","verdict":"close_notify",
 *    ["detail":"..."],"after":"fin","extra":0,"app_in":6,"app_in_after":0,
 *    "alerts":["warning:close notify"],["stage":"..."]}
 *
 * then, after the last one, {"summary":{"connections":N,"max_open":M}}:
 * max_open is the largest number of connections that had got their response
 * and had not ended yet, at any moment; N when the program under test kept
 * every connection live until the last one was established.
 *
 * --timeout (default 120000 ms) bounds the whole run: at the deadline every
 * connection not ended yet is reported with verdict "timeout" and the stage
 * it was in ("accept" for connections that never came), so that a program
 * that hangs makes verdicts, not a hung test.
 *
 * Exit status: 0 when every connection was reported (whatever the verdicts),
 * 1 for a setup error, 2 for a usage error; one line on stderr for both.
 */

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "../peer_observe.h"
#include "../peer_util.h"

#define MAX_COUNT 100000
#define DEFAULT_RUN_TIMEOUT_MS 120000
#define LISTEN_BACKLOG 4096 /* the kernel caps it at net.core.somaxconn */
#define SPARE_FDS 16        /* stdio, the listening socket, epoll */
#define EVENTS_PER_WAIT 256

static const char response_line[] = "world\n";

struct options {
    int count;
    int tls_version; /* 0: any */
    int timeout_ms;
    const char *cert_file;
    const char *key_file;
};

/* Where a connection is in the protocol; the stage of an early end. */
enum state { S_ACCEPT, S_HANDSHAKE, S_REQUEST, S_RESPONSE, S_END, S_AFTER, S_DONE };

static const char *const stage_names[] = {
    [S_ACCEPT] = "accept", [S_HANDSHAKE] = "handshake", [S_REQUEST] = "request",
    [S_RESPONSE] = "response", [S_END] = NULL, [S_AFTER] = NULL, [S_DONE] = NULL,
};

enum verdict_kind { V_CLOSE_NOTIFY, V_EOF, V_RESET, V_ALERT, V_ERROR, V_TIMEOUT };

static const char *const verdict_names[] = {
    [V_CLOSE_NOTIFY] = "close_notify", [V_EOF] = "eof",     [V_RESET] = "reset",
    [V_ALERT] = "alert",               [V_ERROR] = "error", [V_TIMEOUT] = "timeout",
};

/* Everything the peer learns about one connection: what OpenSSL shows (obs,
 * see tests/peer_observe.h) and the state of its exchange. */
struct mconn {
    int index; /* 1-based, in the order of acceptance */
    int fd;
    SSL *ssl;
    enum state state;
    uint32_t events; /* what the epoll set waits for on fd */
    const char *tls_version;
    struct observation obs;
    size_t response_sent;
    enum verdict_kind kind;
    char detail[256];
    const char *after;
    uint64_t extra;
};

static struct options opts;
static struct mconn *conns; /* opts.count of them */
static int epfd;
static int open_now, max_open; /* connections past their response, not ended */
static int ended;

/* ------------------------------------------------------------------------ */
/* Setup                                                                     */

static void parse_args(int argc, char **argv)
{
    opts = (struct options){ .count = 1, .timeout_ms = DEFAULT_RUN_TIMEOUT_MS };
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;

        if (strcmp(a, "--help") == 0) {
            printf("usage: mux_peer --count=N --cert=F --key=F [--tls1.2|--tls1.3]"
                   " [--timeout=MS]\n");
            exit(0);
        } else if ((v = option_value(a, "--count")) != NULL) {
            opts.count = (int)parse_number("--count", v, 1, MAX_COUNT);
        } else if ((v = option_value(a, "--timeout")) != NULL) {
            opts.timeout_ms = (int)parse_number("--timeout", v, 1, INT_MAX);
        } else if ((v = option_value(a, "--cert")) != NULL && *v != '\0') {
            opts.cert_file = v;
        } else if ((v = option_value(a, "--key")) != NULL && *v != '\0') {
            opts.key_file = v;
        } else if (strcmp(a, "--tls1.2") == 0 || strcmp(a, "--tls1.3") == 0) {
            int version = a[6] == '2' ? TLS1_2_VERSION : TLS1_3_VERSION;

            if (opts.tls_version != 0 && opts.tls_version != version)
                usage_error("--tls1.2 and --tls1.3 are mutually exclusive");
            opts.tls_version = version;
        } else {
            usage_error("unknown option '%s'", a);
        }
    }
    if (opts.cert_file == NULL || opts.key_file == NULL)
        usage_error("--cert and --key are required");
}

/* One descriptor per connection plus a few: the soft limit is raised to the
 * hard one, which only root could raise. */
static void raise_fd_limit(void)
{
    struct rlimit rl;
    rlim_t need = (rlim_t)opts.count + SPARE_FDS;

    if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
        die_errno("getrlimit RLIMIT_NOFILE");
    if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < need)
        die("RLIMIT_NOFILE hard limit %llu is below the %llu descriptors needed",
            (unsigned long long)rl.rlim_max, (unsigned long long)need);
    if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= need)
        return;
    rl.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
        die_errno("setrlimit RLIMIT_NOFILE");
}

static void die_ssl(const char *what) __attribute__((noreturn));

static void die_ssl(const char *what)
{
    unsigned long e = ERR_peek_error();
    char buf[256];

    if (e == 0)
        die("%s", what);
    ERR_error_string_n(e, buf, sizeof buf);
    die("%s: %s", what, buf);
}

static SSL_CTX *make_ctx(void)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

    if (ctx == NULL)
        die_ssl("SSL_CTX_new");
    if (opts.tls_version != 0 &&
        (!SSL_CTX_set_min_proto_version(ctx, opts.tls_version) ||
         !SSL_CTX_set_max_proto_version(ctx, opts.tls_version)))
        die_ssl("setting the TLS version");
    /* As tests/peer: one record at a time, so that what follows the
     * close_notify stays in the socket to be counted; a bare EOF is not
     * answered with an alert. */
    SSL_CTX_set_read_ahead(ctx, 0);
#ifdef SSL_OP_IGNORE_UNEXPECTED_EOF
    SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
#endif
    /* Ten thousand idle connections: no 34 KiB of buffers each. */
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    observe_callbacks(ctx);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    if (SSL_CTX_use_certificate_chain_file(ctx, opts.cert_file) != 1)
        die_ssl(opts.cert_file);
    if (SSL_CTX_use_PrivateKey_file(ctx, opts.key_file, SSL_FILETYPE_PEM) != 1)
        die_ssl(opts.key_file);
    if (SSL_CTX_check_private_key(ctx) != 1)
        die_ssl("certificate and key do not match");
    return ctx;
}

/* ------------------------------------------------------------------------ */
/* Verdicts                                                                  */

static void set_detail(struct mconn *c, const char *text)
{
    snprintf(c->detail, sizeof c->detail, "%s", text);
}

/* One line per connection, written whole (see tests/peer.c). */
static void print_verdict(const struct mconn *c)
{
    struct json j;

    json_begin(&j, stdout);
    json_str(&j, "role", "server");
    json_int(&j, "conn", c->index);
    json_str(&j, "tls", c->tls_version);
    json_str(&j, "verdict", verdict_names[c->kind]);
    if (c->kind == V_ALERT || c->kind == V_ERROR)
        json_str(&j, "detail", c->detail);
    json_str(&j, "after", c->after);
    json_int(&j, "extra", (int64_t)c->extra);
    json_int(&j, "app_in", (int64_t)c->obs.app_in);
    json_int(&j, "app_in_after", (int64_t)c->obs.app_in_after);
    observe_json_alerts(&j, &c->obs);
    if (stage_names[c->state] != NULL)
        json_str(&j, "stage", stage_names[c->state]);
    if (!json_end(&j))
        die_errno("writing a verdict");
}

/* The connection ended: report it and let it go. */
static void finish(struct mconn *c)
{
    if (c->state == S_END || c->state == S_AFTER)
        open_now--;
    print_verdict(c);
    SSL_free(c->ssl); /* sends nothing */
    c->ssl = NULL;
    close(c->fd);     /* also leaves the epoll set */
    c->fd = -1;
    c->state = S_DONE;
    ended++;
}

/* How the stream ended, from a failed OpenSSL call (tests/peer.c's
 * classify(), without its modes). */
static void classify(struct mconn *c, int ssl_error, int sys_errno, unsigned long err)
{
    char buf[256];
    int reason = ERR_GET_REASON(err);

    if (sys_errno == 0 && err != 0 && ERR_GET_LIB(err) == ERR_LIB_SYS)
        sys_errno = reason; /* 3.2+ queue failed socket calls */
    switch (ssl_error) {
    case SSL_ERROR_ZERO_RETURN:
        c->kind = c->obs.close_notify_seen ? V_CLOSE_NOTIFY : V_EOF;
        break;
    case SSL_ERROR_SYSCALL:
        if (sys_errno == 0) {
            c->kind = V_EOF;
        } else if (sys_errno == ECONNRESET) {
            c->kind = V_RESET;
        } else {
            c->kind = V_ERROR;
            set_detail(c, strerror(sys_errno));
        }
        break;
    case SSL_ERROR_SSL:
        if (observe_is_unexpected_eof(err)) {
            c->kind = V_EOF;
        } else if (err != 0 && ERR_GET_LIB(err) == ERR_LIB_SSL &&
                   reason >= SSL_AD_REASON_OFFSET && reason <= SSL_AD_REASON_OFFSET + 255) {
            c->kind = V_ALERT;
            set_detail(c, SSL_alert_desc_string_long(reason - SSL_AD_REASON_OFFSET));
            lowercase(c->detail);
        } else {
            c->kind = V_ERROR;
            ERR_error_string_n(err, buf, sizeof buf);
            set_detail(c, err != 0 ? buf : "SSL_ERROR_SSL with an empty error queue");
        }
        break;
    default:
        c->kind = V_ERROR;
        snprintf(buf, sizeof buf, "SSL_get_error() = %d", ssl_error);
        set_detail(c, buf);
        break;
    }
}

/* ------------------------------------------------------------------------ */
/* The connection's state machine                                            */

static void want(struct mconn *c, uint32_t events)
{
    struct epoll_event ev = { .events = events, .data.u32 = (uint32_t)c->index };

    if (c->events == events)
        return;
    if (epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev) < 0)
        die_errno("epoll_ctl MOD");
    c->events = events;
}

/* After the close_notify record: raw bytes until FIN or RST (a second
 * alert or any other record would be "extra"). False: wait for more. */
static bool observe_after(struct mconn *c)
{
    unsigned char buf[IO_CHUNK];

    for (;;) {
        ssize_t n = recv(c->fd, buf, sizeof buf, 0);

        if (n > 0) {
            c->extra += (uint64_t)n;
        } else if (n == 0) {
            c->after = "fin";
            return true;
        } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
            want(c, EPOLLIN);
            return false;
        } else if (errno != EINTR) {
            c->after = errno == ECONNRESET ? "reset" : "error";
            return true;
        }
    }
}

/* One OpenSSL step of the current state; > 0 when done. */
static int step(struct mconn *c)
{
    unsigned char buf[IO_CHUNK];
    size_t n = 0;
    int r;

    switch (c->state) {
    case S_HANDSHAKE:
        r = SSL_do_handshake(c->ssl);
        if (r == 1)
            c->tls_version = SSL_get_version(c->ssl); /* a static string */
        return r;
    case S_REQUEST:
    case S_END:
        r = SSL_read_ex(c->ssl, buf, sizeof buf, &n);
        if (r > 0)
            observe_app_bytes(&c->obs, buf, n);
        return r;
    case S_RESPONSE:
        r = SSL_write_ex(c->ssl, response_line + c->response_sent,
                         strlen(response_line) - c->response_sent, &n);
        c->response_sent += n;
        return r;
    case S_ACCEPT:
    case S_AFTER:
    case S_DONE:
        break;
    }
    return 0;
}

/* Runs the connection as far as it can go without waiting. */
static void advance(struct mconn *c)
{
    for (;;) {
        int r, e, sys_errno;
        unsigned long err;

        if (c->state == S_AFTER) {
            if (observe_after(c))
                finish(c);
            return;
        }
        ERR_clear_error(); /* SSL_get_error() must see this call's errors only */
        errno = 0;
        r = step(c);
        if (r > 0) {
            if (c->state == S_HANDSHAKE) {
                c->state = S_REQUEST;
            } else if (c->state == S_REQUEST && c->obs.got_line) {
                c->state = S_RESPONSE;
            } else if (c->state == S_RESPONSE) {
                c->state = S_END;
                if (++open_now > max_open)
                    max_open = open_now;
            }
            continue;
        }
        sys_errno = errno;
        e = SSL_get_error(c->ssl, r);
        err = ERR_peek_error();
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
            want(c, e == SSL_ERROR_WANT_READ ? EPOLLIN : EPOLLOUT);
            return;
        }
        classify(c, e, sys_errno, err);
        if (c->kind == V_CLOSE_NOTIFY && c->state == S_END) {
            c->extra = observe_buffered(&c->obs, c->ssl);
            c->state = S_AFTER;
            continue;
        }
        finish(c);
        return;
    }
}

/* ------------------------------------------------------------------------ */
/* The loop                                                                  */

static void accept_ready(int lfd, SSL_CTX *ctx, int *accepted)
{
    while (*accepted < opts.count) {
        int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        struct mconn *c;
        struct epoll_event ev;

        if (fd < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return;
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            die_errno("accept");
        }
        set_nodelay(fd);
        c = &conns[(*accepted)++];
        c->index = *accepted;
        c->fd = fd;
        c->ssl = SSL_new(ctx);
        if (c->ssl == NULL || !observe_attach(c->ssl, &c->obs) || !SSL_set_fd(c->ssl, fd))
            die_ssl("creating the SSL object");
        SSL_set_accept_state(c->ssl);
        c->state = S_HANDSHAKE;
        c->events = EPOLLIN;
        ev = (struct epoll_event){ .events = c->events, .data.u32 = (uint32_t)c->index };
        if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
            die_errno("epoll_ctl ADD");
        advance(c);
    }
}

/* The deadline passed: every connection still going is a timeout. */
static void time_out_the_rest(int accepted)
{
    for (int i = 0; i < opts.count; i++) {
        struct mconn *c = &conns[i];

        if (i >= accepted) {
            c->index = i + 1; /* state S_ACCEPT */
            c->kind = V_TIMEOUT;
            print_verdict(c);
            continue;
        }
        if (c->state == S_DONE)
            continue;
        c->kind = V_TIMEOUT;
        if (c->state == S_AFTER) {
            c->kind = V_CLOSE_NOTIFY;
            c->after = "timeout";
        }
        finish(c);
    }
}

static void print_summary(void)
{
    if (printf("{\"summary\":{\"connections\":%d,\"max_open\":%d}}\n", opts.count,
               max_open) < 0 || fflush(stdout) != 0)
        die_errno("writing the summary");
}

int main(int argc, char **argv)
{
    struct epoll_event events[EVENTS_PER_WAIT];
    struct deadline d;
    SSL_CTX *ctx;
    int port, lfd, accepted = 0;

    prog_name = "mux_peer";
    parse_args(argc, argv);
    /* Writes to a connection the other side reset must fail with EPIPE. */
    signal(SIGPIPE, SIG_IGN);
    raise_fd_limit();
    conns = calloc((size_t)opts.count, sizeof *conns);
    if (conns == NULL)
        die_errno("calloc");
    ctx = make_ctx();
    epfd = epoll_create1(EPOLL_CLOEXEC);
    if (epfd < 0)
        die_errno("epoll_create1");
    lfd = listen_loopback(LISTEN_BACKLOG, &port);
    {
        struct epoll_event ev = { .events = EPOLLIN, .data.u32 = 0 };

        if (epoll_ctl(epfd, EPOLL_CTL_ADD, lfd, &ev) < 0)
            die_errno("epoll_ctl ADD");
    }
    d = deadline_in(opts.timeout_ms);
    if (!print_port(port))
        die_errno("writing the port");
    while (ended < opts.count) {
        int n = epoll_wait(epfd, events, EVENTS_PER_WAIT, remaining_ms(&d));

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            die_errno("epoll_wait");
        if (n == 0) {
            time_out_the_rest(accepted);
            break;
        }
        for (int i = 0; i < n; i++) {
            uint32_t index = events[i].data.u32;

            if (index == 0) {
                accept_ready(lfd, ctx, &accepted);
                if (accepted == opts.count && lfd >= 0) {
                    close(lfd); /* every connection came */
                    lfd = -1;
                }
            } else if (conns[index - 1].state != S_DONE) {
                advance(&conns[index - 1]);
            }
        }
    }
    if (lfd >= 0)
        close(lfd);
    print_summary();
    close(epfd);
    SSL_CTX_free(ctx);
    free(conns);
    return 0;
}
