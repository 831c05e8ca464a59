/* fuzz_policy: libFuzzer harness for the TLSCLOSE_* parser (shim/policy.c).
 *
 * The input is up to eight NUL-separated values, one per variable in the
 * order of names[] (a missing value means unset). Whatever they hold, the
 * parser must return a configuration whose every field is one of its
 * documented values, report at most one error per variable, and keep the
 * values it shows printable and short (they go into a log line). */
#include "config.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../shim/policy.h"

static const char *const names[TC_CONFIG_VARIABLES] = {
    "TLSCLOSE_NOTIFY", "TLSCLOSE_EOF", "TLSCLOSE_REPLY", "TLSCLOSE_WAIT_MS",
    "TLSCLOSE_LOG", "TLSCLOSE_LOG_LEVEL", "TLSCLOSE_LOG_FORMAT", "TLSCLOSE_SYSLOG_FACILITY",
};

struct fake_env {
    const char *value[8];
};

static const char *fake_getenv(const char *name, void *ctx)
{
    struct fake_env *env = ctx;
    for (int i = 0; i < TC_CONFIG_VARIABLES; i++)
        if (strcmp(names[i], name) == 0)
            return env->value[i];
    abort(); /* the parser asked for a variable that does not exist */
}

static void check(const struct tc_config *cfg, const struct tc_config_errors *errors)
{
    if (cfg->notify > TC_NOTIFY_ALWAYS || cfg->eof > TC_EOF_CLEAN ||
        cfg->reply > TC_REPLY_OFF || cfg->log > TC_LOG_FILE || cfg->log_level > TC_LEVEL_DEBUG ||
        cfg->log_format > TC_FORMAT_JSON || (cfg->syslog_facility & 7) != 0 ||
        cfg->syslog_facility < (1 << 3) || cfg->syslog_facility > (23 << 3))
        abort();
    if (cfg->wait_ms < 0 || cfg->wait_ms > TC_WAIT_MS_MAX)
        abort();
    if (cfg->log == TC_LOG_FILE &&
        (cfg->log_path[0] != '/' || !memchr(cfg->log_path, '\0', sizeof cfg->log_path)))
        abort();
    if (errors->count < 0 || errors->count > TC_CONFIG_VARIABLES)
        abort();
    for (int i = 0; i < errors->count; i++) {
        const struct tc_config_error *e = &errors->error[i];
        size_t len = strnlen(e->value, sizeof e->value);
        if (len == sizeof e->value || e->problem != TC_CONFIG_BAD_VALUE || !e->accepted ||
            !e->fallback || !memchr(e->variable, '\0', sizeof e->variable))
            abort();
        for (size_t j = 0; j < len; j++)
            if (e->value[j] < 0x20 || e->value[j] > 0x7e)
                abort();
        /* The line that reports it: printable, whatever the value held. */
        char message[320];
        size_t n = tc_config_error_message(message, sizeof message, e, 1);
        if (n == 0 || n >= sizeof message || strlen(message) != n)
            abort();
        for (size_t j = 0; j < n; j++)
            if (message[j] < 0x20 || message[j] > 0x7e)
                abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* A private, NUL-terminated copy: the values point into it. */
    char *buf = malloc(size + 1);
    if (!buf)
        return 0;
    memcpy(buf, data, size);
    buf[size] = '\0';
    struct fake_env env = { { 0 } };
    char *p = buf, *end = buf + size;
    for (int i = 0; i < TC_CONFIG_VARIABLES && p <= end; i++) {
        env.value[i] = p;
        p += strlen(p) + 1;
    }
    struct tc_config cfg;
    struct tc_config_errors errors;
    tc_config_parse(fake_getenv, &env, &cfg, &errors);
    check(&cfg, &errors);
    free(buf);
    return 0;
}
