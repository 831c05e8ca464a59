/* policy.c: parsing the TLSCLOSE_* environment (see policy.h). */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>

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
/* The facilities a program may log under; "kern" is the kernel's. */
static const struct choice facility_choices[] = {
    { "user", LOG_USER }, { "daemon", LOG_DAEMON }, { "auth", LOG_AUTH },
    { "authpriv", LOG_AUTHPRIV }, { "cron", LOG_CRON }, { "ftp", LOG_FTP },
    { "lpr", LOG_LPR }, { "mail", LOG_MAIL }, { "news", LOG_NEWS }, { "syslog", LOG_SYSLOG },
    { "uucp", LOG_UUCP }, { "local0", LOG_LOCAL0 }, { "local1", LOG_LOCAL1 },
    { "local2", LOG_LOCAL2 }, { "local3", LOG_LOCAL3 }, { "local4", LOG_LOCAL4 },
    { "local5", LOG_LOCAL5 }, { "local6", LOG_LOCAL6 }, { "local7", LOG_LOCAL7 }, { 0, 0 }
};

static const char *choice_name(const struct choice *c, int value)
{
    for (; c->name; c++)
        if (c->value == value)
            return c->name;
    return "?";
}

const char *tc_eof_name(enum tc_eof v) { return choice_name(eof_choices, (int)v); }
const char *tc_reply_name(enum tc_reply v) { return choice_name(reply_choices, (int)v); }
const char *tc_level_name(enum tc_level v) { return choice_name(level_choices, (int)v); }

/* Copy s into out (size n) printable and short, whatever it holds. */
static void copy_printable(char *out, size_t n, const char *s)
{
    size_t len = 0;
    for (; *s && len < n - 4; s++)
        out[len++] = (*s >= 0x20 && *s < 0x7f) ? *s : '?';
    if (*s) {
        memcpy(out + len, "...", 3);
        len += 3;
    }
    out[len] = '\0';
}

static struct tc_config_error *add_error(struct tc_config_errors *errors,
                                         enum tc_config_problem problem, const char *variable)
{
    if (errors->count == TC_CONFIG_ERRORS_MAX) {
        errors->unlisted++;
        return NULL;
    }
    struct tc_config_error *e = &errors->error[errors->count++];
    memset(e, 0, sizeof *e);
    e->problem = problem;
    copy_printable(e->variable, sizeof e->variable, variable);
    return e;
}

static void reject(struct tc_config_errors *errors, const char *variable, const char *value,
                   const char *accepted, const char *fallback)
{
    struct tc_config_error *e = add_error(errors, TC_CONFIG_BAD_VALUE, variable);
    if (!e)
        return;
    copy_printable(e->value, sizeof e->value, value);
    e->accepted = accepted;
    e->fallback = fallback;
}

/* --- the variables ----------------------------------------------------------
 * One row per variable: its name, its accepted values in words, what a bad
 * value means, and how a value is stored. A bad value means the default,
 * except for TLSCLOSE_EOF: a typo there must not weaken a policy that was
 * meant to catch truncations, so it means the strictest, error. */

struct variable {
    const char *name;
    const char *accepted;
    const char *fallback;
    /* 1 when value was understood and stored in cfg. */
    int (*parse)(const struct variable *var, const char *value, struct tc_config *cfg);
    const struct choice *choices; /* for parse_choice */
    size_t offset;                /* of the int-sized field parse_choice stores */
};

static int parse_choice(const struct variable *var, const char *value, struct tc_config *cfg)
{
    for (const struct choice *c = var->choices; c->name; c++) {
        if (strcasecmp(value, c->name) == 0) {
            memcpy((char *)cfg + var->offset, &c->value, sizeof c->value);
            return 1;
        }
    }
    return 0;
}

/* A decimal integer 0..TC_WAIT_MS_MAX, digits only: no sign, no spaces, no
 * suffix, so that "20s" or "-1" are reported instead of half-understood. */
static int parse_wait_ms(const struct variable *var, const char *value, struct tc_config *cfg)
{
    (void)var;
    long v = 0;
    for (const char *p = value; *p; p++) {
        if (*p < '0' || *p > '9')
            return 0;
        v = v * 10 + (*p - '0');
        if (v > TC_WAIT_MS_MAX)
            return 0;
    }
    cfg->wait_ms = (int)v;
    return 1;
}

static int parse_log(const struct variable *var, const char *value, struct tc_config *cfg)
{
    size_t len = strlen(value);
    for (const struct choice *c = log_choices; c->name; c++) {
        if (strcasecmp(value, c->name) == 0) {
            cfg->log = (enum tc_log_sink)c->value;
            return 1;
        }
    }
    (void)var;
    if (value[0] != '/' || len >= sizeof cfg->log_path)
        return 0;
    cfg->log = TC_LOG_FILE;
    memcpy(cfg->log_path, value, len + 1);
    return 1;
}

/* parse_choice stores an int through the offset of an enum field. */
_Static_assert(sizeof(enum tc_notify) == sizeof(int) && sizeof(enum tc_eof) == sizeof(int) &&
                   sizeof(enum tc_reply) == sizeof(int) && sizeof(enum tc_level) == sizeof(int) &&
                   sizeof(enum tc_format) == sizeof(int),
               "enum fields are int-sized");

#define CHOICE(field, list) parse_choice, list, offsetof(struct tc_config, field)

static const struct variable variables[TC_CONFIG_VARIABLES] = {
    { "TLSCLOSE_NOTIFY", "on, off or always", "the default, on", CHOICE(notify, notify_choices) },
    { "TLSCLOSE_EOF", "warn, error or clean", "error, the strictest", CHOICE(eof, eof_choices) },
    { "TLSCLOSE_REPLY", "auto, on or off", "the default, auto", CHOICE(reply, reply_choices) },
    { "TLSCLOSE_WAIT_MS", "an integer from 0 to 60000", "the default, 0", parse_wait_ms, 0, 0 },
    { "TLSCLOSE_LOG", "stderr, syslog, none or an absolute file path", "the default, stderr",
      parse_log, 0, 0 },
    { "TLSCLOSE_LOG_LEVEL", "warn, error, info or debug", "the default, warn",
      CHOICE(log_level, level_choices) },
    { "TLSCLOSE_LOG_FORMAT", "text or json", "the default, text",
      CHOICE(log_format, format_choices) },
    { "TLSCLOSE_SYSLOG_FACILITY",
      "user, daemon, auth, authpriv, cron, ftp, lpr, mail, news, syslog, uucp or local0 to local7",
      "the default, user", CHOICE(syslog_facility, facility_choices) },
};

/* Every name the project owns: the variables above, then the wrapper's
 * TLSCLOSE_LIBRARY (not parsed by the library). */
#define KNOWN_NAMES (TC_CONFIG_VARIABLES + 1)

static const char *known_name(int i)
{
    return i < TC_CONFIG_VARIABLES ? variables[i].name : "TLSCLOSE_LIBRARY";
}

/* What every name the project owns starts with. */
static const char name_prefix[] = "TLSCLOSE_";
#define NAME_PREFIX_LEN (sizeof name_prefix - 1)

void tc_config_defaults(struct tc_config *cfg)
{
    static const struct tc_config defaults = TC_CONFIG_DEFAULTS;
    *cfg = defaults;
}

void tc_config_parse(tc_getenv_fn *get, void *ctx, struct tc_config *cfg,
                     struct tc_config_errors *errors)
{
    tc_config_defaults(cfg);
    errors->count = 0;
    errors->unlisted = 0;
    for (int i = 0; i < TC_CONFIG_VARIABLES; i++) {
        const struct variable *var = &variables[i];
        const char *value = get(var->name, ctx);
        if (!value || !*value)
            continue;
        /* Parse into a copy: a half-parsed value must not leak through. */
        struct tc_config candidate = *cfg;
        if (var->parse(var, value, &candidate)) {
            *cfg = candidate;
            continue;
        }
        reject(errors, var->name, value, var->accepted, var->fallback);
        if (var->choices == eof_choices)
            cfg->eof = TC_EOF_ERROR;
    }
}

/* --- unknown names ---------------------------------------------------------- */

static int upper(int c) { return c >= 'a' && c <= 'z' ? c - 'a' + 'A' : c; }

/* Edit distance with adjacent transpositions ("EFO" for "EOF" is one edit),
 * ignoring case; both strings are short (names are cut at 47 bytes). */
static int distance(const char *a, const char *b)
{
    enum { N = 48 };
    int d[N + 1][N + 1];
    size_t la = strnlen(a, N), lb = strnlen(b, N);
    for (size_t i = 0; i <= la; i++)
        d[i][0] = (int)i;
    for (size_t j = 0; j <= lb; j++)
        d[0][j] = (int)j;
    for (size_t i = 1; i <= la; i++) {
        for (size_t j = 1; j <= lb; j++) {
            int cost = upper(a[i - 1]) != upper(b[j - 1]);
            int best = d[i - 1][j - 1] + cost;
            if (d[i - 1][j] + 1 < best)
                best = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < best)
                best = d[i][j - 1] + 1;
            if (i > 1 && j > 1 && upper(a[i - 1]) == upper(b[j - 2]) &&
                upper(a[i - 2]) == upper(b[j - 1]) && d[i - 2][j - 2] + 1 < best)
                best = d[i - 2][j - 2] + 1;
            d[i][j] = best;
        }
    }
    return d[la][lb];
}

static int starts_with(const char *s, const char *prefix)
{
    for (; *prefix; s++, prefix++)
        if (upper(*s) != upper(*prefix))
            return 0;
    return 1;
}

/* The known name closest to name, if name looks like a typo of it (at
 * most a third of its letters changed) or a part of it, or it a part of
 * name (TLSCLOSE_WAIT, TLSCLOSE_LOG_FILE); NULL otherwise. */
static const char *closest_name(const char *name)
{
    const char *suffix = name + NAME_PREFIX_LEN;
    const char *best = NULL;
    int best_distance = 0;
    for (int i = 0; i < KNOWN_NAMES; i++) {
        const char *known = known_name(i);
        const char *known_suffix = known + NAME_PREFIX_LEN;
        int dist = distance(suffix, known_suffix);
        int letters = (int)strlen(known_suffix);
        int close = dist * 3 <= letters ||
                    (strlen(suffix) >= 3 && (starts_with(known_suffix, suffix) ||
                                             starts_with(suffix, known_suffix)));
        if (close && (!best || dist < best_distance)) {
            best = known;
            best_distance = dist;
        }
    }
    return best;
}

static int is_known(const char *name, size_t len)
{
    for (int i = 0; i < KNOWN_NAMES; i++) {
        const char *known = known_name(i);
        if (strlen(known) == len && memcmp(known, name, len) == 0)
            return 1;
    }
    return 0;
}

void tc_config_unknown_names(char *const *env, struct tc_config_errors *errors)
{
    for (; env && *env; env++) {
        const char *entry = *env;
        if (strncmp(entry, name_prefix, NAME_PREFIX_LEN) != 0)
            continue;
        const char *eq = strchr(entry, '=');
        size_t len = eq ? (size_t)(eq - entry) : strlen(entry);
        if (is_known(entry, len))
            continue;
        char name[48];
        size_t n = len < sizeof name - 1 ? len : sizeof name - 1;
        memcpy(name, entry, n);
        name[n] = '\0';
        struct tc_config_error *e = add_error(errors, TC_CONFIG_UNKNOWN_NAME, name);
        if (e)
            e->suggestion = closest_name(name);
    }
}

size_t tc_config_error_message(char *buf, size_t size, const struct tc_config_error *e,
                               int with_consequence)
{
    int n;
    if (e->problem == TC_CONFIG_UNKNOWN_NAME)
        n = snprintf(buf, size, "unknown variable %s (%s%s%s)%s", e->variable,
                     e->suggestion ? "did you mean " : "not a tlsclose variable",
                     e->suggestion ? e->suggestion : "", e->suggestion ? "?" : "",
                     with_consequence ? "; ignored" : "");
    else
        n = snprintf(buf, size, "invalid value '%s' for %s (expected %s)%s%s", e->value,
                     e->variable, e->accepted, with_consequence ? "; using " : "",
                     with_consequence ? e->fallback : "");
    if (n < 0)
        return 0;
    return (size_t)n < size ? (size_t)n : size ? size - 1 : 0;
}
