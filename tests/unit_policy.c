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
           p.cfg.log_format == TC_FORMAT_TEXT && p.cfg.syslog_facility == (1 << 3),
       "defaults: notify=on eof=warn reply=auto wait=0 log=stderr level=warn format=text "
       "facility=user");
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
    { "TLSCLOSE_SYSLOG_FACILITY", "user", FIELD(syslog_facility), 1 << 3 },
    { "TLSCLOSE_SYSLOG_FACILITY", "Daemon", FIELD(syslog_facility), 3 << 3 },
    { "TLSCLOSE_SYSLOG_FACILITY", "local0", FIELD(syslog_facility), 16 << 3 },
    { "TLSCLOSE_SYSLOG_FACILITY", "LOCAL7", FIELD(syslog_facility), 23 << 3 },
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

/* Every variable but TLSCLOSE_EOF (below): a bad value means the default. */
static const struct bad_case bad[] = {
    { "TLSCLOSE_NOTIFY", "yes", "on, off or always" },
    { "TLSCLOSE_NOTIFY", "on ", "on, off or always" },
    { "TLSCLOSE_REPLY", "1", "auto, on or off" },
    { "TLSCLOSE_WAIT_MS", "-1", "0 to 60000" },
    { "TLSCLOSE_WAIT_MS", "60001", "0 to 60000" },
    { "TLSCLOSE_WAIT_MS", "20s", "0 to 60000" },
    { "TLSCLOSE_WAIT_MS", " 5", "0 to 60000" },
    { "TLSCLOSE_WAIT_MS", "99999999999999999999", "0 to 60000" },
    { "TLSCLOSE_LOG", "relative/path.log", "absolute file path" },
    { "TLSCLOSE_LOG_LEVEL", "verbose", "warn, error, info or debug" },
    { "TLSCLOSE_LOG_FORMAT", "xml", "text or json" },
    { "TLSCLOSE_SYSLOG_FACILITY", "kern", "local0 to local7" },
    { "TLSCLOSE_SYSLOG_FACILITY", "local8", "local0 to local7" },
};

static void invalid_values(void)
{
    struct tc_config def;
    tc_config_defaults(&def);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const struct bad_case *b = &bad[i];
        struct parsed p = parse(ENV(b->variable, b->value));
        char message[320];
        tc_config_error_message(message, sizeof message, &p.errors.error[0], 1);
        ok(p.errors.count == 1 && p.errors.error[0].problem == TC_CONFIG_BAD_VALUE &&
               strcmp(p.errors.error[0].variable, b->variable) == 0 &&
               strstr(p.errors.error[0].accepted, b->accepted_fragment) &&
               memcmp(&p.cfg, &def, sizeof def) == 0 && strstr(message, "; using the default, "),
           "%s='%s' rejected, default kept, accepted values named: %s", b->variable, b->value,
           message);
    }
}

/* A typo in TLSCLOSE_EOF must not weaken a policy meant to catch
 * truncations: it means error, the strictest, and says so. */
static void bad_eof_means_error(void)
{
    static const char *const values[] = { "erorr", "strict", "warn ", "1", "none" };
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
        struct parsed p = parse(ENV("TLSCLOSE_EOF", values[i]));
        char message[320];
        tc_config_error_message(message, sizeof message, &p.errors.error[0], 1);
        ok(p.errors.count == 1 && p.cfg.eof == TC_EOF_ERROR &&
               strstr(message, "(expected warn, error or clean); "
                                                           "using error, the strictest"),
           "TLSCLOSE_EOF='%s' means error: %s", values[i], message);
    }
    struct parsed p = parse(ENV("TLSCLOSE_EOF", "erorr"));
    char message[320];
    tc_config_error_message(message, sizeof message, &p.errors.error[0], 0);
    ok(strcmp(message, "invalid value 'erorr' for TLSCLOSE_EOF (expected warn, error or clean)") ==
           0,
       "the wrapper's form has no consequence: %s", message);
}

struct unknown_case {
    const char *entry;
    const char *message; /* with the consequence, as the library logs it */
};

static const struct unknown_case unknown[] = {
    { "TLSCLOSE_EFO=error", "unknown variable TLSCLOSE_EFO (did you mean TLSCLOSE_EOF?); ignored" },
    { "TLSCLOSE_eof=warn", "unknown variable TLSCLOSE_eof (did you mean TLSCLOSE_EOF?); ignored" },
    { "TLSCLOSE_LOGLEVEL=info",
      "unknown variable TLSCLOSE_LOGLEVEL (did you mean TLSCLOSE_LOG_LEVEL?); ignored" },
    { "TLSCLOSE_WAIT=100",
      "unknown variable TLSCLOSE_WAIT (did you mean TLSCLOSE_WAIT_MS?); ignored" },
    { "TLSCLOSE_LOG_FILE=/x", "unknown variable TLSCLOSE_LOG_FILE (did you mean TLSCLOSE_LOG?); ignored" },
    { "TLSCLOSE_NOTIFIY=on",
      "unknown variable TLSCLOSE_NOTIFIY (did you mean TLSCLOSE_NOTIFY?); ignored" },
    { "TLSCLOSE_SYSLOG=daemon",
      "unknown variable TLSCLOSE_SYSLOG (did you mean TLSCLOSE_SYSLOG_FACILITY?); ignored" },
    { "TLSCLOSE_FOO=1", "unknown variable TLSCLOSE_FOO (not a tlsclose variable); ignored" },
    { "TLSCLOSE_=", "unknown variable TLSCLOSE_ (not a tlsclose variable); ignored" },
    { "TLSCLOSE_A\nB=1", "unknown variable TLSCLOSE_A?B (not a tlsclose variable); ignored" },
};

static void unknown_names(void)
{
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
        char *env[] = { "PATH=/bin", (char *)unknown[i].entry, "TLSCLOSE_EOF=warn", NULL };
        struct tc_config_errors errors = { 0, 0, { { 0 } } };
        tc_config_unknown_names(env, &errors);
        char message[320] = "";
        if (errors.count == 1)
            tc_config_error_message(message, sizeof message, &errors.error[0], 1);
        ok(errors.count == 1 && errors.error[0].problem == TC_CONFIG_UNKNOWN_NAME &&
               strcmp(message, unknown[i].message) == 0,
           "unknown name %zu: %s", i, message);
    }

    /* Every known name, the wrapper's included, and names that merely look
     * alike (no TLSCLOSE_ prefix) are not reported. */
    char *known[] = { "TLSCLOSE_NOTIFY=on", "TLSCLOSE_EOF=warn", "TLSCLOSE_REPLY=auto",
                      "TLSCLOSE_WAIT_MS=0", "TLSCLOSE_LOG=stderr", "TLSCLOSE_LOG_LEVEL=warn",
                      "TLSCLOSE_LOG_FORMAT=text", "TLSCLOSE_SYSLOG_FACILITY=user",
                      "TLSCLOSE_LIBRARY=/x.so", "TLSCLOSEX=1", "tlsclose_eof=1", "TC_TEST_PRELOAD=1",
                      "TLSCLOSE_EOF", NULL };
    struct tc_config_errors errors = { 0, 0, { { 0 } } };
    tc_config_unknown_names(known, &errors);
    ok(errors.count == 0, "known names are not reported (%d errors)", errors.count);

    /* More unknown names than there is room for: counted, not lost. */
    char names[40][24];
    char *many[41];
    for (int i = 0; i < 40; i++) {
        snprintf(names[i], sizeof names[i], "TLSCLOSE_X%d=1", i);
        many[i] = names[i];
    }
    many[40] = NULL;
    errors.count = errors.unlisted = 0;
    tc_config_unknown_names(many, &errors);
    ok(errors.count == TC_CONFIG_ERRORS_MAX && errors.unlisted == 40 - TC_CONFIG_ERRORS_MAX,
       "40 unknown names: %d listed, %d counted", errors.count, errors.unlisted);
}

static void edge_cases(void)
{
    struct parsed p = parse(ENV("TLSCLOSE_WAIT_MS", "60000"));
    ok(p.errors.count == 0 && p.cfg.wait_ms == 60000, "wait 60000 is the maximum");
    p = parse(ENV("TLSCLOSE_WAIT_MS", "0"));
    ok(p.errors.count == 0 && p.cfg.wait_ms == 0, "wait 0 accepted");
    p = parse(ENV("TLSCLOSE_EOF", ""));
    ok(p.errors.count == 0 && p.cfg.eof == TC_EOF_WARN, "an empty value means unset");

    /* Every variable bad at once: one error each, the defaults (error for
     * TLSCLOSE_EOF). */
    p = parse(ENV("TLSCLOSE_NOTIFY", "x", "TLSCLOSE_EOF", "x", "TLSCLOSE_REPLY", "x",
                  "TLSCLOSE_WAIT_MS", "x", "TLSCLOSE_LOG", "x", "TLSCLOSE_LOG_LEVEL", "x",
                  "TLSCLOSE_LOG_FORMAT", "x", "TLSCLOSE_SYSLOG_FACILITY", "x"));
    struct tc_config strict;
    tc_config_defaults(&strict);
    strict.eof = TC_EOF_ERROR;
    ok(p.errors.count == 8 && memcmp(&p.cfg, &strict, sizeof strict) == 0,
       "eight bad variables, eight errors, defaults but eof=error");

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
    bad_eof_means_error();
    unknown_names();
    return tap_done();
}
