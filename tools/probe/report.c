/* report.c: what counts as a clean close, and the two output forms.
 *
 * A direction is clean when the server sends close_notify (warning level;
 * in TLS 1.3 the level is ignored, RFC 8446 §6), nothing after it, and then
 * ends TCP with a FIN. For the first connection a server that simply keeps
 * the connection open is "not observed" rather than unclean: without a
 * request that asks for the end (--http) it has no reason to close; the
 * run then exits with EXIT_NOT_OBSERVED, not 0, unless the second
 * connection showed a problem. For the second, no answer to our
 * close_notify within the timeout is unclean: the server was told the
 * client is done.
 */

#include "config.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <openssl/ssl.h>

#include "report.h"
#include "tls.h"

#define MAX_PROBLEMS 4
#define PROBLEM_LEN 160

enum result { RESULT_CLEAN, RESULT_UNCLEAN, RESULT_NOT_OBSERVED };

static const char *const result_names[] = {
    [RESULT_CLEAN] = "clean",
    [RESULT_UNCLEAN] = "unclean",
    [RESULT_NOT_OBSERVED] = "not_observed",
};

static const char *const end_names[] = {
    [END_CLOSE_NOTIFY] = "close_notify", [END_EOF] = "eof",     [END_RESET] = "reset",
    [END_ALERT] = "alert",               [END_ERROR] = "error", [END_TIMEOUT] = "timeout",
};

static const char *const tail_names[] = {
    [TAIL_NONE] = NULL,         [TAIL_FIN] = "fin",     [TAIL_RESET] = "reset",
    [TAIL_TIMEOUT] = "timeout", [TAIL_ERROR] = "error",
};

/* One direction judged: the result and the problems found, in words. */
struct judgement {
    enum result result;
    char problems[MAX_PROBLEMS][PROBLEM_LEN];
    int n;
};

static void problem(struct judgement *j, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void problem(struct judgement *j, const char *fmt, ...)
{
    va_list ap;

    j->result = RESULT_UNCLEAN;
    if (j->n == MAX_PROBLEMS)
        return;
    va_start(ap, fmt);
    vsnprintf(j->problems[j->n++], PROBLEM_LEN, fmt, ap);
    va_end(ap);
}

static const char *level_name(int level)
{
    return level == SSL3_AL_WARNING ? "warning" : level == SSL3_AL_FATAL ? "fatal" : "unknown";
}

/* What followed a close_notify (both directions). */
static void judge_close_notify(const struct closing *cl, bool tls13, const char *whose,
                               struct judgement *j)
{
    if (cl->alert_level != SSL3_AL_WARNING && !tls13)
        problem(j, "%s close_notify is at %s level: receivers built on OpenSSL, BoringSSL "
                   "or NSS take it for a fatal error in TLS 1.2",
                whose, level_name(cl->alert_level));
    if (cl->tail.bytes > 0)
        problem(j, "%" PRIu64 " bytes (%" PRIu64 " record%s) follow %s close_notify",
                cl->tail.bytes, cl->tail.records, cl->tail.records == 1 ? "" : "s", whose);
    if (cl->tail.end == TAIL_RESET)
        problem(j, "the server resets the connection after %s close_notify", whose);
    else if (cl->tail.end == TAIL_TIMEOUT)
        problem(j, "the server keeps TCP open after %s close_notify and our FIN", whose);
    else if (cl->tail.end == TAIL_ERROR)
        problem(j, "socket error after %s close_notify", whose);
}

static void judge_server_first(const struct closing *cl, bool tls13, int timeout_ms,
                               bool requested, struct judgement *j)
{
    char name[32];

    *j = (struct judgement){ .result = RESULT_CLEAN };
    switch (cl->end) {
    case END_CLOSE_NOTIFY:
        judge_close_notify(cl, tls13, "its", j);
        break;
    case END_EOF:
        problem(j, "the server ends the stream with a FIN and no close_notify: "
                   "a truncation would go unnoticed");
        break;
    case END_RESET:
        problem(j, "the server resets the connection instead of sending close_notify");
        break;
    case END_ALERT:
        problem(j, "the server ends the stream with a %s alert",
                alert_name(cl->alert, name, sizeof name));
        break;
    case END_ERROR:
        problem(j, "the stream ended with an error: %s", cl->detail);
        break;
    case END_TIMEOUT:
        j->result = RESULT_NOT_OBSERVED;
        snprintf(j->problems[j->n++], PROBLEM_LEN,
                 "the server did not close the connection within %d ms", timeout_ms);
        if (!requested)
            snprintf(j->problems[j->n++], PROBLEM_LEN,
                     "no request was sent, and a server that waits for one does not close: "
                     "use --http=/PATH (HTTPS) or --request=TEXT");
        break;
    }
}

static void judge_probe_first(const struct closing *cl, bool tls13, int timeout_ms,
                              struct judgement *j)
{
    char name[32];

    *j = (struct judgement){ .result = RESULT_CLEAN };
    switch (cl->end) {
    case END_CLOSE_NOTIFY:
        judge_close_notify(cl, tls13, "the answering", j);
        break;
    case END_EOF:
        problem(j, "the server does not answer our close_notify: it closes with a bare FIN");
        break;
    case END_RESET:
        problem(j, "the server resets the connection in answer to our close_notify");
        break;
    case END_ALERT:
        problem(j, "the server answers our close_notify with a %s alert",
                alert_name(cl->alert, name, sizeof name));
        break;
    case END_ERROR:
        problem(j, "error after our close_notify: %s", cl->detail);
        break;
    case END_TIMEOUT:
        problem(j, "the server does not answer our close_notify within %d ms", timeout_ms);
        break;
    }
}

/* ------------------------------------------------------------------------ */
/* Table                                                                     */

static void row(const char *label, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void row(const char *label, const char *fmt, ...)
{
    va_list ap;

    printf("  %-13s ", label);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
}

/* "close_notify (warning level) after 3 ms", "FIN without close_notify...". */
static void end_text(const struct closing *cl, int timeout_ms, char *buf, size_t len)
{
    char name[32];

    switch (cl->end) {
    case END_CLOSE_NOTIFY:
        snprintf(buf, len, "close_notify (%s level) after %" PRId64 " ms",
                 level_name(cl->alert_level), cl->ms);
        break;
    case END_EOF:
        snprintf(buf, len, "FIN without close_notify after %" PRId64 " ms", cl->ms);
        break;
    case END_RESET:
        snprintf(buf, len, "reset (RST) after %" PRId64 " ms", cl->ms);
        break;
    case END_ALERT:
        snprintf(buf, len, "%s alert (%s level) after %" PRId64 " ms",
                 alert_name(cl->alert, name, sizeof name), level_name(cl->alert_level), cl->ms);
        break;
    case END_ERROR:
        snprintf(buf, len, "error after %" PRId64 " ms: %s", cl->ms, cl->detail);
        break;
    case END_TIMEOUT:
        snprintf(buf, len, "none within %d ms", timeout_ms);
        break;
    }
}

static void tail_row(const struct closing *cl)
{
    const struct tail *t = &cl->tail;
    char data[64];
    const char *how = t->end == TAIL_FIN     ? "FIN"
                      : t->end == TAIL_RESET ? "reset (RST)"
                      : t->end == TAIL_ERROR ? "socket error"
                                             : "nothing more";

    if (cl->end != END_CLOSE_NOTIFY)
        return;
    if (t->bytes == 0)
        snprintf(data, sizeof data, "no data");
    else
        snprintf(data, sizeof data, "%" PRIu64 " bytes in %" PRIu64 " record%s", t->bytes,
                 t->records, t->records == 1 ? "" : "s");
    row("after it", "%s, then %s %s %" PRId64 " ms%s", data, how,
        t->end == TAIL_TIMEOUT ? "for" : "after", t->ms,
        !cl->answered || t->end == TAIL_TIMEOUT ? ""
        : cl->waited                            ? " (after our answer)"
                                                : " (before our answer)");
}

static void result_rows(const struct judgement *j)
{
    row("result", "%s", j->result == RESULT_CLEAN     ? "clean"
                        : j->result == RESULT_UNCLEAN ? "NOT CLEAN"
                                                      : "not observed");
    for (int i = 0; i < j->n; i++)
        row(j->result == RESULT_UNCLEAN ? "problem" : "note", "%s", j->problems[i]);
}

static void print_table(const struct probe_options *o, const struct probe_result *r,
                        const struct judgement *j1, const struct judgement *j2,
                        enum result overall)
{
    const struct closing *s = &r->server_first, *p = &r->probe_first;
    char text[300];

    printf("%-15s %s (address %s, port %d)\n", "target", o->target, r->address, r->port);
    printf("%-15s %s, %s\n", "tls", r->tls_version, r->cipher);
    printf("%-15s %s\n", "certificate",
           r->verified ? "verified" : "not verified (--insecure)");

    printf("\nserver closes first\n");
    if (s->app_out > 0)
        row("request", "%" PRIu64 " bytes%s", s->app_out, o->http ? " (HTTP GET)" : "");
    else
        row("request", o->request_len > 0 ? "not sent (the server closed first)" : "none");
    row("received", "%" PRIu64 " bytes of application data", s->app_in);
    end_text(s, o->timeout_ms, text, sizeof text);
    row("end", "%s", text);
    tail_row(s);
    if (s->end == END_CLOSE_NOTIFY && s->answered)
        row("our answer", "close_notify");
    else if (s->end == END_CLOSE_NOTIFY)
        row("our answer", "none: %s", s->answer_note);
    row("tls bytes", "%" PRIu64 " in, %" PRIu64 " out", s->tls_in, s->tls_out);
    result_rows(j1);

    printf("\nprobe closes first (close_notify right after the handshake)\n");
    end_text(p, o->timeout_ms, text, sizeof text);
    row("answer", "%s", text);
    row("before it", "%" PRIu64 " bytes of application data", p->app_in);
    tail_row(p);
    row("tls bytes", "%" PRIu64 " in, %" PRIu64 " out", p->tls_in, p->tls_out);
    result_rows(j2);

    printf("\n%-15s %s\n", "verdict",
           overall == RESULT_UNCLEAN ? "NOT CLEAN: the server does not close properly"
           : overall == RESULT_CLEAN
               ? "clean: close_notify before FIN, and an answer to ours"
               : "not observed: the server kept the first connection open; "
                 "it answers our close_notify");
}

/* ------------------------------------------------------------------------ */
/* JSON                                                                      */

/* A minimal writer: one object on one line, nested objects and arrays. */
struct json {
    bool first;
};

static void json_string(const char *s)
{
    putchar('"');
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
        if (*p == '"' || *p == '\\')
            printf("\\%c", *p);
        else if (*p < 0x20 || *p >= 0x7f)
            printf("\\u%04x", *p);
        else
            putchar(*p);
    }
    putchar('"');
}

static void json_key(struct json *j, const char *key)
{
    if (!j->first)
        putchar(',');
    j->first = false;
    json_string(key);
    putchar(':');
}

static void json_str(struct json *j, const char *key, const char *value)
{
    json_key(j, key);
    if (value == NULL)
        fputs("null", stdout);
    else
        json_string(value);
}

static void json_u64(struct json *j, const char *key, uint64_t value)
{
    json_key(j, key);
    printf("%" PRIu64, value);
}

static void json_bool(struct json *j, const char *key, bool value)
{
    json_key(j, key);
    fputs(value ? "true" : "false", stdout);
}

static void json_null(struct json *j, const char *key)
{
    json_key(j, key);
    fputs("null", stdout);
}

static void json_problems(struct json *j, const struct judgement *jd)
{
    json_key(j, "problems");
    putchar('[');
    for (int i = 0; i < jd->n; i++) {
        if (i > 0)
            putchar(',');
        json_string(jd->problems[i]);
    }
    putchar(']');
}

/* The fields both connections share. */
static void json_closing(struct json *j, const struct closing *cl, const struct judgement *jd)
{
    char name[32];
    bool cn = cl->end == END_CLOSE_NOTIFY;

    json_str(j, "result", result_names[jd->result]);
    json_str(j, "end", end_names[cl->end]);
    json_str(j, "alert", cl->alert >= 0 ? alert_name(cl->alert, name, sizeof name) : NULL);
    json_str(j, "alert_level", cl->alert_level ? level_name(cl->alert_level) : NULL);
    json_str(j, "detail", cl->end == END_ERROR ? cl->detail : NULL);
    json_u64(j, "ms", (uint64_t)cl->ms);
    json_u64(j, "app_in", cl->app_in);
    json_str(j, "after", tail_names[cl->tail.end]);
    if (cn) {
        json_u64(j, "after_bytes", cl->tail.bytes);
        json_u64(j, "after_records", cl->tail.records);
        json_u64(j, "after_ms", (uint64_t)cl->tail.ms);
    } else {
        json_null(j, "after_bytes");
        json_null(j, "after_records");
        json_null(j, "after_ms");
    }
    json_u64(j, "tls_in", cl->tls_in);
    json_u64(j, "tls_out", cl->tls_out);
}

static void print_json(const struct probe_options *o, const struct probe_result *r,
                       const struct judgement *j1, const struct judgement *j2,
                       enum result overall, int status)
{
    struct json top = { true }, s = { true }, p = { true };

    putchar('{');
    json_str(&top, "target", o->target);
    json_str(&top, "address", r->address);
    json_u64(&top, "port", (uint64_t)r->port);
    json_str(&top, "tls", r->tls_version);
    json_str(&top, "cipher", r->cipher);
    json_bool(&top, "verified", r->verified);
    json_u64(&top, "timeout_ms", (uint64_t)o->timeout_ms);

    json_key(&top, "server_first");
    putchar('{');
    json_closing(&s, &r->server_first, j1);
    json_u64(&s, "request_bytes", r->server_first.app_out);
    if (r->server_first.end == END_CLOSE_NOTIFY) {
        json_bool(&s, "answered", r->server_first.answered);
        json_str(&s, "answer_note",
                 r->server_first.answered ? NULL : r->server_first.answer_note);
        if (r->server_first.answered && (r->server_first.tail.end == TAIL_FIN ||
                                         r->server_first.tail.end == TAIL_RESET))
            json_bool(&s, "waited_for_answer", r->server_first.waited);
        else
            json_null(&s, "waited_for_answer");
    } else {
        json_null(&s, "answered");
        json_null(&s, "answer_note");
        json_null(&s, "waited_for_answer");
    }
    json_problems(&s, j1);
    putchar('}');

    json_key(&top, "probe_first");
    putchar('{');
    json_closing(&p, &r->probe_first, j2);
    json_problems(&p, j2);
    putchar('}');

    json_str(&top, "result", result_names[overall]);
    json_u64(&top, "exit", (uint64_t)status);
    puts("}");
}

/* ------------------------------------------------------------------------ */

int report(const struct probe_options *o, const struct probe_result *r)
{
    bool tls13 = r->tls_version != NULL && strcmp(r->tls_version, "TLSv1.3") == 0;
    struct judgement j1, j2;
    enum result overall;
    int status;

    judge_server_first(&r->server_first, tls13, o->timeout_ms, o->request_len > 0, &j1);
    judge_probe_first(&r->probe_first, tls13, o->timeout_ms, &j2);
    /* A problem seen anywhere outweighs what could not be seen. */
    if (j1.result == RESULT_UNCLEAN || j2.result == RESULT_UNCLEAN)
        overall = RESULT_UNCLEAN;
    else if (j1.result == RESULT_NOT_OBSERVED)
        overall = RESULT_NOT_OBSERVED;
    else
        overall = RESULT_CLEAN;
    status = overall == RESULT_UNCLEAN        ? EXIT_UNCLEAN
             : overall == RESULT_NOT_OBSERVED ? EXIT_NOT_OBSERVED
                                              : EXIT_CLEAN;
    if (o->json)
        print_json(o, r, &j1, &j2, overall, status);
    else
        print_table(o, r, &j1, &j2, overall);
    if (fflush(stdout) != 0) {
        perror(PROBE_NAME ": writing the report");
        return EXIT_FAILURE_TO_PROBE;
    }
    return status;
}
