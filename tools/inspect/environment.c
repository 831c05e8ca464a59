/* environment.c: the TLSCLOSE_* variables the program will inherit (the
 * wrapper's options already in them), read with the library's own parser
 * (shim/policy.c), so that the wrapper refuses exactly what the library
 * would report, in the same words, as it refuses a bad option: one line,
 * exit status 2, before anything runs. */
#include "config.h"

#include <stdlib.h>
#include <sys/stat.h>

#include "inspect.h"
#include "policy.h"

extern char **environ;

static const char *get(const char *name, void *ctx)
{
    (void)ctx;
    return getenv(name);
}

int validate_environment(int *quiet)
{
    struct tc_config cfg;
    struct tc_config_errors errors;
    struct stat st;
    char line[512];

    tc_config_parse(get, NULL, &cfg, &errors);
    tc_config_unknown_names(environ, &errors);
    *quiet = cfg.log_level == TC_LEVEL_ERROR;
    if (errors.count > 0) {
        tc_config_error_message(line, sizeof line, &errors.error[0], 0);
        message("%s", line);
        return EXIT_USAGE;
    }
    /* As --log=DIRECTORY is refused: the library could only fall back to
     * stderr. */
    if (cfg.log == TC_LOG_FILE && stat(cfg.log_path, &st) == 0 && S_ISDIR(st.st_mode)) {
        message("invalid value '%s' for TLSCLOSE_LOG (a directory; expected stderr, syslog, "
                "none or an absolute file path)", printable(cfg.log_path, line, sizeof line));
        return EXIT_USAGE;
    }
    return 0;
}
