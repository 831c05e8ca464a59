/* policy.h: the TLSCLOSE_* environment, parsed once into an immutable
 * struct (SPEC §3.1). Parsing is pure: it reads values through a callback
 * and reports problems as data, so it is unit-tested and fuzzed without a
 * process environment. */
#ifndef TC_POLICY_H
#define TC_POLICY_H

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
};

/* The defaults of SPEC §3.1, as an initializer (usable for a static const). */
#define TC_CONFIG_DEFAULTS                                                             \
    {                                                                                  \
        .notify = TC_NOTIFY_ON, .eof = TC_EOF_WARN, .reply = TC_REPLY_AUTO, .wait_ms = 0, \
        .log = TC_LOG_STDERR, .log_path = "", .log_level = TC_LEVEL_WARN,             \
        .log_format = TC_FORMAT_TEXT,                                                  \
    }

/* One rejected variable: its name, the value (truncated for display) and the
 * accepted values. */
struct tc_config_error {
    const char *variable;
    char value[64];
    const char *accepted;
};

#define TC_CONFIG_VARIABLES 7

struct tc_config_errors {
    int count;
    struct tc_config_error error[TC_CONFIG_VARIABLES];
};

typedef const char *tc_getenv_fn(const char *name, void *ctx);

/* Fill *cfg from the variables that get() returns (NULL or "" = unset):
 * every variable gets its value or, when invalid, its default and an entry
 * in *errors. Never fails. */
void tc_config_parse(tc_getenv_fn *get, void *ctx, struct tc_config *cfg,
                     struct tc_config_errors *errors);

void tc_config_defaults(struct tc_config *cfg);

/* Names for logs and documentation. */
const char *tc_notify_name(enum tc_notify v);
const char *tc_eof_name(enum tc_eof v);
const char *tc_reply_name(enum tc_reply v);
const char *tc_level_name(enum tc_level v);

#endif
