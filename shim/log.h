/* log.h: events (doc/design.md, Events and logging), one write(2) per line,
 * errno preserved. */
#ifndef TC_LOG_H
#define TC_LOG_H

#include "policy.h"

/* connections = sent + skipped + open; by_program is part of skipped. */
struct tc_summary {
    unsigned long long connections, sent, skipped, by_program, open, truncations;
};

struct tc_event {
    const char *name;      /* "sent", "skipped", ... */
    enum tc_level level;
    int fd;                /* -1 when none */
    const char *peer;      /* "address:port", or NULL */
    const char *tls;       /* "TLSv1.3", or NULL */
    unsigned long long bytes_in, bytes_out;
    int has_bytes;
    const char *key;       /* "trigger", "reason", ... */
    const char *value;
    int has_wait;          /* a sent event after the wait for the peer's answer: */
    int answered;          /*   whether the peer's close_notify arrived, */
    long long waited_ms;   /*   and how long the library waited */
    const char *detail;    /* optional free text, never application data */
    const struct tc_summary *summary; /* the exit summary only */
};

/* Open the sink described by cfg; called once at start-up. */
void tc_log_setup(const struct tc_config *cfg);

/* Cheap test so callers only gather event details that will be shown. */
int tc_log_enabled(enum tc_level level);

void tc_log_event(const struct tc_event *ev);

void tc_log_config_errors(const struct tc_config_errors *errors);
/* Required OpenSSL symbols not found; disabled: the shim cannot act at all. */
void tc_log_missing_symbols(const char *names, int disabled);

/* Who wrote a line, and when: every line names the process and the
 * program; time is NULL where the line goes without one (text on stderr
 * and to syslog, whose daemon stamps it). */
struct tc_line_origin {
    long pid;
    const char *program;
    const char *time; /* RFC 3339 UTC with milliseconds, or NULL */
};

/* Format an event into buf (no trailing newline); exposed for unit tests.
 * Text: "[TIME ]tlsclose[PID]: PROGRAM: EVENT key=value...". JSON: one
 * object, {"time":...,"pid":...,"program":...,"event":...,...}.
 * Returns the length written. */
size_t tc_log_format(char *buf, size_t size, enum tc_format format,
                     const struct tc_line_origin *origin, const struct tc_event *ev);

#define TC_LOG_TIME_SIZE sizeof "2026-12-06T17:03:46.123Z"

/* Seconds and nanoseconds since the epoch as RFC 3339 UTC with
 * milliseconds, by hand: gmtime_r takes glibc's time-zone lock, and lines
 * are written from signal handlers. Exposed for unit tests. */
void tc_log_time(char out[TC_LOG_TIME_SIZE], long long sec, long nsec);

/* The syslog datagram for a formatted line: "<PRI>TAG[PID]: MSG", PRI =
 * facility | the level's severity, no timestamp. Async-signal-safe;
 * exposed for unit tests. Returns the length written (NUL-terminated,
 * truncated to size - 1). */
size_t tc_log_syslog_format(char *buf, size_t size, int facility, enum tc_level level,
                            const char *tag, long pid, const char *msg, size_t len);

#endif
