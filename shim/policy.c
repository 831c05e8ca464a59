/* policy.c: parsing the TLSCLOSE_* environment (see policy.h). */
#include "config.h"

#include <string.h>
#include <strings.h>

#include "policy.h"

struct choice {
    const char *name;
    int value;
};

static const struct choice notify_choices[] = {
    { "on", TC_NOTIFY_ON }, { "off", TC_NOTIFY_OFF }, { "always", TC_NOTIFY_ALWAYS }, { 0, 0 }
};
static const struct choice eof_choices[] = {
    { "warn", TC_EOF_WARN }, { "error", TC_EOF_ERROR }, { "clean", TC_EOF_CLEAN }, { 0, 0 }
};
static const struct choice reply_choices[] = {
    { "auto", TC_REPLY_AUTO }, { "on", TC_REPLY_ON }, { "off", TC_REPLY_OFF }, { 0, 0 }
};
static const struct choice level_choices[] = {
    { "warn", TC_LEVEL_WARN }, { "error", TC_LEVEL_ERROR },
    { "info", TC_LEVEL_INFO }, { "debug", TC_LEVEL_DEBUG }, { 0, 0 }
};
static const struct choice format_choices[] = {
    { "text", TC_FORMAT_TEXT }, { "json", TC_FORMAT_JSON }, { 0, 0 }
};
static const struct choice log_choices[] = {
    { "stderr", TC_LOG_STDERR }, { "syslog", TC_LOG_SYSLOG }, { "none", TC_LOG_NONE }, { 0, 0 }
};

static const char *choice_name(const struct choice *c, int value)
{
    for (; c->name; c++)
        if (c->value == value)
            return c->name;
    return "?";
}

const char *tc_notify_name(enum tc_notify v) { return choice_name(notify_choices, (int)v); }
const char *tc_eof_name(enum tc_eof v) { return choice_name(eof_choices, (int)v); }
const char *tc_reply_name(enum tc_reply v) { return choice_name(reply_choices, (int)v); }
const char *tc_level_name(enum tc_level v) { return choice_name(level_choices, (int)v); }

static void reject(struct tc_config_errors *errors, const char *variable, const char *value,
                   const char *accepted)
{
    struct tc_config_error *e = &errors->error[errors->count++];
    e->variable = variable;
    e->accepted = accepted;
    /* Keep the line short and printable whatever the value holds. */
    size_t n = 0;
    for (const char *p = value; *p && n < sizeof e->value - 4; p++)
        e->value[n++] = (*p >= 0x20 && *p < 0x7f) ? *p : '?';
    if (value[n] != '\0' && n == sizeof e->value - 4) {
        memcpy(e->value + n, "...", 3);
        n += 3;
    }
    e->value[n] = '\0';
}

static void parse_choice(tc_getenv_fn *get, void *ctx, const char *variable,
                         const struct choice *choices, const char *accepted, int *out,
                         struct tc_config_errors *errors)
{
    const char *value = get(variable, ctx);
    if (!value || !*value)
        return;
    for (const struct choice *c = choices; c->name; c++) {
        if (strcasecmp(value, c->name) == 0) {
            *out = c->value;
            return;
        }
    }
    reject(errors, variable, value, accepted);
}

/* A decimal integer 0..TC_WAIT_MS_MAX, digits only: no sign, no spaces, no
 * suffix, so that "20s" or "-1" are reported instead of half-understood. */
static int parse_wait_ms(const char *value, int *out)
{
    long v = 0;
    if (!*value)
        return 0;
    for (const char *p = value; *p; p++) {
        if (*p < '0' || *p > '9')
            return 0;
        v = v * 10 + (*p - '0');
        if (v > TC_WAIT_MS_MAX)
            return 0;
    }
    *out = (int)v;
    return 1;
}

void tc_config_defaults(struct tc_config *cfg)
{
    static const struct tc_config defaults = TC_CONFIG_DEFAULTS;
    *cfg = defaults;
}

void tc_config_parse(tc_getenv_fn *get, void *ctx, struct tc_config *cfg,
                     struct tc_config_errors *errors)
{
    int v;
    tc_config_defaults(cfg);
    errors->count = 0;

    v = (int)cfg->notify;
    parse_choice(get, ctx, "TLSCLOSE_NOTIFY", notify_choices, "on, off, always", &v, errors);
    cfg->notify = (enum tc_notify)v;

    v = (int)cfg->eof;
    parse_choice(get, ctx, "TLSCLOSE_EOF", eof_choices, "warn, error, clean", &v, errors);
    cfg->eof = (enum tc_eof)v;

    v = (int)cfg->reply;
    parse_choice(get, ctx, "TLSCLOSE_REPLY", reply_choices, "auto, on, off", &v, errors);
    cfg->reply = (enum tc_reply)v;

    const char *wait = get("TLSCLOSE_WAIT_MS", ctx);
    if (wait && *wait && !parse_wait_ms(wait, &cfg->wait_ms))
        reject(errors, "TLSCLOSE_WAIT_MS", wait, "an integer from 0 to 60000");

    const char *log = get("TLSCLOSE_LOG", ctx);
    if (log && *log) {
        size_t len = strlen(log);
        v = -1;
        for (const struct choice *c = log_choices; c->name; c++)
            if (strcasecmp(log, c->name) == 0)
                v = c->value;
        if (v >= 0) {
            cfg->log = (enum tc_log_sink)v;
        } else if (log[0] == '/' && len < sizeof cfg->log_path) {
            cfg->log = TC_LOG_FILE;
            memcpy(cfg->log_path, log, len + 1);
        } else {
            reject(errors, "TLSCLOSE_LOG", log, "stderr, syslog, none or an absolute file path");
        }
    }

    v = (int)cfg->log_level;
    parse_choice(get, ctx, "TLSCLOSE_LOG_LEVEL", level_choices, "warn, error, info, debug", &v,
                 errors);
    cfg->log_level = (enum tc_level)v;

    v = (int)cfg->log_format;
    parse_choice(get, ctx, "TLSCLOSE_LOG_FORMAT", format_choices, "text, json", &v, errors);
    cfg->log_format = (enum tc_format)v;
}
