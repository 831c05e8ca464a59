/* settings.c: the configuration read at start-up (see settings.h). */
#include "config.h"

#include <stdlib.h>
#include <sys/auxv.h>
#include <unistd.h>

#include "settings.h"

static struct tc_config config;
static int config_loaded;

static const char *process_getenv(const char *name, void *ctx)
{
    (void)ctx;
#ifdef HAVE_SECURE_GETENV
    return secure_getenv(name);
#else
    return getenv(name);
#endif
}

void tc_settings_load(struct tc_config_errors *errors)
{
    tc_config_parse(process_getenv, NULL, &config, errors);
    /* A set-user-ID program reads no variable (secure_getenv): it has no
     * names to misspell either. */
    if (!getauxval(AT_SECURE))
        tc_config_unknown_names(environ, errors);
    __atomic_store_n(&config_loaded, 1, __ATOMIC_RELEASE);
}

const struct tc_config *tc_cfg(void)
{
    /* A wrapper that runs before the constructor (another library's
     * constructor calling close()) gets the defaults rather than reading
     * the environment at an unknown time. */
    static const struct tc_config defaults = TC_CONFIG_DEFAULTS;
    return __atomic_load_n(&config_loaded, __ATOMIC_ACQUIRE) ? &config : &defaults;
}
