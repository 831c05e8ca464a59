/* policy.h: the TLSCLOSE_* environment, parsed once into an immutable
 * struct (doc/design.md, Configuration). Parsing is pure: it reads values
 * through a callback and reports problems as data, so it is unit-tested
 * and fuzzed without a process environment. */
#ifndef TC_POLICY_H
#define TC_POLICY_H

#include <stddef.h>

enum tc_notify { TC_NOTIFY_ON, TC_NOTIFY_OFF, TC_NOTIFY_ALWAYS };
enum tc_eof { TC_EOF_WARN, TC_EOF_ERROR, TC_EOF_CLEAN };
enum tc_reply { TC_REPLY_AUTO, TC_REPLY_ON, TC_REPLY_OFF };
enum tc_log_sink { TC_LOG_STDERR, TC_LOG_SYSLOG, TC_LOG_NONE, TC_LOG_FILE };
/* Ordered by verbosity: an event is shown when its level <= the setting. */
enum tc_level { TC_LEVEL_ERROR, TC_LEVEL_WARN, TC_LEVEL_INFO, TC_LEVEL_DEBUG };
enum tc_format { TC_FORMAT_TEXT, TC_FORMAT_JSON };

#define TC_WAIT_MS_MAX 60000
#define TC_LOG_PATH_MAX 1024

struct tc_config {
    enum tc_notify notify;
    enum tc_eof eof;
    enum tc_reply reply;
    int wait_ms;
    enum tc_log_sink log;
    char log_path[TC_LOG_PATH_MAX]; /* TC_LOG_FILE only */
    enum tc_level log_level;
    enum tc_format log_format;
    int syslog_facility;            /* LOG_USER, LOG_DAEMON, ... (<syslog.h>) */
};

/* The defaults (tlsclose(7), ENVIRONMENT), as an initializer (usable for a
 * static const). */
#define TC_CONFIG_DEFAULTS                                                             \
    {                                                                                  \
        .notify = TC_NOTIFY_ON, .eof = TC_EOF_WARN, .reply = TC_REPLY_AUTO, .wait_ms = 0, \
        .log = TC_LOG_STDERR, .log_path = "", .log_level = TC_LEVEL_WARN,             \
        .log_format = TC_FORMAT_TEXT, .syslog_facility = (1 << 3) /* LOG_USER */,     \
    }

/* One problem with the environment: a known variable with a bad value, or
 * a TLSCLOSE_* name that is no variable at all (a typo that would
 * otherwise go unnoticed). Names and values are copies, made printable and
 * short: they go into a log line. */
enum tc_config_problem { TC_CONFIG_BAD_VALUE, TC_CONFIG_UNKNOWN_NAME };

struct tc_config_error {
    enum tc_config_problem problem;
    char variable[48];
    char value[64];          /* bad value only */
    const char *accepted;    /* bad value: the accepted values, in words */
    const char *fallback;    /* bad value: what is used instead, in words */
    const char *suggestion;  /* unknown name: the closest known name, or NULL */
};

/* The variables the library reads (the wrapper's TLSCLOSE_LIBRARY is
 * known too, but not parsed here). */
#define TC_CONFIG_VARIABLES 8
/* Room for every variable's bad value and a few unknown names; more
 * unknown names than that are counted, not listed. */
#define TC_CONFIG_ERRORS_MAX 16

struct tc_config_errors {
    int count;
    int unlisted; /* unknown names beyond TC_CONFIG_ERRORS_MAX */
    struct tc_config_error error[TC_CONFIG_ERRORS_MAX];
};

typedef const char *tc_getenv_fn(const char *name, void *ctx);

/* Fill *cfg from the variables that get() returns (NULL or "" = unset):
 * every variable gets its value or, when invalid, its default and an entry
 * in *errors. Never fails. */
void tc_config_parse(tc_getenv_fn *get, void *ctx, struct tc_config *cfg,
                     struct tc_config_errors *errors);

/* Append an error for each TLSCLOSE_* name in env (a NULL-terminated
 * "NAME=value" array, like environ) that names no variable, with the
 * closest known name as a suggestion. */
void tc_config_unknown_names(char *const *env, struct tc_config_errors *errors);

/* The one-line message for an error, shared by the library and the
 * wrapper: "invalid value 'X' for NAME (expected A, B or C)" or "unknown
 * variable NAME (did you mean KNOWN?)". with_consequence appends what
 * happens instead ("; using error, the strictest"), which the library says
 * and the wrapper (which refuses to run) does not. Returns the length. */
size_t tc_config_error_message(char *buf, size_t size, const struct tc_config_error *e,
                               int with_consequence);

void tc_config_defaults(struct tc_config *cfg);

/* Names for logs and documentation. */
const char *tc_eof_name(enum tc_eof v);
const char *tc_reply_name(enum tc_reply v);
const char *tc_level_name(enum tc_level v);

#endif
