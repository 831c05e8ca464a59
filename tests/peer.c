/* peer.c: the strict TLS test peer of the tlsclose test suite.
 *
 * It runs WITHOUT the preload, on the other end of the connection of the
 * program under test, and reports exactly how that program ended the TLS
 * connection: with a close_notify alert (and what followed it on the raw
 * socket), with a bare TCP FIN, with a reset, with a fatal alert, or not at
 * all within the timeout.
 *
 *   peer gencert CERT.pem KEY.pem
 *   peer server [--count=N] [--cert=F --key=F]
 *               [--mode=normal|reset|reply|close|truncate|stall|hold] [--reply-wait=MS]
 *               [--response=N] [--http] [--content-length=N]
 *               [--alert-level=warning|fatal] [--data-after-close=N] [--ipv6]
 *               [--tls1.2|--tls1.3] [--timeout=MS]
 *               [--parallel [--total-timeout=MS]]
 *
 * Server modes, after the response: normal waits for the other side's end;
 * reset aborts the connection (RST); reply answers a close_notify at once;
 * close sends close_notify first (with --reply-wait=MS: reports in
 * "replied" whether the answer came within MS, then sends FIN); truncate
 * ends with a FIN and no close_notify and observes what the other side
 * writes afterwards; stall reads nothing more (the other side's send buffer
 * fills up) and reports in "after" how its side ended (verdict "stalled");
 * hold reads nothing more either, until told to go on: it takes commands, one
 * a line, on its standard input ("close": send close_notify now, still
 * reading nothing; "read", or the end of the input: read again and observe
 * the end as normal does), so that a test can make the program's send buffer
 * fill up, have the peer's close_notify arrive meanwhile, and then see
 * everything the program wrote (not with --parallel).
 * --http frames the response as HTTP/1.0 (close-delimited),
 * --content-length=N announces N bytes (more than --response makes a
 * truncation visible to HTTP clients). The client sends "hello\n", or with
 * --http an HTTP/1.0 GET request.
 *   peer client --port=N [--mode=normal|reply] [--http] [--tls1.2|--tls1.3] [--timeout=MS]
 *
 * Two more modes say how the peer ends when the other side ends first (its
 * close_notify, also one sent before any request): hangup closes at once
 * without answering (FIN; "after" stays null), abort resets the connection
 * (RST). --mode=A,B,... gives each connection its own mode: connection i
 * runs the i-th one, the last one repeats (tlsclose-probe's two connections
 * need different ones). Whenever the peer sends close_notify (close, reply),
 * --alert-level=fatal sends it at fatal level (tests/peer_forge.c; the
 * connection then uses AES-128-GCM) and --data-after-close=N writes N bytes
 * of application data after it (response pattern), which no TLS peer may do.
 * --ipv6 listens on ::1 instead of 127.0.0.1.
 *
 * Server --parallel serves connections concurrently: one child process per
 * accepted connection, which serves it exactly as without the option (same
 * protocol, same verdict line), while the parent goes on accepting until
 * --count connections were accepted, then waits for every child. The listen
 * backlog is 512 so that bursts of connections are not refused. Bounds:
 * --timeout applies per connection as without the option, and to the wait
 * for each next connection; the accept loop as a whole ends after
 * --total-timeout (default 60000 ms); a child still running 2 x --timeout +
 * 2 s after its start is killed. Verdict lines come in the order in which the
 * connections end; "conn" is the order of acceptance.
 *
 * The server prints {"port":N} first, then, like the client, one JSON line per
 * connection, fields in this order (the bracketed ones only when stated):
 *
 *   {"role":"server","conn":1,"tls":"TLSv1.3","verdict":"close_notify",
 *    ["detail":"..."],"after":"fin","extra":0,["partial_record":N],"app_in":6,
 *    "app_in_after":0,
 *    "alerts":["warning:close notify"],["replied":true],["write_error":"..."],
 *    "ms":12,["stage":"..."]}
 *
 *   verdict   close_notify | eof | reset | alert | error | timeout | reset_sent
 *   detail    only for alert (alert description) and error (reason text)
 *   after     close_notify only: what the raw socket delivered after the alert
 *             record: "fin", "reset", "timeout" (or "error"); null otherwise
 *   extra     close_notify only: raw bytes that followed the alert record
 *   partial_record  only when the stream ended (FIN or RST) inside a TLS
 *             record: the bytes of that incomplete last record that arrived
 *             (a record cut short on the wire, which no TLS stack writes)
 *   app_in    application bytes received in total
 *   app_in_after  application bytes received after the first line (the
 *             request for the server, the response for the client)
 *   alerts    every alert received, "level:description", lowercase
 *   replied   only with --mode=reply: whether our own close_notify went out;
 *             with --mode=close --reply-wait: whether the other side's
 *             close_notify arrived within the wait
 *   write_error  only when one of our writes (response, request, close_notify
 *             in --mode=close) failed because the other side was already
 *             gone; the observation goes on and the verdict still describes
 *             what arrived from the other side
 *   ms        from the response sent (server) / request sent (client) to the
 *             end of the stream; from the start of the connection when the
 *             connection ended earlier
 *   stage     only when the connection ended before the end was expected:
 *             "accept", "handshake", "request", "response", "close" or
 *             "hold" (--mode=hold: no "read" command before the timeout);
 *             "child" (--parallel, verdict error) when the child process
 *             serving the connection failed or hung and wrote no verdict;
 *             detail says how
 *
 * Every line goes out in one write(2) of less than PIPE_BUF bytes, so that
 * the lines of concurrent children never interleave on a pipe.
 *
 * Exit status: 0 when every connection was reported (whatever the verdicts),
 * 1 for a setup error (with --parallel also: in a child, which the parent
 * reports as that connection's verdict), 2 for a usage error; one line on
 * stderr for both.
 */

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "peer_forge.h"
#include "peer_observe.h"
#include "peer_util.h"

#define MAX_COUNT 100000
#define LISTEN_BACKLOG 4
#define PARALLEL_BACKLOG 512       /* --parallel: bursts of connections */
#define MAX_CHILDREN 1024          /* --parallel: children alive at once */
#define DEFAULT_TOTAL_TIMEOUT_MS 60000
#define CHILD_GRACE_MS 2000        /* beyond a child's own two deadlines */
#define CERT_VALID_DAYS 3653 /* ten years, leap days included */

static const char request_line[] = "hello\n";
/* peer client --http: what an HTTP/1.0 server answers and then closes. */
static const char http_request[] = "GET / HTTP/1.0\r\nHost: localhost\r\n\r\n";

/* ------------------------------------------------------------------------ */
/* Options                                                                   */

enum command { CMD_GENCERT, CMD_SERVER, CMD_CLIENT };
enum mode { MODE_NORMAL, MODE_RESET, MODE_REPLY, MODE_CLOSE, MODE_TRUNCATE, MODE_STALL,
            MODE_HANGUP, MODE_ABORT, MODE_HOLD };
#define MAX_MODES 8

struct options {
    enum command command;
    const char *gencert_cert; /* gencert: output files */
    const char *gencert_key;
    int port;                 /* client: port on 127.0.0.1 */
    int count;                /* server: connections to accept */
    int tls_version;          /* 0: any, else the only version allowed */
    int timeout_ms;
    enum mode mode;           /* of the connection being served */
    enum mode modes[MAX_MODES]; /* --mode=A,B,...: per connection */
    int n_modes;
    bool fatal_close_notify;  /* --alert-level=fatal */
    long data_after_close;    /* --data-after-close=N */
    bool ipv6;                /* server --ipv6: listen on ::1 */
    long response_len;        /* server: response body size */
    int reply_wait_ms;        /* server --mode=close: wait this long for the answer */
    bool http;                /* server: frame the response as HTTP/1.0 */
    long content_length;      /* server: announce this length (-1: none) */
    const char *cert_file;    /* server: NULL = in-memory certificate */
    const char *key_file;
    bool parallel;            /* server: one child process per connection */
    int total_timeout_ms;     /* server --parallel: bound of the accept loop */
};

static const char usage_text[] =
    "usage: peer gencert CERT KEY | peer server [--count=N] [--cert=F --key=F]"
    " [--mode=normal|reset|reply|close|truncate|stall|hold] [--response=N] [--http]"
    " [--content-length=N] [--reply-wait=MS] [--tls1.2|--tls1.3]"
    " [--mode=hangup|abort|MODE,MODE...] [--alert-level=warning|fatal]"
    " [--data-after-close=N] [--ipv6]"
    " [--timeout=MS] [--parallel [--total-timeout=MS]]"
    " | peer client --port=N [--mode=normal|reply] [--http]"
    " [--tls1.2|--tls1.3] [--timeout=MS]";

static enum mode parse_mode(const char *text)
{
    static const char *const names[] = {
        [MODE_NORMAL] = "normal",
        [MODE_RESET] = "reset",
        [MODE_REPLY] = "reply",
        [MODE_CLOSE] = "close",
        [MODE_TRUNCATE] = "truncate",
        [MODE_STALL] = "stall",
        [MODE_HANGUP] = "hangup",
        [MODE_ABORT] = "abort",
        [MODE_HOLD] = "hold",
    };

    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(text, names[i]) == 0)
            return (enum mode)i;
    usage_error("unknown mode '%s'", text);
}

static void set_tls_version(struct options *o, int version)
{
    if (o->tls_version != 0 && o->tls_version != version)
        usage_error("--tls1.2 and --tls1.3 are mutually exclusive");
    o->tls_version = version;
}

/* --mode=A,B,...: the list of per-connection modes. */
static void parse_modes(struct options *o, const char *text)
{
    char buf[256];
    char *save = NULL;

    if (strlen(text) >= sizeof buf)
        usage_error("--mode list too long");
    strcpy(buf, text);
    o->n_modes = 0;
    for (char *m = strtok_r(buf, ",", &save); m != NULL; m = strtok_r(NULL, ",", &save)) {
        if (o->n_modes == MAX_MODES)
            usage_error("at most %d modes", MAX_MODES);
        o->modes[o->n_modes++] = parse_mode(m);
    }
    if (o->n_modes == 0)
        usage_error("--mode needs a value");
    o->mode = o->modes[0];
}

static bool uses_mode(const struct options *o, enum mode m)
{
    for (int i = 0; i < o->n_modes; i++)
        if (o->modes[i] == m)
            return true;
    return false;
}

/* Parses one "--..." option; the role checks come later in check_options(). */
static void parse_option(struct options *o, const char *arg)
{
    const char *v;

    if (strcmp(arg, "--tls1.2") == 0)
        set_tls_version(o, TLS1_2_VERSION);
    else if (strcmp(arg, "--tls1.3") == 0)
        set_tls_version(o, TLS1_3_VERSION);
    else if ((v = option_value(arg, "--timeout")) != NULL)
        o->timeout_ms = (int)parse_number("--timeout", v, 1, INT_MAX);
    else if ((v = option_value(arg, "--mode")) != NULL)
        parse_modes(o, v);
    else if ((v = option_value(arg, "--alert-level")) != NULL) {
        if (strcmp(v, "fatal") != 0 && strcmp(v, "warning") != 0)
            usage_error("--alert-level must be warning or fatal, got '%s'", v);
        o->fatal_close_notify = strcmp(v, "fatal") == 0;
    } else if ((v = option_value(arg, "--data-after-close")) != NULL)
        o->data_after_close = parse_number("--data-after-close", v, 0, MAX_RESPONSE_LEN);
    else if (strcmp(arg, "--ipv6") == 0)
        o->ipv6 = true;
    else if ((v = option_value(arg, "--response")) != NULL)
        o->response_len = parse_number("--response", v, 0, MAX_RESPONSE_LEN);
    else if ((v = option_value(arg, "--reply-wait")) != NULL)
        o->reply_wait_ms = (int)parse_number("--reply-wait", v, 1, INT_MAX);
    else if (strcmp(arg, "--http") == 0)
        o->http = true;
    else if ((v = option_value(arg, "--content-length")) != NULL) {
        o->content_length = parse_number("--content-length", v, 0, MAX_RESPONSE_LEN);
        o->http = true;
    } else if (strcmp(arg, "--parallel") == 0)
        o->parallel = true;
    else if ((v = option_value(arg, "--total-timeout")) != NULL)
        o->total_timeout_ms = (int)parse_number("--total-timeout", v, 1, INT_MAX);
    else if ((v = option_value(arg, "--count")) != NULL)
        o->count = (int)parse_number("--count", v, 1, MAX_COUNT);
    else if ((v = option_value(arg, "--port")) != NULL)
        o->port = (int)parse_number("--port", v, 1, 65535);
    else if ((v = option_value(arg, "--cert")) != NULL && *v != '\0')
        o->cert_file = v;
    else if ((v = option_value(arg, "--key")) != NULL && *v != '\0')
        o->key_file = v;
    else
        usage_error("unknown option '%s'", arg);
}

/* Rejects options that make no sense for the command, so that a typo in a
 * test script fails loudly instead of silently testing something else. */
static void check_options(const struct options *o, int argc, char **argv)
{
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        bool server_only = option_value(a, "--count") || option_value(a, "--cert") ||
                           option_value(a, "--key") || option_value(a, "--response") ||
                           option_value(a, "--reply-wait") ||
                           option_value(a, "--content-length") ||
                           strcmp(a, "--parallel") == 0 || option_value(a, "--total-timeout");
        bool client_only = option_value(a, "--port") != NULL;

        if ((server_only && o->command != CMD_SERVER) ||
            (client_only && o->command != CMD_CLIENT))
            usage_error("option '%s' is not valid here", a);
    }
    if (o->command == CMD_CLIENT) {
        if (o->port == 0)
            usage_error("client needs --port=N");
        if (o->n_modes != 1 || (o->mode != MODE_NORMAL && o->mode != MODE_REPLY))
            usage_error("client supports --mode=normal and --mode=reply only");
    }
    if (o->command == CMD_SERVER && (o->cert_file == NULL) != (o->key_file == NULL))
        usage_error("--cert and --key go together");
    if (o->reply_wait_ms && !uses_mode(o, MODE_CLOSE))
        usage_error("--reply-wait goes with --mode=close");
    if (o->total_timeout_ms && !o->parallel)
        usage_error("--total-timeout goes with --parallel");
    if (o->parallel && uses_mode(o, MODE_HOLD))
        usage_error("--mode=hold reads its commands from stdin: not with --parallel");
}

static void parse_args(struct options *o, int argc, char **argv)
{
    *o = (struct options){
        .count = 1,
        .timeout_ms = DEFAULT_TIMEOUT_MS,
        .mode = MODE_NORMAL,
        .modes = { MODE_NORMAL },
        .n_modes = 1,
        .response_len = DEFAULT_RESPONSE_LEN,
        .content_length = -1,
    };
    if (argc < 2)
        usage_error("missing command");
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        printf("%s\n", usage_text);
        exit(0);
    }
    if (strcmp(argv[1], "gencert") == 0) {
        if (argc != 4 || argv[2][0] == '-' || argv[3][0] == '-')
            usage_error("gencert takes exactly two file names");
        o->command = CMD_GENCERT;
        o->gencert_cert = argv[2];
        o->gencert_key = argv[3];
        return;
    }
    if (strcmp(argv[1], "server") == 0)
        o->command = CMD_SERVER;
    else if (strcmp(argv[1], "client") == 0)
        o->command = CMD_CLIENT;
    else
        usage_error("unknown command '%s'", argv[1]);
    for (int i = 2; i < argc; i++)
        parse_option(o, argv[i]);
    check_options(o, argc, argv);
}

/* ------------------------------------------------------------------------ */
/* Setup errors                                                              */

static void die_ssl(const char *what) __attribute__((noreturn));

/* die() with the first queued OpenSSL error, if any. */
static void die_ssl(const char *what)
{
    unsigned long e = ERR_peek_error();
    char buf[256];

    if (e == 0)
        die("%s", what);
    ERR_error_string_n(e, buf, sizeof buf);
    die("%s: %s", what, buf);
}

/* ------------------------------------------------------------------------ */
/* Sockets                                                                   */

/* Connects to 127.0.0.1:port before the deadline; any failure is a setup
 * error because there is no TLS connection to observe. */
static int connect_bounded(int port, const struct deadline *d)
{
    struct sockaddr_in sa = loopback_addr(port);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    int err = 0;
    socklen_t len = sizeof err;

    if (fd < 0)
        die_errno("socket");
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        if (errno != EINPROGRESS)
            die_errno("connect");
        int r = wait_fd(fd, POLLOUT, d);
        if (r == 0)
            errno = ETIMEDOUT;
        if (r <= 0)
            die_errno("connect");
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
            die_errno("getsockopt SO_ERROR");
        if (err != 0) {
            errno = err;
            die_errno("connect");
        }
    }
    set_nodelay(fd);
    return fd;
}

/* ------------------------------------------------------------------------ */
/* Certificates                                                              */

static EVP_PKEY *make_p256_key(void)
{
    EVP_PKEY_CTX *pctx = EVP_PKEY_CTX_new_id(EVP_PKEY_EC, NULL);
    EVP_PKEY *key = NULL;

    if (pctx == NULL || EVP_PKEY_keygen_init(pctx) <= 0 ||
        EVP_PKEY_CTX_set_ec_paramgen_curve_nid(pctx, NID_X9_62_prime256v1) <= 0 ||
        EVP_PKEY_CTX_set_ec_param_enc(pctx, OPENSSL_EC_NAMED_CURVE) <= 0 ||
        EVP_PKEY_keygen(pctx, &key) <= 0)
        die_ssl("generating a P-256 key");
    EVP_PKEY_CTX_free(pctx);
    return key;
}

static void add_extension(X509 *cert, int nid, const char *value)
{
    X509V3_CTX v3;
    X509_EXTENSION *ext;

    X509V3_set_ctx(&v3, cert, cert, NULL, NULL, 0);
    ext = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
    if (ext == NULL || !X509_add_ext(cert, ext, -1))
        die_ssl("adding a certificate extension");
    X509_EXTENSION_free(ext);
}

/* A self-signed certificate for "localhost" / 127.0.0.1. It is marked as a
 * CA with keyCertSign so that sample clients that verify against the same
 * file as trust anchor also pass OpenSSL's strict (X509_STRICT) checks. */
static X509 *make_self_signed_cert(EVP_PKEY *key)
{
    X509 *cert = X509_new();
    X509_NAME *name = X509_NAME_new();
    BIGNUM *serial = BN_new();

    if (cert == NULL || name == NULL || serial == NULL ||
        !X509_set_version(cert, 2) ||
        !BN_rand(serial, 64, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ODD) ||
        BN_to_ASN1_INTEGER(serial, X509_get_serialNumber(cert)) == NULL ||
        !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                    (const unsigned char *)"localhost", -1, -1, 0) ||
        !X509_set_subject_name(cert, name) || !X509_set_issuer_name(cert, name) ||
        X509_gmtime_adj(X509_getm_notBefore(cert), 0) == NULL ||
        X509_time_adj_ex(X509_getm_notAfter(cert), CERT_VALID_DAYS, 0, NULL) == NULL ||
        !X509_set_pubkey(cert, key))
        die_ssl("building the certificate");
    add_extension(cert, NID_basic_constraints, "critical,CA:TRUE");
    add_extension(cert, NID_key_usage, "critical,digitalSignature,keyCertSign");
    add_extension(cert, NID_subject_key_identifier, "hash");
    add_extension(cert, NID_authority_key_identifier, "keyid:always");
    add_extension(cert, NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1");
    if (X509_sign(cert, key, EVP_sha256()) <= 0)
        die_ssl("signing the certificate");
    BN_free(serial);
    X509_NAME_free(name);
    return cert;
}

/* Opens path for writing with exactly `mode`, also when it already exists
 * (a stale key file must not keep wider permissions). */
static FILE *create_file(const char *path, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    FILE *f;

    if (fd < 0 || fchmod(fd, mode) < 0 || (f = fdopen(fd, "w")) == NULL)
        die_errno(path);
    return f;
}

static void close_file(FILE *f, const char *path)
{
    if (fclose(f) != 0)
        die_errno(path);
}

/* Unencrypted PKCS#8 key (0600) and PEM certificate (0644 minus umask):
 * readable by samples built against OpenSSL 1.1.1 as well. */
static int run_gencert(const struct options *o)
{
    EVP_PKEY *key = make_p256_key();
    X509 *cert = make_self_signed_cert(key);
    FILE *f;

    f = create_file(o->gencert_key, 0600);
    if (!PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL))
        die_ssl("writing the key");
    close_file(f, o->gencert_key);
    f = create_file(o->gencert_cert, 0644);
    if (!PEM_write_X509(f, cert))
        die_ssl("writing the certificate");
    close_file(f, o->gencert_cert);
    X509_free(cert);
    EVP_PKEY_free(key);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Per-connection observation                                                */

/* Everything the peer learns about one connection: what OpenSSL shows
 * (obs, see peer_observe.h) and the negotiated version. */
struct conn {
    int fd;
    SSL *ssl;
    const char *tls_version;       /* NULL until the handshake completed */
    struct observation obs;
};

static void conn_open(struct conn *c, SSL_CTX *ctx, int fd, bool server)
{
    *c = (struct conn){ .fd = fd };
    c->ssl = SSL_new(ctx);
    /* SSL_set_fd gives a plain socket BIO (BIO_NOCLOSE): no buffering BIO in
     * between, so the raw socket is exactly what OpenSSL has not consumed. */
    if (c->ssl == NULL || !observe_attach(c->ssl, &c->obs) || !SSL_set_fd(c->ssl, fd))
        die_ssl("creating the SSL object");
    if (server) {
        SSL_set_accept_state(c->ssl);
    } else {
        SSL_set_connect_state(c->ssl);
        (void)SSL_set_tlsext_host_name(c->ssl, "localhost");
    }
}

static void conn_close(struct conn *c)
{
    SSL_free(c->ssl); /* sends nothing */
    c->ssl = NULL;
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
}

/* ------------------------------------------------------------------------ */
/* Bounded OpenSSL I/O on a non-blocking socket                              */

/* Why an OpenSSL call did not complete, captured right after the call. */
struct tls_failure {
    bool timed_out;
    int ssl_error;       /* SSL_get_error() */
    int sys_errno;       /* errno right after the call */
    unsigned long err;   /* first (oldest) queued OpenSSL error, 0 if none */
};

/* One OpenSSL call: > 0 when done, otherwise a value for SSL_get_error(). */
typedef int (*tls_step)(SSL *ssl, void *arg);

struct io_in {
    void *data;
    size_t len;
    size_t done;
};

struct io_out {
    const void *data;
    size_t len;
    size_t done;
};

static int step_handshake(SSL *ssl, void *arg)
{
    (void)arg;
    return SSL_do_handshake(ssl);
}

static int step_read(SSL *ssl, void *arg)
{
    struct io_in *b = arg;

    return SSL_read_ex(ssl, b->data, b->len, &b->done);
}

static int step_write(SSL *ssl, void *arg)
{
    struct io_out *b = arg;

    return SSL_write_ex(ssl, b->data, b->len, &b->done);
}

/* Sends our close_notify once; 0 ("sent, peer's not yet received") counts as
 * done: the peer never waits for the other side's alert in SSL_shutdown. */
static int step_shutdown(SSL *ssl, void *arg)
{
    int r = SSL_shutdown(ssl);

    (void)arg;
    return r >= 0 ? 1 : r;
}

/* Runs `step` until it completes, fails or the deadline passes. The socket is
 * non-blocking, so waiting happens only here, in poll(), never in OpenSSL: a
 * record that arrives in pieces cannot block us past the deadline. */
static bool tls_run(struct conn *c, tls_step step, void *arg,
                    const struct deadline *d, struct tls_failure *f)
{
    for (;;) {
        int ret, e, r;
        short events;

        ERR_clear_error(); /* SSL_get_error() must see this call's errors only */
        errno = 0;
        ret = step(c->ssl, arg);
        if (ret > 0)
            return true;
        *f = (struct tls_failure){ .sys_errno = errno };
        e = SSL_get_error(c->ssl, ret);
        f->ssl_error = e;
        f->err = ERR_peek_error();
        events = e == SSL_ERROR_WANT_READ ? POLLIN : e == SSL_ERROR_WANT_WRITE ? POLLOUT : 0;
        if (events == 0)
            return false;
        r = wait_fd(c->fd, events, d);
        if (r == 0)
            f->timed_out = true;
        if (r < 0) {
            f->ssl_error = SSL_ERROR_SYSCALL;
            f->sys_errno = errno;
        }
        if (r <= 0)
            return false;
    }
}

static bool tls_handshake(struct conn *c, const struct deadline *d, struct tls_failure *f)
{
    if (!tls_run(c, step_handshake, NULL, d, f))
        return false;
    c->tls_version = SSL_get_version(c->ssl); /* a static string */
    return true;
}

static bool tls_write_all(struct conn *c, const void *data, size_t len,
                          const struct deadline *d, struct tls_failure *f)
{
    struct io_out b = { data, len, 0 };

    /* Without SSL_MODE_ENABLE_PARTIAL_WRITE, success means all was written. */
    return len == 0 || tls_run(c, step_write, &b, d, f);
}

/* Reads application data, counting it, until a whole line has arrived (when
 * until_line) or until the stream ends; false means it ended, see *f. */
static bool tls_read_app(struct conn *c, bool until_line, const struct deadline *d,
                         struct tls_failure *f)
{
    unsigned char buf[IO_CHUNK];

    while (!(until_line && c->obs.got_line)) {
        struct io_in b = { buf, sizeof buf, 0 };

        if (!tls_run(c, step_read, &b, d, f))
            return false;
        observe_app_bytes(&c->obs, buf, b.done);
    }
    return true;
}

struct response_sink {
    struct conn *c;
    const struct deadline *d;
    struct tls_failure *f;
};

/* A response_writer. */
static bool write_to_conn(void *arg, const void *data, size_t len)
{
    struct response_sink *s = arg;

    return tls_write_all(s->c, data, len, s->d, s->f);
}

/* The server's response (see write_response()), after an HTTP/1.0 head with
 * --http. */
static bool send_response(struct conn *c, const struct options *o, const struct deadline *d,
                          struct tls_failure *f)
{
    struct response_sink s = { c, d, f };

    if (o->http) {
        /* For HTTP clients (curl, Python): a Content-Length longer than the
         * body makes a truncation visible to them; without one the body is
         * close-delimited and only close_notify tells the end is real. */
        char head[160];
        int n = o->content_length >= 0
                    ? snprintf(head, sizeof head,
                               "HTTP/1.0 200 OK\r\nContent-Length: %ld\r\n"
                               "Connection: close\r\n\r\n", o->content_length)
                    : snprintf(head, sizeof head, "HTTP/1.0 200 OK\r\nConnection: close\r\n\r\n");
        if (!write_to_conn(&s, head, (size_t)n))
            return false;
    }
    return write_response(o->response_len, write_to_conn, &s);
}

/* Aborts the TCP connection: SO_LINGER {1, 0} turns close() into a RST. */
static void abort_connection(struct conn *c)
{
    struct linger lg = { .l_onoff = 1, .l_linger = 0 };

    if (setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg) < 0)
        die_errno("setsockopt SO_LINGER");
    conn_close(c);
}

/* Writes a forged record straight to the socket, bounded like tls_run(). */
static bool raw_write_all(struct conn *c, const unsigned char *p, size_t len,
                          const struct deadline *d, struct tls_failure *f)
{
    while (len > 0) {
        ssize_t n = send(c->fd, p, len, MSG_NOSIGNAL);
        int r;

        if (n > 0) {
            p += n;
            len -= (size_t)n;
            continue;
        }
        *f = (struct tls_failure){ .ssl_error = SSL_ERROR_SYSCALL, .sys_errno = errno };
        if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
            return false;
        r = wait_fd(c->fd, POLLOUT, d);
        f->timed_out = r == 0;
        if (r <= 0)
            return false;
    }
    return true;
}

/* Sends our close_notify: the warning-level one of SSL_shutdown, or with
 * --alert-level=fatal OpenSSL's record rewritten at fatal level; then
 * --data-after-close bytes of application data, which OpenSSL refuses to
 * write after close_notify unless its "sent" flag is cleared for a moment. */
static bool send_close_notify(struct conn *c, const struct options *o,
                              const struct deadline *d, struct tls_failure *f)
{
    struct response_sink s = { c, d, f };
    unsigned char record[FORGED_RECORD_MAX];
    const char *why = NULL;
    size_t n;
    bool ok;
    int flags;

    if (o->fatal_close_notify) {
        n = forge_close_notify(c->ssl, SSL3_AL_FATAL, record, &why);
        if (n == 0)
            die("cannot send a fatal close_notify: %s", why);
        ok = raw_write_all(c, record, n, d, f);
    } else {
        ok = tls_run(c, step_shutdown, NULL, d, f);
    }
    if (!ok || o->data_after_close == 0)
        return ok;
    flags = SSL_get_shutdown(c->ssl);
    SSL_set_shutdown(c->ssl, flags & ~SSL_SENT_SHUTDOWN);
    ok = write_response(o->data_after_close, write_to_conn, &s);
    SSL_set_shutdown(c->ssl, flags);
    return ok;
}

/* ------------------------------------------------------------------------ */
/* Verdicts                                                                  */

enum verdict_kind { V_CLOSE_NOTIFY, V_EOF, V_RESET, V_ALERT, V_ERROR, V_TIMEOUT, V_RESET_SENT, V_STALLED };

static const char *const verdict_names[] = {
    [V_CLOSE_NOTIFY] = "close_notify", [V_EOF] = "eof",         [V_RESET] = "reset",
    [V_ALERT] = "alert",               [V_ERROR] = "error",     [V_TIMEOUT] = "timeout",
    [V_RESET_SENT] = "reset_sent", [V_STALLED] = "stalled",
};

struct verdict {
    enum verdict_kind kind;
    char detail[256];    /* V_ALERT, V_ERROR */
    const char *after;   /* V_CLOSE_NOTIFY: "fin", "reset", ...; else NULL */
    uint64_t extra;      /* V_CLOSE_NOTIFY: raw bytes after the alert record */
    uint64_t partial;    /* the stream ended inside a record: its bytes that came */
    bool replied;        /* --mode=reply: our close_notify went out; --mode=close
                          * --reply-wait: theirs arrived within the wait */
    bool waited_reply;   /* --mode=close --reply-wait */
    char write_error[128]; /* our response/request/close_notify failed */
    bool reset_consumed; /* that write reported the RST; reads now see EOF */
    int64_t ms;
    const char *stage;   /* NULL when the stream ended where expected */
};

/* Details are quoted as OpenSSL or libc wrote them, except alert names. */
static void set_detail(struct verdict *v, const char *text)
{
    snprintf(v->detail, sizeof v->detail, "%s", text);
}

/* OpenSSL reports a received fatal alert as an SSL-library error whose reason
 * is SSL_AD_REASON_OFFSET + the alert description; returns it, or -1. */
static int received_alert(unsigned long err)
{
    int reason = ERR_GET_REASON(err);

    if (err == 0 || ERR_GET_LIB(err) != ERR_LIB_SSL || reason < SSL_AD_REASON_OFFSET ||
        reason > SSL_AD_REASON_OFFSET + 255)
        return -1;
    return reason - SSL_AD_REASON_OFFSET;
}

static void classify_syscall(int sys_errno, struct verdict *v)
{
    if (sys_errno == 0) {
        v->kind = V_EOF; /* 1.1.1-style EOF: SSL_ERROR_SYSCALL, errno 0 */
    } else if (sys_errno == ECONNRESET) {
        v->kind = V_RESET;
    } else {
        v->kind = V_ERROR;
        set_detail(v, strerror(sys_errno));
    }
}

static void classify_ssl_error(unsigned long err, struct verdict *v)
{
    char buf[256];
    int alert = received_alert(err);

    if (observe_is_unexpected_eof(err)) {
        v->kind = V_EOF;
    } else if (alert >= 0) {
        v->kind = V_ALERT;
        set_detail(v, SSL_alert_desc_string_long(alert));
        lowercase(v->detail); /* as in the "alerts" array */
    } else if (err != 0) {
        v->kind = V_ERROR;
        ERR_error_string_n(err, buf, sizeof buf);
        set_detail(v, buf);
    } else {
        v->kind = V_ERROR;
        set_detail(v, "SSL_ERROR_SSL with an empty error queue");
    }
}

/* Maps how the stream ended to a verdict. The contexts set
 * SSL_OP_IGNORE_UNEXPECTED_EOF, so on 3.x a bare FIN is SSL_ERROR_ZERO_RETURN
 * like a close_notify; the info callback tells the two apart. The other EOF
 * forms are kept for builds against OpenSSL 1.1.1. */
static void classify(const struct conn *c, const struct tls_failure *f, struct verdict *v)
{
    char buf[64];
    int sys_errno = f->sys_errno;

    /* 3.2+ also queue failed socket calls as ERR_LIB_SYS errors. */
    if (sys_errno == 0 && f->err != 0 && ERR_GET_LIB(f->err) == ERR_LIB_SYS)
        sys_errno = ERR_GET_REASON(f->err);
    if (f->timed_out) {
        v->kind = V_TIMEOUT;
        return;
    }
    switch (f->ssl_error) {
    case SSL_ERROR_ZERO_RETURN:
        v->kind = c->obs.close_notify_seen ? V_CLOSE_NOTIFY : V_EOF;
        break;
    case SSL_ERROR_SYSCALL:
        classify_syscall(sys_errno, v);
        break;
    case SSL_ERROR_SSL:
        classify_ssl_error(f->err, v);
        break;
    default:
        v->kind = V_ERROR;
        snprintf(buf, sizeof buf, "SSL_get_error() = %d", f->ssl_error);
        set_detail(v, buf);
        break;
    }
    if (v->kind == V_EOF && v->reset_consumed)
        v->kind = V_RESET;
}

/* After the close_notify record: what else does the socket deliver before
 * FIN, RST or the deadline? A second alert or any other record shows up as
 * "extra" bytes; we do not decrypt them. */
static void observe_after_close_notify(struct conn *c, const struct deadline *d,
                                       struct verdict *v)
{
    unsigned char buf[IO_CHUNK];

    v->extra = observe_buffered(&c->obs, c->ssl);
    for (;;) {
        int r = wait_fd(c->fd, POLLIN, d);
        ssize_t n;

        if (r <= 0) {
            v->after = r == 0 ? "timeout" : "error";
            return;
        }
        n = recv(c->fd, buf, sizeof buf, 0);
        if (n > 0) {
            v->extra += (uint64_t)n;
        } else if (n == 0) {
            v->after = v->reset_consumed ? "reset" : "fin";
            return;
        } else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
            v->after = errno == ECONNRESET ? "reset" : "error";
            return;
        }
    }
}

/* One of our own writes failed. If the socket said why (EPIPE, ECONNRESET:
 * the other side is gone), the SSL object is still usable for reading and
 * what the other side sent before going away is still queued: note the
 * failure and go on observing, so that the verdict always describes what
 * arrived, not how fast we were. Returns false when the observation must end
 * here instead (timeout, or an OpenSSL error that poisons the connection). */
static bool note_write_failure(const struct tls_failure *f, struct verdict *v)
{
    /* errno, not SSL_get_error(), is the truthful signal here: once a
     * close_notify was received, a failed write is reported as ZERO_RETURN. */
    if (f->timed_out || f->ssl_error == SSL_ERROR_SSL || f->sys_errno == 0)
        return false;
    snprintf(v->write_error, sizeof v->write_error, "%s", strerror(f->sys_errno));
    /* Linux reports a received RST once: to this write as ECONNRESET (as
     * EPIPE when a FIN came first). Later reads return the queued data and
     * then 0, which must not be mistaken for a FIN. */
    v->reset_consumed = f->sys_errno == ECONNRESET;
    return true;
}

/* The stream ended (f): classify, then finish a close_notify observation. */
static void conclude(struct conn *c, const struct options *o, const struct tls_failure *f,
                     int64_t since_ms, const struct deadline *d, struct verdict *v)
{
    struct tls_failure reply_failure;

    classify(c, f, v);
    v->ms = now_ms() - since_ms;
    if (v->kind == V_EOF || v->kind == V_RESET)
        v->partial = observe_partial_record(&c->obs, c->ssl);
    if (v->kind != V_CLOSE_NOTIFY)
        return;
    if (o->mode == MODE_REPLY) {
        v->replied = send_close_notify(c, o, d, &reply_failure);
        if (!v->replied)
            (void)note_write_failure(&reply_failure, v); /* may consume a RST */
    }
    if (o->mode == MODE_HANGUP || o->mode == MODE_ABORT)
        return; /* the connection ends at once (serve_connection) */
    observe_after_close_notify(c, d, v);
}

/* ------------------------------------------------------------------------ */
/* JSON output                                                               */

/* Writes one whole line to stdout with a single write(2). With --parallel
 * every child writes to the same pipe, and a write of at most PIPE_BUF bytes
 * to a pipe is atomic: lines never interleave. A verdict line stays far
 * below that (fixed fields, detail < 256 and write_error < 128 characters,
 * at most MAX_ALERTS alerts), so the check below only guards against a
 * mistake in this file. Write errors are ignored, as the flush of the line
 * always was: the test script reading the lines went away. */
static void write_line(const char *line, size_t len)
{
    if (len >= PIPE_BUF)
        die("a verdict line of %zu bytes would not be written atomically", len);
    while (len > 0) {
        ssize_t n = write(STDOUT_FILENO, line, len);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return;
        line += n; /* only on a regular file or a terminal */
        len -= (size_t)n;
    }
}

static void print_verdict(const struct options *o, int index, const struct conn *c,
                          const struct verdict *v)
{
    struct json j;
    char *line = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&line, &len);

    if (out == NULL)
        die_errno("open_memstream");
    json_begin(&j, out);
    json_str(&j, "role", o->command == CMD_SERVER ? "server" : "client");
    json_int(&j, "conn", index);
    json_str(&j, "tls", c->tls_version);
    json_str(&j, "verdict", verdict_names[v->kind]);
    if (v->kind == V_ALERT || v->kind == V_ERROR)
        json_str(&j, "detail", v->detail);
    json_str(&j, "after", v->after);
    json_int(&j, "extra", (int64_t)v->extra);
    if (v->partial != 0)
        json_int(&j, "partial_record", (int64_t)v->partial);
    json_int(&j, "app_in", (int64_t)c->obs.app_in);
    json_int(&j, "app_in_after", (int64_t)c->obs.app_in_after);
    observe_json_alerts(&j, &c->obs);
    if (o->mode == MODE_REPLY || v->waited_reply)
        json_bool(&j, "replied", v->replied);
    if (v->write_error[0] != '\0')
        json_str(&j, "write_error", v->write_error);
    json_int(&j, "ms", v->ms);
    if (v->stage != NULL)
        json_str(&j, "stage", v->stage);
    if (!json_end(&j) || fclose(out) != 0)
        die_errno("formatting a verdict line");
    write_line(line, len);
    free(line);
}

/* ------------------------------------------------------------------------ */
/* TLS contexts                                                              */

static SSL_CTX *make_ctx(const struct options *o, bool server)
{
    SSL_CTX *ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());

    if (ctx == NULL)
        die_ssl("SSL_CTX_new");
    if (o->tls_version != 0 &&
        (!SSL_CTX_set_min_proto_version(ctx, o->tls_version) ||
         !SSL_CTX_set_max_proto_version(ctx, o->tls_version)))
        die_ssl("setting the TLS version");
    /* No read-ahead: OpenSSL then reads exactly one record at a time and
     * stops right after the close_notify, leaving what follows in the socket
     * for observe_after_close_notify(). */
    SSL_CTX_set_read_ahead(ctx, 0);
#ifdef SSL_OP_IGNORE_UNEXPECTED_EOF
    /* Without it, OpenSSL 3 answers a bare EOF by writing a fatal
     * decode_error alert, which a half-closed program under test would see:
     * the peer must not send anything the test did not ask for. */
    SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
#endif
    observe_callbacks(ctx);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    if (o->fatal_close_notify && !forge_prepare_ctx(ctx))
        die_ssl("preparing to send a fatal close_notify");
    return ctx;
}

static void load_server_identity(SSL_CTX *ctx, const struct options *o)
{
    EVP_PKEY *key;
    X509 *cert;

    if (o->cert_file != NULL) {
        if (SSL_CTX_use_certificate_chain_file(ctx, o->cert_file) != 1)
            die_ssl(o->cert_file);
        if (SSL_CTX_use_PrivateKey_file(ctx, o->key_file, SSL_FILETYPE_PEM) != 1)
            die_ssl(o->key_file);
    } else {
        key = make_p256_key();
        cert = make_self_signed_cert(key);
        if (SSL_CTX_use_certificate(ctx, cert) != 1 || SSL_CTX_use_PrivateKey(ctx, key) != 1)
            die_ssl("using the generated certificate");
        X509_free(cert);
        EVP_PKEY_free(key);
    }
    if (SSL_CTX_check_private_key(ctx) != 1)
        die_ssl("certificate and key do not match");
}

/* ------------------------------------------------------------------------ */
/* Server                                                                    */

/* Handshake, request line, response. False: the stream ended in between;
 * v->stage says where and *f how. */
static bool server_exchange(struct conn *c, const struct options *o,
                            const struct deadline *d, struct tls_failure *f,
                            struct verdict *v)
{
    v->stage = "handshake";
    if (!tls_handshake(c, d, f))
        return false;
    v->stage = "request";
    if (!tls_read_app(c, true, d, f))
        return false;
    v->stage = "response";
    if (!send_response(c, o, d, f) && !note_write_failure(f, v))
        return false;
    v->stage = NULL;
    return true;
}

/* After the response: the part of the connection the test is about. */
static void server_observe_end(struct conn *c, const struct options *o,
                               const struct deadline *d, struct tls_failure *f,
                               struct verdict *v)
{
    if (o->mode == MODE_TRUNCATE) {
        /* A FIN without close_notify: the truncation the program must not
         * take for a complete response. What the program then writes (an
         * alert, a close_notify, nothing) is what is observed. */
        if (shutdown(c->fd, SHUT_WR) < 0)
            die_errno("shutdown");
    }
    if (o->mode == MODE_CLOSE && !send_close_notify(c, o, d, f) &&
        !note_write_failure(f, v)) {
        v->stage = "close";
        return;
    }
    if (o->mode == MODE_CLOSE && o->reply_wait_ms) {
        /* Does the program answer our close_notify at once (RFC 5246
         * §7.2.1)? Only what arrives within the wait counts; then our FIN
         * lets a program that waits for it go. */
        struct deadline w = deadline_in(o->reply_wait_ms);
        struct tls_failure wf;

        v->waited_reply = true;
        if (!tls_read_app(c, false, &w, &wf) && !wf.timed_out && c->obs.close_notify_seen) {
            v->replied = true;
            *f = wf;
            (void)shutdown(c->fd, SHUT_WR);
            return;
        }
        (void)shutdown(c->fd, SHUT_WR);
        if (!wf.timed_out) {
            *f = wf;
            return;
        }
    }
    (void)tls_read_app(c, false, d, f); /* returns at the end only */
}

/* --mode=stall: read nothing more, so that the program's send buffer fills
 * up, and report how its side of the TCP connection ended, seen without
 * reading: "fin" (POLLRDHUP), "reset" (POLLERR) or "timeout". */
static const char *wait_hangup(int fd, const struct deadline *d)
{
    for (;;) {
        struct pollfd p = { .fd = fd, .events = POLLRDHUP };
        int r = poll(&p, 1, remaining_ms(d));

        if (r == 0)
            return "timeout";
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 || (p.revents & POLLERR))
            return "reset";
        if (p.revents & (POLLRDHUP | POLLHUP))
            return "fin";
    }
}

/* --mode=hold: one command line from stdin before the deadline, in buf
 * (without its newline); false at the end of the input, true with an empty
 * buf at the deadline. Read a byte at a time: nothing after the line is
 * consumed, so the next connection's commands stay in the pipe. */
static bool read_command(char *buf, size_t size, const struct deadline *d)
{
    size_t len = 0;

    buf[0] = '\0';
    for (;;) {
        char ch;
        ssize_t n;
        int r = wait_fd(STDIN_FILENO, POLLIN, d);

        if (r == 0) {
            buf[0] = '\0';
            return true;
        }
        if (r < 0)
            die_errno("poll stdin");
        n = read(STDIN_FILENO, &ch, 1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            die_errno("read stdin");
        if (n == 0)
            return len > 0;
        if (ch == '\n')
            return true;
        if (len + 1 < size) {
            buf[len++] = ch;
            buf[len] = '\0';
        }
    }
}

/* --mode=hold: read nothing until the "read" command (or the end of stdin);
 * "close" sends our close_notify meanwhile. False when the observation must
 * end here (*f, v->stage say why). */
static bool hold(struct conn *c, const struct options *o, const struct deadline *d,
                 struct tls_failure *f, struct verdict *v)
{
    char cmd[32];

    while (read_command(cmd, sizeof cmd, d)) {
        if (cmd[0] == '\0') {
            *f = (struct tls_failure){ .timed_out = true };
            v->stage = "hold";
            return false;
        }
        if (strcmp(cmd, "read") == 0)
            break;
        if (strcmp(cmd, "close") != 0)
            die("--mode=hold: unknown command '%s' (close or read)", cmd);
        if (!send_close_notify(c, o, d, f) && !note_write_failure(f, v)) {
            v->stage = "close";
            return false;
        }
    }
    return true;
}

/* Runs one connection; the fd belongs to it from here on. */
static void serve_connection(const struct options *all, SSL_CTX *ctx, int fd, int index)
{
    struct options each = *all;
    const struct options *o = &each;
    struct conn c;
    struct verdict v = { 0 };
    struct tls_failure f;
    int64_t since = now_ms();
    struct deadline d = deadline_in(o->timeout_ms);

    each.mode = all->modes[(index < all->n_modes ? index : all->n_modes) - 1];
    conn_open(&c, ctx, fd, true);
    if (server_exchange(&c, o, &d, &f, &v)) {
        /* The end of the connection is what the test is about: its own,
         * full timeout starts when the response has been written. */
        since = now_ms();
        d = deadline_in(o->timeout_ms);
        if (o->mode == MODE_STALL) {
            v.kind = V_STALLED;
            v.after = wait_hangup(c.fd, &d);
            v.ms = now_ms() - since;
            print_verdict(o, index, &c, &v);
            conn_close(&c);
            return;
        }
        if (o->mode == MODE_HOLD && !hold(&c, o, &d, &f, &v)) {
            conclude(&c, o, &f, since, &d, &v);
            print_verdict(o, index, &c, &v);
            conn_close(&c);
            return;
        }
        if (o->mode == MODE_HOLD)
            d = deadline_in(o->timeout_ms); /* reading the end has its own */
        if (o->mode == MODE_RESET) {
            abort_connection(&c);
            v.kind = V_RESET_SENT;
            v.ms = now_ms() - since;
            print_verdict(o, index, &c, &v);
            return;
        }
        server_observe_end(&c, o, &d, &f, &v);
    }
    conclude(&c, o, &f, since, &d, &v);
    print_verdict(o, index, &c, &v);
    if (o->mode == MODE_ABORT)
        abort_connection(&c);
    else
        conn_close(&c);
}

/* No connection came: report it as this connection's verdict. */
/* How long to wait for the next connection: --timeout, but never less than
 * ACCEPT_MIN_MS. A short --timeout is about how a connection ends (--mode=
 * stall); the program's start-up before it connects (under valgrind, on a
 * loaded machine: seconds) is not. */
#define ACCEPT_MIN_MS 20000
static int accept_wait_ms(const struct options *o)
{
    return o->timeout_ms > ACCEPT_MIN_MS ? o->timeout_ms : ACCEPT_MIN_MS;
}

static void report_accept_timeout(const struct options *o, int index, int64_t since)
{
    struct conn c = { .fd = -1 };
    struct verdict v = { .kind = V_TIMEOUT, .stage = "accept" };

    v.ms = now_ms() - since;
    print_verdict(o, index, &c, &v);
}

/* ------------------------------------------------------------------------ */
/* Server --parallel: one child process per connection                       */

struct child {
    pid_t pid;
    int index;        /* the connection it serves */
    int64_t start_ms; /* when it was forked */
};

struct children {
    struct child list[MAX_CHILDREN];
    size_t n;
    bool failed;      /* a child failed or hung: the exit status says so */
    sigset_t sigchld; /* blocked in the parent, waited for with sigtimedwait */
};

/* A child serves its connection within its two deadlines (exchange, then
 * end of the connection); beyond that and a grace period it hangs. */
static int64_t child_limit_ms(const struct options *o)
{
    return 2 * (int64_t)o->timeout_ms + CHILD_GRACE_MS;
}

/* The child wrote no verdict: report one for it, so that every connection
 * still has exactly one line. */
static void report_child_failure(const struct options *o, const struct child *ch,
                                 const char *detail)
{
    struct conn c = { .fd = -1 };
    struct verdict v = { .kind = V_ERROR, .stage = "child" };

    set_detail(&v, detail);
    v.ms = now_ms() - ch->start_ms;
    print_verdict(o, ch->index, &c, &v);
}

/* Forgets the child at position i; status is how it ended (waitpid). */
static void child_ended(struct children *chs, const struct options *o, size_t i, int status)
{
    struct child ch = chs->list[i];
    char detail[96];

    chs->list[i] = chs->list[--chs->n];
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return; /* it wrote its verdict */
    if (WIFEXITED(status))
        snprintf(detail, sizeof detail, "peer child exited with status %d without a verdict",
                 WEXITSTATUS(status));
    else
        snprintf(detail, sizeof detail, "peer child killed by signal %d without a verdict",
                 WIFSIGNALED(status) ? WTERMSIG(status) : 0);
    report_child_failure(o, &ch, detail);
    chs->failed = true;
}

/* Reaps every child that has exited, without blocking. */
static void reap_exited(struct children *chs, const struct options *o)
{
    for (;;) {
        int status;
        pid_t pid = waitpid(-1, &status, WNOHANG);

        if (pid == 0 || (pid < 0 && errno == ECHILD))
            return;
        if (pid < 0) {
            if (errno == EINTR)
                continue;
            die_errno("waitpid");
        }
        for (size_t i = 0; i < chs->n; i++) {
            if (chs->list[i].pid == pid) {
                child_ended(chs, o, i, status);
                break;
            }
        }
    }
}

/* Reaps children until at most `keep` are left (true) or the deadline
 * passes (false). SIGCHLD is blocked: one that arrives between the reaping
 * and the wait stays pending and ends the wait at once. */
static bool reap_until(struct children *chs, const struct options *o, size_t keep,
                       const struct deadline *d)
{
    for (;;) {
        int left;
        struct timespec ts;

        reap_exited(chs, o);
        if (chs->n <= keep)
            return true;
        left = remaining_ms(d);
        if (left == 0)
            return false;
        ts = (struct timespec){ .tv_sec = left / 1000, .tv_nsec = (long)(left % 1000) * 1000000 };
        if (sigtimedwait(&chs->sigchld, NULL, &ts) < 0 && errno != EAGAIN && errno != EINTR)
            die_errno("sigtimedwait");
    }
}

/* Kills and reports every child that outlived its bound. */
static void kill_overdue(struct children *chs, const struct options *o)
{
    int64_t now = now_ms();
    size_t i = 0;

    while (i < chs->n) {
        struct child ch = chs->list[i];
        char detail[96];
        int status;

        if (now - ch.start_ms < child_limit_ms(o)) {
            i++;
            continue;
        }
        (void)kill(ch.pid, SIGKILL);
        while (waitpid(ch.pid, &status, 0) < 0 && errno == EINTR)
            ;
        chs->list[i] = chs->list[--chs->n];
        snprintf(detail, sizeof detail, "peer child killed after %lld ms without a verdict",
                 (long long)(now - ch.start_ms));
        report_child_failure(o, &ch, detail);
        chs->failed = true;
    }
}

/* Waits until at most `keep` children are left. Bounded: every child ends
 * within child_limit_ms() of its start or is killed then. */
static void wait_children(struct children *chs, const struct options *o, size_t keep)
{
    while (chs->n > keep) {
        int64_t oldest = chs->list[0].start_ms;
        struct deadline d;

        for (size_t i = 1; i < chs->n; i++)
            if (chs->list[i].start_ms < oldest)
                oldest = chs->list[i].start_ms;
        d.at_ms = oldest + child_limit_ms(o);
        if (!reap_until(chs, o, keep, &d))
            kill_overdue(chs, o);
    }
}

/* Hands the accepted connection fd (number index) to a new child. */
static void fork_child(struct children *chs, const struct options *o, SSL_CTX *ctx,
                       int lfd, int fd, int index, const sigset_t *child_mask)
{
    pid_t pid;

    if (chs->n == MAX_CHILDREN)
        wait_children(chs, o, MAX_CHILDREN - 1);
    while ((pid = fork()) < 0) {
        /* Out of processes (RLIMIT_NPROC): wait for one of ours to end. */
        if (errno != EAGAIN || chs->n == 0)
            die_errno("fork");
        wait_children(chs, o, chs->n - 1);
    }
    if (pid == 0) {
        /* The connection is this process's alone; the listening socket and
         * the other connections are the parent's business. */
        if (sigprocmask(SIG_SETMASK, child_mask, NULL) < 0)
            die_errno("sigprocmask");
        close(lfd);
        serve_connection(o, ctx, fd, index);
        _exit(0); /* the verdict went out with write(2): no stdio to flush */
    }
    close(fd); /* else the connection would outlive the child */
    chs->list[chs->n++] = (struct child){ pid, index, now_ms() };
}

/* The accept loop of --parallel: each wait for the next connection is
 * bounded by --timeout, the loop as a whole by --total-timeout. */
static int serve_parallel(const struct options *o, SSL_CTX *ctx, int lfd)
{
    struct children *chs = calloc(1, sizeof *chs);
    int total_ms = o->total_timeout_ms ? o->total_timeout_ms : DEFAULT_TOTAL_TIMEOUT_MS;
    struct deadline total = deadline_in(total_ms);
    sigset_t old_mask;
    bool failed;

    if (chs == NULL)
        die_errno("calloc");
    sigemptyset(&chs->sigchld);
    sigaddset(&chs->sigchld, SIGCHLD);
    if (sigprocmask(SIG_BLOCK, &chs->sigchld, &old_mask) < 0)
        die_errno("sigprocmask");
    for (int i = 1; i <= o->count; i++) {
        int64_t since = now_ms();
        int left = remaining_ms(&total);
        int wait = accept_wait_ms(o);
        struct deadline d = deadline_in(left < wait ? left : wait);
        int fd;

        reap_exited(chs, o); /* no zombies piling up */
        fd = left > 0 ? accept_bounded(lfd, &d) : -1;
        if (fd < 0) {
            report_accept_timeout(o, i, since);
            break;
        }
        fork_child(chs, o, ctx, lfd, fd, i, &old_mask);
    }
    close(lfd);
    wait_children(chs, o, 0);
    failed = chs->failed;
    free(chs);
    if (sigprocmask(SIG_SETMASK, &old_mask, NULL) < 0)
        die_errno("sigprocmask");
    return failed ? EXIT_SETUP : 0;
}

/* listen_loopback() on ::1 (--ipv6). */
static int listen_loopback6(int backlog, int *port)
{
    struct sockaddr_in6 sa = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT };
    socklen_t len = sizeof sa;
    int fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

    if (fd < 0)
        die_errno("socket");
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0)
        die_errno("bind [::1]:0");
    if (listen(fd, backlog) < 0)
        die_errno("listen");
    if (getsockname(fd, (struct sockaddr *)&sa, &len) < 0)
        die_errno("getsockname");
    *port = ntohs(sa.sin6_port);
    return fd;
}

static int run_server(const struct options *o)
{
    SSL_CTX *ctx = make_ctx(o, true);
    int port;
    int lfd;

    load_server_identity(ctx, o);
    lfd = (o->ipv6 ? listen_loopback6 : listen_loopback)(
        o->parallel ? PARALLEL_BACKLOG : LISTEN_BACKLOG, &port);
    (void)print_port(port);
    if (o->parallel) {
        int status = serve_parallel(o, ctx, lfd);

        SSL_CTX_free(ctx);
        return status;
    }
    for (int i = 1; i <= o->count; i++) {
        int64_t since = now_ms();
        struct deadline d = deadline_in(accept_wait_ms(o));
        int fd = accept_bounded(lfd, &d);

        if (fd < 0) {
            /* Later connections would only time out one by one as well. */
            report_accept_timeout(o, i, since);
            break;
        }
        serve_connection(o, ctx, fd, i);
    }
    close(lfd);
    SSL_CTX_free(ctx);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Client                                                                    */

static int run_client(const struct options *o)
{
    SSL_CTX *ctx = make_ctx(o, false);
    int64_t since = now_ms();
    struct deadline d = deadline_in(o->timeout_ms);
    struct conn c;
    struct verdict v = { 0 };
    struct tls_failure f;

    conn_open(&c, ctx, connect_bounded(o->port, &d), false);
    v.stage = "handshake";
    if (tls_handshake(&c, &d, &f)) {
        v.stage = "request";
        const char *req = o->http ? http_request : request_line;

        if (tls_write_all(&c, req, strlen(req), &d, &f) ||
            note_write_failure(&f, &v)) {
            v.stage = NULL;
            since = now_ms();
            d = deadline_in(o->timeout_ms);
            (void)tls_read_app(&c, false, &d, &f); /* returns at the end only */
        }
    }
    conclude(&c, o, &f, since, &d, &v);
    print_verdict(o, 1, &c, &v);
    conn_close(&c);
    SSL_CTX_free(ctx);
    return 0;
}

/* ------------------------------------------------------------------------ */

int main(int argc, char **argv)
{
    struct options o;

    prog_name = "peer";
    parse_args(&o, argc, argv);
    /* Writes to a connection the other side reset must fail with EPIPE, not
     * kill the peer: OpenSSL writes with plain write(). */
    signal(SIGPIPE, SIG_IGN);
    switch (o.command) {
    case CMD_GENCERT:
        return run_gencert(&o);
    case CMD_SERVER:
        return run_server(&o);
    case CMD_CLIENT:
        return run_client(&o);
    }
    return EXIT_USAGE;
}
