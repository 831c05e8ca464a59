/* gnutls_peer.c: a TLS server written with GnuTLS that ends its stream with a
 * close_notify alert at the level of our choice, and then watches what the
 * OpenSSL program under test does.
 *
 * Why GnuTLS: OpenSSL's API can only send close_notify at warning level
 * (SSL_shutdown); a fatal-level close_notify, which OpenSSL reports as a fatal
 * error with reason 1000 in TLS 1.2 (doc/design.md, OpenSSL versions) and which
 * the shim turns into a clean end of stream, needs a peer built on another
 * library. gnutls_alert_send() writes any level/description pair as given.
 *
 *   gnutls_peer server --cert=CERT.pem --key=KEY.pem [--tls1.2|--tls1.3]
 *                      [--alert=fatal|warning|none] [--response=N]
 *                      [--timeout=MS]
 *
 *   --tls1.2 | --tls1.3  GnuTLS's default priorities restricted to exactly
 *                        this version; TLS 1.2 by default
 *   --alert      closure alert sent after the response: close_notify at fatal
 *                level (default) or at warning level (the normal, control
 *                case), or none (the stream ends with a bare TCP FIN)
 *   --response   response size: 6 (default) sends "world\n", any other N
 *                sends N-1 'x' and '\n' (0: nothing)
 *   --timeout    bound of every wait, in ms (default 10000): once for
 *                everything up to our alert, once more for the observation
 *
 * One connection on 127.0.0.1 (ephemeral port): handshake as server, read
 * the request until a '\n' ("hello\n"), send the response, send the closure
 * alert, shut our side down with shutdown(SHUT_WR), then observe the client
 * until its side of the TCP connection ends or the timeout expires. While
 * GnuTLS can still decode what the client sends (a warning-level alert leaves
 * the session usable, and so does sending any alert ourselves), the client's
 * records go through gnutls_record_recv(); after a fatal alert, a close_notify
 * or any fatal GnuTLS error the rest is read from the raw socket and only
 * counted.
 *
 * Output on stdout: first {"port":N} (flushed as soon as the socket listens),
 * then exactly one line, fields in this order:
 *
 *   {"role":"gnutls_server","tls":"TLS1.2","sent_alert":"fatal",
 *    "verdict":"fin","client_bytes_after":0,"client_alert":null,"app_in":6,
 *    "ms":3,"client_alert_level":null}
 *
 *   role        always "gnutls_server"
 *   tls         negotiated version as GnuTLS names it: "TLS1.2" or "TLS1.3"
 *   sent_alert  what we sent after the response: "fatal", "warning", "none"
 *   verdict     what ended the observation: "fin" (recv returned 0: the
 *               client closed or shut down its side), "reset" (ECONNRESET),
 *               "timeout" (neither within --timeout ms)
 *   client_bytes_after  raw TCP bytes received from the client after our
 *               alert was written (with --alert=none: after the response),
 *               whether GnuTLS could decode them or not
 *   client_alert  first alert the client sent after ours, as decoded by
 *               GnuTLS, in lowercase TLS spelling ("close_notify",
 *               "decode_error", ...; "alert_N" for a number GnuTLS does not
 *               know); null when none was decoded (nothing sent, or sent after
 *               decoding had stopped; see client_bytes_after)
 *   app_in      application data bytes received in total, request included
 *   ms          from our alert (or the end of the response) to the end of the
 *               observation
 *   client_alert_level  GnuTLS's classification of client_alert: "warning"
 *               or "fatal" (TLS 1.3: every alert but close_notify is fatal
 *               whatever its wire level); null with client_alert null. Last so
 *               that the fields above keep the documented order
 *
 * Everything before our alert is a precondition of the observation, not a
 * result: a client that does not connect, fails the handshake, closes before
 * a full request line or stops reading the response is a setup error.
 *
 * Exit status: 0 when the result line was printed, 1 for a setup error, 2 for
 * a usage error; one line on stderr for both.
 */

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

#include <gnutls/gnutls.h>

#include "peer_util.h"

#define PROG "gnutls_peer"

#define LISTEN_BACKLOG 1

/* ------------------------------------------------------------------------ */
/* Options                                                                   */

enum alert_choice { ALERT_FATAL, ALERT_WARNING, ALERT_NONE };

static const char *const alert_choice_names[] = {
    [ALERT_FATAL] = "fatal",
    [ALERT_WARNING] = "warning",
    [ALERT_NONE] = "none",
};

struct options {
    const char *cert_file;
    const char *key_file;
    const char *version_priority; /* appended to GnuTLS's default priorities */
    enum alert_choice alert;
    long response_len;
    int timeout_ms;
};

static const char usage_text[] =
    "usage: " PROG " server --cert=CERT.pem --key=KEY.pem [--tls1.2|--tls1.3]"
    " [--alert=fatal|warning|none] [--response=N] [--timeout=MS]";

static enum alert_choice parse_alert(const char *text)
{
    for (size_t i = 0; i < sizeof alert_choice_names / sizeof alert_choice_names[0]; i++)
        if (strcmp(text, alert_choice_names[i]) == 0)
            return (enum alert_choice)i;
    usage_error("--alert must be fatal, warning or none, got '%s'", text);
}

/* "-VERS-ALL:+VERS-..." keeps everything else of the default priorities
 * (suites, groups, signature algorithms) so that the handshake looks like
 * the one of an ordinary GnuTLS server. */
static void set_version(struct options *o, const char *priority)
{
    if (o->version_priority != NULL && strcmp(o->version_priority, priority) != 0)
        usage_error("--tls1.2 and --tls1.3 are mutually exclusive");
    o->version_priority = priority;
}

static void parse_option(struct options *o, const char *arg)
{
    const char *v;

    if (strcmp(arg, "--tls1.2") == 0)
        set_version(o, "-VERS-ALL:+VERS-TLS1.2");
    else if (strcmp(arg, "--tls1.3") == 0)
        set_version(o, "-VERS-ALL:+VERS-TLS1.3");
    else if ((v = option_value(arg, "--alert")) != NULL)
        o->alert = parse_alert(v);
    else if ((v = option_value(arg, "--response")) != NULL)
        o->response_len = parse_number("--response", v, 0, MAX_RESPONSE_LEN);
    else if ((v = option_value(arg, "--timeout")) != NULL)
        o->timeout_ms = (int)parse_number("--timeout", v, 1, INT_MAX);
    else if ((v = option_value(arg, "--cert")) != NULL && *v != '\0')
        o->cert_file = v;
    else if ((v = option_value(arg, "--key")) != NULL && *v != '\0')
        o->key_file = v;
    else
        usage_error("unknown option '%s'", arg);
}

static void parse_args(struct options *o, int argc, char **argv)
{
    *o = (struct options){
        .alert = ALERT_FATAL,
        .response_len = DEFAULT_RESPONSE_LEN,
        .timeout_ms = DEFAULT_TIMEOUT_MS,
    };
    if (argc < 2)
        usage_error("missing command");
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        printf("%s\n", usage_text);
        exit(0);
    }
    if (strcmp(argv[1], "server") != 0)
        usage_error("unknown command '%s'", argv[1]);
    for (int i = 2; i < argc; i++)
        parse_option(o, argv[i]);
    if (o->cert_file == NULL || o->key_file == NULL)
        usage_error("server needs --cert=FILE and --key=FILE");
    if (o->version_priority == NULL)
        set_version(o, "-VERS-ALL:+VERS-TLS1.2");
}

/* ------------------------------------------------------------------------ */
/* Counting transport                                                        */

enum stream_end { END_NONE, END_FIN, END_RESET, END_ERROR };

/* GnuTLS reads and writes through these callbacks instead of the fd, so that
 * (1) every byte the client sends after our alert is counted whether or not
 * GnuTLS can still decode it, and (2) a FIN and a reset are told apart
 * exactly (GnuTLS folds both into fatal error codes). */
struct transport {
    int fd;
    gnutls_session_t session;
    bool counting;        /* set once our alert is out */
    uint64_t bytes_after; /* raw bytes received while counting */
    enum stream_end end;  /* how the client's side ended, if it did */
    int last_errno;       /* last hard send()/recv() error (END_ERROR, messages) */
};

/* One recv() that keeps the bookkeeping; errno is left as recv() set it. */
static ssize_t transport_recv(struct transport *t, void *buf, size_t len)
{
    ssize_t n;

    do
        n = recv(t->fd, buf, len, 0);
    while (n < 0 && errno == EINTR);
    if (n > 0) {
        if (t->counting)
            t->bytes_after += (uint64_t)n;
    } else if (n == 0) {
        t->end = END_FIN;
    } else if (errno != EAGAIN && errno != EWOULDBLOCK) {
        t->last_errno = errno;
        t->end = errno == ECONNRESET ? END_RESET : END_ERROR;
    }
    return n;
}

static ssize_t pull_cb(gnutls_transport_ptr_t ptr, void *buf, size_t len)
{
    struct transport *t = ptr;
    ssize_t n = transport_recv(t, buf, len);

    if (n < 0)
        gnutls_transport_set_errno(t->session, errno);
    return n;
}

/* MSG_NOSIGNAL: a write to a client that is gone (or after our own
 * SHUT_WR) must fail with EPIPE instead of killing the peer before it
 * reports; SIGPIPE is ignored as well, for stdout. */
static ssize_t push_cb(gnutls_transport_ptr_t ptr, const void *buf, size_t len)
{
    struct transport *t = ptr;
    ssize_t n;

    do
        n = send(t->fd, buf, len, MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
        t->last_errno = errno;
    if (n < 0)
        gnutls_transport_set_errno(t->session, errno);
    return n;
}

/* Required with a custom pull function: GnuTLS's default one would treat
 * the transport pointer as an fd. It never waits (a 0 ms poll) because the
 * session is non-blocking and all waiting happens in wait_fd() against our
 * own deadline. */
static int pull_timeout_cb(gnutls_transport_ptr_t ptr, unsigned int ms)
{
    struct transport *t = ptr;
    struct pollfd p = { .fd = t->fd, .events = POLLIN };
    int r;

    (void)ms;
    do
        r = poll(&p, 1, 0);
    while (r < 0 && errno == EINTR);
    if (r < 0)
        gnutls_transport_set_errno(t->session, errno);
    return r;
}

/* ------------------------------------------------------------------------ */
/* TLS                                                                       */

struct peer {
    gnutls_certificate_credentials_t cred;
    gnutls_session_t session;
    struct transport tr;
    uint64_t app_in;
};

static void die_tls(const struct peer *p, const char *stage, int err)
    __attribute__((noreturn));

/* Adds the client's alert or the socket error behind a GnuTLS error code:
 * that is what someone reading a failed test needs to know. */
static void die_tls(const struct peer *p, const char *stage, int err)
{
    if (err == GNUTLS_E_FATAL_ALERT_RECEIVED || err == GNUTLS_E_WARNING_ALERT_RECEIVED) {
        const char *name = gnutls_alert_get_name(gnutls_alert_get(p->session));

        die("%s: %s (%s)", stage, gnutls_strerror(err), name ? name : "unknown alert");
    }
    if (p->tr.last_errno != 0)
        die("%s: %s (%s)", stage, gnutls_strerror(err), strerror(p->tr.last_errno));
    if (p->tr.end == END_FIN)
        die("%s: %s (the client closed the connection)", stage, gnutls_strerror(err));
    die("%s: %s", stage, gnutls_strerror(err));
}

static bool is_retry(ssize_t r)
{
    return r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED;
}

/* wait_fd() where a failing poll() is a setup error. Returns true when
 * ready, false at the deadline. */
static bool wait_ready(int fd, short events, const struct deadline *d)
{
    int r = wait_fd(fd, events, d);

    if (r < 0)
        die_errno("poll");
    return r > 0;
}

/* After GNUTLS_E_AGAIN: waits until the socket allows progress in the
 * direction GnuTLS was blocked on. Returns false at the deadline. */
static bool wait_tls(const struct peer *p, const struct deadline *d)
{
    short events = gnutls_record_get_direction(p->session) ? POLLOUT : POLLIN;

    return wait_ready(p->tr.fd, events, d);
}

static void load_credentials(struct peer *p, const struct options *o)
{
    int r = gnutls_certificate_allocate_credentials(&p->cred);

    if (r < 0)
        die("credentials: %s", gnutls_strerror(r));
    r = gnutls_certificate_set_x509_key_file(p->cred, o->cert_file, o->key_file,
                                             GNUTLS_X509_FMT_PEM);
    if (r < 0)
        die("loading %s / %s: %s", o->cert_file, o->key_file, gnutls_strerror(r));
}

static void start_session(struct peer *p, const struct options *o, int fd)
{
    const char *err_pos = NULL;
    int r = gnutls_init(&p->session, GNUTLS_SERVER | GNUTLS_NONBLOCK);

    if (r < 0)
        die("gnutls_init: %s", gnutls_strerror(r));
    r = gnutls_set_default_priority_append(p->session, o->version_priority, &err_pos, 0);
    if (r < 0)
        die("priority '%s': %s", o->version_priority, gnutls_strerror(r));
    r = gnutls_credentials_set(p->session, GNUTLS_CRD_CERTIFICATE, p->cred);
    if (r < 0)
        die("gnutls_credentials_set: %s", gnutls_strerror(r));
    /* Our deadlines bound the handshake; GnuTLS's own timer would need a
     * blocking pull_timeout callback. */
    gnutls_handshake_set_timeout(p->session, 0);
    p->tr = (struct transport){ .fd = fd, .session = p->session };
    gnutls_transport_set_ptr(p->session, &p->tr);
    gnutls_transport_set_pull_function(p->session, pull_cb);
    gnutls_transport_set_push_function(p->session, push_cb);
    gnutls_transport_set_pull_timeout_function(p->session, pull_timeout_cb);
}

static void handshake(struct peer *p, const struct deadline *d)
{
    for (;;) {
        int r = gnutls_handshake(p->session);

        if (r == GNUTLS_E_SUCCESS)
            return;
        if (is_retry(r)) {
            if (!wait_tls(p, d))
                die("handshake: timed out");
        } else if (gnutls_error_is_fatal(r)) {
            die_tls(p, "handshake", r);
        }
        /* Non-fatal (e.g. a warning alert from the client): go on. */
    }
}

/* Reads application data until a '\n' arrived: the client's request. */
static void read_request(struct peer *p, const struct deadline *d)
{
    char buf[IO_CHUNK];

    for (;;) {
        ssize_t r = gnutls_record_recv(p->session, buf, sizeof buf);

        if (r > 0) {
            p->app_in += (uint64_t)r;
            if (memchr(buf, '\n', (size_t)r) != NULL)
                return;
        } else if (r == 0) {
            die("request: the client sent close_notify before a full line");
        } else if (is_retry(r)) {
            if (!wait_tls(p, d))
                die("request: no full line within the timeout");
        } else if (gnutls_error_is_fatal((int)r)) {
            die_tls(p, "request", (int)r);
        }
    }
}

/* gnutls_record_send() returns only once the record is flushed; after
 * GNUTLS_E_AGAIN it must be called again with the same arguments. */
static void send_all(struct peer *p, const char *buf, size_t len, const struct deadline *d)
{
    while (len > 0) {
        ssize_t r = gnutls_record_send(p->session, buf, len);

        if (r > 0) {
            buf += r;
            len -= (size_t)r;
        } else if (!is_retry(r)) {
            die_tls(p, "response", r == 0 ? GNUTLS_E_INTERNAL_ERROR : (int)r);
        } else if (!wait_tls(p, d)) {
            die("response: the client did not read it within the timeout");
        }
    }
}

struct response_sink {
    struct peer *p;
    const struct deadline *d;
};

/* A response_writer: send_all() exits on any failure. */
static bool write_to_peer(void *arg, const void *data, size_t len)
{
    struct response_sink *s = arg;

    send_all(s->p, data, len, s->d);
    return true;
}

/* The same response as tests/peer: see write_response(). */
static void send_response(struct peer *p, long len, const struct deadline *d)
{
    struct response_sink s = { p, d };

    (void)write_response(len, write_to_peer, &s);
}

/* gnutls_alert_send() writes the level byte as given (OpenSSL cannot send a
 * fatal close_notify at all) and leaves the session usable for reading,
 * whatever the level; after GNUTLS_E_AGAIN the same call flushes the record
 * already built instead of building another. */
static void send_closure_alert(struct peer *p, enum alert_choice a, const struct deadline *d)
{
    gnutls_alert_level_t level = a == ALERT_FATAL ? GNUTLS_AL_FATAL : GNUTLS_AL_WARNING;

    if (a == ALERT_NONE)
        return;
    for (;;) {
        int r = gnutls_alert_send(p->session, level, GNUTLS_A_CLOSE_NOTIFY);

        if (r == GNUTLS_E_SUCCESS)
            return;
        if (!is_retry(r))
            die_tls(p, "sending the alert", r);
        if (!wait_tls(p, d))
            die("sending the alert: timed out");
    }
}

/* The TCP FIN after the alert, as a real server closing would send. A client
 * that already reset makes this fail with ENOTCONN: not an error here, the
 * observation reports the reset. */
static void shut_write_side(struct peer *p)
{
    if (shutdown(p->tr.fd, SHUT_WR) < 0 && errno != ENOTCONN)
        die_errno("shutdown(SHUT_WR)");
}

/* ------------------------------------------------------------------------ */
/* Observation                                                               */

enum verdict { V_FIN, V_RESET, V_TIMEOUT };

static const char *const verdict_names[] = {
    [V_FIN] = "fin",
    [V_RESET] = "reset",
    [V_TIMEOUT] = "timeout",
};

struct observation {
    enum verdict verdict;
    bool have_alert;
    int alert;       /* gnutls_alert_description_t */
    bool alert_fatal;
    int64_t ms;
};

/* Only the first alert is kept: it is the client's reaction to ours. */
static void note_alert(struct observation *o, int alert, bool fatal)
{
    if (o->have_alert)
        return;
    o->have_alert = true;
    o->alert = alert;
    o->alert_fatal = fatal;
}

/* Maps the transport's end to a verdict. Returns false while it is open. */
static bool stream_ended(const struct transport *t, struct observation *o)
{
    switch (t->end) {
    case END_NONE:
        return false;
    case END_FIN:
        o->verdict = V_FIN;
        return true;
    case END_RESET:
        o->verdict = V_RESET;
        return true;
    case END_ERROR:
        break;
    }
    errno = t->last_errno;
    die_errno("observation: recv");
}

/* Reads through GnuTLS while the session can decode what the client sends.
 * Returns true when the observation is over (verdict set), false when the
 * rest must be read from the raw socket: after a close_notify or a fatal
 * alert (GnuTLS stops reading) or any other fatal GnuTLS error. */
static bool observe_tls(struct peer *p, struct observation *o, const struct deadline *d)
{
    char buf[IO_CHUNK];

    for (;;) {
        ssize_t r = gnutls_record_recv(p->session, buf, sizeof buf);

        if (r > 0) {
            p->app_in += (uint64_t)r;
            continue;
        }
        if (r == 0) { /* warning-level close_notify */
            note_alert(o, GNUTLS_A_CLOSE_NOTIFY, false);
            return false;
        }
        if (r == GNUTLS_E_WARNING_ALERT_RECEIVED || r == GNUTLS_E_FATAL_ALERT_RECEIVED)
            note_alert(o, (int)gnutls_alert_get(p->session),
                       r == GNUTLS_E_FATAL_ALERT_RECEIVED);
        if (stream_ended(&p->tr, o))
            return true;
        if (is_retry(r)) {
            if (!wait_tls(p, d)) {
                o->verdict = V_TIMEOUT;
                return true;
            }
        } else if (gnutls_error_is_fatal((int)r)) {
            return false;
        }
    }
}

/* Counts what is left until FIN, reset or the deadline. */
static void observe_raw(struct peer *p, struct observation *o, const struct deadline *d)
{
    char buf[IO_CHUNK];

    while (!stream_ended(&p->tr, o)) {
        if (!wait_ready(p->tr.fd, POLLIN, d)) {
            o->verdict = V_TIMEOUT;
            return;
        }
        (void)transport_recv(&p->tr, buf, sizeof buf);
    }
}

static struct observation observe_client(struct peer *p, int timeout_ms)
{
    struct observation o = { .verdict = V_TIMEOUT };
    int64_t start = now_ms();
    struct deadline d = deadline_in(timeout_ms);

    if (!observe_tls(p, &o, &d))
        observe_raw(p, &o, &d);
    o.ms = now_ms() - start;
    return o;
}

/* ------------------------------------------------------------------------ */
/* Report                                                                    */

/* "GNUTLS_A_DECODE_ERROR" -> "decode_error"; the TLS spelling that test
 * scripts compare against. */
static void alert_json_name(int alert, char *out, size_t size)
{
    const char *name = gnutls_alert_get_strname((gnutls_alert_description_t)alert);
    const char *prefix = "GNUTLS_A_";

    if (name == NULL) {
        snprintf(out, size, "alert_%d", alert);
        return;
    }
    if (strncmp(name, prefix, strlen(prefix)) == 0)
        name += strlen(prefix);
    snprintf(out, size, "%s", name);
    lowercase(out);
}

static void print_result(const struct peer *p, const struct options *opt,
                         const struct observation *o)
{
    char alert[48];
    const char *level = NULL;
    struct json j;

    if (o->have_alert) {
        alert_json_name(o->alert, alert, sizeof alert);
        level = o->alert_fatal ? "fatal" : "warning";
    }
    json_begin(&j, stdout);
    json_str(&j, "role", "gnutls_server");
    json_str(&j, "tls", gnutls_protocol_get_name(gnutls_protocol_get_version(p->session)));
    json_str(&j, "sent_alert", alert_choice_names[opt->alert]);
    json_str(&j, "verdict", verdict_names[o->verdict]);
    json_int(&j, "client_bytes_after", (int64_t)p->tr.bytes_after);
    json_str(&j, "client_alert", o->have_alert ? alert : NULL);
    json_int(&j, "app_in", (int64_t)p->app_in);
    json_int(&j, "ms", o->ms);
    json_str(&j, "client_alert_level", level);
    if (!json_end(&j))
        die_errno("stdout");
}

/* ------------------------------------------------------------------------ */
/* Main                                                                      */

static int run_server(const struct options *opt)
{
    struct peer p = { 0 };
    struct observation o;
    struct deadline d;
    int port;
    int fd;
    int lfd = listen_loopback(LISTEN_BACKLOG, &port);
    int r = gnutls_global_init();

    if (r < 0)
        die("gnutls_global_init: %s", gnutls_strerror(r));
    load_credentials(&p, opt);
    if (!print_port(port))
        die_errno("stdout");

    d = deadline_in(opt->timeout_ms);
    fd = accept_bounded(lfd, &d);
    if (fd < 0)
        die("accept: no connection within the timeout");
    start_session(&p, opt, fd);
    close(lfd);
    handshake(&p, &d);
    read_request(&p, &d);
    send_response(&p, opt->response_len, &d);
    send_closure_alert(&p, opt->alert, &d);
    p.tr.counting = true;
    shut_write_side(&p);

    o = observe_client(&p, opt->timeout_ms);
    print_result(&p, opt, &o);

    close(p.tr.fd);
    gnutls_deinit(p.session);
    gnutls_certificate_free_credentials(p.cred);
    gnutls_global_deinit();
    return 0;
}

int main(int argc, char **argv)
{
    struct options o;

    prog_name = PROG;
    parse_args(&o, argc, argv);
    /* A client that vanished must turn our writes into errors, not kill the
     * peer before it reports (stdout may be a pipe as well). */
    signal(SIGPIPE, SIG_IGN);
    return run_server(&o);
}
