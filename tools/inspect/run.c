/* run.c: the wrapper's checks before it runs COMMAND, in one process so
 * that the run path costs one fork and exec: the environment (exit 2), the
 * command (127 not found, 126 not executable or a bad "#!" interpreter),
 * privileged files along the "#!" chain (exit 2: the loader would ignore
 * LD_PRELOAD), and one warning line when the library cannot reach the
 * program (statically linked, OpenSSL in the executable, only another TLS
 * library), from the file and its direct libraries only: no subprocess.
 * On success prints the path COMMAND resolves to (the wrapper execs a
 * command named like an option through it). */
#include "config.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "analysis.h"
#include "chain.h"
#include "inspect.h"
#include "privilege.h"
#include "resolve.h"

static int refuse_privileged(const struct link *l)
{
    struct privilege p;
    char shown[PATH_MAX];

    if (l->kind == LINK_MISSING)
        return 0;
    privilege_of(l->path, &p);
    printable(l->path, shown, sizeof shown);
    if (p.mode) {
        message("refusing to run %s program %s: the dynamic loader ignores LD_PRELOAD for it",
                p.mode, shown);
        return EXIT_USAGE;
    }
    if (p.caps[0]) {
        message("refusing to run program with file capabilities (%s) %s: the dynamic loader "
                "ignores LD_PRELOAD for it", p.caps, shown);
        return EXIT_USAGE;
    }
    return 0;
}

/* What execve(2) would say about a "#!" interpreter that cannot run; the
 * program env looks up is env's to report, as it would be without the
 * wrapper. */
static int bad_interpreter(const char *command, const struct chain *c)
{
    char shown[PATH_MAX], interp[PATH_MAX];
    printable(command, shown, sizeof shown);
    if (c->too_deep) {
        message("%s: too many levels of #! interpreters", shown);
        return EXIT_CANNOT_RUN;
    }
    for (int i = 1; i < c->n; i++) {
        const struct link *l = &c->link[i];
        const char *why = NULL;
        if (l->by_env || l->by_shell)
            continue;
        if (l->kind == LINK_MISSING)
            why = "No such file or directory";
        else if (l->kind == LINK_DIRECTORY || l->kind == LINK_NOT_EXECUTABLE)
            why = "Permission denied";
        if (why) {
            message("%s: bad interpreter %s: %s", shown, printable(l->path, interp, sizeof interp), why);
            return EXIT_CANNOT_RUN;
        }
    }
    return 0;
}

static void warn_unreachable(const struct link *last)
{
    struct analysis a;
    char shown[PATH_MAX];

    analyse_elf(last->path, false, &a);
    if (a.verdict == VERDICT_NO && a.unreachable)
        message("warning: the library cannot act on %s: %s (-q silences this)",
                printable(last->path, shown, sizeof shown), a.reason);
    analysis_free(&a);
}

int run_command(const char *command)
{
    char path[PATH_MAX], shown[PATH_MAX];
    struct chain c;
    int quiet = 0, status;

    if ((status = validate_environment(&quiet)) != 0)
        return status;
    switch (resolve_command(command, path, sizeof path)) {
    case RESOLVE_NOT_FOUND:
        message("%s: command not found", printable(command, shown, sizeof shown));
        return EXIT_NOT_FOUND;
    case RESOLVE_NOT_EXECUTABLE:
        chain_follow(path, &c);
        message("%s: %s", printable(path, shown, sizeof shown),
                c.link[0].kind == LINK_DIRECTORY ? "is a directory" : "permission denied");
        return EXIT_CANNOT_RUN;
    case RESOLVE_FOUND:
        break;
    }
    chain_follow(path, &c);
    for (int i = 0; i < c.n; i++)
        if ((status = refuse_privileged(&c.link[i])) != 0)
            return status;
    if ((status = bad_interpreter(command, &c)) != 0)
        return status;
    const struct link *last = chain_last(&c);
    if (!quiet && last->kind == LINK_ELF)
        warn_unreachable(last);
    printf("%s\n", path);
    return 0;
}
