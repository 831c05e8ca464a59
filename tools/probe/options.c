/* options.c: tlsclose-probe's command line. Everything is checked before
 * any connection is made; a usage error is one line and exit status 2. */

#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/ssl.h>

#include "probe.h"

static const char usage_text[] =
    "Usage: " PROBE_NAME " [OPTIONS] HOST:PORT\n"
    "\n"
    "Connect to a TLS server twice and report how it closes (see\n"
    "tlsclose-probe(1)):\n"
    "  1. server closes first: send the request (if any) and read until the\n"
    "     server ends the stream; did it send close_notify before its FIN, at\n"
    "     which alert level, did data follow it, did it reset?\n"
    "  2. probe closes first: send close_notify right after the handshake;\n"
    "     did the server answer with its own, how fast, or did it just close\n"
    "     or reset?\n"
    "\n"
    "HOST is a name, an IPv4 address or an IPv6 address in brackets\n"
    "([::1]:443); PORT a number from 1 to 65535 or a TCP service name.\n"
    "\n"
    "Options:\n"
    "  --tls1.2, --tls1.3    use only this TLS version (default: either)\n"
    "  --http[=PATH]         request: GET PATH over HTTP/1.1 with\n"
    "                        \"Connection: close\"; PATH starts with '/';\n"
    "                        --http not followed by /PATH means GET /\n"
    "  --request=TEXT        request: TEXT as raw bytes, with C escapes\n"
    "                        (\\r \\n \\t \\\\ \\xHH \\NNN ...); default: send nothing\n"
    "                        and wait for the server to close on its own\n"
    "  --sni=NAME            server name to send and to verify (default: HOST\n"
    "                        when it is a name)\n"
    "  --ca-file=FILE        trust the CA certificates in FILE (PEM) instead\n"
    "                        of the system's\n"
    "  --insecure            do not verify the server's certificate\n"
    "  --timeout=MS          bound of every wait, in milliseconds (default\n"
    "                        5000; the probe takes at most about 6 x MS)\n"
    "  --json                print one JSON object instead of the table\n"
    "  -h, --help            show this help and exit\n"
    "  --version             show the version and exit\n"
    "\n"
    "Both --opt=VALUE and --opt VALUE are accepted.\n"
    "\n"
    "Exit status: 0 when the server closes cleanly in both directions, 1 when\n"
    "it does not, 2 on usage, connection or handshake errors, 3 when nothing\n"
    "unclean was seen but the server kept the first connection open until the\n"
    "timeout (not observed: send a request, e.g. --http).\n";

static void usage_error(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));

static void usage_error(const char *fmt, ...)
{
    va_list ap;

    fputs(PROBE_NAME ": ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs(" (see '" PROBE_NAME " --help')\n", stderr);
    exit(EXIT_FAILURE_TO_PROBE);
}

/* ------------------------------------------------------------------------ */
/* --request: C escapes                                                      */

static int hex_digit(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

/* The escape after a backslash at *p: stores the byte and advances *p. */
static unsigned char unescape_one(const char **p)
{
    static const char simple[] = "n\nr\rt\ta\ab\bf\fv\ve\033\\\\\"\"''??";
    char ch = *(*p)++;
    int value = 0, digits = 0, d;

    for (const char *s = simple; *s != '\0'; s += 2)
        if (s[0] == ch)
            return (unsigned char)s[1];
    if (ch == 'x') {
        while (digits < 2 && (d = hex_digit(**p)) >= 0) {
            value = value * 16 + d;
            digits++;
            (*p)++;
        }
        if (digits == 0)
            usage_error("--request: \\x needs one or two hex digits");
        return (unsigned char)value;
    }
    if (ch >= '0' && ch <= '7') {
        value = ch - '0';
        while (++digits < 3 && **p >= '0' && **p <= '7')
            value = value * 8 + *(*p)++ - '0';
        if (value > 0xff)
            usage_error("--request: octal escape above \\377");
        return (unsigned char)value;
    }
    if (ch == '\0')
        usage_error("--request: a backslash ends the text");
    usage_error("--request: unknown escape '\\%c'", ch);
}

static void set_request(struct probe_options *o, const char *text)
{
    size_t len = 0;

    o->request = malloc(strlen(text) + 1);
    if (o->request == NULL)
        fail("out of memory");
    for (const char *p = text; *p != '\0';) {
        if (*p == '\\') {
            p++;
            o->request[len++] = unescape_one(&p);
        } else {
            o->request[len++] = (unsigned char)*p++;
        }
    }
    o->request_len = len;
}

/* ------------------------------------------------------------------------ */
/* --http                                                                    */

/* The request a browser would send for PATH, minus what could make the
 * server keep the connection: HTTP/1.1 with "Connection: close". The Host
 * header carries the port unless it is the default one. */
static void set_http_request(struct probe_options *o, const char *path)
{
    char host[300];
    bool v6 = strchr(o->host, ':') != NULL;
    bool default_port = o->port_number == 443;
    const char *name = o->sni != NULL ? o->sni : o->host;
    char *text;
    int n;

    if (path[0] != '/')
        usage_error("--http: PATH must start with '/', got '%s'", path);
    for (const char *p = path; *p != '\0'; p++)
        if ((unsigned char)*p <= ' ' || *p == 0x7f)
            usage_error("--http: PATH must not contain spaces or control characters");
    snprintf(host, sizeof host, "%s%s%s%s%s", v6 && o->sni == NULL ? "[" : "", name,
             v6 && o->sni == NULL ? "]" : "", default_port ? "" : ":",
             default_port ? "" : o->port);
    n = asprintf(&text,
                 "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: " PROBE_NAME "/" PACKAGE_VERSION
                 "\r\nAccept: */*\r\nConnection: close\r\n\r\n",
                 path, host);
    if (n < 0)
        fail("out of memory");
    o->request = (unsigned char *)text;
    o->request_len = (size_t)n;
    o->http = true;
}

/* ------------------------------------------------------------------------ */
/* HOST:PORT                                                                 */

/* PORT as a number from 1 to 65535, or a TCP service name known to the
 * services database. Checked here rather than left to getaddrinfo(), which
 * takes 99999 modulo 65536 (and so connects to another port) and " 80" or
 * "+80" as 80. */
static void set_port(struct probe_options *o, const char *text, const char *arg)
{
    unsigned long value = 0;
    const char *p = text;

    if (*p == '\0')
        usage_error("'%s': the port is empty", arg);
    while (*p >= '0' && *p <= '9') {
        if (value <= 65535)
            value = value * 10 + (unsigned long)(*p - '0');
        p++;
    }
    if (*p == '\0') {
        if (value < 1 || value > 65535)
            usage_error("'%s': port %s is out of range 1-65535", arg, text);
        o->port_number = (int)value;
    } else {
        struct servent *s = getservbyname(text, "tcp");

        if (s == NULL)
            usage_error("'%s': port '%s' is neither a number (1-65535) nor a known TCP "
                        "service name",
                        arg, text);
        o->port_number = ntohs((uint16_t)s->s_port);
    }
    /* getaddrinfo() gets the number: no second lookup of a service name. */
    snprintf(o->port, sizeof o->port, "%d", o->port_number);
}

static void set_target(struct probe_options *o, const char *arg)
{
    const char *host = arg, *colon;
    size_t host_len;
    unsigned char buf[sizeof(struct in6_addr)];

    if (arg[0] == '[') {
        const char *end = strchr(arg, ']');

        if (end == NULL || end[1] != ':')
            usage_error("'%s': an IPv6 address goes as [ADDRESS]:PORT", arg);
        host = arg + 1;
        host_len = (size_t)(end - host);
        colon = end + 1;
    } else {
        colon = strrchr(arg, ':');
        if (colon == NULL)
            usage_error("'%s': the target is HOST:PORT", arg);
        if (memchr(arg, ':', (size_t)(colon - arg)) != NULL)
            usage_error("'%s': an IPv6 address goes as [ADDRESS]:PORT", arg);
        host_len = (size_t)(colon - arg);
    }
    if (host_len == 0)
        usage_error("'%s': the host is empty", arg);
    if (host_len >= sizeof o->host)
        usage_error("'%s': the host is longer than %zu characters", arg, sizeof o->host - 1);
    memcpy(o->host, host, host_len);
    o->host[host_len] = '\0';
    if (arg[0] == '[' && inet_pton(AF_INET6, o->host, buf) != 1)
        usage_error("'%s': not an IPv6 address in the brackets", arg);
    set_port(o, colon + 1, arg);
    o->host_is_address =
        inet_pton(AF_INET, o->host, buf) == 1 || inet_pton(AF_INET6, o->host, buf) == 1;
    o->target = arg;
}

/* ------------------------------------------------------------------------ */

/* The last option value taken from the word after the option: when the
 * target is then missing, that word may have been meant as the target. */
struct separate_value {
    const char *option;
    const char *metavar;
    const char *value;
};

/* The value of --name=VALUE or --name VALUE (consuming the next word, and
 * noting it in *sep), or NULL when arg is not that option. */
static const char *value_of(const char *name, const char *metavar, int argc, char **argv,
                            int *i, struct separate_value *sep)
{
    size_t n = strlen(name);
    const char *arg = argv[*i];

    if (strncmp(arg, name, n) != 0)
        return NULL;
    if (arg[n] == '=')
        return arg + n + 1;
    if (arg[n] != '\0')
        return NULL;
    if (*i + 1 >= argc)
        usage_error("%s needs a value", name);
    *sep = (struct separate_value){ name, metavar, argv[++*i] };
    return sep->value;
}

/* --http in the separate form: the next word is its PATH only when it
 * starts with '/', as every PATH must; otherwise (HOST:PORT, another option,
 * nothing) --http alone means GET /, and the word is left to the rest of
 * the command line. */
static const char *http_path(int argc, char **argv, int *i)
{
    if (*i + 1 < argc && argv[*i + 1][0] == '/')
        return argv[++*i];
    return "/";
}

static void missing_target(const struct separate_value *sep)
{
    /* "--sni host:443" without a target: say where the target went. */
    if (sep->value != NULL && strchr(sep->value, ':') != NULL)
        usage_error("missing HOST:PORT: %s took '%s' as its value (write %s=%s HOST:PORT)",
                    sep->option, sep->value, sep->option, sep->metavar);
    usage_error("missing HOST:PORT");
}

static int parse_timeout(const char *text)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || v < 1 || v > MAX_TIMEOUT_MS)
        usage_error("--timeout must be a number of milliseconds from 1 to %d, got '%s'",
                    MAX_TIMEOUT_MS, text);
    return (int)v;
}

static void set_version(struct probe_options *o, int version)
{
    if (o->tls_version != 0 && o->tls_version != version)
        usage_error("--tls1.2 and --tls1.3 exclude each other");
    o->tls_version = version;
}

void parse_options(struct probe_options *o, int argc, char **argv)
{
    const char *request = NULL, *http = NULL, *target = NULL, *v;
    struct separate_value sep = { NULL, NULL, NULL };

    *o = (struct probe_options){ .timeout_ms = DEFAULT_TIMEOUT_MS };
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];

        if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
            fputs(usage_text, stdout);
            exit(fflush(stdout) == 0 ? 0 : EXIT_FAILURE_TO_PROBE);
        } else if (strcmp(arg, "--version") == 0) {
            printf(PROBE_NAME " " PACKAGE_VERSION "\n");
            exit(fflush(stdout) == 0 ? 0 : EXIT_FAILURE_TO_PROBE);
        } else if (strcmp(arg, "--tls1.2") == 0) {
            set_version(o, TLS1_2_VERSION);
        } else if (strcmp(arg, "--tls1.3") == 0) {
            set_version(o, TLS1_3_VERSION);
        } else if (strcmp(arg, "--json") == 0) {
            o->json = true;
        } else if (strcmp(arg, "--insecure") == 0) {
            o->insecure = true;
        } else if ((v = value_of("--request", "TEXT", argc, argv, &i, &sep)) != NULL) {
            request = v;
        } else if (strcmp(arg, "--http") == 0) {
            http = http_path(argc, argv, &i);
        } else if (strncmp(arg, "--http=", 7) == 0) {
            http = arg + 7;
        } else if ((v = value_of("--sni", "NAME", argc, argv, &i, &sep)) != NULL) {
            if (*v == '\0')
                usage_error("--sni needs a name");
            o->sni = v;
        } else if ((v = value_of("--ca-file", "FILE", argc, argv, &i, &sep)) != NULL) {
            if (*v == '\0')
                usage_error("--ca-file needs a file name");
            o->ca_file = v;
        } else if ((v = value_of("--timeout", "MS", argc, argv, &i, &sep)) != NULL) {
            o->timeout_ms = parse_timeout(v);
        } else if (strcmp(arg, "--") == 0 && i + 1 < argc && target == NULL) {
            target = argv[++i];
        } else if (arg[0] == '-') {
            usage_error("unknown option '%s'", arg);
        } else if (target != NULL) {
            usage_error("one target only, got '%s' and '%s'", target, arg);
        } else {
            target = arg;
        }
    }
    if (target == NULL)
        missing_target(&sep);
    if (request != NULL && http != NULL)
        usage_error("--request and --http exclude each other");
    if (o->insecure && o->ca_file != NULL)
        usage_error("--insecure and --ca-file exclude each other");
    set_target(o, target);
    if (request != NULL)
        set_request(o, request);
    if (http != NULL)
        set_http_request(o, http);
}

void free_options(struct probe_options *o)
{
    free(o->request);
    o->request = NULL;
}
