/* environment.c: the TLSCLOSE_* variables the program will inherit, read
 * with the library's own parser (shim/policy.c), so that the wrapper and
 * the library agree on what is valid. */
#include "config.h"

#include <stdlib.h>

#include "policy.h"
#include "inspect.h"

static const char *get(const char *name, void *ctx)
{
    (void)ctx;
    return getenv(name);
}

int validate_environment(int *quiet)
{
    struct tc_config cfg;
    struct tc_config_errors errors;

    tc_config_parse(get, NULL, &cfg, &errors);
    *quiet = cfg.log_level == TC_LEVEL_ERROR;
    return 0;
}
