/* unit_policy: the TLSCLOSE_* parser (shim/policy.c), table-driven. */
#include "config.h"

#include <stddef.h>
#include <string.h>

#include "../shim/policy.h"
#include "tap.h"

/* A fake environment: NULL-terminated name/value pairs. */
static const char *fake_getenv(const char *name, void *ctx)
{
    const char *const *env = ctx;
    for (; env[0]; env += 2)
        if (strcmp(env[0], name) == 0)
            return env[1];
    return NULL;
}

struct parsed {
    struct tc_config cfg;
    struct tc_config_errors errors;
};

static struct parsed parse(const char *const *env)
{
    struct parsed p;
    tc_config_parse(fake_getenv, (void *)env, &p.cfg, &p.errors);
    return p;
}

#define ENV(...) ((const char *const[]){ __VA_ARGS__, NULL })

static void defaults(void)
{
    struct parsed p = parse(ENV(NULL));
    ok(p.errors.count == 0, "no variables: no errors");
    ok(p.cfg.notify == TC_NOTIFY_ON && p.cfg.eof == TC_EOF_WARN && p.cfg.reply == TC_REPLY_AUTO &&
           p.cfg.wait_ms == 0 && p.cfg.log == TC_LOG_STDERR && p.cfg.log_level == TC_LEVEL_WARN &&
           p.cfg.log_format == TC_FORMAT_TEXT,
       "defaults: notify=on eof=warn reply=auto wait=0 log=stderr level=warn format=text");
}

struct choice_case {
    const char *variable, *value;
    size_t offset; /* of the enum field in struct tc_config */
    int expected;
};

#define FIELD(f) offsetof(struct tc_config, f)

static const struct choice_case choices[] = {
    { "TLSCLOSE_NOTIFY", "on", FIELD(notify), TC_NOTIFY_ON },
    { "TLSCLOSE_NOTIFY", "off", FIELD(notify), TC_NOTIFY_OFF },
    { "TLSCLOSE_NOTIFY", "always", FIELD(notify), TC_NOTIFY_ALWAYS },
    { "TLSCLOSE_NOTIFY", "ALWAYS", FIELD(notify), TC_NOTIFY_ALWAYS },
    { "TLSCLOSE_EOF", "warn", FIELD(eof), TC_EOF_WARN },
    { "TLSCLOSE_EOF", "Error", FIELD(eof), TC_EOF_ERROR },
    { "TLSCLOSE_EOF", "clean", FIELD(eof), TC_EOF_CLEAN },
    { "TLSCLOSE_REPLY", "auto", FIELD(reply), TC_REPLY_AUTO },
    { "TLSCLOSE_REPLY", "on", FIELD(reply), TC_REPLY_ON },
    { "TLSCLOSE_REPLY", "OFF", FIELD(reply), TC_REPLY_OFF },
    { "TLSCLOSE_LOG", "stderr", FIELD(log), TC_LOG_STDERR },
    { "TLSCLOSE_LOG", "SysLog", FIELD(log), TC_LOG_SYSLOG },
    { "TLSCLOSE_LOG", "none", FIELD(log), TC_LOG_NONE },
    { "TLSCLOSE_LOG", "/var/log/tlsclose.log", FIELD(log), TC_LOG_FILE },
    { "TLSCLOSE_LOG_LEVEL", "error", FIELD(log_level), TC_LEVEL_ERROR },
    { "TLSCLOSE_LOG_LEVEL", "warn", FIELD(log_level), TC_LEVEL_WARN },
    { "TLSCLOSE_LOG_LEVEL", "INFO", FIELD(log_level), TC_LEVEL_INFO },
    { "TLSCLOSE_LOG_LEVEL", "debug", FIELD(log_level), TC_LEVEL_DEBUG },
    { "TLSCLOSE_LOG_FORMAT", "text", FIELD(log_format), TC_FORMAT_TEXT },
    { "TLSCLOSE_LOG_FORMAT", "Json", FIELD(log_format), TC_FORMAT_JSON },
};

static void valid_choices(void)
{
    for (size_t i = 0; i < sizeof choices / sizeof choices[0]; i++) {
        const struct choice_case *c = &choices[i];
        struct parsed p = parse(ENV(c->variable, c->value));
        int got;
        memcpy(&got, (char *)&p.cfg + c->offset, sizeof got);
        ok(p.errors.count == 0 && got == c->expected, "%s=%s accepted", c->variable, c->value);
    }
    struct parsed p = parse(ENV("TLSCLOSE_LOG", "/tmp/x.log"));
    ok(strcmp(p.cfg.log_path, "/tmp/x.log") == 0, "log file path kept as given");
}

struct bad_case {
    const char *variable, *value, *accepted_fragment;
};

static const struct bad_case bad[] = {
    { "TLSCLOSE_NOTIFY", "yes", "on, off, always" },
    { "TLSCLOSE_NOTIFY", "on ", "on, off, always" },
    { "TLSCLOSE_EOF", "strict", "warn, error, clean" },
    { "TLSCLOSE_REPLY", "1", "auto, on, off" },
    { "TLSCLOSE_WAIT_MS", "-1", "0 to 60000" },
    { "TLSCLOSE_WAIT_MS", "60001", "0 to 60000" },
    { "TLSCLOSE_WAIT_MS", "20s", "0 to 60000" },
    { "TLSCLOSE_WAIT_MS", " 5", "0 to 60000" },
    { "TLSCLOSE_WAIT_MS", "99999999999999999999", "0 to 60000" },
    { "TLSCLOSE_LOG", "relative/path.log", "absolute file path" },
    { "TLSCLOSE_LOG_LEVEL", "verbose", "warn, error, info, debug" },
    { "TLSCLOSE_LOG_FORMAT", "xml", "text, json" },
};

static void invalid_values(void)
{
    struct tc_config def;
    tc_config_defaults(&def);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const struct bad_case *b = &bad[i];
        struct parsed p = parse(ENV(b->variable, b->value));
        ok(p.errors.count == 1 && strcmp(p.errors.error[0].variable, b->variable) == 0 &&
               strstr(p.errors.error[0].accepted, b->accepted_fragment) &&
               memcmp(&p.cfg, &def, sizeof def) == 0,
           "%s='%s' rejected, default kept, accepted values named", b->variable, b->value);
    }
}

static void edge_cases(void)
{
    struct parsed p = parse(ENV("TLSCLOSE_WAIT_MS", "60000"));
    ok(p.errors.count == 0 && p.cfg.wait_ms == 60000, "wait 60000 is the maximum");
    p = parse(ENV("TLSCLOSE_WAIT_MS", "0"));
    ok(p.errors.count == 0 && p.cfg.wait_ms == 0, "wait 0 accepted");
    p = parse(ENV("TLSCLOSE_EOF", ""));
    ok(p.errors.count == 0 && p.cfg.eof == TC_EOF_WARN, "an empty value means unset");

    /* Every variable bad at once: one error each, all defaults. */
    p = parse(ENV("TLSCLOSE_NOTIFY", "x", "TLSCLOSE_EOF", "x", "TLSCLOSE_REPLY", "x",
                  "TLSCLOSE_WAIT_MS", "x", "TLSCLOSE_LOG", "x", "TLSCLOSE_LOG_LEVEL", "x",
                  "TLSCLOSE_LOG_FORMAT", "x"));
    ok(p.errors.count == TC_CONFIG_VARIABLES, "seven bad variables, seven errors");

    /* Values are shown truncated and printable, never verbatim. */
    char long_value[300];
    memset(long_value, 'A', sizeof long_value - 1);
    long_value[sizeof long_value - 1] = '\0';
    long_value[3] = '\n';
    p = parse(ENV("TLSCLOSE_EOF", long_value));
    ok(p.errors.count == 1 && strlen(p.errors.error[0].value) < 64 &&
           !strchr(p.errors.error[0].value, '\n') && strstr(p.errors.error[0].value, "..."),
       "a long value with a newline is shown short and printable");

    char long_path[TC_LOG_PATH_MAX + 10];
    memset(long_path, 'a', sizeof long_path - 1);
    long_path[0] = '/';
    long_path[sizeof long_path - 1] = '\0';
    p = parse(ENV("TLSCLOSE_LOG", long_path));
    ok(p.errors.count == 1 && p.cfg.log == TC_LOG_STDERR, "an over-long log path is rejected");
}

int main(void)
{
    defaults();
    valid_choices();
    invalid_values();
    edge_cases();
    return tap_done();
}
